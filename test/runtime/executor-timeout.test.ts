// Timeouts count from task start, not from enqueue; discard=false only logs "Worker blocked".
// Real threads and real native sleeps; time for the Executor moves only on the manual clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errors, isError } from '../../src/errors.js';
import { harness } from './executor-harness.js';

void test('a task queued for 5 s of clock time is timed out 1 s after it started, not at once', async (t) => {
  const h = harness({ workersCount: 1, maxWorkers: 2, spares: 0, growOnBacklog: false });
  t.after(() => h.close());
  h.ex.start();
  await h.until(() => h.ex.counts().idle === 1);
  const first = h.ex.dispatch('test.sleepNative', { ms: 300, value: 'first' });
  const second = h.ex.dispatch('test.sleepNative', { ms: 1200, value: 'second' }, { timeoutMs: 1000 });
  const secondOutcome = second.then(() => 'resolved', (e: unknown) => (isError(e, Errors.TASK_DISCARDED) ? 'discarded' : String(e)));
  h.time.advance(5000); // the second task waits in the queue meanwhile
  assert.equal(await first, 'first');
  const secondId = h.events.filter((e) => e.channel === 'dispatch')[1]!.msg['taskId'];
  const started = await h.next('start', (m) => m['taskId'] === secondId);
  assert.ok((started['waitedMs'] as number) >= 5000, 'it waited 5 s of clock time in the queue');
  h.time.advance(900);
  assert.equal(h.events.filter((e) => e.channel === 'timeout').length, 0, 'not timed out 900 ms after start');
  h.time.advance(200);
  const timeout = await h.next('timeout');
  assert.equal(timeout['taskId'], started['taskId']);
  assert.equal(timeout['action'], 'discard');
  assert.ok((timeout['runtimeMs'] as number) >= 1000 && (timeout['runtimeMs'] as number) < 2000);
  assert.equal(await secondOutcome, 'discarded');
});

void test('discard=false: the task is only reported blocked, re-checked every timeout, and still completes', async (t) => {
  const h = harness({ workersCount: 1, maxWorkers: 2, spares: 0 });
  t.after(() => h.close());
  h.ex.start();
  const p = h.ex.dispatch('test.sleepNative', { ms: 600, value: 'done' }, { timeoutMs: 100, discard: false });
  await h.next('start');
  h.time.advance(100);
  h.time.advance(100);
  const blocked = h.lines.filter((l) => l.msg.startsWith('Worker blocked'));
  assert.equal(blocked.length, 2, 'warned at each timeout period');
  assert.equal(blocked[0]!.level, 40);
  assert.match(blocked[0]!.msg, /test\.sleepNative/);
  assert.equal(h.events.filter((e) => e.channel === 'discard').length, 0);
  assert.equal(await p, 'done');
  assert.equal(h.ex.state()['lingering'], 0);
});
