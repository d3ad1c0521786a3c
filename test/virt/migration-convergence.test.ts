// The convergence schedule and the migration monitor, on job statistics shaped as libvirt 9 reports
// them (virDomainGetJobStats during a TCG migration, reference/migration.md §3).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobOperation, JobType, type JobStats } from '../../src/contracts/migration-ops.js';
import {
  ConvergenceMonitor, exponentialDowntimes, jobEndedInFailure, legacySchedule, outgoingJob, parseSchedule, progressPercent, ScheduleError, wantsPostCopy,
} from '../../src/virt/migration/convergence.js';

const MiB = 2 ** 20;
const job = (o: { iteration: number; remaining: number; total?: number; type?: number }): JobStats => ({
  type: o.type ?? JobType.UNBOUNDED, operation: JobOperation.MIGRATION_OUT, data_total: o.total ?? 140 * MiB,
  data_remaining: o.remaining, data_processed: 0, memory_iteration: o.iteration, time_elapsed: 1000,
});

void test("vdsm's exponential downtimes: 500 ms in 5 steps is 101, 104, 120, 189, 500", () => {
  assert.deepEqual(exponentialDowntimes(500, 5), [101, 104, 120, 189, 500]);
  assert.deepEqual(exponentialDowntimes(300, 1), [300]);
});

void test('the schedule vdsm computes when the engine sends none: first step at start, one per stalling iteration, the last again at 42, then abort', () => {
  const s = legacySchedule(500, 5);
  assert.deepEqual(s.init, [{ name: 'setDowntime', params: ['101'] }]);
  assert.deepEqual(s.stalling.map((x) => [x.limit, x.action.name, x.action.params[0]]), [
    [1, 'setDowntime', '104'], [2, 'setDowntime', '120'], [3, 'setDowntime', '189'], [4, 'setDowntime', '500'],
    [42, 'setDowntime', '500'], [-1, 'abort', undefined],
  ]);
  assert.equal(wantsPostCopy(s), false);
});

void test("the engine's schedule is checked: names, limits, downtimes", () => {
  const ok = parseSchedule({ init: [{ name: 'setDowntime', params: ['100'] }], stalling: [{ limit: 1, action: { name: 'postcopy', params: [] } }, { limit: '-1', action: { name: 'abort' } }] });
  assert.equal(ok.stalling[1]!.limit, -1);
  assert.equal(wantsPostCopy(ok), true);
  assert.deepEqual(parseSchedule({}), { init: [], stalling: [] });
  for (const bad of [
    [], { init: {} }, { init: [{ name: 'explode' }] }, { init: [{ name: 'setDowntime', params: ['soon'] }] },
    { stalling: [{ limit: 'x', action: { name: 'abort' } }] }, { stalling: [{ limit: 1 }] },
  ]) assert.throws(() => parseSchedule(bad), ScheduleError, JSON.stringify(bad));
});

void test('progress as the engine sees it: 100 only when nothing remains, never more than 99 before', () => {
  assert.equal(progressPercent(job({ iteration: 1, remaining: 140 * MiB })), 0);
  assert.equal(progressPercent(job({ iteration: 1, remaining: 70 * MiB })), 50);
  assert.equal(progressPercent(job({ iteration: 3, remaining: 1 })), 99);
  assert.equal(progressPercent(job({ iteration: 3, remaining: 0 })), 100);
  assert.equal(progressPercent(job({ iteration: 0, remaining: 0, total: 0 })), 0, 'before any data is known');
});

void test('which job statistics mean a running outgoing migration, and which a failed one', () => {
  assert.equal(outgoingJob(job({ iteration: 1, remaining: 1 })), true);
  assert.equal(outgoingJob({ type: JobType.NONE }), false);
  assert.equal(outgoingJob({ type: JobType.UNBOUNDED, operation: JobOperation.MIGRATION_IN }), false);
  assert.equal(jobEndedInFailure({ type: JobType.CANCELLED, operation: JobOperation.MIGRATION_OUT }), true);
  assert.equal(jobEndedInFailure({ type: JobType.FAILED, operation: JobOperation.MIGRATION_OUT }), true);
  // COMPLETED is not success: libvirt still has to hand the domain over (the destination may fail).
  assert.equal(jobEndedInFailure({ type: JobType.COMPLETED, operation: JobOperation.MIGRATION_OUT }), false);
});

void test('the monitor fires one stalling step per new iteration once the iterations exceed its limit, and nothing after abort', () => {
  const m = new ConvergenceMonitor(parseSchedule({
    init: [{ name: 'setDowntime', params: ['50'] }],
    stalling: [{ limit: 1, action: { name: 'setDowntime', params: ['60'] } }, { limit: 2, action: { name: 'setDowntime', params: ['70'] } }, { limit: -1, action: { name: 'abort' } }],
  }));
  assert.deepEqual(m.init(), [{ name: 'setDowntime', params: ['50'] }]);
  assert.deepEqual(m.init(), [], 'init runs once');
  // libvirt's counter may start above 1 (earlier, cancelled migrations of the same QEMU count too).
  const fired = (it: number, remaining: number): string[] => m.tick(job({ iteration: it, remaining: remaining * MiB })).actions.map((a) => `${a.name}${a.params[0] ?? ''}`);
  assert.deepEqual(fired(5, 100), [], 'first look: iteration 0');
  assert.deepEqual(fired(5, 60), []);
  assert.deepEqual(fired(6, 20), [], 'one iteration: limit 1 is not exceeded');
  assert.deepEqual(fired(7, 18), ['setDowntime60']);
  assert.deepEqual(fired(7, 18), [], 'no new iteration');
  assert.deepEqual(fired(9, 19), ['setDowntime70'], 'a jump of iterations still fires one step');
  assert.deepEqual(fired(10, 17), ['abort']);
  assert.deepEqual(fired(11, 17), [], 'nothing after abort');
  assert.equal(m.remaining().length, 0);
});

void test('stalling means the remaining data grew above its low-water mark; nothing before data moves', () => {
  const m = new ConvergenceMonitor({ init: [], stalling: [] });
  assert.equal(m.tick(job({ iteration: 0, remaining: 0, total: 0 })).stalling, false, 'the destination is still starting');
  assert.equal(m.tick(job({ iteration: 1, remaining: 80 * MiB })).stalling, false);
  assert.equal(m.tick(job({ iteration: 1, remaining: 80 * MiB })).stalling, false, 'equal is not growing');
  assert.equal(m.tick(job({ iteration: 2, remaining: 10 * MiB })).stalling, false);
  const t = m.tick(job({ iteration: 3, remaining: 16 * MiB }));
  assert.equal(t.stalling, true);
  assert.equal(t.lowmark, 10 * MiB);
  assert.equal(t.iteration, 3, 'counted from the first look');
});

void test('after post-copy started (stop()), no further step fires', () => {
  const m = new ConvergenceMonitor(parseSchedule({ stalling: [{ limit: -1, action: { name: 'postcopy' } }, { limit: -1, action: { name: 'abort' } }] }));
  m.tick(job({ iteration: 1, remaining: 50 * MiB }));
  assert.deepEqual(m.tick(job({ iteration: 2, remaining: 50 * MiB })).actions.map((a) => a.name), ['postcopy']);
  m.stop();
  assert.deepEqual(m.tick(job({ iteration: 3, remaining: 50 * MiB })).actions, []);
});
