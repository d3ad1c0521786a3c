// Periodic operations: first run at once, exclusive vs non-exclusive scheduling, queue-full retry,
// failures keep the schedule, stop. The dispatcher here is a fake on purpose: a real Executor cannot
// be made to finish a task at a chosen instant of the manual clock, and these tests are about when
// the Operation dispatches, not about workers (the last test uses the real Executor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errors, isError, vdsmError } from '../../src/errors.js';
import type { Dispatcher, DispatchOptions } from '../../src/contracts/dispatcher.js';
import type { OpArgs, OpName, OpResult } from '../../src/contracts/operations.js';
import { Operation, timeoutFrom } from '../../src/runtime/periodic.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { ManualTime } from '../support/manual-time.js';
import { captureLog } from './capture-log.js';
import { harness } from './executor-harness.js';

interface Call { op: string; args: unknown; opts: DispatchOptions | undefined; at: number; resolve(v: unknown): void; reject(e: unknown): void }

class FakeDispatcher implements Dispatcher {
  calls: Call[] = [];
  /** Throw RESOURCE_EXHAUSTED for the next n dispatches (Infinity: always). */
  fullFor = 0;
  constructor(readonly time: ManualTime) {}
  dispatch<K extends OpName>(op: K, args: OpArgs<K>, opts?: DispatchOptions): Promise<OpResult<K>> {
    if (this.fullFor > 0) {
      this.fullFor--;
      throw vdsmError(Errors.RESOURCE_EXHAUSTED, { reason: 'Too many tasks', resource: 'fake', current_tasks: 0 });
    }
    return new Promise<OpResult<K>>((resolve, reject) => this.calls.push({ op, args, opts, at: this.time.now(), resolve: resolve as (v: unknown) => void, reject }));
  }
  state(): unknown {
    return { fake: true };
  }
}

