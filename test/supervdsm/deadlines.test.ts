// Call deadlines in lanes (one timer per distinct timeout, not per call), on the manual clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Deadlines } from '../../src/supervdsm/deadlines.js';
import { ManualTime } from '../support/manual-time.js';

void test('calls expire at their deadline, in order; ended ones never do; one timer per lane', () => {
  const time = new ManualTime();
  const d = new Deadlines(time, time);
  const expired: [number, number][] = [];
  for (let id = 1; id <= 100; id++) {
    d.add(id, 500, () => expired.push([id, time.now()]));
    time.advance(1);
  }
  d.add(5000, 50, () => expired.push([5000, time.now()]));
  assert.equal(time.pendingTimers, 2, 'one timer per distinct timeout, not one per call');
  for (let id = 2; id <= 100; id += 2) assert.equal(d.delete(id, 500), true);
  time.advance(50);
  assert.deepEqual(expired, [[5000, 150]]);
  time.advance(400); // now 550: the calls started at 0..50 ms are due
  assert.deepEqual(expired.slice(1).map(([id]) => id), Array.from({ length: 26 }, (_, i) => 2 * i + 1));
  for (const [id, at] of expired.slice(1)) assert.ok(at >= id - 1 + 500, `call ${id} expired at ${at}, not before its deadline`);
  time.advance(1000);
  assert.equal(expired.length, 1 + 50);
  assert.equal(d.size, 0);
  assert.equal(time.pendingTimers, 0, 'an empty lane holds no timer');
  assert.equal(d.delete(1, 500), false, 'already expired');
});

void test('a timer that fires early expires nothing and re-arms; clear() drops everything', () => {
  let fire: (() => void) | undefined;
  let now = 0;
  const timers = { setTimeout: (fn: () => void): unknown => { fire = fn; return 1; }, clearTimeout: (): void => { fire = undefined; } };
  const d = new Deadlines({ now: () => now }, timers);
  let hit = 0;
  d.add(1, 100, () => hit++);
  now = 99; // Node's timers can fire up to a couple of ms early
  fire!();
  assert.equal(hit, 0);
  assert.ok(fire !== undefined, 're-armed');
  now = 100;
  fire();
  assert.equal(hit, 1);
  d.add(2, 100, () => hit++);
  d.clear();
  assert.equal(fire, undefined);
  assert.equal(d.size, 0);
});
