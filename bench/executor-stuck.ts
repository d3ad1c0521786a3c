// Bench: worker replacement under tasks stuck in native code (executor-physics.md §0), our Executor
// against plain Piscina in the same run, plus Scheduler lateness idle and under load. Our Executor runs
// twice: tasks stuck in an offloaded native call (executor-offloaded) and tasks stuck in a synchronous
// native call (executor-sync: a call that cannot be offloaded, such as a synchronous read of a hung
// mount, where the discarded worker lingers whole).
//
// What executor-offloaded measures: `test.sleepOffloaded` (workers/ops/test.ts), which awaits
// vdsm_sleep's nanosleep through offloadedCall() (workers/offloaded-call.ts), the same helper through
// which workers/ops/libvirt.ts's op() and sampling.bulkStats await every libvirt call; in the addon the
// call goes through offload::Registry::Perform/Submit (native/offload/offload.h), the same code virt's
// ConnRef::Run uses. So a stuck task is *parked* (its worker takes other tasks), and at its timeout
// its call is abandoned and lingers on its call thread, counted under max_workers, while the worker is
// kept: libvirt's path, with nanosleep in place of a frozen libvirtd.
//
//   npm run bench:executor-stuck                      # full: K in {0,1,4,10,29,30,40}, 3 repeats
//   node dist/bench/executor-stuck.js --quick         # 1 repeat, K in {0,4,29}
//   node dist/bench/executor-stuck.js --k=0,10 --repeats=2 --impl=executor-offloaded --chart-k=10
//
// Every case runs in a fresh child process (this file with --child=...), so RSS and thread counts
// belong to that case alone. One JSON line per case (medians over repeats) on stdout, progress on
// stderr, report.md, chart.svg and runs.jsonl (every repeat) in results/executor-stuck/.
import diagnostics_channel from 'node:diagnostics_channel';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { Piscina } from 'piscina';
import type { Worker } from 'node:worker_threads';
import { Errors, isError } from '../src/errors.js';
import { Executor } from '../src/runtime/executor/executor.js';
import { Scheduler } from '../src/runtime/scheduler.js';
import { runChildCase } from './lib/child-case.js';
import { fmt, mdTable } from './lib/markdown.js';
import { emitCase, Flags, outDir as outDirOf, progress, step } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { procSample } from './lib/process-sample.js';
import { median, round, summarize } from './lib/stats.js';
import { lineChart, type Series } from './lib/svg-chart.js';

const TICK_MS = 10;
const STUCK_AT_MS = 1000;
const STUCK_BLOCK_MS = 5000;
const TIMEOUT_MS = 500;
const WORKERS = 4;
const MAX_WORKERS = 30;
const MAX_TASKS = 400;
const SAMPLE_MS = 20;
const CAP_MS = 25_000;
/** The issue's target for the offloaded kind at K=29. */
const RSS_TARGET_MB = 200;
const IMPLS = ['executor-offloaded', 'executor-sync', 'piscina'] as const;

interface StuckRun {
  suite: 'stuck'; impl: string; K: number;
  fast_p50_ms: number; fast_p99_ms: number; fast_max_ms: number; fast_pre_p99_ms: number; fast_during_n: number;
  replacement_ms_p50: number; replacement_ms_p99: number; replacements: number;
  rejected: number; first_rejected_s: number | null; lost: number; accepted: number;
  workers_peak: number; lingering_peak: number; lingering_calls_peak: number; parked_peak: number; threads_peak: number; rss_peak_mb: number; rss_final_mb: number;
  loop_delay_p99_ms: number; loop_delay_max_ms: number; bound_violations: number; too_many_workers: number; deferred_discards: number;
  duration_s: number;
  timeline: { samples: number[][]; fast: number[][] };
}

interface SchedRun {
  suite: 'scheduler'; impl: string; load: string;
  lateness_p50_ms: number; lateness_p99_ms: number; lateness_max_ms: number; early: number; calls: number;
}

/** What the stuck scenario needs from either implementation. */
interface Subject {
  warmUp(): Promise<void>;
  /** Returns false when the task was rejected (queue full). `onStart(latencyMs)` fires at task start. */
  dispatch(kind: 'fast' | 'stuck', onStart: (latencyMs: number) => void): { accepted: boolean; settled: Promise<void> };
  /**
   * lingeringCalls: lingering native calls without a worker thread of their own (let-go workers,
   * abandoned calls of parked tasks); parked: tasks parked on a call (one call thread each).
   */
  counts(): { live: number; lingering: number; lingeringCalls: number; parked: number; total: number; queued: number };
  replacements(): number[];
  tooManyWorkers(): number;
  deferredDiscards(): number;
  close(): Promise<void>;
}

