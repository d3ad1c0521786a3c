// Call deadlines without a timer per call. Most supervdsm calls end in microseconds, and a Node timer
// costs a few microseconds to arm and clear, more than the rest of the round trip on both ends. Calls
// of one timeout end in the order they started, so each distinct timeout is a lane: a Map in
// insertion (= deadline) order holding one timer, armed for its first entry; ending a call is one
// Map.delete. When the timer fires it expires what is due and re-arms for the new first entry.
import type { Clock, Timers } from '../runtime/clock.js';

interface Entry {
  at: number;
  onExpire: () => void;
}

interface Lane {
  entries: Map<number, Entry>;
  timer: unknown;
}

export class Deadlines {
  #clock: Clock;
  #timers: Timers;
  #lanes = new Map<number, Lane>();

  constructor(clock: Clock, timers: Timers) {
    this.#clock = clock;
    this.#timers = timers;
  }

  /** Call `onExpire` `timeoutMs` from now unless `delete(id, timeoutMs)` comes first. `id` is unique among live entries. */
  add(id: number, timeoutMs: number, onExpire: () => void): void {
    let lane = this.#lanes.get(timeoutMs);
    if (lane === undefined) {
      lane = { entries: new Map(), timer: undefined };
      this.#lanes.set(timeoutMs, lane);
    }
    lane.entries.set(id, { at: this.#clock.now() + timeoutMs, onExpire });
    if (lane.timer === undefined) this.#arm(timeoutMs, lane, timeoutMs);
  }

  /** Forget `id` (its call ended in time); false when it was not there (already expired). */
  delete(id: number, timeoutMs: number): boolean {
    return this.#lanes.get(timeoutMs)?.entries.delete(id) ?? false;
  }

  /** Entries waiting. */
  get size(): number {
    let n = 0;
    for (const lane of this.#lanes.values()) n += lane.entries.size;
    return n;
  }

  /** Drop every entry and timer (nothing expires afterwards). */
  clear(): void {
    for (const lane of this.#lanes.values()) if (lane.timer !== undefined) this.#timers.clearTimeout(lane.timer);
    this.#lanes.clear();
  }

  #arm(timeoutMs: number, lane: Lane, inMs: number): void {
    lane.timer = this.#timers.setTimeout(() => this.#fire(timeoutMs, lane), Math.max(1, inMs));
  }

  #fire(timeoutMs: number, lane: Lane): void {
    lane.timer = undefined;
    const now = this.#clock.now();
    for (const [id, e] of lane.entries) {
      // Node may fire a timer a little early: what is not due yet waits for the re-armed timer.
      if (e.at > now) break;
      lane.entries.delete(id);
      e.onExpire();
    }
    const first = lane.entries.values().next();
    if (!first.done) this.#arm(timeoutMs, lane, first.value.at - now);
    else if (this.#lanes.get(timeoutMs) === lane) this.#lanes.delete(timeoutMs);
  }
}
