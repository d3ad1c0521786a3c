// Executor basics on real threads: results and errors cross the thread boundary, the queue bound
// throws RESOURCE_EXHAUSTED at once, lifecycle errors, state() and the thread listing.
import type { OpName } from '../../src/contracts/operations.js';
import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errors, isError, VdsmError } from '../../src/errors.js';
import { harness } from './executor-harness.js';

void test('results, catalogued errors and unknown operations come back from the worker', async (t) => {
  const h = harness({ workersCount: 1, maxWorkers: 2, spares: 0, workerData: { tag: 'wd' } });
  t.after(() => h.close());
  assert.throws(() => h.ex.dispatch('test.echo', 1), (e: unknown) => isError(e, Errors.NOT_RUNNING));
  h.ex.start();
  h.ex.start(); // idempotent: no second set of workers
  assert.equal(h.ex.counts().total, 1);
  assert.deepEqual(await h.ex.dispatch('test.echo', { a: [1, 2] }), { a: [1, 2] });
  const who = await h.ex.dispatch('test.whoami', undefined);
  assert.deepEqual(who.workerData, { tag: 'wd' });
  await assert.rejects(h.ex.dispatch('test.throw', { error: 'NO_VM', message: 'no such vm' }), (e: unknown) => {
    assert.ok(e instanceof VdsmError);
    assert.equal(e.code, Errors.NO_VM.code);
    assert.equal(e.vdsmCode, 1);
    return true;
  });
  await assert.rejects(h.ex.dispatch('test.throw', { message: 'plain' }), /plain/);
  await assert.rejects(h.ex.dispatch('no.such.op' as OpName, undefined), (e: unknown) => isError(e, Errors.UNKNOWN_OPERATION));
  // The pool still works after failures.
  assert.equal(await h.ex.dispatch('test.echo', 'still'), 'still');
});

void test('queued + running at max_tasks: dispatch throws RESOURCE_EXHAUSTED synchronously', async (t) => {
  // vdsm's fixed pool (no growth) so that tasks really queue behind the blocked worker.
  const h = harness({ workersCount: 1, maxWorkers: 1, maxTasks: 3, spares: 0, growOnBacklog: false });
  t.after(() => h.close());
  h.ex.start();
  const blocker = h.ex.dispatch('test.sleepNative', { ms: 400, value: 'slept' });
  const queued = [h.ex.dispatch('test.echo', 1), h.ex.dispatch('test.echo', 2)];
  let thrown: unknown;
  try {
    void h.ex.dispatch('test.echo', 3);
  } catch (err) {
    thrown = err;
  }
  assert.ok(isError(thrown, Errors.RESOURCE_EXHAUSTED), `got ${String(thrown)}`);
  assert.deepEqual((thrown as VdsmError).context, { reason: 'Too many tasks', resource: h.ex.name, current_tasks: 3 });
  assert.equal((thrown as VdsmError).vdsmCode, 1100);
  assert.equal(h.ex.stats().rejected, 1);
  assert.equal(await blocker, 'slept');
  assert.deepEqual(await Promise.all(queued), [1, 2]);
  // Capacity is back.
  assert.equal(await h.ex.dispatch('test.echo', 4), 4);
});

void test('state() and threads() describe workers with their OS thread ids and what they run', async (t) => {
  const h = harness({ workersCount: 2, maxWorkers: 4, spares: 1 });
  t.after(() => h.close());
  h.ex.start();
  // Busy until the gate opens, however long the spare takes to start on a loaded machine.
  const gate = new SharedArrayBuffer(4);
  t.after(() => { Atomics.store(new Int32Array(gate), 0, 1); Atomics.notify(new Int32Array(gate), 0); });
  const p = h.ex.dispatch('test.block', { gate });
  await h.next('start');
  await h.until(() => h.ex.counts().idle >= 1 && h.ex.counts().spares === 1);
  const st = h.ex.state();
  assert.doesNotThrow(() => JSON.stringify(st));
  assert.equal(st['busy'], 1);
  assert.equal(st['spares'], 1);
  const threads = h.ex.threads();
  const busy = threads.find((x) => x.state === 'busy');
  assert.ok(busy);
  assert.equal(busy.op, 'test.block');
  assert.ok(busy.tid > process.pid, `tid ${busy.tid} is a kernel thread id of this process`);
  assert.equal(new Set(threads.map((x) => x.tid)).size, threads.length);
  Atomics.store(new Int32Array(gate), 0, 1);
  Atomics.notify(new Int32Array(gate), 0);
  assert.equal(await p, 1);
});

void test('stop() fails queued tasks with NOT_RUNNING and resolves within its grace period despite a native block', async (t) => {
  const h = harness({ workersCount: 1, maxWorkers: 2, spares: 0, growOnBacklog: false });
  t.after(() => h.close());
  h.ex.start();
  const stuck = h.ex.dispatch('test.sleepNative', { ms: 1500 });
  const queued = h.ex.dispatch('test.echo', 1);
  await h.next('start');
  const queuedFails = assert.rejects(queued, (e: unknown) => isError(e, Errors.NOT_RUNNING));
  const stuckFails = assert.rejects(stuck, (e: unknown) => isError(e, Errors.NOT_RUNNING));
  const t0 = Date.now();
  const first = h.ex.stop({ graceMs: 200 });
  const second = h.ex.stop({ graceMs: 0 });  // a later caller waits for the first stop and gets its answer
  assert.equal(second, first);
  const res = await first;
  const took = Date.now() - t0;
  assert.equal(res.stuckThreads, 1);
  assert.equal(h.ex.state()['state'], 'closed');
  assert.throws(() => h.ex.start(), (e: unknown) => isError(e, Errors.LIFECYCLE_STATE), 'a stopped Executor stays stopped');
  // Not a timing assertion about speed: stop must not wait for the 1.5 s native call.
  assert.ok(took < 1200, `stop took ${took} ms`);
  await queuedFails;
  await stuckFails;
  assert.throws(() => h.ex.dispatch('test.echo', 1), (e: unknown) => isError(e, Errors.NOT_RUNNING));
});

void test('worker threads run at the nice increment above the main thread (each thread lowers its own priority)', async (t) => {
  const h = harness({ workersCount: 1, maxWorkers: 2, spares: 0, niceIncrement: 3 });
  t.after(() => h.close());
  h.ex.start();
  await h.until(() => h.ex.counts().idle >= 1);
  const [worker] = h.ex.threads();
  assert.ok(worker && worker.tid > 0);
  // Field 19 of /proc/<pid>/task/<tid>/stat is the thread's nice value (fields after "comm)" start at 3).
  const niceOf = (tid: number): number => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19 - 3]);
  assert.equal(niceOf(worker.tid), Math.min(19, getPriority(0) + 3));
  assert.equal(niceOf(process.pid), getPriority(0), 'the main thread keeps its own priority');
});
