// Logs a repeating condition once per `every` occurrences (vdsm's throttledlog), so a queue that
// stays full for an hour leaves a handful of lines, each with the count of what was suppressed.
import type { Logger } from 'pino';

export class ThrottledLog {
  #counts = new Map<string, number>();

  constructor(readonly log: Logger, readonly every = 10) {}

  /** Log on the 1st, (every+1)th, ... occurrence of `key`; returns whether it logged. */
  warn(key: string, obj: Record<string, unknown>, msg: string): boolean {
    const n = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, n);
    if ((n - 1) % this.every !== 0) return false;
    this.log.warn({ ...obj, occurrences: n }, msg);
    return true;
  }
}
