// The vmchannels thread's outbox: latest value wins, identical values are not posted twice, events are
// counted and bounded, and a batch respects the byte budget (the rest stays for the next batch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelOutbox } from '../../src/guest/channel-outbox.js';

function setup() {
  const values = new Map<string, unknown>();
  const box = new ChannelOutbox((vmId, key) => values.get(`${vmId}/${key}`));
  return { box, set: (vm: string, key: string, v: unknown) => values.set(`${vm}/${key}`, v) };
}

void test('the latest value is posted once; the same value again is not', () => {
  const { box, set } = setup();
  set('a', 'guestName', 'one');
  box.fields('a', ['guestName']);
  set('a', 'guestName', 'two');
  box.fields('a', ['guestName']);
  assert.deepEqual(box.take(1e9), [{ vmId: 'a', fields: { guestName: '"two"' } }]);
  box.fields('a', ['guestName']);
  assert.deepEqual(box.take(1e9), [], 'unchanged: nothing to post');
  box.resend('a');
  box.fields('a', ['guestName']);
  assert.equal(box.take(1e9).length, 1, 'after a reconnect every field goes again');
});

void test('meta, completions, notes and problem counts ride along', () => {
  const { box } = setup();
  box.meta('a', { connected: true, lastMessageAt: 5 });
  box.meta('a', { lastMessageAt: 9 });
  box.problem('a', 'json', 'first');
  box.problem('a', 'json', 'second');
  box.completion('a', 'r1');
  for (let i = 0; i < 100; i++) box.note('a', `n${i}`);
  const [u] = box.take(1e9);
  assert.equal(u!.connected, true);
  assert.equal(u!.lastMessageAt, 9);
  assert.deepEqual(u!.problems, { json: { count: 2, detail: 'first' } });
  assert.deepEqual(u!.completions, ['r1']);
  assert.equal(u!.notes!.length, 32, 'events between two posts are bounded');
  assert.equal(box.size, 0);
});

void test('a batch stops at the byte budget; the rest goes next time, one large value still goes alone', () => {
  const { box, set } = setup();
  for (const vm of ['a', 'b', 'c']) {
    set(vm, 'appsList', Array.from({ length: 1000 }, (_, i) => `${vm}-application-${i}`));
    box.fields(vm, ['appsList']);
  }
  const first = box.take(10_000);
  assert.equal(first.length, 1, 'one ~20 KB value already exceeds a 10 KB budget, and goes alone');
  assert.equal(box.size, 2);
  assert.equal(box.take(10_000).length, 1);
  assert.equal(box.take(10_000).length, 1);
  assert.equal(box.size, 0);
});

void test('forget drops pending work and what was sent', () => {
  const { box, set } = setup();
  set('a', 'guestName', 'x');
  box.fields('a', ['guestName']);
  box.forget('a');
  assert.deepEqual(box.take(1e9), []);
});
