// The one hand-driven clock and timer set for tests: time moves only when the test says so, so no test
// waits for real time to pass. Also vdsm's stepping FakeClock, for code that reads the clock per call.
import type { Clock, Timers } from '../../src/runtime/clock.js';

interface Pending { id: number; at: number; fn: () => void }

export class ManualTime implements Clock, Timers {
  #now: number;
  #seq = 0;
  #pending: Pending[] = [];

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  /** As Node does, a negative delay means at once (at the next advance). */
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#pending.push({ id, at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#pending = this.#pending.filter((p) => p.id !== handle);
  }

  get pendingTimers(): number {
    return this.#pending.length;
  }

  /**
   * Move time forward by `ms`, firing due timers in due order (ties in the order they were set), each
   * with the clock at its own due time; timers set by callbacks fire too when due within `ms`.
   */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#next();
      if (!next || next.at > target) break;
      this.#pending = this.#pending.filter((p) => p !== next);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = target;
  }

  /** Fire the next timer while the clock reads `earlyMs` before its due time (Node timers do this). */
  fireNextEarly(earlyMs: number): void {
    const next = this.#next();
    if (!next) return;
    this.#pending = this.#pending.filter((p) => p !== next);
    this.#now = Math.max(this.#now, next.at - earlyMs);
    next.fn();
  }

  /** Jump the clock to `ms` without firing anything. */
  set(ms: number): void {
    this.#now = ms;
  }

  #next(): Pending | undefined {
    let first: Pending | undefined;
    for (const p of this.#pending) if (!first || p.at < first.at || (p.at === first.at && p.id < first.id)) first = p;
    return first;
  }
}

/** vdsm's test FakeClock: every read moves time by `stepMs` unless frozen. */
export class SteppingClock implements Clock {
  #value: number;
  #frozen = false;
  readonly #step: number;

  constructor(stepMs = 1000, startMs = 0) {
    this.#step = stepMs;
    this.#value = startMs;
  }

  now(): number {
    if (!this.#frozen) this.#value += this.#step;
    return this.#value;
  }

  freeze(valueMs?: number): void {
    if (valueMs !== undefined) this.#value = valueMs;
    this.#frozen = true;
  }
}
