// Memory relief: requests within a burst collapse into one collection, a little after the last one,
// and collections are at least minIntervalMs apart (manual time). The real pieces (V8's full GC, and
// malloc_trim in native/sys) answer when called.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trimHeap } from '../../src/native-sys.js';
import { fullGc, MemoryRelief } from '../../src/runtime/memory-relief.js';
import { ManualTime } from '../support/manual-time.js';

void test('requests collapse into one collection after the delay; the next waits for the minimum interval', () => {
  const time = new ManualTime();
  let runs = 0;
  const relief = new MemoryRelief({ collect: () => runs++, timers: time, now: () => time.now(), delayMs: 1000, minIntervalMs: 5000 });
  relief.request();
  time.advance(500);
  relief.request();
  time.advance(999);
  assert.equal(runs, 0);
  assert.deepEqual(relief.state(), { runs: 0, pending: true });
  time.advance(1);
  assert.equal(runs, 1);
  assert.deepEqual(relief.state(), { runs: 1, pending: false });
  relief.request();
  time.advance(1000);
  assert.equal(runs, 1, 'not before 5 s after the previous collection');
  time.advance(4000);
  assert.equal(runs, 2);
  relief.request();
  relief.close();
  time.advance(10_000);
  assert.equal(runs, 2, 'close cancels what is pending');
  relief.request();
  time.advance(10_000);
  assert.deepEqual(relief.state(), { runs: 2, pending: false }, 'a request after close is ignored');
});

void test("V8's full collection and malloc_trim are callable", () => {
  const gc = fullGc();
  assert.equal(typeof gc, 'function');
  gc!();
  assert.equal(typeof trimHeap(), 'boolean');
});
