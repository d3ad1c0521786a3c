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
  const h = harness({ workersCount: 1, maxWorkers: 2, spares: 0, growOnBacklog: false, prewarmMs: 0 });
  t.after(() => h.close());
  let maxTotal = 0;
  const track = (): void => void (maxTotal = Math.max(maxTotal, h.ex.counts().total));
  h.ex.start();
  const first = outcome(h.ex.dispatch('test.sleepNative', { ms: 700 }, { timeoutMs: 50 }));
  await h.next('start');
  h.time.advance(50);
  track();
  assert.equal(await first, Errors.TASK_DISCARDED.code);
  // The replacement (a new thread: no spare) takes the second stuck task.
  const second = outcome(h.ex.dispatch('test.sleepNative', { ms: 1400, value: 'second' }, { timeoutMs: 50 }));
  const secondStart = await h.next('start', (m) => m['taskId'] !== undefined && h.events.filter((e) => e.channel === 'start').length === 2);
  h.time.advance(50);
  track();
  const tooMany = await h.next('timeout', (m) => m['action'] === 'too-many-workers');
  assert.equal(tooMany['taskId'], secondStart['taskId']);
  const warning = h.lines.find((l) => l.msg === 'Too many workers (limit=2), not adding more');
  assert.ok(warning, 'warned');
  assert.equal(warning.level, 40);
  assert.deepEqual([h.ex.counts().lingering, h.ex.counts().blocked, h.ex.counts().total], [1, 1, 2]);
  const echo = h.ex.dispatch('test.echo', 'after'); // nothing can run it yet
  track();
  // The first thread leaves nanosleep at ~700 ms real time and exits; the retry discards the second.
  const discard = await h.next('discard', (m) => m['taskId'] === secondStart['taskId']);
  track();
  assert.equal(discard['lingering'], 1);
  assert.equal(await second, Errors.TASK_DISCARDED.code);
  assert.equal(await echo, 'after');
  assert.ok(maxTotal <= 2, `total workers peaked at ${maxTotal}`);
  assert.ok(h.events.filter((e) => e.channel === 'worker' && e.msg['event'] === 'spawn').length >= 3);
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
  // Three stuck tasks took both live workers and the spare; the echo still gets a thread.
  assert.equal(await h.ex.dispatch('test.echo', 'fast'), 'fast');
  const echoStart = h.events.find((e) => e.channel === 'start' && e.msg['op'] === 'test.echo');
  assert.ok(echoStart);
  assert.deepEqual(await Promise.all(stuck), [600, 600, 600], 'stuck tasks without a timeout complete');
  assert.ok(h.ex.counts().total <= 6);
});
