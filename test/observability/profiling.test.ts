// Profiling every thread: the main thread and each Executor worker run an inspector session of their
// own; the pprof file read back with pprof-format has samples labelled with worker threads whose stacks
// hold the operation that ran there. Also the sampling heap profile and a worker's heap snapshot.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { ThreadProfiler } from '../../src/observability/profiling/thread-profiler.js';
import { ThreadProbe } from '../../src/observability/thread-probe.js';
import { harness } from '../runtime/executor-harness.js';
import { captureLog } from '../runtime/capture-log.js';
import { pprofStacks } from '../helpers/pprof.js';

function busyMain(ms: number): number {
  const end = performance.now() + ms;
  let n = 0;
  while (performance.now() < end) n++;
  return n;
}

void describe('profiling every thread', () => {
  void it('a CPU profile has the main thread and the workers, each with its own frames, in .cpuprofile and pprof', async () => {
    const h = harness({ name: 'prof', workersCount: 2, maxWorkers: 4 });
    const dir = await mkdtemp(join(tmpdir(), 'vdsm-prof-'));
    const probe = new ThreadProbe();
    const profiler = new ThreadProfiler({ probe, executors: [h.ex], log: captureLog().log, builtins: false, clock: 'cpu', intervalUs: 500 });
    try {
      h.ex.start();
      await h.until(() => h.ex.counts().idle === 2);
      const { threads } = await profiler.start();
      assert.ok(threads[0] === 'main' && threads.filter((t) => t.startsWith(`${h.ex.name}/`)).length >= 2, `main and every worker (warm spares too): ${threads.join(', ')}`);
      await Promise.all([h.ex.dispatch('test.busy', { ms: 300 }), h.ex.dispatch('test.busy', { ms: 300 })]);
      busyMain(150);
      const base = join(dir, 'p');
      const result = await profiler.stop({ base, pprof: `${base}.pb.gz` });
      assert.deepEqual(result.missing, []);
      assert.equal(result.files[0], `${base}.pb.gz`);

      const stacks = pprofStacks(Profile.decode(gunzipSync(await readFile(`${base}.pb.gz`))));
      const workerThreads = new Set(stacks.filter((s) => s.thread.startsWith(`${h.ex.name}/`) && s.frames.some((f) => f.file.endsWith('workers/ops/test.js'))).map((s) => s.thread));
      assert.equal(workerThreads.size, 2, 'both workers that ran test.busy have its frames (workers/ops/test.js), each under its own thread label');
      assert.ok(stacks.some((s) => s.thread === 'main' && s.frames.some((f) => f.name === 'busyMain')), 'the main thread\'s own frames');
      assert.ok(!stacks.some((s) => s.thread === 'main' && s.frames.some((f) => f.file.endsWith('workers/ops/test.js'))), 'threads are not mixed up');
      assert.ok(stacks.every((s) => s.frames.every((f) => !f.file.startsWith('node:'))), 'cpu_profile_builtins=false: no node: frames');
      assert.ok(stacks.every((s) => s.frames[0]?.name !== '(idle)'), 'cpu_profile_clock=cpu: no idle samples');

      for (const t of [...workerThreads, 'main']) {
        const cpuprofile = JSON.parse(await readFile(`${base}.${t.replace('/', '-')}.cpuprofile`, 'utf8')) as { nodes: unknown[]; samples: number[] };
        assert.ok(cpuprofile.nodes.length > 0 && cpuprofile.samples.length > 0, `${t}.cpuprofile`);
      }
    } finally {
      probe.close();
      await h.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  void it('a worker that starts during a session joins it; heap sampling and a worker\'s heap snapshot', async () => {
    const h = harness({ name: 'prof2', workersCount: 1, maxWorkers: 4 });
    const dir = await mkdtemp(join(tmpdir(), 'vdsm-prof-'));
    const probe = new ThreadProbe();
    const profiler = new ThreadProfiler({ probe, executors: [h.ex], log: captureLog().log, builtins: true, clock: 'wall' });
    try {
      h.ex.start();
      await h.until(() => h.ex.counts().idle === 1);
      await profiler.start({ heap: true });
      // A sampling heap profile holds what is still alive at stop: the main thread keeps ~2 MB until
      // then, so its samples cannot depend on what the test's own work happened to leave behind.
      const kept = Array.from({ length: 4000 }, (_, i) => ({ i, text: `kept-${i}-${'x'.repeat(500)}` }));
      // Two tasks at once on one live worker: the pool grows, a new thread comes up mid-session.
      const grown = h.next('worker', (m) => m['event'] === 'ready' && m['role'] === 'live' && (m['workerId'] as number) > 0);
      const tasks = [h.ex.dispatch('test.busy', { ms: 200 }), h.ex.dispatch('test.busy', { ms: 200 }), h.ex.dispatch('test.busy', { ms: 200 })];
      h.time.advance(10_000);
      const newcomer = `${h.ex.name}/${String((await grown)['workerId'])}`;
      await Promise.all(tasks);
      await h.until(() => (profiler.state()['threads'] as string[]).includes(newcomer));
      const base = join(dir, 'p');
      const result = await profiler.stop({ base, pprof: `${base}.pb.gz` });
      assert.equal(kept.length, 4000);
      assert.ok(result.threads.includes(newcomer), `the thread that started mid-session is in: ${result.threads.join(', ')}`);
      const heap = Profile.decode(gunzipSync(await readFile(`${base}.heap.pb.gz`)));
      const types = heap.sampleType.map((t) => heap.stringTable.strings[Number(t.type)]);
      assert.deepEqual(types, ['objects', 'space']);
      assert.ok(pprofStacks(heap).some((s) => s.thread === 'main'), 'the main thread allocated while sampling');
      // A worker busy-looping allocates nothing, so its sampling profile may hold no sample; the file is there.
      assert.ok(result.files.some((f) => f.endsWith(`.${newcomer.replace('/', '-')}.heapprofile`)), `a .heapprofile for ${newcomer}: ${result.files.join(', ')}`);
      const worker = result.threads.find((t) => t !== 'main')!;
      const snap = await profiler.heapSnapshot(join(dir, 'snap'), worker);
      const parsed = JSON.parse(await readFile(snap, 'utf8')) as { snapshot: { node_count: number } };
      assert.ok(parsed.snapshot.node_count > 1000, 'a real heap snapshot of the worker');
      await assert.rejects(profiler.heapSnapshot(join(dir, 'x'), 'nosuch/1'), /no such thread/);
    } finally {
      probe.close();
      await h.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  void it('starting twice is refused, as in vdsm; stopping when nothing runs too', async () => {
    const probe = new ThreadProbe();
    const profiler = new ThreadProfiler({ probe, executors: [], log: captureLog().log, builtins: false, clock: 'cpu' });
    const dir = await mkdtemp(join(tmpdir(), 'vdsm-prof-'));
    try {
      await assert.rejects(profiler.stop({ base: join(dir, 'x'), pprof: join(dir, 'x.pb.gz') }), /not running/);
      await profiler.start();
      await assert.rejects(profiler.start(), /already running/);
      await profiler.stop({ base: join(dir, 'x'), pprof: join(dir, 'x.pb.gz') });
    } finally {
      probe.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
