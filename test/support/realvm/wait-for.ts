// Poll for an external condition (a guest agent answering, a daemon socket appearing) with a bounded
// deadline. This waits for something outside the process to happen; it is not a timing assertion.

import { setTimeout as delay } from 'node:timers/promises';
import { monotonicClock, type Clock } from '../../../src/runtime/clock.js';
import { Errors, vdsmError } from '../../../src/errors.js';

export interface WaitForOptions {
  /** Give up after this long; the error names `what` and the predicate's last failure. */
  readonly timeoutMs: number;
  /** Pause between attempts (default 250 ms). */
  readonly intervalMs?: number;
  /** What is awaited, for the timeout message. */
  readonly what?: string;
  /** Stop early (the test was cancelled, the daemon died). */
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
}

/**
 * Call `predicate` until it returns a truthy value and resolve with that value. A throw counts as
 * "not yet"; the last one is kept as the timeout error's cause. An attempt that overruns the
 * deadline still completes: predicates are expected to bound their own I/O.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions,
): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const clock = options.clock ?? monotonicClock;
  const interval = options.intervalMs ?? 250;
  const deadline = clock.now() + options.timeoutMs;
  let lastError: unknown;
  let attempts = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    attempts++;
    try {
      const value = await predicate();
      if (value) return value as Exclude<T, false | null | undefined | 0 | ''>;
    } catch (err) {
      lastError = err;
    }
    const left = deadline - clock.now();
    if (left <= 0) break;
    await delay(Math.min(interval, left), undefined, options.signal ? { signal: options.signal } : undefined);
  }
  const last = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
  throw vdsmError(
    Errors.UNAVAILABLE,
    `timed out after ${options.timeoutMs} ms (${attempts} attempts) waiting for ${options.what ?? 'a condition'}${last}`,
    lastError === undefined ? undefined : { cause: lastError },
  );
}
