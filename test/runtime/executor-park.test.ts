// Parked tasks (src/runtime/executor/parked-calls.ts): a task awaiting an offloaded native call through
// the asynchronous entry (workers/offloaded-call.ts, the path of every libvirt op in a worker) frees its
// worker for other tasks; on its timeout the caller gets TASK_DISCARDED, its call is abandoned and
// lingers, counted under max_workers, until it returns, and the worker is kept. The stuck call is
// vdsm_sleep's gate (the same call-thread machinery as libvirt's): it returns when the test opens it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Errors } from '../../src/errors.js';
import { AddonNativeCalls } from '../../src/native-calls.js';
import type { ExecutorOptions } from '../../src/runtime/executor/executor.js';
import { gatedHarness, gates } from './native-gates.js';


const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then((v) => `value:${String(v)}`, (e: unknown) => (e as { code?: string }).code ?? String(e));

function threadName(tid: number): string | undefined {
  const path = `/proc/self/task/${tid}/comm`;
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

/**
 * An Executor (one live worker, no spares, no growth) with one task parked on a closed gate (the call
 * inside the native wait); the gate is opened and the Executor closed after the test.
 */
async function parkedOnGate(t: { after(fn: () => Promise<void>): void }, timeoutMs: number, opts: Partial<ExecutorOptions> = {}) {
  const { h, gates: [gate] } = gatedHarness(t, { workersCount: 1, maxWorkers: 3, spares: 0, growOnBacklog: false, prewarmMs: 0, ...opts }, 1);
  h.ex.start();
  await h.until(() => h.ex.counts().idle === 1);
  const stuck = outcome(h.ex.dispatch('test.gateNative', { gate, offloaded: true }, { timeoutMs }));
  const park = await h.next('park', (m) => m['event'] === 'park');
  await h.until(() => gates.gateWaiters(gate) === 1);
  return { h, gate, stuck, park };
}

void test('a parked task frees its worker: the worker answers other tasks while the call waits on its call thread', async (t) => {
  const { h, gate, stuck, park } = await parkedOnGate(t, 100);
  const c = h.ex.counts();
  assert.deepEqual([c.parked, c.idle, c.busy, c.total, c.running], [1, 1, 0, 2, 1], 'the worker is idle, the call holds its own place');
  // The one worker serves other tasks meanwhile.
  assert.equal(await h.ex.dispatch('test.echo', 'one'), 'one');
  assert.equal(await h.ex.dispatch('test.echo', 'two'), 'two');
  const echoes = h.events.filter((e) => e.channel === 'done' && e.msg['op'] === 'test.echo');
  assert.deepEqual(echoes.map((e) => e.msg['workerId']), [park['workerId'], park['workerId']]);
  // Listed by its call thread and its task.
  const row = h.ex.threads().find((r) => r.parked_call !== undefined);
  assert.ok(row?.native_call);
  assert.equal(row.state, 'parked');
  assert.equal(row.task_id, park['taskId']);
  assert.equal(row.worker_id, park['workerId']);
  assert.equal(row.tid, row.native_call.call_tid);
  assert.equal(threadName(row.tid), 'sleep/call');
  assert.equal(row.parked_call?.key, park['call']);
  assert.equal((h.ex.state()['parked_calls'] as unknown[]).length, 1);
  // The call returns: the task answers through its worker, nothing is left parked.
  gates.openGate(gate);
  assert.equal(await stuck, `value:${gate}`);
  assert.deepEqual([h.ex.counts().parked, h.ex.counts().total], [0, 1]);
  assert.equal(h.ex.stats().parked, 1);
  assert.equal(h.events.some((e) => e.channel === 'discard'), false);
});

void test('a parked task that times out: the usual error, the worker kept, the call lingers counted until it returns', async (t) => {
  const { h, gate, stuck, park } = await parkedOnGate(t, 100);
  h.time.advance(100);
  const timeout = await h.next('timeout', (m) => m['taskId'] === park['taskId']);
  assert.equal(timeout['action'], 'abandon');
  assert.equal(await stuck, Errors.TASK_DISCARDED.code);
  const abandon = await h.next('park', (m) => m['event'] === 'abandon');
  assert.equal(abandon['lingering'], true);
  // Not discarded: the same worker serves on; the call lingers alone, counted like a lingering call.
  assert.equal(h.events.some((e) => e.channel === 'discard'), false);
  assert.equal(await h.ex.dispatch('test.echo', 'alive'), 'alive');
  assert.equal(h.events.filter((e) => e.channel === 'done' && e.msg['op'] === 'test.echo').at(-1)!.msg['workerId'], park['workerId']);
  const c = h.ex.counts();
  assert.deepEqual([c.parked, c.lingering, c.lingeringCalls, c.live, c.total], [0, 1, 1, 1, 2]);
  const call = h.ex.nativeCalls().find((r) => `${r.addon}:${r.id}` === park['call']);
  assert.ok(call?.abandoned && call.async, 'the call goes on, abandoned');
  const row = h.ex.threads().find((r) => r.parked_call?.key === park['call']);
  assert.equal(row?.state, 'lingering');
  assert.equal(h.ex.stats().abandoned_calls, 1);
  // The call returns: its place is released.
  gates.openGate(gate);
  const released = await h.next('worker', (m) => m['event'] === 'released' && m['call'] === park['call']);
  assert.equal(released['workerId'], park['workerId']);
  assert.deepEqual([h.ex.counts().lingering, h.ex.counts().lingeringCalls, h.ex.counts().total], [0, 0, 1]);
  assert.equal(h.ex.stats().abandoned_calls_returned, 1);
  // The worker's late answer about the abandoned task is dropped, not delivered twice.
  assert.equal(h.events.filter((e) => e.channel === 'done' && e.msg['taskId'] === park['taskId']).length, 1);
});

void test('max_workers bounds live workers + parked calls + lingering calls: a park without room waits for one', async (t) => {
  // Room for two threads: the worker and one parked call. B's park finds no room: B stays on the worker
  // (busy) and C waits in the queue until A's call returns and B can park.
  const { h, gates: [gateA, gateB] } = gatedHarness(t, { workersCount: 1, maxWorkers: 2, spares: 0, growOnBacklog: false, prewarmMs: 0 }, 2);
  let maxTotal = 0;
  const track = (): void => void (maxTotal = Math.max(maxTotal, h.ex.counts().total));
  h.ex.start();
  await h.until(() => h.ex.counts().idle === 1);
  const a = outcome(h.ex.dispatch('test.gateNative', { gate: gateA, offloaded: true }, { timeoutMs: 10_000 }));
  await h.next('park', (m) => m['event'] === 'park');
  track();
  const b = outcome(h.ex.dispatch('test.gateNative', { gate: gateB, offloaded: true }, { timeoutMs: 10_000 }));
  await h.until(() => gates.gateWaiters(gateB) === 1);
  await h.until(() => h.ex.state()['waiting_park'] === 1);
  track();
  assert.deepEqual([h.ex.counts().parked, h.ex.counts().busy, h.ex.counts().total], [1, 1, 2]);
  assert.ok(h.lines.some((l) => /Too many workers \(limit=2\)/.test(String(l.msg))), 'logged at the bound');
  const c = outcome(h.ex.dispatch('test.echo', 'c'));
  assert.equal(h.ex.counts().queued, 1, 'no thread for C while B holds the worker');
  track();
  gates.openGate(gateA);
  assert.equal(await a, `value:${gateA}`);
  // A's place freed: B parks, the worker takes C.
  assert.equal(await c, 'value:c');
  track();
  assert.deepEqual([h.ex.counts().parked, h.ex.counts().total], [1, 2]);
  gates.openGate(gateB);
  assert.equal(await b, `value:${gateB}`);
  assert.ok(maxTotal <= 2, `total peaked at ${maxTotal}`);
  assert.ok(h.ex.state()['workers_peak'] as number <= 2);
});

void test('a worker that exits with a parked task: the task fails, the call is let go and counted until it returns, nothing crashes', async (t) => {
  const { h, gate, stuck, park } = await parkedOnGate(t, 10_000);
  // The worker dies (process.exit in the thread) with its parked task's call pending.
  const crash = outcome(h.ex.dispatch('test.crash', { mode: 'exit' }));
  assert.equal(await crash, Errors.WORKER_CRASHED.code);
  assert.equal(await stuck, Errors.WORKER_CRASHED.code);
  await h.next('worker', (m) => m['event'] === 'exit' && m['workerId'] === park['workerId']);
  // Its call goes on alone, counted on the dead worker's slot; a replacement serves.
  assert.deepEqual([h.ex.counts().parked, h.ex.counts().lingeringCalls], [0, 1]);
  assert.ok(h.ex.nativeCalls().some((r) => `${r.addon}:${r.id}` === park['call'] && r.abandoned));
  assert.equal(await h.ex.dispatch('test.echo', 'after'), 'after');
  // The call returns into a gone environment: no crash, the slot is released.
  gates.openGate(gate);
  await h.next('worker', (m) => m['event'] === 'released' && m['workerId'] === park['workerId']);
  assert.equal(h.ex.counts().lingering, 0);
  assert.equal(await h.ex.dispatch('test.echo', 'still'), 'still');
});

void test('a worker discarded for a task stuck in JS fails its parked tasks and lets their calls go, counted on its slot', async (t) => {
  const { h, gate, stuck: parkedTask, park } = await parkedOnGate(t, 10_000, { maxWorkers: 4 });
  // A task stuck in JS on the same worker: discarded and replaced exactly as before parking existed.
  const busy = outcome(h.ex.dispatch('test.busy', { ms: 60_000 }, { timeoutMs: 50 }));
  const start = await h.next('start', (m) => m['op'] === 'test.busy');
  assert.equal(start['workerId'], park['workerId']);
  h.time.advance(50);
  const discard = await h.next('discard', (m) => m['taskId'] === start['taskId']);
  assert.equal(discard['workerId'], park['workerId']);
  assert.equal(await busy, Errors.TASK_DISCARDED.code);
  assert.equal(await parkedTask, Errors.TASK_DISCARDED.code);
  await h.next('worker', (m) => m['event'] === 'exit' && m['workerId'] === park['workerId']);
  assert.equal(h.ex.counts().lingeringCalls, 1, 'the parked call lingers on the discarded worker\'s slot');
  gates.openGate(gate);
  await h.next('worker', (m) => m['event'] === 'released' && m['workerId'] === park['workerId']);
  assert.equal(h.ex.counts().lingering, 0);
});

void test('abandoning a call that already returned, or that never existed, is harmless', async (t) => {
  const { h, gates: [gate] } = gatedHarness(t, { workersCount: 1, maxWorkers: 3, spares: 0, growOnBacklog: false, prewarmMs: 0 }, 1);
  h.ex.start();
  await h.until(() => h.ex.counts().idle === 1);
  gates.openGate(gate);
  // An open gate: the call returns at once (it may or may not park first, depending on the threads).
  assert.equal(await h.ex.dispatch('test.gateNative', { gate, offloaded: true }, { timeoutMs: 10_000 }), gate);
  const parks = h.events.filter((e) => e.channel === 'park' && e.msg['event'] === 'park');
  const native = new AddonNativeCalls(['vdsm_sleep']);
  let called = false;
  for (const p of parks) assert.equal(native.abandonCall(String(p.msg['call']), () => (called = true)), false);
  assert.equal(native.abandonCall('vdsm_sleep:999999999', () => (called = true)), false);
  assert.equal(native.abandonCall('no_such_addon:1', () => (called = true)), false);
  assert.equal(called, false);
  assert.equal(await h.ex.dispatch('test.echo', 'fine'), 'fine');
  assert.equal(h.ex.stats().abandoned_calls, 0);
});

void test('a task making several calls parks on each in turn and answers once', async (t) => {
  const { h, gates: [a, b] } = gatedHarness(t, { workersCount: 1, maxWorkers: 3, spares: 0, growOnBacklog: false, prewarmMs: 0 }, 2);
  h.ex.start();
  await h.until(() => h.ex.counts().idle === 1);
  const task = outcome(h.ex.dispatch('test.gateSequence', { steps: [{ gate: a, offloaded: true }, { gate: b, offloaded: true }] }, { timeoutMs: 10_000 }));
  const first = await h.next('park', (m) => m['event'] === 'park');
  await h.until(() => gates.gateWaiters(a) === 1);
  gates.openGate(a);
  await h.until(() => gates.gateWaiters(b) === 1);
  await h.until(() => h.ex.threads().some((r) => r.parked_call !== undefined && r.parked_call.key !== first['call']));
  assert.equal(h.ex.counts().parked, 1, 're-parked under its second call');
  assert.equal(await h.ex.dispatch('test.echo', 'between'), 'between');
  gates.openGate(b);
  assert.equal(await task, 'value:2');
  assert.deepEqual([h.ex.counts().parked, h.ex.counts().total], [0, 1]);
  assert.equal(h.ex.stats().parked, 1, 'one park counted per task (a re-park updates its call)');
});

void test('a task answered at its timeout while its worker runs on in it: its next call is abandoned at once and counted until it returns', async (t) => {
  const { h, gates: [a, c, b] } = gatedHarness(t, { workersCount: 1, maxWorkers: 3, spares: 0, growOnBacklog: false, prewarmMs: 0 }, 3);
  h.ex.start();
  await h.until(() => h.ex.counts().idle === 1);
  // Parked on A; once A returns the worker's JS blocks in C (synchronously), so the timeout finds
  // the task with no call pending: it is answered, and its worker is still in it.
  const task = outcome(h.ex.dispatch('test.gateSequence', { steps: [{ gate: a, offloaded: true }, { gate: c, offloaded: false }, { gate: b, offloaded: true }] }, { timeoutMs: 100 }));
  const park = await h.next('park', (m) => m['event'] === 'park');
  await h.until(() => gates.gateWaiters(a) === 1);
  gates.openGate(a);
  await h.until(() => gates.gateWaiters(c) === 1);
  h.time.advance(100);
  assert.equal(await task, Errors.TASK_DISCARDED.code);
  const answered = await h.next('park', (m) => m['event'] === 'abandon');
  assert.equal(answered['lingering'], false, 'its call had returned: nothing lingers');
  assert.deepEqual([h.ex.counts().parked, h.ex.counts().lingering, h.ex.counts().total], [0, 0, 1]);
  // The worker goes on to B: that call is let go at once, counted until it returns.
  gates.openGate(c);
  const abandoned = await h.next('park', (m) => m['event'] === 'abandon' && m['lingering'] === true);
  assert.equal(abandoned['taskId'], park['taskId']);
  assert.notEqual(abandoned['call'], park['call']);
  assert.equal(h.ex.counts().lingeringCalls, 1);
  gates.openGate(b);
  await h.next('worker', (m) => m['event'] === 'released' && m['call'] === abandoned['call']);
  assert.deepEqual([h.ex.counts().lingering, h.ex.counts().total], [0, 1]);
  assert.equal(await h.ex.dispatch('test.echo', 'kept'), 'kept');
  assert.equal(h.events.some((e) => e.channel === 'discard'), false);
  assert.equal(h.events.filter((e) => e.channel === 'done' && e.msg['taskId'] === park['taskId']).length, 1);
});
