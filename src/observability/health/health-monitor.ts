// The health monitor ([health] monitor_enable, check_interval): every interval it measures the agent
// (process CPU user/sys, RSS, descriptors, kernel threads, and for the main thread and every Executor
// worker: event-loop delay and utilisation, heap, CPU time, GC pauses), logs one summary line as
// vdsm's health thread did (plus what a Node agent adds), warns when a figure crosses a threshold, and
// keeps the figures for the reporters (hosts.vdsm.* paths to statsd/Hawkular, vdsm_* on /metrics).
import type { Logger } from 'pino';
import type { Timers } from '../../runtime/clock.js';
import type { ControlReply } from '../../runtime/executor/thread-control.js';
import type { WorkerCounts } from '../../runtime/executor/worker-ledger.js';
import type { Figure } from '../metrics/convention.js';
import type { FigureSource } from '../metrics/hub.js';
import type { ThreadHealth, ThreadProbe } from '../thread-probe.js';
import { countEntries, maxOpenFiles } from './process-figures.js';
import { errorMessage } from '../../errors.js';

/** What the monitor needs of an Executor. */
export interface MonitoredExecutor {
  readonly name: string;
  counts(): WorkerCounts & { queued: number; running: number };
  control(op: string, args: unknown, opts: { timeoutMs: number }): Promise<ControlReply[]>;
}

/** When a figure earns a warning line. */
export interface HealthThresholds {
  /** Main thread event-loop delay, ms. */
  eldP99Ms: number;
  eldMaxMs: number;
  /** Main thread event-loop utilisation, 0..1. */
  mainElu: number;
  /** Process CPU (user + sys) over the interval, percent of one CPU. */
  cpuPct: number;
  /** Heap in use over the heap limit of any thread, 0..1. */
  heapRatio: number;
  /** Open descriptors over the limit, 0..1. */
  fdRatio: number;
  /** Longest GC pause of any thread, ms. */
  gcPauseMs: number;
}

export const DEFAULT_THRESHOLDS: Readonly<HealthThresholds> = Object.freeze({
  eldP99Ms: 100, eldMaxMs: 1000, mainElu: 0.9, cpuPct: 80, heapRatio: 0.85, fdRatio: 0.8, gcPauseMs: 200,
});

export interface HealthMonitorOptions {
  /** [health] check_interval in ms. */
  intervalMs: number;
  probe: ThreadProbe;
  executors: readonly MonitoredExecutor[];
  log: Logger;
  timers: Timers;
  /** How long a worker may take to answer (a busy worker answers after its task). Default 1000 ms. */
  workerTimeoutMs?: number;
  thresholds?: Partial<HealthThresholds>;
}

export interface ThreadReport extends ThreadHealth {
  thread: string;
  /** CPU of this thread over the interval, percent of one CPU. */
  cpuPct: number | null;
}

export interface HealthReport {
  at: number;
  intervalS: number;
  cpu: { userPct: number; sysPct: number };
  rssKiB: number;
  rssDeltaKiB: number;
  fds: number | null;
  maxFds: number | null;
  osThreads: number | null;
  executors: Record<string, { live: number; lingering: number; queued: number; running: number }>;
  threads: ThreadReport[];
  /** Workers that did not answer in time, with what they were doing. */
  unanswered: { thread: string; reason: string; busyWith?: string }[];
  warnings: string[];
}

interface Baseline {
  at: number;
  cpu: NodeJS.CpuUsage;
  rss: number;
  threadCpu: Map<string, number>;
}

export class HealthMonitor implements FigureSource {
  readonly source = 'health';
  #o: HealthMonitorOptions;
  #t: HealthThresholds;
  #timer: unknown = undefined;
  #running = false;
  #checking = false;
  #last: HealthReport | undefined;
  #prev: Baseline | undefined;