function setup(): { time: ManualTime; sched: Scheduler; ex: FakeDispatcher; lines: ReturnType<typeof captureLog>['lines']; log: ReturnType<typeof captureLog>['log'] } {
  const time = new ManualTime(1000);
  const { log, lines } = captureLog();
  const sched = new Scheduler({ clock: time, timers: time, log });
  sched.start();
  return { time, sched, ex: new FakeDispatcher(time), lines, log };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

void test('timeout defaults to half the period', () => {
  for (const p of [0, 100, 1000, 5000, 99_000]) assert.ok(timeoutFrom(p) <= p);
  assert.equal(timeoutFrom(15_000), 7500);
});

void test('start runs at once with args built on the main thread; bad period and double start are errors', async () => {
  const { sched, ex, log } = setup();
  let n = 0;
  const results: unknown[] = [];
  const op = new Operation({ name: 'sample', executor: ex, op: 'test.echo', args: () => ({ n: ++n }), periodMs: 1000, scheduler: sched, log, onResult: (r) => results.push(r) });
  op.start();
  assert.equal(ex.calls.length, 1);
  assert.deepEqual(ex.calls[0]!.args, { n: 1 });
  assert.deepEqual(ex.calls[0]!.opts, { timeoutMs: 500, discard: true });
  ex.calls[0]!.resolve('r1');
  await flush();
  assert.deepEqual(results, ['r1']);
  assert.throws(() => op.start(), (e: unknown) => isError(e, Errors.ALREADY_STARTED));
  const bad = new Operation({ name: 'bad', executor: ex, op: 'test.echo', args: () => undefined, periodMs: 0, scheduler: sched, log });
  assert.throws(() => bad.start(), (e: unknown) => isError(e, Errors.INVALID_PARAMETER));
});

void test('non-exclusive: dispatches every period even while earlier runs hang', () => {
  const { time, sched, ex, log } = setup();
  const op = new Operation({ name: 'bulk', executor: ex, op: 'test.echo', args: () => undefined, periodMs: 100, scheduler: sched, log });
  op.start();
  time.advance(400);
  assert.deepEqual(ex.calls.map((c) => c.at), [1000, 1100, 1200, 1300, 1400]);
  assert.equal(op.state()['in_flight'], 5);
  op.stop();
  time.advance(1000);
  assert.equal(ex.calls.length, 5, 'nothing after stop');
});

void test('exclusive: the next run is scheduled a period after the previous one completes', async () => {
  const { time, sched, ex, log } = setup();
  const op = new Operation({ name: 'host', executor: ex, op: 'test.echo', args: () => undefined, periodMs: 100, exclusive: true, timeoutMs: 100, discard: false, scheduler: sched, log });
  op.start();
  time.advance(1000);
  assert.equal(ex.calls.length, 1, 'a hung exclusive run blocks the next');
  assert.deepEqual(ex.calls[0]!.opts, { timeoutMs: 100, discard: false });
  ex.calls[0]!.resolve(1);
  await flush();
  time.advance(99);
  assert.equal(ex.calls.length, 1);
  time.advance(1);
  assert.equal(ex.calls.length, 2);
  assert.equal(ex.calls[1]!.at, 2100);
  // A failing run (e.g. discarded) also schedules the next one.
  ex.calls[1]!.reject(vdsmError(Errors.TASK_DISCARDED));
  await flush();
  time.advance(100);
  assert.equal(ex.calls.length, 3);
  op.stop();
});

void test('queue full: logged (executor state throttled) and retried next period, exclusive or not', () => {
  for (const exclusive of [true, false]) {
    const { time, sched, ex, log, lines } = setup();
    ex.fullFor = 2;
    const op = new Operation({ name: 'retry', executor: ex, op: 'test.echo', args: () => undefined, periodMs: 100, exclusive, scheduler: sched, log });
    op.start();
    time.advance(100);
    assert.equal(ex.calls.length, 0);
    time.advance(100);
    assert.equal(ex.calls.length, 1, `runs at the 3rd attempt (exclusive=${exclusive})`);
    assert.equal(lines.filter((l) => l.msg === 'could not run retry, executor queue full').length, 2);
    assert.equal(lines.filter((l) => l.msg === 'executor state:').length, 1, 'the state line is throttled');
    op.stop();
  }
  const { time, sched, ex, log, lines } = setup();
  ex.fullFor = Infinity;
  const op = new Operation({ name: 'full', executor: ex, op: 'test.echo', args: () => undefined, periodMs: 100, scheduler: sched, log });
  op.start();
  time.advance(1100);
  assert.equal(op.state()['queue_full'], 12, 'keeps trying every period');
  assert.equal(lines.filter((l) => l.msg === 'executor state:').length, 2, '1st and 11th');
});

void test('a throwing args builder or callback is logged and the operation keeps its schedule', async () => {
  const { time, sched, ex, log, lines } = setup();
  let n = 0;
  const op = new Operation({
    name: 'flaky', executor: ex, op: 'test.echo', periodMs: 100, scheduler: sched, log,
    args: () => {
      if (++n === 1) throw new Error('no args');
      return n;
    },
    onResult: () => {
      throw new Error('bad callback');
    },
  });
  op.start();
  assert.equal(ex.calls.length, 0);
  time.advance(100);
  assert.equal(ex.calls.length, 1);
  ex.calls[0]!.resolve('x');
  await flush();
  time.advance(100);
  assert.equal(ex.calls.length, 2);
  assert.ok(lines.some((l) => l.msg === 'Operation flaky failed to start'));
  assert.ok(lines.some((l) => l.msg === 'Operation flaky failed'));
  op.stop();
});

void test('with the real Executor: a full queue is retried next period and the result reaches onResult', async (t) => {
  const h = harness({ workersCount: 1, maxWorkers: 1, maxTasks: 1, spares: 0, growOnBacklog: false });
  t.after(() => h.close());
  h.ex.start();
  const blocker = h.ex.dispatch('test.sleepNative', { ms: 200, value: 'b' });
  const results: unknown[] = [];
  const op = new Operation({ name: 'real', executor: h.ex, op: 'test.echo', args: () => 'hello', periodMs: 1000, scheduler: h.sched, log: captureLog().log, onResult: (r) => results.push(r) });
  op.start();
  assert.equal(op.state()['queue_full'], 1);
  assert.equal(await blocker, 'b');
  h.time.advance(1000);
  await h.until(() => results.length === 1);
  assert.deepEqual(results, ['hello']);
  op.stop();
});
