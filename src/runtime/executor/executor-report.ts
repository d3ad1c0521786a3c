// Counters and time statistics an Executor keeps about itself, for state(), logs and metrics.
import type { Clock } from '../clock.js';
import { SampleWindow } from '../sample-window.js';
import type { Task } from './task-ledger.js';
import { executorChannels as ch } from './executor-events.js';

export interface ExecutorStats {
  dispatched: number;
  completed: number;
  failed: number;
  rejected: number;
  timeouts: number;
  discarded: number;
  crashed: number;
  /** Messages that arrived for discarded tasks or from discarded workers and were dropped. */
  dropped: number;
  workers_peak: number;
  lingering_peak: number;
  /** Native calls discarded workers were let go from (their threads exited while the call went on). */
  abandoned_calls: number;
  /** ... of which returned since (their ledger slots were freed then). */
  abandoned_calls_returned: number;
  /** Tasks parked on an asynchronous native call (each park counted; a task may park per call). */
  parked: number;
  /** Parked tasks that timed out (their calls abandoned, their workers kept). */
  parked_timeouts: number;
  replacements: number;
  replacement_ms_p50: number;
  replacement_ms_p99: number;
  replacement_ms_max: number;
}

export class ExecutorReport {
  dispatched = 0;
  completed = 0;
  failed = 0;
  rejected = 0;
  timeouts = 0;
  discarded = 0;
  crashed = 0;
  dropped = 0;
  abandonedCalls = 0;
  abandonedCallsReturned = 0;
  parked = 0;
  parkedTimeouts = 0;
  #workersPeak = 0;
  #lingeringPeak = 0;
  #replacement = new SampleWindow(1024);

  constructor(readonly executor: string, readonly clock: Clock) {}

  noteWorkers(total: number): void {
    this.#workersPeak = Math.max(this.#workersPeak, total);
  }

  noteLingering(n: number): void {
    this.#lingeringPeak = Math.max(this.#lingeringPeak, n);
  }

  replaced(ms: number): void {
    this.#replacement.add(ms);
  }

  /** A task's promise settled (any way); publishes the done event. */
  finished(task: Task, ok: boolean, code: string | undefined, workerId?: number): void {
    if (ok) this.completed++;
    else this.failed++;
    if (ch.done.hasSubscribers) {
      const start = task.startedAt ?? task.assignedAt;
      ch.done.publish({
        executor: this.executor, taskId: task.id, op: task.op, workerId, ok,
        runtimeMs: start === undefined ? 0 : this.clock.now() - start, ...(code ? { code } : {}),
      });
    }
  }

  stats(): ExecutorStats {
    const r = this.#replacement.stats();
    return {
      dispatched: this.dispatched, completed: this.completed, failed: this.failed, rejected: this.rejected,
      timeouts: this.timeouts, discarded: this.discarded, crashed: this.crashed, dropped: this.dropped,
      workers_peak: this.#workersPeak, lingering_peak: this.#lingeringPeak,
      abandoned_calls: this.abandonedCalls, abandoned_calls_returned: this.abandonedCallsReturned,
      parked: this.parked, parked_timeouts: this.parkedTimeouts,
      replacements: r.count, replacement_ms_p50: r.p50, replacement_ms_p99: r.p99, replacement_ms_max: r.max,
    };
  }
}
