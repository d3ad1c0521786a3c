// Scheduler: deadline order, cancel, never early, a throwing call, stop, lateness statistics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { isError, Errors } from '../../src/errors.js';
import { ManualTime } from '../support/manual-time.js';
import { captureLog } from './capture-log.js';

function setup(): { time: ManualTime; sched: Scheduler; lines: ReturnType<typeof captureLog>['lines'] } {
  const time = new ManualTime(1000);
  const { log, lines } = captureLog();
  const sched = new Scheduler({ clock: time, timers: time, log });
  sched.start();
  return { time, sched, lines };
}

void test('calls run in deadline order, whatever the order they were scheduled in', () => {
  const { time, sched } = setup();
  const ran: string[] = [];
  sched.schedule(1300, () => ran.push('late'));
  sched.schedule(300, () => ran.push('early'));
  sched.schedule(300, () => ran.push('early-2'));
  time.advance(299);
  assert.deepEqual(ran, []);
  time.advance(1);
  assert.deepEqual(ran, ['early', 'early-2']);
  time.advance(999);
  assert.deepEqual(ran, ['early', 'early-2']);
  time.advance(1);
  assert.deepEqual(ran, ['early', 'early-2', 'late']);
});

void test('a cancelled call never runs and is no longer valid; cancelling 1000 prevents all', () => {
  const { time, sched } = setup();
  let ran = 0;
  const calls = Array.from({ length: 1000 }, (_, i) => sched.schedule(i % 100, () => ran++));
  const one = sched.schedule(50, () => ran++);
  assert.equal(one.valid, true);
  one.cancel();
  one.cancel();
  assert.equal(one.valid, false);
  for (const c of calls) c.cancel();
  time.advance(200);
  assert.equal(ran, 0);
});

void test('never runs a call before its deadline, even when the timer fires early', () => {
  const { time, sched } = setup();
  let ranAt: number | undefined;
  const call = sched.schedule(10.4, () => (ranAt = time.now()), 'precise');
  // Node timers count whole ms and can fire up to ~2 ms early.
  time.fireNextEarly(1.7);
  assert.equal(ranAt, undefined);
  assert.equal(call.valid, true);
  time.advance(5);
  assert.ok(ranAt !== undefined && ranAt >= call.deadline, `ran at ${ranAt}, deadline ${call.deadline}`);
  const s = sched.stats();
  assert.equal(s.early, 0);
  assert.equal(s.early_wakeups, 1);
  assert.equal(s.count, 1);
});

void test('a throwing call is logged and the next calls still run', () => {
  const { time, sched, lines } = setup();
  const ran: string[] = [];
  sched.schedule(300, () => {
    throw new Error('boom');
  }, 'failing');
  sched.schedule(400, () => ran.push('after'));
  time.advance(500);
  assert.deepEqual(ran, ['after']);
  const err = lines.find((l) => l.msg === 'Unhandled exception in failing');
  assert.ok(err, 'the failure is logged');
  assert.equal(sched.stats().failures, 1);
});

void test('a call runs once, even if it was executed and then its time comes again', () => {
  const { time, sched } = setup();
  let n = 0;
  const call = sched.schedule(10, () => n++);
  time.advance(10);
  time.advance(100);
  assert.equal(n, 1);
  assert.equal(call.valid, false);
});

void test('close drops pending calls; schedule once closed is NOT_RUNNING; start is idempotent, but not after close', () => {
  const { time, sched } = setup();
  let n = 0;
  for (let i = 0; i < 1000; i++) sched.schedule(i, () => n++);
  sched.start();
  assert.equal(sched.state()['lifecycle'], 'running', 'a second start changes nothing');
  sched.close();
  sched.close();
  time.advance(2000);
  assert.equal(n, 0);
  assert.equal(time.pendingTimers, 0);
  assert.throws(() => sched.schedule(1, () => n++), (e: unknown) => isError(e, Errors.NOT_RUNNING));
  assert.throws(() => sched.start(), (e: unknown) => isError(e, Errors.LIFECYCLE_STATE));
});

void test('lateness statistics and state() describe what happened', () => {
  const { time, sched } = setup();
  sched.schedule(10, () => undefined);
  sched.schedule(20, () => undefined, 'second');
  time.advance(15); // first runs 0 late
  time.advance(10); // the timer for the second fires at 20 exactly
  const s = sched.stats();
  assert.equal(s.count, 2);
  assert.equal(s.early, 0);
  assert.ok(s.lateness_max_ms >= 0);
  sched.schedule(100, () => undefined, 'pending-one');
  const st = sched.state();
  assert.equal(st['pending'], 1);
  assert.deepEqual(st['next'], { name: 'pending-one', in_ms: 100 });
  assert.doesNotThrow(() => JSON.stringify(st));
});

void test('many cancelled calls do not pile up: the heap is compacted and the rest still run in order', () => {
  const { time, sched } = setup();
  const ran: number[] = [];
  const keep = [5, 50, 500].map((d) => sched.schedule(60_000 + d, () => ran.push(d)));
  for (let i = 0; i < 5000; i++) sched.schedule(60_000 + i, () => ran.push(-1)).cancel();
  assert.ok((sched.state()['heap'] as number) < 2500, `heap holds ${String(sched.state()['heap'])} entries`);
  assert.ok(keep.every((c) => c.valid));
  time.advance(61_000);
  assert.deepEqual(ran, [5, 50, 500]);
});
