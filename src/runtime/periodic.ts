// vdsm's periodic Operation on the main thread: runs an Executor operation (or a main-thread
// function that dispatches) every period, exclusive or not.
import type { Logger } from 'pino';
import { Errors, isError, vdsmError } from '../errors.js';
import type { Dispatcher } from '../contracts/dispatcher.js';
import type { OpArgs, OpName, OpResult } from '../contracts/operations.js';
import type { ScheduledCall, Scheduler } from './scheduler.js';
import { ThrottledLog } from './throttled-log.js';

interface CommonOptions {
  /** For logs and state, e.g. 'HostMonitor', 'VMBulkstatsMonitor'. */
  name: string;
  periodMs: number;
  scheduler: Scheduler;
  log: Logger;
  /**
   * Exclusive: the next run is scheduled when this one settles (period counts from completion, a
   * hung run blocks the next). Non-exclusive (default): the next run is scheduled `periodMs` after
   * each dispatch, whether or not the previous one finished.
   */
  exclusive?: boolean;
}

/** Run Executor operation `op` with `args()` built on the main thread at each run. */
export interface OpOperationOptions<K extends OpName> extends CommonOptions {
  executor: Dispatcher & { state?(): unknown };
  op: K;
  args: () => OpArgs<K>;
  /** Timeout from task start; default periodMs / 2 (vdsm's timeout=0). */
  timeoutMs?: number;
  /** Discard the worker on timeout (default true). */
  discard?: boolean;
  /** Main thread, with the operation's result. A throw is logged. */
  onResult?: (result: OpResult<K>) => void;
  /** Main thread, when the operation failed (including TASK_DISCARDED, WORKER_CRASHED). Logged if absent. */
  onError?: (err: unknown) => void;
}

/**
 * Run a main-thread function that itself dispatches. It must throw
 * RESOURCE_EXHAUSTED synchronously when it could not dispatch at all; its promise ends the run.
 */
export interface FnOperationOptions extends CommonOptions {
  run: () => Promise<unknown> | void;
  /** Described in the "executor state:" line when the queue is full. */
  executor?: { state?(): unknown };
}

export type OperationOptions<K extends OpName> = OpOperationOptions<K> | FnOperationOptions;

/** vdsm's `_timeout_from(period)`: half the period. */
export const timeoutFrom = (periodMs: number): number => periodMs / 2;

export class Operation<K extends OpName = OpName> {
  readonly name: string;
  readonly periodMs: number;
  readonly exclusive: boolean;
  #opts: OperationOptions<K>;
  #call: ScheduledCall | undefined;
  #running = false;
  #inFlight = 0;
  #runs = 0;
  #failures = 0;
  #queueFull = 0;
  #throttled: ThrottledLog;

  constructor(opts: OperationOptions<K>) {
    this.#opts = opts;
    this.name = opts.name;
    this.periodMs = opts.periodMs;
    this.exclusive = opts.exclusive ?? false;
    this.#throttled = new ThrottledLog(opts.log, 10);
  }

  get running(): boolean {
    return this.#running;
  }

  /** Runs at once, then every period. A period <= 0 is INVALID_PARAMETER; starting twice ALREADY_STARTED. */
  start(): void {
    if (!(this.periodMs > 0)) throw vdsmError(Errors.INVALID_PARAMETER, `Operation ${this.name}: invalid period ${this.periodMs}`);
    if (this.#running) throw vdsmError(Errors.ALREADY_STARTED, `Operation ${this.name} already started`);
    this.#running = true;
    this.#dispatch();
  }

  /** Cancels the next run; a run in flight finishes but schedules nothing. Idempotent. */
  stop(): void {
    this.#running = false;
    this.#call?.cancel();
    this.#call = undefined;
  }

  state(): Record<string, unknown> {
    return {
      name: this.name, period_ms: this.periodMs, exclusive: this.exclusive, running: this.#running,
      in_flight: this.#inFlight, runs: this.#runs, failures: this.#failures, queue_full: this.#queueFull,
    };
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#call = this.#opts.scheduler.schedule(this.periodMs, () => this.#dispatch(), `periodic:${this.name}`);
  }

  #dispatch(): void {
    if (!this.#running) return;
    let pending: Promise<unknown> | undefined;
    try {
      pending = this.#runOnce();
    } catch (err) {
      this.#failures++;
      if (isError(err, Errors.RESOURCE_EXHAUSTED)) {
        this.#queueFull++;
        this.#opts.log.warn({ operation: this.name }, `could not run ${this.name}, executor queue full`);
        this.#throttled.warn('executor-state', { operation: this.name, executor: this.#opts.executor?.state?.() }, 'executor state:');
      } else {
        this.#opts.log.error({ err, operation: this.name }, `Operation ${this.name} failed to start`);
      }
    }
    // A failed dispatch is retried next period in both modes: the operation never silently stops.
    if (!this.exclusive || !pending) {
      this.#schedule();
      if (!pending) return;
    }
    this.#runs++;
    this.#inFlight++;
    pending.then(
      () => this.#settled(),
      (err: unknown) => {
        this.#failures++;
        this.#opts.log.error({ err, operation: this.name }, `Operation ${this.name} failed`);
        this.#settled();
      },
    );
  }

  #settled(): void {
    this.#inFlight--;
    if (this.exclusive) this.#schedule();
  }

  /** One run; throws synchronously when nothing could be dispatched. */
  #runOnce(): Promise<unknown> | undefined {
    const o = this.#opts;
    if ('run' in o) return o.run() ?? undefined;
    const p = o.executor.dispatch(o.op, o.args(), { timeoutMs: o.timeoutMs ?? timeoutFrom(this.periodMs), discard: o.discard ?? true });
    // Callbacks run on the main thread; their failures are the operation's failures, logged.
    return p.then(
      (r) => o.onResult?.(r),
      (err: unknown) => {
        if (!o.onError) throw err;
        o.onError(err);
      },
    );
  }
}
