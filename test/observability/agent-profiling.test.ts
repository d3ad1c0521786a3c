// Profiling a running vdsmd: `vdsm-tool profile start|stop`, SIGUSR2, [devel] cpu_profile_enable from
// start to orderly stop, and the loopback profiling endpoint ([devel] memory_profile_enable). Every
// profile is read back with pprof-format and must hold samples of the agent's executor workers.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import http from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { main as vdsmTool } from '../../src/bin/vdsm-tool.js';
import { PROFILE_STATE_FILE, type ProfileState } from '../../src/observability/profiling/profile-control.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { pprofStacks } from '../helpers/pprof.js';

async function tool(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await vdsmTool(args, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; } });
  return { code, out, err };
}

function get(port: number, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

/** Has a periodic worker of the agent busy-loop in JavaScript (test hook), so its profile has frames. */
async function workerActivity(agent: AgentProcess, ms = 300): Promise<void> {
  const line = await agent.waitForLog((l) => l['msg'] === 'profiling endpoint listening on loopback ([devel] memory_profile_enable)');
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: line['port'] as number, path: `/debug/test/dispatch?executor=periodic&op=test.busy&ms=${ms}`, method: 'POST' }, (res) => {
      res.resume().on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`dispatch answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

function assertWorkerFrames(pprofFile: Buffer, opsFile: string): string[] {
  const stacks = pprofStacks(Profile.decode(gunzipSync(pprofFile)));
  const workers = [...new Set(stacks.map((s) => s.thread).filter((t) => /^(periodic|jsonrpc)\/\d+$/.test(t)))];
  assert.ok(workers.length > 0, `samples from executor workers; threads: ${[...new Set(stacks.map((s) => s.thread))].join(', ')}`);
  assert.ok(stacks.some((s) => s.thread.startsWith('periodic/') && s.frames.some((f) => f.file.endsWith(opsFile))), `a periodic worker ran ${opsFile}`);
  assert.ok(stacks.some((s) => s.thread === 'main'));
  return workers;
}

const SAMPLING = ['--set', 'vars.vm_sample_interval=1', '--set', 'vars.host_sample_stats_interval=1'];

/**
 * An agent whose profiles go to its own run directory (cpu_profile_filename = <run_dir>/vdsmd.prof), with
 * the loopback profiling endpoint and the test hooks on (workerActivity() needs them).
 */
async function startAgent(args: string[] = []): Promise<{ agent: AgentProcess; runDir: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-agent-prof-'));
  const runDir = join(dir, 'run');
  await mkdir(runDir);
  const agent = await AgentProcess.start({
    stateDir: dir, env: { VDSM_TEST_HOOKS: '1' },
    args: [...SAMPLING, '--set', `devel.cpu_profile_filename=${join(runDir, 'vdsmd.prof')}`, '--set', 'devel.memory_profile_enable=true', '--set', 'devel.memory_profile_port=0', ...args],
  });
  return {
    agent, runDir,
    done: async () => {
      await agent.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

void describe('profiling a running vdsmd', () => {
  void it('vdsm-tool profile start / status / stop writes a pprof of every thread and one .cpuprofile per thread', async () => {
    const { agent, runDir, done } = await startAgent();
    try {
      await agent.whenReady();
      const start = await tool(['profile', 'start', '--run-dir', runDir]);
      assert.equal(start.code, 0, start.err);
      assert.match(start.out, /^profiling \d+ thread\(s\): main, /);
      const status = await tool(['profile', 'status', '--run-dir', runDir]);
      assert.match(status.out, /: profiling/);
      await workerActivity(agent);
      const stop = await tool(['profile', 'stop', '--run-dir', runDir, '--json']);
      assert.equal(stop.code, 0, stop.err);
      const outcome = JSON.parse(stop.out) as { files: string[]; threads: string[] };
      const pprof = outcome.files.find((f) => f.endsWith('.pb.gz'))!;
      assert.equal(join(pprof, '..'), runDir, 'in the directory of [devel] cpu_profile_filename');
      const workers = assertWorkerFrames(await readFile(pprof), 'workers/ops/test.js');
      for (const t of workers) assert.ok(outcome.files.some((f) => f.endsWith(`.${t.replace('/', '-')}.cpuprofile`)), `${t}.cpuprofile written`);
      assert.equal((await tool(['profile', 'stop', '--run-dir', runDir])).code, 1, 'stopping again fails: nothing runs');
    } finally {
      await agent.stop();
      await done();
    }
  });

  void it('SIGUSR2 toggles the profile; the state file says what was written', async () => {
    const { agent, runDir, done } = await startAgent();
    const stateFile = join(runDir, PROFILE_STATE_FILE);
    const state = async (): Promise<ProfileState> => JSON.parse(await readFile(stateFile, 'utf8')) as ProfileState;
    try {
      await agent.whenReady();
      assert.equal((await state()).pid, agent.pid);
      agent.signal('SIGUSR2');
      await agent.waitForLog((l) => l['msg'] === 'profiling started');
      await workerActivity(agent);
      agent.signal('SIGUSR2');
      let s = await state();
      for (const deadline = Date.now() + 30_000; s.last?.did !== 'stop' && Date.now() < deadline;) {
        await new Promise((r) => setTimeout(r, 100));
        s = await state();
      }
      assert.equal(s.running, false);
      assert.equal(s.last?.did, 'stop');
      assertWorkerFrames(await readFile(s.last!.files!.find((f) => f.endsWith('.pb.gz'))!), 'workers/ops/test.js');
    } finally {
      await agent.stop();
      await done();
    }
  });

  void it('[devel] cpu_profile_enable profiles from start to orderly stop into cpu_profile_filename', async () => {
    const { agent, runDir, done } = await startAgent(['--set', 'devel.cpu_profile_enable=true']);
    try {
      await agent.whenReady();
      await workerActivity(agent);
      assert.equal(await agent.stop(), 0, 'an orderly stop');
      const file = join(runDir, 'vdsmd.prof');
      assertWorkerFrames(await readFile(file), 'workers/ops/test.js');
      assert.ok((await stat(join(runDir, 'vdsmd.main.cpuprofile'))).size > 0, 'each thread\'s .cpuprofile beside it');
    } finally {
      await agent.stop();
      await done();
    }
  });

  void it('the profiling endpoint listens on 127.0.0.1 only and serves pprof profiles of every thread', async () => {
    const { agent, done } = await startAgent();
    try {
      const line = await agent.waitForLog((l) => l['msg'] === 'profiling endpoint listening on loopback ([devel] memory_profile_enable)');
      assert.equal(line['address'], '127.0.0.1');
      await agent.whenReady();
      const profiled = get(line['port'] as number, '/debug/pprof/profile?seconds=2');
      // Keep the workers busy until the window closes: on a loaded machine one burst can land before
      // every worker's inspector session has started, or after the window.
      let windowOpen = true;
      profiled.then(() => { windowOpen = false; }, () => { windowOpen = false; });
      while (windowOpen) await workerActivity(agent, 100);
      const cpu = await profiled;
      assert.equal(cpu.status, 200);
      assertWorkerFrames(cpu.body, 'workers/ops/test.js');
      const heap = await get(line['port'] as number, '/debug/pprof/heap?seconds=1');
      assert.equal(heap.status, 200);
      const hp = Profile.decode(gunzipSync(heap.body));
      assert.deepEqual(hp.sampleType.map((t) => hp.stringTable.strings[Number(t.type)]), ['objects', 'space']);
      const snap = await get(line['port'] as number, '/debug/heap/snapshot?thread=main');
      assert.equal(snap.status, 200);
      assert.ok((JSON.parse(snap.body.toString()) as { snapshot: { node_count: number } }).snapshot.node_count > 1000);
      assert.equal((await get(line['port'] as number, '/debug/pprof/profile?seconds=0')).status, 400);
    } finally {
      await agent.stop();
      await done();
    }
  });

  void it('vdsm-tool profile says clearly when no agent runs', async () => {
    const r = await tool(['profile', 'status', '--run-dir', '/nonexistent/vdsm-run']);
    assert.equal(r.code, 3);
    assert.match(r.err, /no running vdsmd found/);
    const bad = await tool(['profile', 'restart']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown action "restart"/);
  });
});