// ---- our Executor ------------------------------------------------------------------------------

/** `offloaded`: the stuck tasks block in an offloaded native call; otherwise in a synchronous one. */
function executorSubject(offloaded: boolean): Subject {
  let tooMany = 0;
  const log = pino({ level: 'warn' }, { write: (s: string) => void (s.includes('Too many workers') && tooMany++) });
  const scheduler = new Scheduler({ log });
  scheduler.start();
  // Like the Piscina side's task file, the workers load only the operations the scenario uses.
  const ex = new Executor({ name: 'periodic', workersCount: WORKERS, maxWorkers: MAX_WORKERS, maxTasks: MAX_TASKS, scheduler, log, workerLogLevel: 'warn', opsModules: ['test'] });
  const starts = new Map<number, (latencyMs: number) => void>();
  const replacements: number[] = [];
  let lastTaskId = -1;
  const onDispatch = (m: unknown): void => void (lastTaskId = (m as { taskId: number }).taskId);
  const onStart = (m: unknown): void => {
    const e = m as { taskId: number; waitedMs: number };
    starts.get(e.taskId)?.(e.waitedMs);
    starts.delete(e.taskId);
  };
  let deferred = 0;
  // Discards deferred at max_workers (a "Too many workers" task discarded later) are counted apart.
  const onReplace = (m: unknown): void => {
    const e = m as { replacementMs: number; deferred: boolean };
    if (process.env['BENCH_DEBUG']) process.stderr.write(`replace ${JSON.stringify(m)} ${JSON.stringify(ex.counts())}\n`);
    if (e.deferred) deferred++;
    else replacements.push(e.replacementMs);
  };
  diagnostics_channel.subscribe('vdsm:executor:dispatch', onDispatch);
  diagnostics_channel.subscribe('vdsm:executor:start', onStart);
  diagnostics_channel.subscribe('vdsm:executor:replace', onReplace);
  return {
    async warmUp() {
      ex.start();
      while (ex.counts().idle < WORKERS || ex.counts().spares < 1) await new Promise((r) => setTimeout(r, 10));
      for (let i = 0; i < 50; i++) await Promise.all(Array.from({ length: WORKERS }, () => ex.dispatch('test.echo', i)));
    },
    dispatch(kind, onStartCb) {
      try {
        const p = kind === 'fast'
          ? ex.dispatch('test.echo', 1, { timeoutMs: TIMEOUT_MS })
          : ex.dispatch(offloaded ? 'test.sleepOffloaded' : 'test.sleepNative', { ms: STUCK_BLOCK_MS }, { timeoutMs: TIMEOUT_MS });
        starts.set(lastTaskId, onStartCb);
        return { accepted: true, settled: p.then(() => undefined, () => undefined) };
      } catch (err) {
        if (isError(err, Errors.RESOURCE_EXHAUSTED)) return { accepted: false, settled: Promise.resolve() };
        throw err;
      }
    },
    counts() {
      const c = ex.counts();
      return { live: c.total - c.lingering - c.parked, lingering: c.lingering, lingeringCalls: c.lingeringCalls, parked: c.parked, total: c.total, queued: c.queued };
    },
    replacements: () => replacements,
    tooManyWorkers: () => tooMany,
    deferredDiscards: () => deferred,
    async close() {
      await ex.stop({ graceMs: 100 });
      scheduler.stop();
    },
  };
}

// ---- plain Piscina -----------------------------------------------------------------------------

