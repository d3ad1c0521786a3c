// The one lifecycle every long-lived part shares (src/runtime/lifecycle.ts): start and close are
// idempotent and later callers get the first call's answer; close waits for a start in progress;
// destroy aborts once and answers like close; state errors carry codes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Errors, isError } from '../../src/errors.js';
import { Lifecycle, type LifecycleState } from '../../src/runtime/lifecycle.js';

/** A promise the test settles by hand. */
function gate<T = void>(): { promise: Promise<T>; open(v: T): void; fail(e: unknown): void } {
  let open!: (v: T) => void;
  let fail!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { open = res; fail = rej; });
  return { promise, open, fail };
}

void test('async start: one run for every caller; close waits for it; later closes get the first answer', async () => {
  const life = new Lifecycle<number>('part');
  const seen: LifecycleState[] = [];
  life.onChange((s) => seen.push(s));
  const starting = gate();
  let starts = 0;
  const a = life.start(() => { starts++; return starting.promise; });
  const b = life.start(() => { starts++; return Promise.resolve(); });
  assert.equal(b, a, 'the second caller gets the first start');
  assert.equal(life.state, 'starting');
  let closes = 0;
  const c1 = life.close(async () => ++closes * 10);
  const c2 = life.close(async () => ++closes * 100);
  assert.equal(c2, c1);
  assert.equal(closes, 0, 'close waits for the start in progress');
  starting.open();
  assert.equal(await c1, 10);
  assert.equal(await c2, 10, 'the later caller gets the first close\'s real answer');
  assert.equal(starts, 1);
  assert.deepEqual(seen, ['starting', 'closing', 'closed']);
  await assert.rejects(life.start(() => Promise.resolve()), (e: unknown) => isError(e, Errors.LIFECYCLE_STATE));
  assert.throws(() => life.assertRunning(), (e: unknown) => isError(e, Errors.NOT_RUNNING));
});

void test('a failed start leaves the part failed; close still runs its clean-up', async () => {
  const life = new Lifecycle('part');
  await assert.rejects(life.start(() => Promise.reject(new Error('port in use'))), /port in use/);
  assert.equal(life.state, 'failed');
  assert.throws(() => life.startSync(() => undefined), (e: unknown) => isError(e, Errors.LIFECYCLE_STATE));
  let cleaned = false;
  await life.close(() => { cleaned = true; });
  assert.ok(cleaned);
  assert.equal(life.state, 'closed');
});

void test('sync parts: startSync twice runs once; closeSync is idempotent; closing a part never started runs nothing', () => {
  const life = new Lifecycle('sync part');
  let runs = 0;
  life.startSync(() => { runs++; });
  life.startSync(() => { runs++; });
  assert.equal(runs, 1);
  assert.ok(life.running);
  life.assertRunning();
  let closes = 0;
  life.closeSync(() => { closes++; });
  life.closeSync(() => { closes++; });
  assert.equal(closes, 1);
  const unused = new Lifecycle('unused');
  unused.closeSync(() => { throw new Error('must not run'); });
  assert.equal(unused.state, 'closed');
});

void test('destroy aborts once, then answers like the close in progress', async () => {
  const life = new Lifecycle<string>('part');
  life.startSync(() => undefined);
  const slow = gate<string>();
  const closing = life.close(() => slow.promise);
  let aborts = 0;
  const d1 = life.destroy(() => { aborts++; slow.open('closed early'); }, () => 'unused');
  const d2 = life.destroy(() => { aborts++; }, () => 'unused');
  assert.equal(aborts, 1);
  assert.equal(d1, closing);
  assert.equal(await d2, 'closed early');
  assert.ok(life.aborted);
});

void test('with no start to wait for, the close begins within the call', async () => {
  const life = new Lifecycle('part');
  life.startSync(() => undefined);
  let began = false;
  const closed = life.close(() => { began = true; });
  assert.ok(began, 'a release step is under way when close() returns (a frozen peer then costs one timeout)');
  await closed;
});

void test('closing a part never started answers unstarted() without running the close', async () => {
  const life = new Lifecycle<{ stuckThreads: number }>('agent');
  const r = await life.close(() => { throw new Error('must not run'); }, () => ({ stuckThreads: 0 }));
  assert.deepEqual(r, { stuckThreads: 0 });
});
