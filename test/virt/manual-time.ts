// A hand-driven clock and timer set for tests: time moves only when the test says so.
import type { Clock, Timers } from '../../src/runtime/clock.js';

interface Pending {
  id: number;
  at: number;
  fn: () => void;
}

export class ManualTime implements Clock, Timers {
  #now: number;
  #nextId = 1;
  #pending: Pending[] = [];

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const t = { id: this.#nextId++, at: this.#now + ms, fn };
    this.#pending.push(t);
    return t.id;
  }

  clearTimeout(handle: unknown): void {
    this.#pending = this.#pending.filter((t) => t.id !== handle);
  }

  get pendingTimers(): number {
    return this.#pending.length;
  }

  /** Move time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#pending.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.#pending = this.#pending.filter((t) => t !== due);
      this.#now = due.at;
      due.fn();
    }
    this.#now = target;
  }

  set(ms: number): void {
    this.#now = ms;
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
