// The Executor's task ledger: the bounded queue (one FIFO per operation name) and the running set.
// Picking is fair across operation names, so one operation that hangs cannot starve the others.
import type { ScheduledCall } from '../scheduler.js';

export interface Task {
  readonly id: number;
  readonly op: string;
  readonly args: unknown;
  readonly timeoutMs: number | undefined;
  readonly discard: boolean;
  readonly enqueuedAt: number;
  /** Clock time the worker stamped at start; undefined while queued or not yet observed. */
  startedAt: number | undefined;
  /** Clock time the task was handed to a worker. */
  assignedAt: number | undefined;
  workerId: number | undefined;
  /** The timeout fired and the task was left running (discard=false, or no room to discard). */
  timedOut: boolean;
  /** Within `prewarmMs` of its timeout: a spare is being warmed to replace its worker. */
  prewarm: boolean;
  /** The native call its worker asked to park it on, while max_workers has no room for it. */
  parkCall?: string | undefined;
  check: ScheduledCall | undefined;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

export class TaskLedger {
  #queues = new Map<string, Task[]>();
  #running = new Map<string, Set<Task>>();
  #queued = 0;
  #runningCount = 0;

  /** Tasks waiting for a worker. */
  get queued(): number {
    return this.#queued;
  }

  /** Tasks on a worker that were not discarded (including ones left running after their timeout). */
  get running(): number {
    return this.#runningCount;
  }

  enqueue(task: Task): void {
    let q = this.#queues.get(task.op);
    if (!q) this.#queues.set(task.op, (q = []));
    q.push(task);
    this.#queued++;
  }

  /**
   * The next task to start: among the heads of the per-operation queues, the operation with the
   * fewest running tasks first, then the oldest task. `eligible` may veto a head (its operation is
   * then passed over this time, the FIFO within an operation is kept).
   */
  take(eligible: (task: Task) => boolean): Task | undefined {
    let best: Task | undefined;
    let bestRunning = Infinity;
    for (const [op, q] of this.#queues) {
      const head = q[0];
      if (!head) continue;
      const running = this.#running.get(op)?.size ?? 0;
      if (running > bestRunning || (running === bestRunning && best && head.id > best.id)) continue;
      if (!eligible(head)) continue;
      best = head;
      bestRunning = running;
    }
    if (!best) return undefined;
    const q = this.#queues.get(best.op)!;
    q.shift();
    if (q.length === 0) this.#queues.delete(best.op);
    this.#queued--;
    let r = this.#running.get(best.op);
    if (!r) this.#running.set(best.op, (r = new Set()));
    r.add(best);
    this.#runningCount++;
    return best;
  }

  /** The task left the running set (finished, failed, crashed or discarded). */
  finish(task: Task): void {
    const r = this.#running.get(task.op);
    if (!r?.delete(task)) return;
    if (r.size === 0) this.#running.delete(task.op);
    this.#runningCount--;
  }

  /** Running tasks of `op`; used to tell whether an operation is currently slow. */
  runningOf(op: string): ReadonlySet<Task> {
    return this.#running.get(op) ?? new Set();
  }

  *allRunning(): Iterable<Task> {
    for (const set of this.#running.values()) yield* set;
  }

  /** Clock time the longest-waiting queued task was enqueued; undefined when nothing waits. */
  oldestEnqueuedAt(): number | undefined {
    let oldest: number | undefined;
    for (const q of this.#queues.values()) if (q[0] && (oldest === undefined || q[0].enqueuedAt < oldest)) oldest = q[0].enqueuedAt;
    return oldest;
  }

  /** Remove and return every queued task (stop). */
  drain(): Task[] {
    const out = [...this.#queues.values()].flat().sort((a, b) => a.id - b.id);
    this.#queues.clear();
    this.#queued = 0;
    return out;
  }

  /** Queue depth per operation, for state(). */
  queuedByOp(): Record<string, number> {
    return Object.fromEntries([...this.#queues].map(([op, q]) => [op, q.length]));
  }
}
