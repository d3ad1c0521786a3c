// The profiling endpoint of [devel] memory_profile_enable: loopback only, GET only, bounded profile
// durations, one profile at a time, and the test hooks only with VDSM_TEST_HOOKS=1.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DebugServer } from '../../src/observability/profiling/debug-server.js';
import { ThreadProfiler } from '../../src/observability/profiling/thread-profiler.js';
import { ThreadProbe } from '../../src/observability/thread-probe.js';
import { monotonicClock } from '../../src/runtime/clock.js';
import { captureLog } from '../runtime/capture-log.js';

function request(port: number, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('latin1').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function withServer(testHooks: boolean, fn: (port: number, profiler: ThreadProfiler) => Promise<void>): Promise<void> {
  const probe = new ThreadProbe();
  const profiler = new ThreadProfiler({ probe, executors: [], log: captureLog().log, builtins: false, clock: 'cpu' });
  const server = new DebugServer({ port: 0, profiler, log: captureLog().log, clock: monotonicClock, testHooks });
  const { address, port } = await server.start();
  assert.equal(address, '127.0.0.1');
  try {
    await fn(port, profiler);
  } finally {
    await server.close();
    probe.close();
  }
}

void describe('profiling endpoint', () => {
  void it('serves an index, refuses other methods and unbounded durations, and has no test hooks by default', async () => {
    await withServer(false, async (port) => {
      assert.match((await request(port, 'GET', '/')).body, /loopback only/);
      assert.equal((await request(port, 'DELETE', '/debug/status')).status, 405);
      assert.equal((await request(port, 'GET', '/debug/pprof/profile?seconds=301')).status, 400);
      assert.equal((await request(port, 'GET', '/debug/pprof/profile?seconds=abc')).status, 400);
      assert.equal((await request(port, 'POST', '/debug/test/spin?ms=10')).status, 405, 'no spin without VDSM_TEST_HOOKS=1');
      assert.equal((await request(port, 'GET', '/nope')).status, 404);
    });
  });

  void it('one profile at a time: a second request while one runs gets 409', async () => {
    await withServer(false, async (port, profiler) => {
      const dir = await mkdtemp(join(tmpdir(), 'vdsm-debug-'));
      await profiler.start();
      try {
        const r = await request(port, 'GET', '/debug/pprof/profile?seconds=1');
        assert.equal(r.status, 409);
        assert.match(r.body, /already running/);
      } finally {
        await profiler.stop({ base: join(dir, 'p'), pprof: join(dir, 'p.pb.gz') });
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  void it('with the test hooks, spin busy-loops the main thread and says when', async () => {
    await withServer(true, async (port) => {
      const r = JSON.parse((await request(port, 'POST', '/debug/test/spin?ms=50')).body) as { started: number; ended: number };
      assert.ok(r.ended - r.started >= 50);
    });
  });
});
