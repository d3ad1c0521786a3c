// Gives memory back after a burst: when connections that held many megabytes are dropped or closed,
// their buffers become garbage that V8 collects only when it next feels pressure, so the process kept
// its peak RSS for as long as it stayed quiet. relief() asks for one full collection, at most once per
// `minIntervalMs`, a little after the last request (so the sockets are closed by then). The agent's
// collect also trims the C heap (malloc_trim, native/sys): TLS sessions and socket buffers live there.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Timers } from './clock.js';
import { Lifecycle } from './lifecycle.js';

/** V8's full collection, made callable without starting node with --expose-gc. */
export function fullGc(): (() => void) | undefined {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  return typeof gc === 'function' ? (gc as () => void) : undefined;
}

export interface MemoryReliefOptions {
  collect: () => void;
  timers: Timers;
  /** Wait this long after a request before collecting (requests in between push it back). */
  delayMs?: number;
  minIntervalMs?: number;
  now: () => number;
}

export class MemoryRelief {
  #o: MemoryReliefOptions;
  #timer: unknown;
  #last = -Infinity;
  #runs = 0;
  /** Running from construction; after close() requests are ignored. */
  readonly #life = new Lifecycle('memory relief');

  constructor(opts: MemoryReliefOptions) {
    this.#o = opts;
    this.#life.startSync(() => undefined);
  }

  /** Ask for a collection soon (ignored once closed). */
  request(): void {
    if (!this.#life.running) return;
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    const delay = Math.max(this.#o.delayMs ?? 1000, this.#last + (this.#o.minIntervalMs ?? 5000) - this.#o.now());
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#timer = undefined;
      this.#last = this.#o.now();
      this.#runs++;
      this.#o.collect();
    }, delay);
    (this.#timer as { unref?: () => void } | undefined)?.unref?.();
  }

  /** Cancel a pending collection; later requests are ignored. Idempotent. */
  close(): void {
    this.#life.closeSync(() => {
      if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
      this.#timer = undefined;
    });
  }

  /** Collections run so far, and whether one is due (a request is waiting for its delay). */
  state(): { runs: number; pending: boolean } {
    return { runs: this.#runs, pending: this.#timer !== undefined };
  }
}
