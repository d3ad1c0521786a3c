// Time sources, injected everywhere so tests can move time without sleeping.

/** A monotonic clock in milliseconds (fractional). */
export interface Clock {
  now(): number;
}

/** Timer functions; the real ones by default, a manual implementation in tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * CLOCK_MONOTONIC in ms (time since boot on Linux), as vdsm's monotonic_time: unlike performance.now(),
 * which starts at process start, it keeps growing across agent restarts, so the engine never sees a
 * statusTime or notify_time go backwards after a restart.
 */
export const monotonicClock: Clock = { now: () => Number(process.hrtime.bigint()) / 1e6 };

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * vdsm's "event time": 2^31 - 1 + monotonic milliseconds, so that old engines that could not parse
 * small values still work. Used for statusTime and notify_time.
 */
export function eventTime(clock: Clock = monotonicClock): number {
  return 2147483647 + Math.floor(clock.now());
}
