// The main thread's one timer heap (vdsm's Scheduler): calls run in deadline order, never before
// their deadline, and a throwing call is logged without stopping the others.
import type { Logger } from 'pino';
import { Lifecycle } from './lifecycle.js';
import { monotonicClock, realTimers, type Clock, type Timers } from './clock.js';
import { SampleWindow } from './sample-window.js';

export interface ScheduledCall {
  /** The call will not run; cheap, idempotent, safe from inside another call. */
  cancel(): void;
  /** True until the call ran or was cancelled. */
  readonly valid: boolean;
  readonly name: string;
  /** Clock time at which the call is due. */
  readonly deadline: number;
}

export interface SchedulerOptions {
  name?: string;
  clock?: Clock;
  timers?: Timers;
  log: Logger;
}

export interface SchedulerStats {
  /** Calls run. */
  count: number;
  /** Lateness (run time - deadline) in ms: p50/p99 over the last 4096 calls, max over the lifetime. */
  lateness_p50_ms: number;
  lateness_p99_ms: number;
  lateness_max_ms: number;
  /** Calls run before their deadline: always 0 unless there is a bug. */
  early: number;
  /** Timer wake-ups that came before the earliest deadline and were re-armed (Node timers do this). */
  early_wakeups: number;
  failures: number;
}

class Call implements ScheduledCall {
  fn: (() => void) | undefined;
  constructor(readonly deadline: number, readonly seq: number, readonly name: string, fn: () => void, readonly onCancel: () => void) {
    this.fn = fn;
  }
  get valid(): boolean {
    return this.fn !== undefined;
  }
  cancel(): void {
    if (this.fn === undefined) return;
    this.fn = undefined;
    this.onCancel();
  }
}

/** Cancelled calls stay in the heap until popped; past this many (and half the heap) it is rebuilt. */
const COMPACT_AFTER = 1024;

const before = (a: Call, b: Call): boolean => a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);

export class Scheduler {
  readonly name: string;
  #clock: Clock;
  #timers: Timers;
  #log: Logger;
  #heap: Call[] = [];
  #seq = 0;
  readonly #life: Lifecycle;
  #timer: unknown = undefined;
  #armedFor = Infinity;
  #lateness = new SampleWindow();
  #early = 0;
  #earlyWakeups = 0;
  #failures = 0;
  #cancelled = 0;
  // Executor timeout checks are mostly cancelled (the task finished first): with long timeouts
  // and many tasks they would pile up in the heap until their deadlines.
  #onCancel = (): void => {
    if (++this.#cancelled > COMPACT_AFTER && this.#cancelled * 2 > this.#heap.length) this.#compact();
  };

  constructor(opts: SchedulerOptions) {
    this.name = opts.name ?? 'vdsm.Scheduler';
    this.#clock = opts.clock ?? monotonicClock;
    this.#timers = opts.timers ?? realTimers;
    this.#log = opts.log;
    this.#life = new Lifecycle(`Scheduler ${this.name}`);
  }

  get running(): boolean {
    return this.#life.running;
  }

  /** The shared lifecycle (src/runtime/lifecycle.ts): start is idempotent; a closed scheduler stays closed. */
  start(): void {
    this.#life.startSync(() => this.#log.debug({ scheduler: this.name }, 'Starting scheduler'));
  }

  /** Drops every pending call. Idempotent. */
  close(): void {
    this.#life.closeSync(() => {
      const pending = this.#heap;
      this.#heap = [];
      for (const c of pending) c.cancel();
      this.#cancelled = 0;
      this.#disarm();
      this.#log.debug({ scheduler: this.name }, 'Scheduler stopped');
    });
  }

  /** The same as close(); nothing runs after either. */
  destroy(): void {
    this.close();
  }

  /** close(), by the name the Executor's stop() shares (kept for callers written before the lifecycle). */
  stop(): void {
    this.close();
  }

  /** Run `fn` on the main thread no earlier than `delayMs` from now. */
  schedule(delayMs: number, fn: () => void, name = fn.name || 'anonymous'): ScheduledCall {
    this.#life.assertRunning();
    const call = new Call(this.#clock.now() + Math.max(0, delayMs), this.#seq++, name, fn, this.#onCancel);
    this.#push(call);
    if (call.deadline < this.#armedFor) this.#arm();
    return call;
  }

  stats(): SchedulerStats {
    const l = this.#lateness.stats();
    return {
      count: l.count, lateness_p50_ms: l.p50, lateness_p99_ms: l.p99, lateness_max_ms: l.max,
      early: this.#early, early_wakeups: this.#earlyWakeups, failures: this.#failures,
    };
  }

  state(): Record<string, unknown> {
    const next = this.#heap.find((c) => c.valid);
    return {
      name: this.name, running: this.#life.running, lifecycle: this.#life.state, pending: this.#heap.filter((c) => c.valid).length, heap: this.#heap.length,
      next: next ? { name: next.name, in_ms: Math.max(0, next.deadline - this.#clock.now()) } : null,
      stats: this.stats(),
    };
  }

  #arm(): void {
    this.#disarm();
    this.#dropCancelledTop();
    const top = this.#heap[0];
    if (!top) return;
    const remaining = top.deadline - this.#clock.now();
    this.#armedFor = top.deadline;
    // ceil: Node timers count whole milliseconds and may fire early; #fire re-checks and re-arms.
    // (Spinning on setImmediate for the last fraction of a ms was tried: better p50, but a spinning
    // main thread gets preempted on a busy 2-core host and p99 doubled; see bench executor-stuck.)
    this.#timer = this.#timers.setTimeout(() => this.#fire(), Math.max(0, Math.ceil(remaining)));
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    this.#dropCancelledTop();
    const top = this.#heap[0];
    if (top && top.deadline > this.#clock.now()) this.#earlyWakeups++;
    // Run what is due now; calls scheduled by these calls with delay 0 wait for the next turn, so a
    // self-rescheduling call cannot starve the event loop.
    const now = this.#clock.now();
    while (this.#life.running && this.#heap.length > 0 && this.#heap[0]!.deadline <= now) {
      const call = this.#pop();
      const fn = call.fn;
      if (!fn) continue;
      call.fn = undefined;
      const ranAt = this.#clock.now();
      if (ranAt < call.deadline) this.#early++;
      this.#lateness.add(ranAt - call.deadline);
      try {
        fn();
      } catch (err) {
        this.#failures++;
        this.#log.error({ err, call: call.name, scheduler: this.name }, `Unhandled exception in ${call.name}`);
      }
    }
    if (this.#life.running) this.#arm();
  }

  #compact(): void {
    const live = this.#heap.filter((c) => c.valid);
    this.#heap = [];
    this.#cancelled = 0;
    for (const c of live) this.#push(c);
  }

  #dropCancelledTop(): void {
    while (this.#heap.length > 0 && !this.#heap[0]!.valid) this.#pop();
  }

  #push(c: Call): void {
    const h = this.#heap;
    h.push(c);
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): Call {
    const h = this.#heap;
    const top = h[0]!;
    // A call that ran is emptied only after it was popped: an empty one here was cancelled.
    if (top.fn === undefined && this.#cancelled > 0) this.#cancelled--;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
