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
export const monotonicClock: Clock = (() => {
  // performance.now() reads the same clock (libuv's uv_hrtime) from a start point, without a BigInt per
  // read (the RPC server reads the clock several times per request): the offset is taken once.
  performance.now(); // the first read initialises performance's time origin: not part of the offset
  const before = performance.now();
  const hr = Number(process.hrtime.bigint()) / 1e6;
  const offset = hr - (before + performance.now()) / 2;
  return { now: () => offset + performance.now() };
})();

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