function piscinaSubject(): Subject {
  const pool = new Piscina({
    filename: new URL('./lib/piscina-stuck-task.js', import.meta.url).href,
    minThreads: WORKERS, maxThreads: WORKERS, idleTimeout: 2 ** 31 - 1, concurrentTasksPerWorker: 1,
  });
  let nextId = 0;
  // A task's start message travels on the worker's parentPort, its result on Piscina's port: the
  // result may come first, so a record stays until both were seen.
  const tasks = new Map<number, { dispatchedAt: number; onStart: (l: number) => void; abort?: AbortController; stuck: boolean; started: boolean; settled: boolean }>();
  const seen = new Set<Worker>();
  const exited = new Set<Worker>();
  const pendingReplacements: number[] = [];
  const replacements: number[] = [];
  const scan = (): void => {
    for (const w of pool.threads) {
      if (seen.has(w)) continue;
      seen.add(w);
      w.once('exit', () => exited.add(w));
    }
  };
  pool.on('workerCreate', () => {
    scan();
    const stuckStart = pendingReplacements.shift();
    if (stuckStart !== undefined) replacements.push(performance.now() - stuckStart);
  });
  pool.on('message', (m: { started: number; at: number }) => {
    const t = tasks.get(m.started);
    if (!t) return;
    const start = m.at - (Number(process.hrtime.bigint()) / 1e6 - performance.now());
    t.onStart(start - t.dispatchedAt);
    t.started = true;
    if (t.settled) {
      tasks.delete(m.started);
      return;
    }
    // Timeout from start, as vdsm: the worker told us when it started.
    if (t.abort) {
      const timer = setTimeout(() => {
        if (t.settled) return;
        if (t.stuck) pendingReplacements.push(start);
        t.abort!.abort();
      }, Math.max(0, start + TIMEOUT_MS - performance.now()));
      timer.unref();
    }
  });
  return {
    async warmUp() {
      for (let i = 0; i < 50; i++) await Promise.all(Array.from({ length: WORKERS }, () => pool.run({ id: -1 })));
      scan();
    },
    dispatch(kind, onStart) {
      const id = nextId++;
      const abort = new AbortController();
      const rec = { dispatchedAt: performance.now(), onStart, abort, stuck: kind === 'stuck', started: false, settled: false };
      tasks.set(id, rec);
      const p = pool.run(kind === 'fast' ? { id } : { id, sleepMs: STUCK_BLOCK_MS }, { signal: abort.signal });
      return {
        accepted: true,
        settled: p.then(() => undefined, () => undefined).finally(() => {
          rec.settled = true;
          if (rec.started) tasks.delete(id);
        }),
      };
    },
    counts() {
      scan();
      const live = pool.threads.length;
      let lingering = 0;
      const current = new Set(pool.threads);
      for (const w of seen) if (!current.has(w) && !exited.has(w)) lingering++;
      return { live, lingering, lingeringCalls: 0, parked: 0, total: live + lingering, queued: pool.queueSize };
    },
    replacements: () => replacements,
    tooManyWorkers: () => 0,
    deferredDiscards: () => 0,
    async close() {
      await pool.destroy();
    },
  };
}

// ---- the stuck scenario (child) ----------------------------------------------------------------

