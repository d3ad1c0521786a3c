// A clock and timers that move only when a test says so (shared by the runtime tests).
import type { Clock, Timers } from '../../src/runtime/clock.js';

interface Pending { id: number; at: number; fn: () => void }

export class ManualTime implements Clock, Timers {
  #now = 1000;
  #seq = 0;
  #pending: Pending[] = [];

  now(): number {
    return this.#now;
  }

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

  /** Move time forward by `ms`, firing due timers in order, each at its own due time. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      this.#pending.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.#pending[0];
      if (!next || next.at > target) break;
      this.#pending.shift();
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = target;
  }

  /** Fire the next timer while the clock reads `earlyMs` before its due time (Node timers do this). */
  fireNextEarly(earlyMs: number): void {
    this.#pending.sort((a, b) => a.at - b.at || a.id - b.id);
    const next = this.#pending.shift();
    if (!next) return;
    this.#now = Math.max(this.#now, next.at - earlyMs);
    next.fn();
  }
}
