// Events to the engine: JSON-RPC notifications on the event queue, `notify_time` appended. While the
// host is not ready vdsm drops events; we hold them (bounded, oldest dropped first) and flush on ready.
import type { Logger } from '../observability/logging.js';
import { eventTime, type Clock, type Timers } from '../runtime/clock.js';

/** Held events beyond this drop the oldest. */
export const MAX_HELD_EVENTS = 10_000;
/** How often held events check whether the host became ready (besides explicit readyChanged()). */
export const HELD_RECHECK_MS = 1000;

export interface EventPublisherOptions {
  /** Sends one encoded notification to every event subscriber; returns how many got it. */
  deliver(body: string): number;
  isReady: () => boolean;
  clock: Clock;
  timers: Timers;
  log: Logger;
  maxHeld?: number;
}

export class EventPublisher {
  #o: EventPublisherOptions;
  #held: string[] = [];
  #timer: unknown;
  #sent = 0;
  #dropped = 0;
  #closed = false;

  constructor(opts: EventPublisherOptions) {
    this.#o = opts;
  }

  /** Publish `method` with `params` (an object); `notify_time` is added last, as vdsm does. */
  publish(method: string, params: Record<string, unknown> = {}): void {
    if (this.#closed) return;
    const body = JSON.stringify({ jsonrpc: '2.0', method, params: { ...params, notify_time: eventTime(this.#o.clock) } });
    if (this.#held.length > 0 || !this.#o.isReady()) {
      if (this.#o.isReady()) this.flush();
      else {
        this.#hold(body);
        return;
      }
    }
    this.#sent++;
    this.#o.deliver(body);
  }

  /** Send held events if the host is ready now (call when readiness changes). */
  flush(): void {
    if (this.#closed || this.#held.length === 0 || !this.#o.isReady()) return;
    const held = this.#held;
    this.#held = [];
    this.#cancelTimer();
    this.#o.log.info({ count: held.length }, 'host ready, sending held events');
    for (const body of held) {
      this.#sent++;
      this.#o.deliver(body);
    }
  }

  state(): { held: number; sent: number; dropped: number } {
    return { held: this.#held.length, sent: this.#sent, dropped: this.#dropped };
  }

  close(): void {
    this.#closed = true;
    this.#held = [];
    this.#cancelTimer();
  }

  #hold(body: string): void {
    if (this.#held.length >= (this.#o.maxHeld ?? MAX_HELD_EVENTS)) {
      this.#held.shift();
      if (this.#dropped++ % 1000 === 0) this.#o.log.warn({ dropped: this.#dropped }, 'too many events held while not ready, dropping the oldest');
    }
    this.#held.push(body);
    if (this.#timer === undefined) this.#arm();
  }

  #arm(): void {
    this.#timer = this.#o.timers.setTimeout(() => this.#recheck(), HELD_RECHECK_MS);
    // A pending re-check must not keep the process alive on its own.
    (this.#timer as { unref?: () => void } | undefined)?.unref?.();
  }

  #recheck(): void {
    this.#timer = undefined;
    if (this.#closed || this.#held.length === 0) return;
    if (this.#o.isReady()) this.flush();
    else this.#arm();
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
