// waitFor: resolves with the first truthy value, treats throws as "not yet", and gives up at the deadline
// measured on the injected clock.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isError, Errors } from '../../src/errors.js';
import { waitFor } from '../support/realvm/wait-for.js';
import type { Clock } from '../../src/runtime/clock.js';

/** A clock that jumps `step` ms on every reading, so deadlines pass without waiting. */
function steppingClock(step: number): Clock {
  let t = 0;
  return { now: () => (t += step) };
}

void describe('waitFor', () => {
  void test('resolves with the first truthy value; throws and falsy values mean "not yet"', async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        calls++;
        if (calls === 1) throw new Error('not up');
        return calls === 3 ? { ready: calls } : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 0 },
    );
    assert.deepEqual(value, { ready: 3 });
    assert.equal(calls, 3);
  });

  void test('times out on the injected clock with what it waited for and the last error', async () => {
    let calls = 0;
    await assert.rejects(
      waitFor(
        () => {
          calls++;
          throw new Error(`attempt ${calls}`);
        },
        { timeoutMs: 2500, intervalMs: 0, what: 'the guest agent', clock: steppingClock(1000) },
      ),
      (err: Error) => {
        assert.ok(isError(err, Errors.UNAVAILABLE));
        assert.match(err.message, /timed out after 2500 ms .*waiting for the guest agent; last error: attempt \d/);
        assert.ok(err.cause instanceof Error);
        return true;
      },
    );
    assert.ok(calls >= 1 && calls <= 3, `calls ${calls}`);
  });

  void test('an aborted signal stops the wait', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(waitFor(() => false, { timeoutMs: 60_000, signal: ac.signal }), { name: 'AbortError' });
  });
});
