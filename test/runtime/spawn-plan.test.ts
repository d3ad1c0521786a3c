// The Executor's thread policy as a pure function: floor of live workers, backlog growth, spares
// and pre-warmed replacements, always within max_workers and the spawn concurrency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planSpawns, type SpawnInput } from '../../src/runtime/executor/spawn-plan.js';

const base: SpawnInput = {
  workersCount: 4, maxWorkers: 30, spares: 1, maxConcurrentSpawns: 2, total: 5, starting: 0, startingSpares: 0,
  live: 4, readySpares: 1, queued: 0, growOnBacklog: true, backlogOld: () => true, imminentDiscards: 0,
};

void test('at rest nothing is started', () => {
  assert.deepEqual(planSpawns(base), { spawn: [], surplus: false });
});

void test('start: workers_count live workers at once, then spares within the spawn concurrency', () => {
  const p = planSpawns({ ...base, total: 0, live: 0, readySpares: 0 });
  assert.deepEqual(p.spawn, ['live', 'live', 'live', 'live']);
});

void test('a discard that left 3 live workers is replaced even at full spawn concurrency', () => {
  const p = planSpawns({ ...base, live: 3, starting: 2, startingSpares: 2, total: 8, readySpares: 0 });
  assert.deepEqual(p.spawn, ['live']);
});

void test('backlog grows live workers only once it is old enough, and no further than the concurrency', () => {
  let asked = 0;
  const young = planSpawns({ ...base, queued: 5, readySpares: 0, total: 4, backlogOld: () => (asked++, false) });
  assert.deepEqual(young.spawn, ['spare']);
  assert.equal(asked, 1);
  const old = planSpawns({ ...base, queued: 5, readySpares: 0, total: 4 });
  assert.deepEqual(old.spawn, ['live', 'live']);
  const fixed = planSpawns({ ...base, queued: 5, readySpares: 0, total: 4, growOnBacklog: false });
  assert.deepEqual(fixed.spawn, ['spare']);
});

void test('imminent discards pre-warm spares, but never beyond max_workers', () => {
  assert.deepEqual(planSpawns({ ...base, imminentDiscards: 2 }).spawn, ['spare', 'spare']);
  assert.deepEqual(planSpawns({ ...base, imminentDiscards: 2, total: 29 }).spawn, ['spare']);
  assert.deepEqual(planSpawns({ ...base, imminentDiscards: 2, total: 30 }).spawn, []);
  // Enough surplus live workers absorb the discards: no extra spare.
  assert.deepEqual(planSpawns({ ...base, live: 8, total: 9, imminentDiscards: 2 }).spawn, []);
});

void test('more live workers or spares than wanted at rest is reported as surplus', () => {
  assert.equal(planSpawns({ ...base, live: 6, total: 7 }).surplus, true);
  assert.equal(planSpawns({ ...base, readySpares: 3, total: 7 }).surplus, true);
});

void test('never plans past max_workers, whatever is asked', () => {
  for (let total = 0; total <= 30; total++) {
    for (const queued of [0, 3, 50]) {
      const p = planSpawns({ ...base, total, live: Math.min(total, 4), readySpares: 0, queued, imminentDiscards: 3, maxConcurrentSpawns: 30 });
      assert.ok(total + p.spawn.length <= 30, `total ${total} + ${p.spawn.length}`);
    }
  }
});
