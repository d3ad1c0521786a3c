// Discard and replacement of workers blocked in native code, the max_workers ledger with its
// "Too many workers" warning, dropped results of discarded tasks, crashed workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errors, isError } from '../../src/errors.js';
import { harness } from './executor-harness.js';

const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then((v) => `value:${String(v)}`, (e: unknown) => (e as { code?: string }).code ?? String(e));

void test('a worker blocked in a native call is discarded at its timeout, replaced by the warm spare, and its late result is dropped', async (t) => {
  const h = harness({ workersCount: 1, maxWorkers: 3, spares: 1, prewarmMs: 0 });
  t.after(() => h.close());
  h.ex.start();
  await h.until(() => h.ex.counts().idle === 1 && h.ex.counts().spares === 1);
  const stuck = outcome(h.ex.dispatch('test.sleepNative', { ms: 800, value: 'late' }, { timeoutMs: 100 }));
  const start = await h.next('start');
  h.time.advance(100);
  const discard = await h.next('discard');
  assert.equal(discard['taskId'], start['taskId']);
  assert.equal(discard['lingering'], 1);
  const replace = await h.next('replace');
  assert.equal(replace['via'], 'spare', 'the warm spare took the place at once');
  assert.equal(replace['replacementMs'], 100);
  assert.equal(await stuck, Errors.TASK_DISCARDED.code);
  // The replacement serves while the discarded thread still sleeps in nanosleep.
  assert.equal(h.ex.counts().lingering, 1);
  assert.equal(await h.ex.dispatch('test.echo', 'alive'), 'alive');
  // When the native call returns, the thread exits; its result never reaches anyone.
  const exit = await h.next('worker', (m) => m['event'] === 'exit' && m['workerId'] === discard['workerId']);
  assert.equal(exit['endReason'], 'discard');
  assert.equal(exit['crash'], undefined);
  assert.equal(h.ex.counts().lingering, 0);
  const doneForStuck = h.events.filter((e) => e.channel === 'done' && e.msg['taskId'] === start['taskId']);
  assert.deepEqual(doneForStuck.map((e) => e.msg['code']), [Errors.TASK_DISCARDED.code]);
  assert.equal(h.ex.stats().completed, 1);
});

void test('at max_workers a timed-out task is left running with "Too many workers", and discarded once a lingering thread exits', async (t) => {
  // Two live workers, room for one more thread. Both stuck tasks time out at the same instant: the
  // first discard takes the last thread for its replacement, so the second must wait.
  const h = harness({ workersCount: 2, maxWorkers: 3, spares: 0, growOnBacklog: false, prewarmMs: 0 });
  t.after(() => h.close());
  let maxTotal = 0;
  const track = (): void => void (maxTotal = Math.max(maxTotal, h.ex.counts().total));
  h.ex.start();
  await h.until(() => h.ex.counts().idle === 2);
  const a = outcome(h.ex.dispatch('test.sleepNative', { ms: 1500, value: 'a' }, { timeoutMs: 50 }));
  const b = outcome(h.ex.dispatch('test.sleepNative', { ms: 1800, value: 'b' }, { timeoutMs: 50 }));
  const [idA, idB] = h.events.filter((e) => e.channel === 'dispatch').map((e) => e.msg['taskId']);
  await h.until(() => h.events.filter((e) => e.channel === 'start').length === 2);
  h.time.advance(50);
  track();
  const timeouts = h.events.filter((e) => e.channel === 'timeout').map((e) => [e.msg['taskId'], e.msg['action']]);
  assert.deepEqual(timeouts, [[idA, 'discard'], [idB, 'too-many-workers']]);
  const warning = h.lines.find((l) => l.msg === 'Too many workers (limit=3), not adding more');
  assert.ok(warning, 'warned');
  assert.equal(warning.level, 40);
  assert.ok(warning['state'], 'the warning carries the executor state');
  assert.deepEqual([h.ex.counts().lingering, h.ex.counts().blocked, h.ex.counts().total], [1, 1, 3]);
  assert.equal(await a, Errors.TASK_DISCARDED.code);
  // The replacement serves other work meanwhile.
  assert.equal(await h.ex.dispatch('test.echo', 'served'), 'served');
  track();
  // A's thread leaves nanosleep at ~1.5 s real time and exits; the retry discards B.
  const discardB = await h.next('discard', (m) => m['taskId'] === idB);
  track();
  assert.equal(discardB['lingering'], 1);
  assert.equal(await b, Errors.TASK_DISCARDED.code);
  assert.ok(maxTotal <= 3, `total workers peaked at ${maxTotal}`);
  const replaceB = await h.next('replace', (m) => m['discardedWorkerId'] === discardB['workerId']);
  assert.equal(replaceB['deferred'], true, 'a deferred discard is reported as such');
});

void test('a crashed worker fails its task with WORKER_CRASHED and is replaced', async (t) => {
  const h = harness({ workersCount: 1, maxWorkers: 3, spares: 0 });
  t.after(() => h.close());
  h.ex.start();
  await assert.rejects(h.ex.dispatch('test.crash', { mode: 'exit' }), (e: unknown) => {
    assert.ok(isError(e, Errors.WORKER_CRASHED));
    assert.match((e as Error).message, /test\.crash/);
    return true;
  });
  await assert.rejects(h.ex.dispatch('test.crash', { mode: 'uncaught' }), (e: unknown) => isError(e, Errors.WORKER_CRASHED));
  assert.equal(await h.ex.dispatch('test.echo', 'ok'), 'ok');
  assert.equal(h.ex.stats().crashed, 2);
  const crashes = h.events.filter((e) => e.channel === 'worker' && e.msg['event'] === 'exit' && e.msg['crash'] !== undefined);
  assert.equal(crashes.length, 2);
  assert.ok(h.lines.some((l) => l.msg === 'Executor worker crashed' && l.level === 50));
});

void test('a fast task does not wait behind workers stuck in native calls (growth on backlog)', async (t) => {
  const h = harness({ workersCount: 2, maxWorkers: 6, spares: 1 });
  t.after(() => h.close());
  h.ex.start();
  await h.until(() => h.ex.counts().idle === 2 && h.ex.counts().spares === 1);
  const stuck = [0, 1, 2].map(() => h.ex.dispatch('test.sleepNative', { ms: 600 }));
  // Three stuck tasks took both live workers and the spare; the echo still gets a thread (the spare
  // refill, or a new live worker once it waited growAfterMs).
  const echo = h.ex.dispatch('test.echo', 'fast');
  h.time.advance(20);
  assert.equal(await echo, 'fast');
  const echoStart = h.events.find((e) => e.channel === 'start' && e.msg['op'] === 'test.echo');
  assert.ok(echoStart);
  assert.deepEqual(await Promise.all(stuck), [600, 600, 600], 'stuck tasks without a timeout complete');
  assert.ok(h.ex.counts().total <= 6);
});