async function stuckCase(impl: string, K: number): Promise<StuckRun> {
  if (!(IMPLS as readonly string[]).includes(impl)) throw new Error(`unknown impl ${impl}: one of ${IMPLS.join(', ')}`);
  const s = impl === 'piscina' ? piscinaSubject() : executorSubject(impl === 'executor-offloaded');
  await s.warmUp();
  const fast: Array<{ at: number; latency?: number }> = [];
  const settled: Promise<void>[] = [];
  let accepted = 0;
  let rejected = 0;
  let firstRejected: number | null = null;
  let stuckSent = 0;
  let stuckSettled = 0;
  let firstStuckAt = -1;
  const samples: number[][] = [];
  let peaks = { workers: 0, lingering: 0, lingeringCalls: 0, parked: 0, threads: 0, rss: 0 };
  let violations = 0;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;

  const sample = (): void => {
    const c = s.counts();
    const p = procSample();
    samples.push([round(now(), 1), c.live, c.lingering, c.total, c.queued, p.threads, round(p.rssMb, 1), c.parked]);
    if (c.total > MAX_WORKERS) violations++;
    peaks = {
      workers: Math.max(peaks.workers, c.total), lingering: Math.max(peaks.lingering, c.lingering), lingeringCalls: Math.max(peaks.lingeringCalls, c.lingeringCalls),
      parked: Math.max(peaks.parked, c.parked), threads: Math.max(peaks.threads, p.threads), rss: Math.max(peaks.rss, p.rssMb),
    };
  };
  const sampler = setInterval(sample, SAMPLE_MS);

  let tick = 0;
  let endAt = Infinity;
  await new Promise<void>((resolveRun) => {
    const step = (): void => {
      const t = now();
      // Catch up if the loop was late, so the stream stays at 100 tasks/s.
      while (tick * TICK_MS <= t) {
        const at = tick * TICK_MS;
        tick++;
        const rec: { at: number; latency?: number } = { at };
        const r = s.dispatch('fast', (l) => (rec.latency = l));
        if (r.accepted) {
          accepted++;
          fast.push(rec);
          settled.push(r.settled);
        } else {
          rejected++;
          firstRejected ??= at;
        }
        if (at >= STUCK_AT_MS && stuckSent < K) {
          if (firstStuckAt < 0) {
            firstStuckAt = at;
            loop.enable();
          }
          stuckSent++;
          const st = s.dispatch('stuck', () => undefined);
          if (st.accepted) {
            accepted++;
            settled.push(st.settled);
            void st.settled.then(() => stuckSettled++);
          } else {
            rejected++;
            firstRejected ??= at;
          }
        }
      }
      if (K === 0 && t >= STUCK_AT_MS && firstStuckAt < 0) {
        firstStuckAt = STUCK_AT_MS;
        loop.enable();
      }
      const stuckDone = stuckSent === K && stuckSettled >= Math.min(K, stuckSent) && s.counts().lingering === 0;
      if (endAt === Infinity && t >= STUCK_AT_MS + STUCK_BLOCK_MS && stuckDone) endAt = t;
      if (t >= endAt + 200 || t >= CAP_MS) {
        resolveRun();
        return;
      }
      setTimeout(step, Math.max(0, tick * TICK_MS - now()));
    };
    step();
  });
  loop.disable();
  const windowEnd = endAt === Infinity ? now() : endAt;
  // Accepted tasks get 3 s to settle; whatever is still pending then is lost.
  let settledCount = 0;
  for (const p of settled) void p.then(() => settledCount++);
  const deadline = performance.now() + 3000;
  while (settledCount < settled.length && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  clearInterval(sampler);
  sample();
  const during = fast.filter((f) => f.at >= firstStuckAt && f.at <= windowEnd).map((f) => f.latency ?? now() - f.at);
  const pre = fast.filter((f) => f.at < STUCK_AT_MS && f.at >= 200).map((f) => f.latency ?? 0);
  const d = summarize(during);
  const rep = summarize(s.replacements());
  const run: StuckRun = {
    suite: 'stuck', impl, K,
    fast_p50_ms: round(d.p50, 3), fast_p99_ms: round(d.p99, 3), fast_max_ms: round(d.max, 3), fast_pre_p99_ms: round(summarize(pre).p99, 3), fast_during_n: d.count,
    replacement_ms_p50: round(rep.p50), replacement_ms_p99: round(rep.p99), replacements: rep.count,
    rejected, first_rejected_s: firstRejected === null ? null : round(firstRejected / 1000, 2), lost: settled.length - settledCount, accepted,
    workers_peak: peaks.workers, lingering_peak: peaks.lingering, lingering_calls_peak: peaks.lingeringCalls, parked_peak: peaks.parked, threads_peak: peaks.threads, rss_peak_mb: round(peaks.rss, 1),
    rss_final_mb: round(procSample().rssMb, 1),
    loop_delay_p99_ms: round(loop.percentile(99) / 1e6, 2), loop_delay_max_ms: round(loop.max / 1e6, 2),
    bound_violations: violations, too_many_workers: s.tooManyWorkers(), deferred_discards: s.deferredDiscards(), duration_s: round(now() / 1000, 2),
    timeline: { samples, fast: fast.map((f) => [round(f.at, 1), round(f.latency ?? -1, 2)]) },
  };
  await s.close();
  return run;
}

// ---- Scheduler lateness (child) ----------------------------------------------------------------

async function schedulerCase(impl: string, load: string): Promise<SchedRun> {
  const log = pino({ level: 'warn' });
  const scheduler = new Scheduler({ log });
  scheduler.start();
  let ex: Executor | undefined;
  let loading = false;
  if (load === 'load') {
    // The Executor saturated with trivial tasks: the main thread is busy dispatching and settling.
    ex = new Executor({ name: 'load', workersCount: WORKERS, maxWorkers: MAX_WORKERS, maxTasks: MAX_TASKS, scheduler, log, workerLogLevel: 'warn' });
    ex.start();
    while (ex.counts().idle < WORKERS) await new Promise((r) => setTimeout(r, 10));
    loading = true;
    const pump = (): void => {
      while (loading && ex!.counts().queued + ex!.counts().running < 200) void ex!.dispatch('test.echo', 1).then(pump, pump);
    };
    pump();
    await new Promise((r) => setTimeout(r, 300));
  }
  const lateness: number[] = [];
  const N = 1000;
  await new Promise<void>((resolve) => {
    let left = N;
    for (let i = 0; i < N; i++) {
      const delay = Math.random() * 100;
      const deadline = performance.now() + delay;
      const fn = (): void => {
        lateness.push(performance.now() - deadline);
        if (--left === 0) resolve();
      };
      if (impl === 'scheduler') scheduler.schedule(delay, fn, 'bench');
      else setTimeout(fn, delay);
    }
  });
  loading = false;
  if (ex) await ex.stop({ graceMs: 500 });
  scheduler.stop();
  const sm = summarize(lateness);
  return {
    suite: 'scheduler', impl, load, lateness_p50_ms: round(sm.p50, 3), lateness_p99_ms: round(sm.p99, 3), lateness_max_ms: round(sm.max, 3),
    early: lateness.filter((l) => l < 0).length, calls: N,
  };
}

// ---- parent: run, aggregate, report ------------------------------------------------------------

const NUMERIC_MEDIAN = [
  'fast_p50_ms', 'fast_p99_ms', 'fast_max_ms', 'fast_pre_p99_ms', 'replacement_ms_p50', 'replacement_ms_p99', 'replacements', 'rejected',
  'workers_peak', 'lingering_peak', 'lingering_calls_peak', 'parked_peak', 'threads_peak', 'rss_peak_mb', 'rss_final_mb', 'loop_delay_p99_ms', 'loop_delay_max_ms', 'too_many_workers', 'deferred_discards', 'duration_s',
] as const;

function aggregateStuck(runs: StuckRun[]): Record<string, unknown> {
  const r0 = runs[0]!;
  const out: Record<string, unknown> = { suite: 'executor-stuck', case: `stuck K=${r0.K} ${r0.impl}`, scenario: 'stuck', impl: r0.impl, K: r0.K, repeats: runs.length };
  for (const k of NUMERIC_MEDIAN) out[k] = round(median(runs.map((r) => r[k])), 3);
  out['fast_p99_ms_runs'] = runs.map((r) => r.fast_p99_ms);
  out['lost'] = Math.max(...runs.map((r) => r.lost));
  out['bound_violations'] = runs.reduce((a, r) => a + r.bound_violations, 0);
  const fr = runs.map((r) => r.first_rejected_s).filter((v): v is number => v !== null);
  out['first_rejected_s'] = fr.length ? median(fr) : null;
  return out;
}

function aggregateSched(runs: SchedRun[]): Record<string, unknown> {
  const r0 = runs[0]!;
  return {
    suite: 'executor-stuck', case: `scheduler ${r0.load} ${r0.impl}`, scenario: 'scheduler', impl: r0.impl, load: r0.load, repeats: runs.length,
    lateness_p50_ms: round(median(runs.map((r) => r.lateness_p50_ms)), 3), lateness_p99_ms: round(median(runs.map((r) => r.lateness_p99_ms)), 3),
    lateness_max_ms: round(Math.max(...runs.map((r) => r.lateness_max_ms)), 3), early: runs.reduce((a, r) => a + r.early, 0), calls: runs.reduce((a, r) => a + r.calls, 0),
  };
}

function chart(K: number, runs: StuckRun[]): string {
  const colors: Record<string, [string, string, string]> = {
    'executor-offloaded': ['#1f77b4', '#2ca02c', '#9467bd'], 'executor-sync': ['#17becf', '#bcbd22', '#e377c2'], piscina: ['#d62728', '#ff7f0e', '#8c564b'],
  };
  const latency: Series[] = [];
  const workers: Series[] = [];
  for (const r of runs) {
    const [c1, c2, c3] = colors[r.impl] ?? ['#333', '#666', '#999'];
    latency.push({ name: `${r.impl} fast latency`, color: c1, style: 'dots', points: r.timeline.fast.filter((f) => f[1]! >= 0).map((f) => [f[0]! / 1000, f[1]!] as const) });
    workers.push({ name: `${r.impl} live`, color: c2, points: r.timeline.samples.map((x) => [x[0]! / 1000, x[1]!] as const) });
    workers.push({ name: `${r.impl} lingering`, color: c3, points: r.timeline.samples.map((x) => [x[0]! / 1000, x[2]!] as const) });
  }
  const maxT = Math.max(...runs.flatMap((r) => r.timeline.samples.map((x) => x[0]! / 1000)));
  workers.push({ name: 'max_workers', color: '#000', dashed: true, points: [[0, MAX_WORKERS], [maxT, MAX_WORKERS]] });
  return lineChart({
    title: `executor-stuck, K=${K}: ${K} tasks stuck ${STUCK_BLOCK_MS / 1000} s in nanosleep from t=1 s, 100 fast tasks/s, timeout ${TIMEOUT_MS} ms`,
    xLabel: 'time since start of the stream (s)',
    panels: [
      { title: 'fast-task latency, dispatch to start (ms)', yLabel: 'ms', series: latency },
      { title: 'workers: live (incl. spares, starting) and lingering', yLabel: 'threads', series: workers },
    ],
  });
}

function report(stuck: Array<Record<string, unknown>>, sched: Array<Record<string, unknown>>, checks: string[], meta: Record<string, unknown>): string {
  const v = (r: Record<string, unknown>, k: string, d = 1): string => fmt(r[k] as number, d);
  return [
    '# executor-stuck',
    '',
    `Scenario (executor-physics.md §0): 100 fast tasks/s; from t=1 s, K tasks stuck ${STUCK_BLOCK_MS / 1000} s in native nanosleep (one per 10 ms tick);`,
    `every task timeout ${TIMEOUT_MS} ms from its start; workers_count ${WORKERS}, max_workers ${MAX_WORKERS}, max_tasks ${MAX_TASKS}.`,
    '"executor-offloaded" is src/runtime/executor/executor.ts with the stuck tasks awaiting an offloaded native call through the asynchronous entry (libvirt\'s',
    'path, workers/offloaded-call.ts: the call runs on a native call thread of the worker, the task is parked and the worker takes other tasks; at the timeout',
    'the call is abandoned and lingers on its call thread, still counted against max_workers until it returns, and the worker is kept);',
    '"executor-sync" is the same Executor with the stuck tasks in a synchronous native call (a call that cannot be offloaded: the discarded worker lingers whole);',
    '"piscina" is plain Piscina 5 (4 threads, abort by signal, timeout from the start the worker signals, no maxQueue, stuck in the synchronous call).',
    `Each case in a fresh process; medians over ${String(meta['repeats'])} repeats. Fast latency = dispatch to task start, over fast tasks dispatched between the`,
    'first stuck dispatch and the moment the last stuck task (or its lingering thread) was gone. Workers = threads held (live + spares + starting + parked + lingering).',
    '',
    `Machine: ${String(meta['cpus'])} CPUs, Node ${process.version}. Run: \`${String(meta['command'])}\` at ${String(meta['date'])}.`,
    '',
    '## Targets',
    '',
    ...checks.map((c) => `- ${c}`),
    '',
    '## Stuck tasks',
    '',
    mdTable(
      ['impl', 'K', 'fast p50', 'fast p99', 'fast max', 'p99 pre', 'repl p50', 'repl p99', 'rejected', 'lost', 'workers peak', 'parked peak', 'lingering peak', 'of which only a call thread', 'threads peak', 'RSS peak MB', 'loop p99', '> max_workers samples', '"Too many workers"'],
      stuck.map((r) => [String(r['impl']), String(r['K']), v(r, 'fast_p50_ms', 2), v(r, 'fast_p99_ms'), v(r, 'fast_max_ms'), v(r, 'fast_pre_p99_ms', 2), v(r, 'replacement_ms_p50'), v(r, 'replacement_ms_p99'), String(r['rejected']), String(r['lost']), String(r['workers_peak']), String(r['parked_peak']), String(r['lingering_peak']), String(r['lingering_calls_peak']), String(r['threads_peak']), v(r, 'rss_peak_mb'), v(r, 'loop_delay_p99_ms'), String(r['bound_violations']), String(r['too_many_workers'])]),
    ),
    '',
    'vdsm (Python, measured on this kind of machine): fast p99 420 / 893 / 3158 / 4633 / 5559 ms at K = 4 / 10 / 29 / 30 / 40; replacement 500.4 ms.',
    '',
    '## Scheduler lateness (1000 calls at uniform 0-100 ms delays per repeat)',
    '',
    mdTable(['impl', 'load', 'p50 ms', 'p99 ms', 'max ms', 'early fires', 'calls'],
      sched.map((r) => [String(r['impl']), String(r['load']), v(r, 'lateness_p50_ms', 3), v(r, 'lateness_p99_ms', 3), v(r, 'lateness_max_ms', 3), String(r['early']), String(r['calls'])])),
    '',
    '"load": the Executor kept saturated with 200 trivial tasks in flight. "setTimeout" is raw Node timers, for comparison.',
    '',
    meta['chart'] ? `![chart](chart.svg) (K=${String(meta['chartK'])}, first repeat)` : '',
    '',
  ].join('\n');
}

async function parent(flags: Flags): Promise<void> {
  const quick = flags.has('quick');
  const ks = flags.list('k', quick ? ['29'] : ['0', '1', '4', '10', '29', '30', '40']).map(Number);
  const repeats = flags.num('repeats', quick ? 1 : 3);
  // "executor" (the name before the offloaded kind existed) means both kinds of our Executor.
  const impls = flags.list('impl', [...IMPLS]).flatMap((i) => (i === 'executor' ? ['executor-offloaded', 'executor-sync'] : [i]));
  const chartK = flags.num('chart-k', ks.includes(29) ? 29 : (ks.find((k) => k > 0) ?? ks[0]!));
  const outDir = outDirOf(flags, 'executor-stuck');
  const skipSched = flags.has('no-scheduler');
  const script = fileURLToPath(import.meta.url);
  await mkdir(outDir, { recursive: true });
  const runsLog: string[] = [];
  const stuckAgg: Array<Record<string, unknown>> = [];
  const chartRuns: StuckRun[] = [];
  const total = ks.length * repeats * impls.length + (skipSched ? 0 : 2 * repeats * 2);
  let done = 0;
  for (const K of ks) {
    const byImpl = new Map<string, StuckRun[]>();
    for (let rep = 0; rep < repeats; rep++) {
      for (const impl of impls) {
        step(done++, total, `stuck K=${K} impl=${impl} repeat ${rep + 1}/${repeats}`);
        const run = await runChildCase<StuckRun>(script, ['--child=stuck', `--impl=${impl}`, `--k=${K}`], { timeoutMs: 60_000 });
        progress(`  fast p99 ${run.fast_p99_ms} ms, repl p99 ${run.replacement_ms_p99} ms, workers peak ${run.workers_peak}, lingering ${run.lingering_peak}, rss ${run.rss_peak_mb} MB, lost ${run.lost}, violations ${run.bound_violations}`);
        if (K === chartK && rep === 0) chartRuns.push(run);
        const { timeline: _t, ...flat } = run;
        runsLog.push(JSON.stringify({ ...flat, repeat: rep }));
        byImpl.set(impl, [...(byImpl.get(impl) ?? []), run]);
      }
    }
    for (const runs of byImpl.values()) {
      const agg = aggregateStuck(runs);
      stuckAgg.push(agg);
      emitCase(agg);
    }
  }
  const schedAgg: Array<Record<string, unknown>> = [];
  if (!skipSched) {
    // Implementations alternate within each repeat: this machine's noise then hits both alike.
    const impls = ['scheduler', 'setTimeout'];
    for (const load of ['idle', 'load']) {
      const runs = new Map<string, SchedRun[]>(impls.map((i) => [i, []]));
      for (let rep = 0; rep < repeats; rep++) {
        for (const impl of impls) {
          step(done++, total, `scheduler impl=${impl} load=${load} repeat ${rep + 1}/${repeats}`);
          const run = await runChildCase<SchedRun>(script, ['--child=scheduler', `--impl=${impl}`, `--load=${load}`], { timeoutMs: 60_000 });
          runs.get(impl)!.push(run);
          runsLog.push(JSON.stringify({ ...run, repeat: rep }));
        }
      }
      for (const impl of impls) {
        const agg = aggregateSched(runs.get(impl)!);
        schedAgg.push(agg);
        emitCase(agg);
      }
    }
  }
  step(total, total, 'report');
  const checks = targetChecks(stuckAgg, schedAgg);
  for (const c of checks) progress(c);
  if (chartRuns.length) await writeFile(join(outDir, 'chart.svg'), chart(chartK, chartRuns));
  await writeFile(join(outDir, 'runs.jsonl'), runsLog.join('\n') + '\n');
  const meta = { repeats, cpus: cpus().length, command: `node dist/bench/executor-stuck.js ${process.argv.slice(2).join(' ')}`.trim(), date: new Date().toISOString(), chart: chartRuns.length > 0, chartK };
  await writeFile(join(outDir, 'report.md'), report(stuckAgg, schedAgg, checks, meta));
  progress(`wrote ${outDir}/report.md${chartRuns.length ? ', chart.svg' : ''}, runs.jsonl`);
}

function targetChecks(stuck: Array<Record<string, unknown>>, sched: Array<Record<string, unknown>>): string[] {
  const ours = stuck.filter((r) => String(r['impl']).startsWith('executor'));
  const out: string[] = [];
  const mark = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
  const le29 = ours.filter((r) => (r['K'] as number) <= 29 && (r['K'] as number) > 0);
  if (le29.length) {
    const worst = Math.max(...le29.map((r) => r['fast_p99_ms'] as number));
    out.push(`${mark(worst <= 250)} fast p99 during the stall <= 250 ms for every K <= 29: worst ${fmt(worst)} ms (${le29.map((r) => `K=${String(r['K'])}: ${fmt(r['fast_p99_ms'] as number)}`).join(', ')})`);
  }
  const withRepl = ours.filter((r) => (r['replacements'] as number) > 0);
  if (withRepl.length) {
    const worst = Math.max(...withRepl.map((r) => r['replacement_ms_p99'] as number));
    out.push(`${mark(worst <= TIMEOUT_MS + 10)} replacement <= timeout + 10 ms (${TIMEOUT_MS + 10}): worst p99 ${fmt(worst)} ms (${withRepl.map((r) => `K=${String(r['K'])}: p50 ${fmt(r['replacement_ms_p50'] as number)} / p99 ${fmt(r['replacement_ms_p99'] as number)}`).join(', ')})`);
  }
  if (ours.length) {
    const v = ours.reduce((a, r) => a + (r['bound_violations'] as number), 0);
    out.push(`${mark(v === 0)} live + lingering <= max_workers at every ${SAMPLE_MS} ms sample: ${v} violating samples (executor)`);
    const pv = stuck.filter((r) => r['impl'] === 'piscina').reduce((a, r) => a + (r['bound_violations'] as number), 0);
    if (stuck.some((r) => r['impl'] === 'piscina')) out.push(`  (plain Piscina, same bound for comparison: ${pv} samples above ${MAX_WORKERS} threads)`);
    const lost = Math.max(...ours.map((r) => r['lost'] as number));
    out.push(`${mark(lost === 0)} lost = 0: max lost over all executor cases ${lost}`);
  }
  const p29 = stuck.find((r) => r['impl'] === 'piscina' && r['K'] === 29);
  const o29 = stuck.find((r) => r['impl'] === 'executor-offloaded' && r['K'] === 29);
  const s29 = stuck.find((r) => r['impl'] === 'executor-sync' && r['K'] === 29);
  const mb = (r: Record<string, unknown>): number => r['rss_peak_mb'] as number;
  if (o29) out.push(`${mark(mb(o29) <= RSS_TARGET_MB)} peak RSS at K=29, stuck in an offloaded native call (libvirt's path) <= ${RSS_TARGET_MB} MB: ${fmt(mb(o29))} MB`);
  if (s29) out.push(`  (stuck in a synchronous native call, whole workers linger: ${fmt(mb(s29))} MB${p29 ? `; plain Piscina ${fmt(mb(p29))} MB` : ''})`);
  const e29 = o29 ?? s29;
  if (e29 && p29) out.push(`${mark(mb(e29) < mb(p29))} peak RSS at K=29 below plain Piscina: ${fmt(mb(e29))} MB vs ${fmt(mb(p29))} MB`);
  const idle = sched.find((r) => r['impl'] === 'scheduler' && r['load'] === 'idle');
  const early = sched.filter((r) => r['impl'] === 'scheduler').reduce((a, r) => a + (r['early'] as number), 0);
  if (idle) out.push(`${mark(early === 0 && (idle['lateness_p99_ms'] as number) <= 2)} scheduler: ${early} early fires, idle p99 ${fmt(idle['lateness_p99_ms'] as number, 3)} ms (<= 2 ms)`);
  return out;
}

// ---- entry -------------------------------------------------------------------------------------

const flags = benchFlags({
  name: 'executor-stuck',
  options: {
    k: 'K,K: stuck tasks per case (default 0,1,4,10,29,30,40; --quick 29)',
    repeats: 'N: runs per case, the median reported (default 3; --quick 1)',
    impl: 'executor,executor-offloaded,executor-sync,piscina: what is measured (default all; executor = both of ours)',
    'chart-k': 'K: the case drawn in chart.svg (default 29 when measured)',
    'no-scheduler': 'skip the Scheduler lateness cases',
  },
  internal: ['child', 'load'],
  notes: 'Every case runs in a fresh child process, so RSS and thread counts are that case\'s alone.',
});
const childKind = flags.str('child', '');
if (childKind) {
  const result = childKind === 'stuck'
    ? await stuckCase(flags.str('impl', 'executor'), flags.num('k', 0))
    : await schedulerCase(flags.str('impl', 'scheduler'), flags.str('load', 'idle'));
  // Threads still blocked in native code would make a normal exit wait for them.
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.kill(process.pid, 'SIGKILL'));
} else {
  await parent(flags);
}
