// What one JavaScript thread can tell and do about itself: event-loop delay and utilisation, heap, the
// kernel thread's CPU time, a CPU profile and a sampling heap profile (inspector sessions connected to
// this thread's isolate), a heap snapshot. The main thread owns one; every Executor worker owns one and
// serves it over its session port (`control` messages). Node built-ins only, so workers can load it.
import { createWriteStream, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import type { Profiler, Runtime } from 'node:inspector';
import { constants as perfConstants, monitorEventLoopDelay, performance, PerformanceObserver, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { getHeapSnapshot, getHeapStatistics } from 'node:v8';
import { isMainThread } from 'node:worker_threads';

export type CpuProfile = Profiler.Profile;
/** V8's sampling heap profile (the node typings lack `id` and `samples`, which V8 sends). */
export interface HeapSamplingNode {
  callFrame: Runtime.CallFrame;
  selfSize: number;
  id: number;
  children: HeapSamplingNode[];
}
export interface HeapSamplingProfile {
  head: HeapSamplingNode;
  samples?: { size: number; nodeId: number; ordinal: number }[];
}

/** Clock ticks per second of /proc/<pid>/task/<tid>/stat times (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;
/** Event-loop delay histogram resolution: the thread wakes this often while it is measured. */
export const ELD_RESOLUTION_MS = 20;

/** GC runs and pause time by kind (minor, major, incremental, weakcb). */
export type GcTotals = Record<string, { runs: number; seconds: number }>;

const GC_KINDS: Readonly<Record<number, string>> = {
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

export interface ThreadHealth {
  /** Kernel thread id. */
  tid: number;
  /** Event-loop utilisation since the previous health() of the same window, 0..1. */
  elu: number;
  /** Event-loop delay over the window, ms (0 when no sample yet). */
  eld: { p50: number; p99: number; max: number; mean: number };
  heap: { used: number; total: number; limit: number };
  /** CPU seconds of this kernel thread since it started (user, system). */
  cpu: { user: number; system: number } | null;
  /** GC pauses over the window (ms), and lifetime totals by kind. */
  gc: { runs: number; ms: number; maxMs: number; totals: GcTotals };
}

/** CPU time of one kernel thread from its stat text; null when unreadable. */
export function parseThreadCpu(text: string): { user: number; system: number } | null {
  const end = text.lastIndexOf(')');
  if (end < 0) return null;
  const f = text.slice(end + 2).split(' ');
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? { user: utime / TICKS_PER_S, system: stime / TICKS_PER_S } : null;
}

export class ThreadProbe {
  #eld: IntervalHistogram | undefined;
  #elu: EventLoopUtilization | undefined;
  #gcObserver: PerformanceObserver | undefined;
  #gcTotals: GcTotals = {};
  #gcWindow = { runs: 0, ms: 0, maxMs: 0 };
  #tid: number | undefined;
  #cpuSession: Session | undefined;
  #heapSession: Session | undefined;

  /** Start measuring event-loop delay (health() also starts it on first use). */
  watch(): void {
    if (this.#eld !== undefined) return;
    this.#eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
    this.#eld.enable();
    this.#elu = performance.eventLoopUtilization();
    this.#gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = GC_KINDS[((e as { detail?: { kind?: number } }).detail)?.kind ?? 0] ?? 'other';
        const t = (this.#gcTotals[kind] ??= { runs: 0, seconds: 0 });
        t.runs++;
        t.seconds += e.duration / 1000;
        this.#gcWindow.runs++;
        this.#gcWindow.ms += e.duration;
        this.#gcWindow.maxMs = Math.max(this.#gcWindow.maxMs, e.duration);
      }
    });
    this.#gcObserver.observe({ entryTypes: ['gc'] });
  }

  /** Lifetime GC totals of this thread (since watch()). */
  gcTotals(): GcTotals {
    return structuredClone(this.#gcTotals);
  }

  /** Figures since the previous call (the first call measures from watch() or from now). */
  async health(): Promise<ThreadHealth> {
    this.watch();
    const h = this.#eld!;
    // The histogram records whole timer periods (resolution + delay): keep the delay only.
    const ms = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS) : 0);
    const eld = h.count > 0 ? { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) } : { p50: 0, p99: 0, max: 0, mean: 0 };
    h.reset();
    const now = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(now, this.#elu).utilization;
    this.#elu = now;
    const s = getHeapStatistics();
    const tid = this.tid();
    const cpu = tid > 0 ? parseThreadCpu(await readFile(`/proc/self/task/${tid}/stat`, 'utf8').catch(() => '')) : null;
    const gc = { ...this.#gcWindow, totals: this.gcTotals() };
    this.#gcWindow = { runs: 0, ms: 0, maxMs: 0 };
    return { tid, elu: Number.isFinite(elu) ? elu : 0, eld, heap: { used: s.used_heap_size, total: s.total_heap_size, limit: s.heap_size_limit }, cpu, gc };
  }

  /**
   * Kernel thread id of the calling thread: the pid on the main thread; in a worker, /proc/thread-self
   * read synchronously (an async read would run on a libuv pool thread and name that one).
   */
  tid(): number {
    if (this.#tid === undefined) {
      try {
        this.#tid = isMainThread ? process.pid : Number(readlinkSync('/proc/thread-self').split('/').pop());
      } catch {
        this.#tid = -1;
      }
    }
    return this.#tid;
  }

  get profiling(): boolean {
    return this.#cpuSession !== undefined;
  }

  async startCpuProfile(intervalUs: number): Promise<void> {
    if (this.#cpuSession !== undefined) return;
    const s = new Session();
    s.connect();
    this.#cpuSession = s;
    await s.post('Profiler.enable');
    await s.post('Profiler.setSamplingInterval', { interval: intervalUs });
    await s.post('Profiler.start');
  }

  async stopCpuProfile(): Promise<CpuProfile | null> {
    const s = this.#cpuSession;
    if (s === undefined) return null;
    this.#cpuSession = undefined;
    try {
      const { profile } = await s.post('Profiler.stop');
      return profile;
    } finally {
      s.disconnect();
    }
  }

  async startHeapSampling(intervalBytes: number): Promise<void> {
    if (this.#heapSession !== undefined) return;
    const s = new Session();
    s.connect();
    this.#heapSession = s;
    await s.post('HeapProfiler.enable');
    await s.post('HeapProfiler.startSampling', { samplingInterval: intervalBytes });
  }

  async stopHeapSampling(): Promise<HeapSamplingProfile | null> {
    const s = this.#heapSession;
    if (s === undefined) return null;
    this.#heapSession = undefined;
    try {
      const { profile } = await s.post('HeapProfiler.stopSampling');
      return profile as unknown as HeapSamplingProfile;
    } finally {
      s.disconnect();
    }
  }

  /** Write a heap snapshot of this thread's isolate to `path` (the isolate pauses while V8 takes it). */
  async writeHeapSnapshot(path: string): Promise<{ path: string; bytes: number }> {
    const out = createWriteStream(path, { mode: 0o600 });
    await pipeline(getHeapSnapshot(), out);
    return { path, bytes: out.bytesWritten };
  }

  /** The control operations a worker serves for the main thread. */
  async handle(op: string, args: unknown): Promise<unknown> {
    const a = (args ?? {}) as { intervalUs?: number; intervalBytes?: number; path?: string };
    switch (op) {
      case 'health':
        return this.health();
      case 'cpuProfile.start':
        return this.startCpuProfile(a.intervalUs ?? 1000);
      case 'cpuProfile.stop':
        return this.stopCpuProfile();
      case 'heapSampling.start':
        return this.startHeapSampling(a.intervalBytes ?? 32768);
      case 'heapSampling.stop':
        return this.stopHeapSampling();
      case 'heapSnapshot':
        if (typeof a.path !== 'string') throw new Error('heapSnapshot needs a path');
        return this.writeHeapSnapshot(a.path);
      default:
        throw new Error(`unknown thread control operation ${JSON.stringify(op)}`);
    }
  }

  /** Stop every measurement and session (thread exit, agent stop). */
  close(): void {
    this.#eld?.disable();
    this.#eld = undefined;
    this.#gcObserver?.disconnect();
    this.#gcObserver = undefined;
    this.#cpuSession?.disconnect();
    this.#cpuSession = undefined;
    this.#heapSession?.disconnect();
    this.#heapSession = undefined;
  }
}
