// Fast tasks do not wait behind hung ones: the queue is fair across operation names, and an
// operation that is slow right now cannot take the last ready thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskLedger, type Task } from '../../src/runtime/executor/task-ledger.js';
import { harness } from './executor-harness.js';

let id = 0;
const task = (op: string): Task => ({
  id: ++id, op, args: undefined, timeoutMs: undefined, discard: true, enqueuedAt: id, startedAt: undefined, assignedAt: undefined,
  workerId: undefined, timedOut: false, prewarm: false, check: undefined, resolve: () => undefined, reject: () => undefined,
});

void test('the ledger starts the operation with the fewest running tasks first, FIFO within an operation', () => {
  const l = new TaskLedger();
  const [s1, s2, s3] = [task('stuck'), task('stuck'), task('stuck')];
  const [f1, f2] = [task('fast'), task('fast')];
  for (const t of [s1, s2, s3, f1, f2]) l.enqueue(t);
  assert.equal(l.take(() => true), s1, 'oldest first when nothing runs');
  assert.equal(l.take(() => true), f1, 'then the operation with fewer running tasks, though it came later');
  l.finish(f1);
  assert.equal(l.take(() => true), f2);
  assert.equal(l.take(() => true), s2);
  assert.deepEqual([l.queued, l.running], [1, 3]);
  assert.equal(l.take((t) => t.op !== 'stuck'), undefined, 'a vetoed head is passed over');
  assert.equal(l.oldestEnqueuedAt(), s3.enqueuedAt);
  assert.deepEqual(l.drain(), [s3]);
});

void test('a slow operation leaves the last ready thread to others; its next task gets a new thread', async (t) => {
  const h = harness({ workersCount: 2, maxWorkers: 3, spares: 0, slowTaskMs: 10, growAfterMs: 20 });
  t.after(() => h.close());
  h.ex.start();
  await h.until(() => h.ex.counts().idle === 2);
  const a = h.ex.dispatch('test.sleepNative', { ms: 600, value: 'a' });
  await h.next('start');
  h.time.advance(20); // test.sleepNative is now slow: a task of it runs for 20 ms > slowTaskMs
  const b = h.ex.dispatch('test.sleepNative', { ms: 300, value: 'b' });
  assert.equal(h.ex.counts().queued, 1, 'b is held: it would take the last ready thread');
  assert.equal(await h.ex.dispatch('test.echo', 'fast'), 'fast', 'the last thread serves other operations');
  h.time.advance(20); // b waited growAfterMs: a new live worker is started for it
  assert.equal(await b, 'b');
  assert.equal(await a, 'a');
  const spawns = h.events.filter((e) => e.channel === 'worker' && e.msg['event'] === 'spawn').length;
  assert.equal(spawns, 3);
  assert.ok(h.ex.stats().workers_peak <= 3);
});
