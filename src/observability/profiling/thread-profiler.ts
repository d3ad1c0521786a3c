// CPU and sampling heap profiles of every thread: the main thread through its own inspector session,
// each Executor worker through an inspector session inside that worker (ThreadProbe, driven by
// Executor.control()). Workers that start while a session runs join it; workers that end during it
// (discarded, retired) are listed as missing. Output: one .cpuprofile (and .heapprofile) per thread
// for Chrome DevTools or speedscope, and one pprof file with every thread labelled.
import diagnostics_channel from 'node:diagnostics_channel';
import { writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { executorChannels, type WorkerEvent } from '../../runtime/executor/executor-events.js';
import type { ControlReply } from '../../runtime/executor/thread-control.js';
import type { CpuProfile, HeapSamplingProfile, ThreadProbe } from '../thread-probe.js';
import { cpuProfilesToPprof, encodePprof, heapProfilesToPprof } from './pprof.js';

export interface ProfiledExecutor {
  readonly name: string;
  control(op: string, args: unknown, opts: { timeoutMs: number; workerIds?: readonly number[] }): Promise<ControlReply[]>;
}

export interface ThreadProfilerOptions {
  probe: ThreadProbe;
  executors: readonly ProfiledExecutor[];
  log: Logger;
  /** [devel] cpu_profile_builtins */
  builtins: boolean;
  /** [devel] cpu_profile_clock */
  clock: 'cpu' | 'wall';
  /** V8 sampling interval, µs (default 1000: about 1-3 % overhead on a busy thread). */
  intervalUs?: number;
  /** Sampling heap profiler interval, bytes (default 32 KiB). */
  heapIntervalBytes?: number;
  /** How long a worker may take to hand its profile over at stop (a busy worker answers after its task). */
  stopTimeoutMs?: number;
}

/** Where one session's files go: the pprof file(s) and a prefix for the per-thread files. */
export interface ProfileTarget {
  /** Prefix: `<base>.<thread>.cpuprofile`, `<base>.<thread>.heapprofile`. */
  base: string;
  /** The CPU pprof file (gzipped protobuf). */
  pprof: string;
}

export interface ProfileResult {
  files: string[];
  threads: string[];
  /** Threads that were profiled but could not hand their profile over (ended or stuck). */
  missing: string[];
  seconds: number;
}

interface Session {
  startedAt: number;
  heap: boolean;
  threads: Set<string>;
}

/** 'periodic/3' -> 'periodic-3' for file names. */
export function threadFileName(thread: string): string {
  return thread.replace(/[^A-Za-z0-9_-]/g, '-');
}

export class ThreadProfiler {
  #o: ThreadProfilerOptions;
  #session: Session | undefined;
  #busy = false;
  #last: (ProfileResult & { at: number }) | undefined;
  #onWorker = (msg: unknown): void => this.#workerEvent(msg as WorkerEvent);

  constructor(opts: ThreadProfilerOptions) {
    this.#o = opts;
  }

  get running(): boolean {
    return this.#session !== undefined;
  }

  /** Start profiling every thread. Throws when a session already runs (as vdsm's profiler does). */
  async start(opts: { heap?: boolean } = {}): Promise<{ threads: string[] }> {
    if (this.#session !== undefined || this.#busy) throw new Error('profiling already running');
    this.#busy = true;
    try {
      const session: Session = { startedAt: Date.now(), heap: opts.heap === true, threads: new Set(['main']) };
      this.#session = session;
      diagnostics_channel.subscribe(executorChannels.worker.name, this.#onWorker);
      await this.#o.probe.startCpuProfile(this.#intervalUs);
      if (session.heap) await this.#o.probe.startHeapSampling(this.#heapInterval);
      await Promise.all(this.#o.executors.map(async (e) => {
        for (const r of await this.#startIn(e)) if (r.ok) session.threads.add(r.thread);
      }));
      this.#o.log.info({ threads: [...session.threads], heap: session.heap, interval_us: this.#intervalUs }, 'profiling started');
      return { threads: [...session.threads] };
    } catch (err) {
      await this.#abort();
      throw err;
    } finally {
      this.#busy = false;
    }
  }

  /** Stop, collect every thread's profile and write the files. */
  async stop(target: ProfileTarget): Promise<ProfileResult> {
    const session = this.#session;
    if (session === undefined || this.#busy) throw new Error('profiling is not running');
    this.#busy = true;
    try {
      diagnostics_channel.unsubscribe(executorChannels.worker.name, this.#onWorker);
      const cpu: { thread: string; profile: CpuProfile }[] = [];
      const heap: { thread: string; profile: HeapSamplingProfile }[] = [];
      const main = await this.#o.probe.stopCpuProfile();
      if (main) cpu.push({ thread: 'main', profile: main });
      if (session.heap) {
        const h = await this.#o.probe.stopHeapSampling();
        if (h) heap.push({ thread: 'main', profile: h });
      }
      const timeoutMs = this.#o.stopTimeoutMs ?? 15_000;
      await Promise.all(this.#o.executors.map(async (e) => {
        const [c, h] = await Promise.all([
          e.control('cpuProfile.stop', undefined, { timeoutMs }),
          session.heap ? e.control('heapSampling.stop', undefined, { timeoutMs }) : Promise.resolve([]),
        ]);
        for (const r of c) if (r.ok && r.value) cpu.push({ thread: r.thread, profile: r.value as CpuProfile });
        for (const r of h) if (r.ok && r.value) heap.push({ thread: r.thread, profile: r.value as HeapSamplingProfile });
      }));
      const files: string[] = [];
      for (const { thread, profile } of cpu) {
        const f = `${target.base}.${threadFileName(thread)}.cpuprofile`;
        await writeFile(f, JSON.stringify(profile), { mode: 0o600 });
        files.push(f);
      }
      const pprof = cpuProfilesToPprof(cpu, { builtins: this.#o.builtins, clock: this.#o.clock, intervalUs: this.#intervalUs, startedAtMs: session.startedAt });
      await writeFile(target.pprof, await encodePprof(pprof), { mode: 0o600 });
      files.unshift(target.pprof);
      if (heap.length > 0) {
        for (const { thread, profile } of heap) {
          const f = `${target.base}.${threadFileName(thread)}.heapprofile`;
          await writeFile(f, JSON.stringify(profile), { mode: 0o600 });
          files.push(f);
        }
        const hp = `${target.base}.heap.pb.gz`;
        await writeFile(hp, await encodePprof(heapProfilesToPprof(heap, { builtins: this.#o.builtins, intervalBytes: this.#heapInterval, startedAtMs: session.startedAt })), { mode: 0o600 });
        files.splice(1, 0, hp);
      }
      const got = new Set(cpu.map((c) => c.thread));
      const result: ProfileResult = {
        files, threads: [...got], missing: [...session.threads].filter((t) => !got.has(t)), seconds: Math.round((Date.now() - session.startedAt) / 100) / 10,
      };
      this.#last = { ...result, at: Date.now() };
      this.#o.log.info({ ...result, files: result.files }, 'profiling stopped; profiles written');
      return result;
    } finally {
      this.#session = undefined;
      this.#busy = false;
    }
  }

  /** Heap snapshot of one thread ('main' or '<executor>/<workerId>') to `<base>.<thread>.heapsnapshot`. */
  async heapSnapshot(base: string, thread = 'main'): Promise<string> {
    const file = `${base}.${threadFileName(thread)}.heapsnapshot`;
    if (thread === 'main') {
      await this.#o.probe.writeHeapSnapshot(file);
      return file;
    }
    const m = /^(.+)\/(\d+)$/.exec(thread);
    const executor = this.#o.executors.find((e) => e.name === m?.[1]);
    if (m === null || executor === undefined) throw new Error(`no such thread ${JSON.stringify(thread)} (main or <executor>/<worker id>)`);
    const [r] = await executor.control('heapSnapshot', { path: file }, { timeoutMs: this.#o.stopTimeoutMs ?? 15_000, workerIds: [Number(m[2])] });
    if (r === undefined) throw new Error(`thread ${thread} is not running`);
    if (!r.ok) throw new Error(`thread ${thread} did not take the snapshot: ${r.unanswered ?? r.error?.message ?? 'error'}`);
    return file;
  }

  state(): Record<string, unknown> {
    const s = this.#session;
    return {
      running: s !== undefined,
      ...(s ? { since_ms: Date.now() - s.startedAt, heap: s.heap, threads: [...s.threads] } : {}),
      last: this.#last ?? null,
    };
  }

  /** Stop without writing anything (agent stop when no file is wanted, start failures). */
  async #abort(): Promise<void> {
    diagnostics_channel.unsubscribe(executorChannels.worker.name, this.#onWorker);
    this.#session = undefined;
    await this.#o.probe.stopCpuProfile().catch(() => null);
    await this.#o.probe.stopHeapSampling().catch(() => null);
    await Promise.all(this.#o.executors.map((e) => Promise.all([
      e.control('cpuProfile.stop', undefined, { timeoutMs: 1000 }),
      e.control('heapSampling.stop', undefined, { timeoutMs: 1000 }),
    ]).catch(() => undefined)));
  }

  get #intervalUs(): number {
    return this.#o.intervalUs ?? 1000;
  }

  get #heapInterval(): number {
    return this.#o.heapIntervalBytes ?? 32768;
  }

  async #startIn(e: ProfiledExecutor, workerIds?: readonly number[]): Promise<ControlReply[]> {
    const opts = { timeoutMs: 5000, ...(workerIds ? { workerIds } : {}) };
    const replies = await e.control('cpuProfile.start', { intervalUs: this.#intervalUs }, opts);
    if (this.#session?.heap === true) await e.control('heapSampling.start', { intervalBytes: this.#heapInterval }, opts);
    for (const r of replies) if (!r.ok) this.#o.log.warn({ thread: r.thread, reason: r.unanswered ?? r.error?.message, busy_with: r.busyWith }, 'worker did not start profiling');
    return replies;
  }

  #workerEvent(e: WorkerEvent): void {
    const session = this.#session;
    if (session === undefined || e.event !== 'ready') return;
    const executor = this.#o.executors.find((x) => x.name === e.executor);
    if (executor === undefined) return;
    void this.#startIn(executor, [e.workerId]).then((replies) => {
      for (const r of replies) if (r.ok && this.#session === session) session.threads.add(r.thread);
    });
  }
}
