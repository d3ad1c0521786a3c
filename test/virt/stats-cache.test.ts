// StatsCache and SampleWindow: vdsm's acceptance cases 161-168, with vdsm's stepping fake clock (1 s a read).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SampleWindow, StatsCache, isEmptySample, type BulkSample } from '../../src/virt/stats-cache.js';
import { SteppingClock } from '../support/manual-time.js';

const rec = (v: string): Record<string, string> => ({ v });

function feed(cache: StatsCache, samples: [Record<string, string>, number][]): void {
  for (const [s, t] of samples) {
    const sample: BulkSample = {};
    for (const [vm, v] of Object.entries(s)) sample[vm] = rec(v);
    cache.put(sample, t * 1000);
  }
}

const view = (s: ReturnType<StatsCache['get']>): unknown[] => [s.first?.['v'], s.last?.['v'], s.interval, s.statsAge];

void test('161 SampleWindow: bad sizes, last(), stats()', () => {
  assert.throws(() => new SampleWindow(0, () => 0), RangeError);
  assert.throws(() => new SampleWindow(-1, () => 0), RangeError);
  let t = 0;
  const win = new SampleWindow<number>(2, () => t++);
  assert.equal(win.stats(), undefined);
  win.append(19);
  assert.equal(win.stats(), undefined);
  win.append(42);
  win.append(23);
  assert.deepEqual(win.stats(), { first: 42, last: 23, elapsed: 1 });
  assert.equal(win.last()?.value, 23);
  assert.equal(win.last(2)?.value, 42);
  assert.equal(win.last(3), undefined);
});

void test('162 empty cache, one sample, then two samples give (foo, bar, 1, 1)', () => {
  const cache = new StatsCache(new SteppingClock());
  assert.ok(isEmptySample(cache.get('x')));
  feed(cache, [[{ a: 'foo' }, 1]]);
  assert.ok(isEmptySample(cache.get('a')));
  const c2 = new StatsCache(new SteppingClock());
  feed(c2, [[{ a: 'foo' }, 1], [{ a: 'bar' }, 2]]);
  assert.deepEqual(view(c2.get('a')), ['foo', 'bar', 1, 1]);
});

void test('163 getBatch: undefined before two samples, stale sample dropped, only VMs in both samples', () => {
  assert.equal(new StatsCache(new SteppingClock()).getBatch(), undefined);
  const c1 = new StatsCache(new SteppingClock());
  feed(c1, [[{ a: 'old', b: 'old' }, 1], [{ a: 'new', b: 'new' }, 2], [{ a: 'exold', b: 'exold' }, 0]]);
  assert.deepEqual([...(c1.getBatch()?.keys() ?? [])].sort(), ['a', 'b']);
  assert.equal(c1.getBatch()?.get('a')?.last?.['v'], 'new');
  const c2 = new StatsCache(new SteppingClock());
  feed(c2, [[{ a: 'old', b: 'old' }, 1], [{ a: 'new' }, 2]]);
  assert.deepEqual([...(c2.getBatch()?.keys() ?? [])], ['a']);
  const c3 = new StatsCache(new SteppingClock());
  feed(c3, [[{ b: 'old' }, 1], [{ a: 'new' }, 2]]);
  assert.deepEqual([...(c3.getBatch()?.keys() ?? [])], []);
});

void test('164 a VM never sampled has statsAge = clock at clock 3', () => {
  const clock = new SteppingClock();
  const cache = new StatsCache(clock);
  feed(cache, [[{ a: 'foo' }, 1], [{ a: 'bar' }, 2]]);
  clock.freeze(3000);
  const res = cache.get('b');
  assert.ok(isEmptySample(res));
  assert.equal(res.statsAge, 3);
});

void test('165 three samples: only the last two are used', () => {
  const cache = new StatsCache(new SteppingClock());
  feed(cache, [[{ a: 'foo' }, 1], [{ a: 'bar' }, 2], [{ a: 'baz' }, 3]]);
  assert.deepEqual(view(cache.get('a')), ['bar', 'baz', 1, 1]);
});

void test('166 an out-of-order (stale) sample is dropped with a warning', () => {
  const warnings: string[] = [];
  const cache = new StatsCache(new SteppingClock(), { warn: (m) => warnings.push(m) });
  feed(cache, [[{ a: 'foo' }, 1], [{ a: 'bar' }, 0], [{ a: 'baz' }, 3]]);
  assert.deepEqual(view(cache.get('a')), ['foo', 'baz', 1, 0]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /dropped stale old sample/);
  assert.equal(cache.describe().droppedStale, 1);
});

void test('167 a VM missing from the middle sample is empty with statsAge 1; the others continue', () => {
  const clock = new SteppingClock();
  const cache = new StatsCache(clock);
  feed(cache, [[{ a: 'foo', b: 'foo' }, 1], [{ a: 'bar' }, 2], [{ a: 'baz', b: 'baz' }, 3]]);
  clock.freeze(4000);
  assert.deepEqual(view(cache.get('a')), ['bar', 'baz', 1, 1]);
  const b = cache.get('b');
  assert.ok(isEmptySample(b));
  assert.equal(b.statsAge, 1);
});

void test('168 first seen in the last sample: empty, age 1; registered by add() long ago: age 100', () => {
  const clock = new SteppingClock();
  const cache = new StatsCache(clock);
  feed(cache, [[{ a: 'foo' }, 1], [{ a: 'bar', b: 'baz' }, 2]]);
  clock.freeze(3000);
  const b = cache.get('b');
  assert.ok(isEmptySample(b));
  assert.equal(b.statsAge, 1);

  const clock2 = new SteppingClock();
  const c2 = new StatsCache(clock2);
  c2.add('a');
  feed(c2, [[{ b: 'foo' }, 1], [{ b: 'foo', c: 'bar' }, 2]]);
  clock2.freeze(101_000);
  const a = c2.get('a');
  assert.ok(isEmptySample(a));
  assert.equal(a.statsAge, 100);
  c2.remove('a');
  assert.equal(c2.get('a').statsAge, 101);
});
