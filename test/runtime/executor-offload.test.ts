// Workers stuck waiting synchronously for an offloaded native call (native/offload/offload.h; the path
// of the main thread and the libvirt control thread, and of a worker task whose park found no room):
// a discarded worker is let go, its thread exits and frees its isolate while the call thread lingers
// in the call, the call's return frees its ledger slot, and max_workers still bounds it. (Workers'
// libvirt ops use the asynchronous entry and park instead: executor-park.test.ts.) The stuck call is
// vdsm_sleep's gate: it returns when the test opens it, never on time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Errors } from '../../src/errors.js';
import { AddonNativeCalls } from '../../src/native-calls.js';
import { gatedHarness, gates, newGate } from './native-gates.js';


const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then((v) => `value:${String(v)}`, (e: unknown) => (e as { code?: string }).code ?? String(e));

/** The kernel's name of thread `tid` of this process, or undefined when no such thread exists. */
function threadName(tid: number): string | undefined {
  const path = `/proc/self/task/${tid}/comm`;
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

/**
 * An Executor (1 live worker, a warm spare) whose task is stuck in a native call on a closed gate,
 * offloaded or not, discarded at its 100 ms timeout once the call is inside the native wait.
 */
async function discardedInGate(t: { after(fn: () => Promise<void>): void }, offloaded: 'sync' | false) {
  const { h, gates: [gate] } = gatedHarness(t, { workersCount: 1, maxWorkers: 3, spares: 1, prewarmMs: 0 }, 1);
  h.ex.start();
  await h.until(() => h.ex.counts().idle === 1 && h.ex.counts().spares === 1);
  const stuck = outcome(h.ex.dispatch('test.gateNative', { gate, offloaded }, { timeoutMs: 100 }));
  const start = await h.next('start');
  const workerTid = h.ex.threads().find((r) => r.worker_id === start['workerId'])!.tid;
  assert.ok(workerTid > 0);
  await h.until(() => gates.gateWaiters(gate) === 1);  // the call is inside the native wait
  h.time.advance(100);
  const discard = await h.next('discard');
  assert.equal(discard['taskId'], start['taskId']);
  assert.equal(await stuck, Errors.TASK_DISCARDED.code);
  return { h, gate, workerTid, discard };
}

void test('a worker stuck in an offloaded native call is let go at its discard: its thread exits, the call thread lingers, and the call\'s return frees the slot', async (t) => {
  const { h, gate, workerTid, discard } = await discardedInGate(t, 'sync');

  // The worker thread exits although its native call has not returned (the gate is still closed).
  const exit = await h.next('worker', (m) => m['event'] === 'exit' && m['workerId'] === discard['workerId']);
  assert.equal(exit['crash'], undefined);
  assert.equal(threadName(workerTid), undefined, 'the worker thread is gone from /proc/self/task');
  // ... and its call goes on in a native call thread, still counted against max_workers.
  const c = h.ex.counts();
  assert.deepEqual([c.lingering, c.lingeringCalls], [1, 1]);
  const row = h.ex.threads().find((r) => r.worker_id === discard['workerId']);
  assert.ok(row?.native_call, 'the thread listing shows the lingering call');
  assert.equal(row.state, 'lingering');
  assert.equal(row.thread_exited, true);
  assert.equal(row.native_call.what, 'waitGateOffloaded');
  assert.equal(row.native_call.worker_tid, workerTid);
  assert.equal(row.tid, row.native_call.call_tid, 'listed by its call thread');
  assert.equal(threadName(row.native_call.call_tid), 'sleep/call');
  assert.ok(h.ex.nativeCalls().some((r) => r.abandoned && r.tid === workerTid && r.addon === 'vdsm_sleep'));
  assert.equal(h.ex.stats().abandoned_calls, 1);
  // The replacement serves meanwhile.
  assert.equal(await h.ex.dispatch('test.echo', 'alive'), 'alive');

  // The call returns: the slot is released and the call thread ends.
  gates.openGate(gate);
  const released = await h.next('worker', (m) => m['event'] === 'released' && m['workerId'] === discard['workerId']);
  assert.equal(released['endReason'], 'discard');
  assert.deepEqual([h.ex.counts().lingering, h.ex.counts().lingeringCalls], [0, 0]);
  assert.equal(h.ex.stats().abandoned_calls_returned, 1);
  assert.equal(h.ex.nativeCalls().some((r) => r.tid === workerTid), false);
  const callTid = row.native_call.call_tid;
  await h.until(() => threadName(callTid) === undefined);
});

void test('max_workers holds with abandoned calls: a call thread still in its call keeps its slot until it returns', async (t) => {
  // One live worker, room for two threads: A's discard takes the second for its replacement; while A's
  // call lingers (its worker thread gone), B's timeout finds no room and waits for A's call to return.
  const { h, gates: [gateA, gateB] } = gatedHarness(t, { workersCount: 1, maxWorkers: 2, spares: 0, growOnBacklog: false, prewarmMs: 0 }, 2);
  let maxTotal = 0;
  const track = (): void => void (maxTotal = Math.max(maxTotal, h.ex.counts().total));
  h.ex.start();
  await h.until(() => h.ex.counts().idle === 1);
  const a = outcome(h.ex.dispatch('test.gateNative', { gate: gateA, offloaded: 'sync' }, { timeoutMs: 50 }));
  const startA = await h.next('start');
  await h.until(() => gates.gateWaiters(gateA) === 1);
  h.time.advance(50);
  const discardA = await h.next('discard', (m) => m['taskId'] === startA['taskId']);
  assert.equal(await a, Errors.TASK_DISCARDED.code);
  await h.next('worker', (m) => m['event'] === 'exit' && m['workerId'] === discardA['workerId']);
  await h.next('replace', (m) => m['discardedWorkerId'] === discardA['workerId']);
  track();
  assert.deepEqual([h.ex.counts().lingeringCalls, h.ex.counts().idle, h.ex.counts().total], [1, 1, 2]);

  const b = outcome(h.ex.dispatch('test.gateNative', { gate: gateB, offloaded: 'sync' }, { timeoutMs: 50 }));
  const startB = await h.next('start', (m) => m['taskId'] !== startA['taskId']);
  await h.until(() => gates.gateWaiters(gateB) === 1);
  h.time.advance(50);
  track();
  const timeoutB = await h.next('timeout', (m) => m['taskId'] === startB['taskId']);
  assert.equal(timeoutB['action'], 'too-many-workers', 'the lingering call still holds its slot');
  assert.equal(h.events.some((e) => e.channel === 'discard' && e.msg['taskId'] === startB['taskId']), false);
  assert.equal(h.ex.counts().total, 2);

  // A's call returns: its slot frees, and B is discarded (and let go) at once.
  gates.openGate(gateA);
  await h.next('worker', (m) => m['event'] === 'released' && m['workerId'] === discardA['workerId']);
  const discardB = await h.next('discard', (m) => m['taskId'] === startB['taskId']);
  track();
  assert.equal(await b, Errors.TASK_DISCARDED.code);
  await h.next('worker', (m) => m['event'] === 'exit' && m['workerId'] === discardB['workerId']);
  track();
  gates.openGate(gateB);
  await h.next('worker', (m) => m['event'] === 'released' && m['workerId'] === discardB['workerId']);
  assert.ok(maxTotal <= 2, `total peaked at ${maxTotal}`);
});

void test('a worker stuck in a synchronous native call is not let go: it lingers whole until the call returns', async (t) => {
  const { h, gate, workerTid, discard } = await discardedInGate(t, false);
  // Proven by a later event rather than by waiting: the replacement serves a task meanwhile.
  assert.equal(await h.ex.dispatch('test.echo', 'alive'), 'alive');
  assert.equal(h.ex.stats().abandoned_calls, 0);
  assert.ok(threadName(workerTid) !== undefined, 'the worker thread is still there, in the call');
  assert.deepEqual([h.ex.counts().lingering, h.ex.counts().lingeringCalls], [1, 0]);
  gates.openGate(gate);
  await h.next('worker', (m) => m['event'] === 'exit' && m['workerId'] === discard['workerId']);
  assert.equal(h.ex.counts().lingering, 0);
});

void test('abandoning a thread that waits for nothing abandons nothing; NativeCalls skips addons no thread loaded', () => {
  assert.equal(gates.abandonNativeCall(999_999_999), 0);
  const raw = gates as unknown as Record<string, (...a: unknown[]) => unknown>;
  assert.throws(() => raw['abandonNativeCall']!('12'), { code: 'ERR_INVALID_ARG', message: 'abandonNativeCall(tid, onDone?): tid must be a number' });
  assert.throws(() => raw['abandonAsyncCalls']!(), { code: 'ERR_INVALID_ARG', message: 'abandonAsyncCalls(tid, onDone?): tid must be a number' });
  assert.deepEqual(raw['abandonAsyncCalls']!(999_999_999), []);
  const calls = new AddonNativeCalls(['vdsm_sleep', 'no_such_addon']);
  assert.deepEqual(calls.abandon(999_999_999, () => undefined), []);
  assert.deepEqual(Object.keys(calls.stats()), ['vdsm_sleep']);
});

void test('the main thread\'s own offloaded calls run on its call thread, named sleep/call', () => {
  const gate = newGate();
  gates.openGate(gate);
  const before = new AddonNativeCalls(['vdsm_sleep']).stats()['vdsm_sleep']!;
  gates.waitGateOffloaded(gate);
  const after = new AddonNativeCalls(['vdsm_sleep']).stats()['vdsm_sleep']!;
  assert.equal(after.calls, before.calls + 1);
  assert.ok(after.callThreads >= 1);
});