  constructor(opts: HealthMonitorOptions) {
    this.#o = opts;
    this.#t = { ...DEFAULT_THRESHOLDS, ...opts.thresholds };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#o.probe.watch();
    // The first check establishes the baseline; figures and the summary line start with the second.
    void this.#baseline().then(() => this.#arm());
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The last report (for /health). */
  last(): HealthReport | undefined {
    return this.#last;
  }

  /** Measure now; logs the summary and warnings and keeps the figures. */
  async check(): Promise<HealthReport> {
    this.#checking = true;
    try {
      const prev = this.#prev ?? (await this.#baseline());
      const now = Date.now();
      const [main, replies, fds, maxFds, osThreads] = await Promise.all([
        this.#o.probe.health(),
        Promise.all(this.#o.executors.map((e) => e.control('health', undefined, { timeoutMs: this.#o.workerTimeoutMs ?? 1000 }))),
        countEntries('/proc/self/fd'), maxOpenFiles(), countEntries('/proc/self/task'),
      ]);
      const intervalS = Math.max(1e-3, (now - prev.at) / 1000);
      const cpu = process.cpuUsage();
      const rss = process.memoryUsage.rss();
      const threadCpu = new Map<string, number>();
      const thread = (name: string, h: ThreadHealth): ThreadReport => {
        const total = h.cpu === null ? undefined : h.cpu.user + h.cpu.system;
        if (total !== undefined) threadCpu.set(name, total);
        const before = prev.threadCpu.get(name);
        return { thread: name, ...h, cpuPct: total === undefined || before === undefined ? null : (100 * (total - before)) / intervalS };
      };
      const threads: ThreadReport[] = [thread('main', main)];
      const unanswered: HealthReport['unanswered'] = [];
      for (const r of replies.flat()) {
        if (r.ok) threads.push(thread(r.thread, r.value as ThreadHealth));
        else unanswered.push({ thread: r.thread, reason: r.unanswered ?? r.error?.message ?? 'error', ...(r.busyWith !== undefined ? { busyWith: r.busyWith } : {}) });
      }
      const executors: HealthReport['executors'] = {};
      for (const e of this.#o.executors) {
        const c = e.counts();
        executors[e.name] = { live: c.live, lingering: c.lingering, queued: c.queued, running: c.running };
      }
      const report: HealthReport = {
        at: now, intervalS,
        cpu: { userPct: (cpu.user - prev.cpu.user) / 1e4 / intervalS, sysPct: (cpu.system - prev.cpu.system) / 1e4 / intervalS },
        rssKiB: Math.round(rss / 1024), rssDeltaKiB: Math.round((rss - prev.rss) / 1024),
        fds: fds ?? null, maxFds: maxFds ?? null, osThreads: osThreads ?? null, executors, threads, unanswered, warnings: [],
      };
      report.warnings = this.#warnings(report);
      this.#prev = { at: now, cpu, rss, threadCpu };
      this.#last = report;
      this.#log(report);
      return report;
    } finally {
      this.#checking = false;
    }
  }

  collect(): Figure[] {
    const r = this.#last;
    if (r === undefined) return [];
    const out: Figure[] = [
      { name: 'vdsm_agent_cpu_user_ratio', kind: 'gauge', help: 'Agent process user CPU over the last health check interval, 0..1 of one CPU', value: r.cpu.userPct / 100, path: 'hosts.vdsm.cpu.user_pct', pathScale: 100 },
      { name: 'vdsm_agent_cpu_system_ratio', kind: 'gauge', help: 'Agent process system CPU over the last health check interval, 0..1 of one CPU', value: r.cpu.sysPct / 100, path: 'hosts.vdsm.cpu.sys_pct', pathScale: 100 },
      { name: 'vdsm_health_unanswered_threads', kind: 'gauge', help: 'Executor workers that did not answer the last health check in time (busy or stuck)', value: r.unanswered.length },
    ];
    for (const [name, e] of Object.entries(r.executors)) {
      out.push({ name: 'vdsm_health_lingering_threads', kind: 'gauge', help: 'Discarded worker threads still blocked in native calls at the last health check', value: e.lingering, labels: { executor: name } });
    }
    for (const t of r.threads) {
      const labels = { thread: t.thread };
      const main = t.thread === 'main';
      const path = (what: string): { path?: string } => (main ? { path: `hosts.vdsm.main.${what}` } : {});
      out.push(
        { name: 'vdsm_event_loop_delay_p99_seconds', kind: 'gauge', help: 'Event-loop delay of the thread, 99th percentile over the last health check interval', value: t.eld.p99 / 1000, labels, ...path('eld_p99_ms'), ...(main ? { pathScale: 1000 } : {}) },
        { name: 'vdsm_event_loop_delay_max_seconds', kind: 'gauge', help: 'Longest event-loop delay of the thread over the last health check interval', value: t.eld.max / 1000, labels, ...path('eld_max_ms'), ...(main ? { pathScale: 1000 } : {}) },
        { name: 'vdsm_event_loop_utilization_ratio', kind: 'gauge', help: 'Event-loop utilisation of the thread over the last health check interval, 0..1', value: t.elu, labels, ...path('elu') },
        { name: 'vdsm_gc_pause_max_seconds', kind: 'gauge', help: 'Longest garbage-collection pause of the thread over the last health check interval', value: t.gc.maxMs / 1000, labels },
      );
      if (t.cpuPct !== null) out.push({ name: 'vdsm_thread_cpu_ratio', kind: 'gauge', help: 'CPU of the kernel thread over the last health check interval, 0..1 of one CPU', value: t.cpuPct / 100, labels });
      if (!main) {
        out.push(
          { name: 'vdsm_heap_used_bytes', kind: 'gauge', help: 'V8 heap in use, by thread', value: t.heap.used, labels },
          { name: 'vdsm_heap_total_bytes', kind: 'gauge', help: 'V8 heap reserved, by thread', value: t.heap.total, labels },
        );
        for (const [kind, g] of Object.entries(t.gc.totals)) {
          out.push(
            { name: 'vdsm_gc_runs_total', kind: 'counter', help: 'Garbage collections, by thread and kind', value: g.runs, labels: { thread: t.thread, kind } },
            { name: 'vdsm_gc_pause_seconds_total', kind: 'counter', help: 'Time spent in garbage collection, by thread and kind', value: g.seconds, labels: { thread: t.thread, kind } },
          );
        }
      }
    }
    return out;
  }

  async #baseline(): Promise<Baseline> {
    await this.#o.probe.health();
    await Promise.all(this.#o.executors.map((e) => e.control('health', undefined, { timeoutMs: this.#o.workerTimeoutMs ?? 1000 })));
    this.#prev = { at: Date.now(), cpu: process.cpuUsage(), rss: process.memoryUsage.rss(), threadCpu: new Map() };
    return this.#prev;
  }

  #arm(): void {
    if (!this.#running) return;
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#running || this.#checking) return this.#arm();
      this.check().catch((err: unknown) => this.#o.log.warn({ err: errorMessage(err) }, 'health check failed')).finally(() => this.#arm());
    }, this.#o.intervalMs);
    (this.#timer as { unref?: () => void } | undefined)?.unref?.();
  }

  #warnings(r: HealthReport): string[] {
    const t = this.#t;
    const w: string[] = [];
    const main = r.threads[0]!;
    if (main.eld.p99 > t.eldP99Ms || main.eld.max > t.eldMaxMs) w.push(`main thread event-loop delay p99 ${main.eld.p99.toFixed(1)} ms, max ${main.eld.max.toFixed(1)} ms (limits ${t.eldP99Ms} / ${t.eldMaxMs} ms): something blocks the main thread`);
    if (main.elu > t.mainElu) w.push(`main thread busy ${(main.elu * 100).toFixed(0)}% of the time (limit ${t.mainElu * 100}%)`);
    if (r.cpu.userPct + r.cpu.sysPct > t.cpuPct) w.push(`process CPU ${(r.cpu.userPct + r.cpu.sysPct).toFixed(1)}% of one CPU (limit ${t.cpuPct}%)`);
    for (const th of r.threads) {
      if (th.heap.limit > 0 && th.heap.used / th.heap.limit > t.heapRatio) w.push(`${th.thread} heap ${(th.heap.used / 2 ** 20).toFixed(0)} of ${(th.heap.limit / 2 ** 20).toFixed(0)} MiB`);
      if (th.gc.maxMs > t.gcPauseMs) w.push(`${th.thread} GC pause of ${th.gc.maxMs.toFixed(0)} ms (limit ${t.gcPauseMs} ms)`);
    }
    if (r.fds !== null && r.maxFds !== null && r.fds / r.maxFds > t.fdRatio) w.push(`${r.fds} of ${r.maxFds} file descriptors open`);
    for (const [name, e] of Object.entries(r.executors)) if (e.lingering > 0) w.push(`${e.lingering} ${name} worker thread(s) still blocked in native calls after discard`);
    return w;
  }

  #log(r: HealthReport): void {
    const main = r.threads[0]!;
    const workers = r.threads.slice(1);
    const live = Object.values(r.executors).reduce((s, e) => s + e.live, 0);
    const lingering = Object.values(r.executors).reduce((s, e) => s + e.lingering, 0);
    const gcRuns = r.threads.reduce((s, t) => s + t.gc.runs, 0);
    const gcMs = r.threads.reduce((s, t) => s + t.gc.ms, 0);
    const gcMax = Math.max(...r.threads.map((t) => t.gc.maxMs));
    const busiest = workers.reduce<ThreadReport | undefined>((b, t) => (b === undefined || t.elu > b.elu ? t : b), undefined);
    const sign = r.rssDeltaKiB >= 0 ? '+' : '';
    const text = `user=${r.cpu.userPct.toFixed(2)}%, sys=${r.cpu.sysPct.toFixed(2)}%, rss=${r.rssKiB} kB (${sign}${r.rssDeltaKiB}), threads=${r.osThreads ?? '?'} ` +
      `(workers live=${live} lingering=${lingering}${r.unanswered.length > 0 ? ` unanswered=${r.unanswered.length}` : ''}), fds=${r.fds ?? '?'}/${r.maxFds ?? '?'}, ` +
      `heap=${(main.heap.used / 2 ** 20).toFixed(1)} MiB, loop delay p99=${main.eld.p99.toFixed(1)} ms max=${main.eld.max.toFixed(1)} ms, elu=${main.elu.toFixed(2)}` +
      `${busiest ? `, busiest worker ${busiest.thread} elu=${busiest.elu.toFixed(2)}` : ''}, gc ${gcRuns} runs ${gcMs.toFixed(0)} ms (max ${gcMax.toFixed(0)} ms)`;
    this.#o.log.info({
      cpu_user_pct: round(r.cpu.userPct), cpu_sys_pct: round(r.cpu.sysPct), rss_kib: r.rssKiB, rss_delta_kib: r.rssDeltaKiB, threads: r.osThreads,
      fds: r.fds, executors: r.executors, unanswered: r.unanswered,
      main: { eld_p99_ms: round(main.eld.p99), eld_max_ms: round(main.eld.max), elu: round(main.elu), heap_used: main.heap.used, gc_max_ms: round(main.gc.maxMs) },
      workers: workers.map((t) => ({ thread: t.thread, tid: t.tid, elu: round(t.elu), eld_p99_ms: round(t.eld.p99), heap_used: t.heap.used, cpu_pct: t.cpuPct === null ? null : round(t.cpuPct) })),
    }, `health: ${text}`);
    for (const w of r.warnings) this.#o.log.warn({ health: true }, `health: ${w}`);
  }
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
