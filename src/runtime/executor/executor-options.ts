// The Executor's options, their defaults and validation, in one place.
import type { Logger } from 'pino';
import type { ResourceLimits } from 'node:worker_threads';
import { Errors, vdsmError } from '../../errors.js';
import type { Clock } from '../clock.js';
import type { Scheduler } from '../scheduler.js';
import type { NativeCalls } from '../../native-calls.js';

export interface ExecutorOptions {
  name: string;
  /** Live workers kept at all times (vdsm workers_count). */
  workersCount: number;
  /** Bound on every thread the Executor holds: starting + spares + live + lingering. */
  maxWorkers: number;
  /** Bound on queued + running tasks; beyond it dispatch throws RESOURCE_EXHAUSTED. */
  maxTasks: number;
  scheduler: Scheduler;
  log: Logger;
  clock?: Clock;
  /** Given to every operation as ctx.workerData (structured-cloneable). */
  workerData?: unknown;
  /** Warm threads kept outside the live set (default 1). */
  spares?: number;
  /** How long before a discardable task's timeout its replacement starts warming (default 150). */
  prewarmMs?: number;
  /** A task running longer than this makes its operation "slow" (default 50). */
  slowTaskMs?: number;
  /** Threads starting at once, at most (default 2): start-up is CPU-bound and `new Worker` stalls the main thread for ms. */
  maxConcurrentSpawns?: number;
  /** Add live workers when tasks wait and no thread is ready (default true); false is vdsm's fixed pool. */
  growOnBacklog?: boolean;
  /** Grow only once the oldest queued task waited this long (default 20), so bursts that drain by themselves cost no threads. */
  growAfterMs?: number;
  /** Live workers above workers_count (and extra spares) retire after being idle this long (default 5000). */
  surplusIdleMs?: number;
  /**
   * Worker heap limits (Piscina passes them to each thread). Default { maxYoungGenerationSizeMb: 4 }:
   * a smaller young generation keeps each thread ~0.5 MB lighter, which counts when 30 linger.
   */
  resourceLimits?: ResourceLimits;
  /**
   * Nice increment for worker threads (Linux applies it per thread; each worker raises its own
   * as it starts, workers/executor-worker.ts). A positive value keeps the main thread (RPC, Scheduler, timeouts) ahead of workers
   * that start up or compute on a 2-core host. Default NICE_DEFAULT.
   */
  niceIncrement?: number;
  /** Load only these workers/ops modules (e.g. ['libvirt']); every module by default. */
  opsModules?: string[];
  /** Level of the workers' own pino loggers (default: the given logger's level). */
  workerLogLevel?: string;
  /** Worker entry override, for tests. */
  workerFilename?: string;
  /**
   * The native addons' call threads (src/native-calls.ts): a discarded worker is let go from an
   * offloaded native call so its thread exits, and the call counts against max_workers until it
   * returns. Default: the real addons (virt, vdsm_sleep).
   */
  nativeCalls?: NativeCalls;
}

/** Measured (bench executor-stuck, K=29): main-loop delay max 7-19 ms at nice 5 against 18-30 ms at 0. */
export const NICE_DEFAULT = 5;

/** The tuning knobs with their defaults applied. */
export type ExecutorTuning = Required<Pick<ExecutorOptions,
  'growOnBacklog' | 'growAfterMs' | 'spares' | 'prewarmMs' | 'slowTaskMs' | 'maxConcurrentSpawns' | 'surplusIdleMs'>>;

export interface StopResult {
  /** Threads still alive when stop() gave up waiting (blocked in native code). */
  stuckThreads: number;
}

/** Validate the sizes (INVALID_CONFIGURATION listing the rule) and apply defaults. */
export function resolveTuning(opts: ExecutorOptions): ExecutorTuning {
  if (!(opts.workersCount >= 0 && opts.maxWorkers >= Math.max(1, opts.workersCount) && opts.maxTasks >= 0)) {
    throw vdsmError(Errors.INVALID_CONFIGURATION, `Executor ${opts.name}: need 0 <= workersCount <= maxWorkers (>= 1), maxTasks >= 0`);
  }
  return {
    growOnBacklog: opts.growOnBacklog ?? true,
    growAfterMs: opts.growAfterMs ?? 20,
    spares: opts.spares ?? 1,
    prewarmMs: opts.prewarmMs ?? 150,
    slowTaskMs: opts.slowTaskMs ?? 50,
    maxConcurrentSpawns: opts.maxConcurrentSpawns ?? 2,
    surplusIdleMs: opts.surplusIdleMs ?? 5000,
  };
}
