// Requests about worker threads themselves (health figures, CPU and heap profiles, heap snapshots),
// sent over each worker's session port beside tasks and answered by the worker's ThreadProbe. A worker
// busy in a synchronous task answers when the task ends, so every request has a deadline; a worker that
// exits answers never. The Executor owns one of these; observability asks through Executor.control().
import { realTimers, type Timers } from '../clock.js';
import type { ToWorker, WireError } from '../../contracts/executor-protocol.js';

/** One worker's answer to a control request. */
export interface ControlReply {
  executor: string;
  workerId: number;
  /** `<executor>/<workerId>`, the thread name used in logs and /health. */
  thread: string;
  tid: number;
  ok: boolean;
  value?: unknown;
  error?: WireError;
  /** No answer before the deadline (busy in a long task or stuck in native code) or the thread exited. */
  unanswered?: 'timeout' | 'exited';
  /** The operation the worker was running when asked, if any. */
  busyWith?: string;
}

export interface ControlTarget {
  workerId: number;
  tid: number;
  busyWith: string | undefined;
  send(msg: ToWorker): void;
}

interface Pending {
  reply: ControlReply;
  done: (r: ControlReply) => void;
  timer: unknown;
}

export class ControlRequests {
  readonly #executor: string;
  readonly #timers: Timers;
  #nextId = 1;
  #pending = new Map<number, Pending>();

  constructor(executor: string, timers: Timers = realTimers) {
    this.#executor = executor;
    this.#timers = timers;
  }

  /** Send `op` to every target; resolves with one reply per target, answered or not, within timeoutMs. */
  ask(targets: readonly ControlTarget[], op: string, args: unknown, timeoutMs: number): Promise<ControlReply[]> {
    return Promise.all(targets.map((t) => new Promise<ControlReply>((resolve) => {
      const id = this.#nextId++;
      const reply: ControlReply = {
        executor: this.#executor, workerId: t.workerId, thread: `${this.#executor}/${t.workerId}`, tid: t.tid, ok: false,
        ...(t.busyWith !== undefined ? { busyWith: t.busyWith } : {}),
      };
      const timer = this.#timers.setTimeout(() => this.#finish(id, { unanswered: 'timeout' }), timeoutMs);
      (timer as { unref?: () => void } | undefined)?.unref?.();
      this.#pending.set(id, { reply, done: resolve, timer });
      t.send({ type: 'control', id, op, args });
    })));
  }

  /** A worker answered. */
  answer(msg: { id: number; ok: boolean; value?: unknown; error?: WireError }): void {
    this.#finish(msg.id, msg.ok ? { ok: true, value: msg.value } : { ok: false, ...(msg.error ? { error: msg.error } : {}) });
  }

  /** A worker exited: its open requests will never be answered. */
  workerGone(workerId: number): void {
    for (const [id, p] of this.#pending) if (p.reply.workerId === workerId) this.#finish(id, { unanswered: 'exited' });
  }

  get pending(): number {
    return this.#pending.size;
  }

  #finish(id: number, result: Partial<ControlReply>): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    this.#timers.clearTimeout(p.timer);
    p.done({ ...p.reply, ...result });
  }
}
