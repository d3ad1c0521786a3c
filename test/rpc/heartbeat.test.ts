// Heart-beats with injected time: `\n` on time, silent clients dropped within 2x their interval, and
// `\n` before CONNECT (the engine may lose CONNECT and would otherwise time out after 30 s).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness } from './session-harness.js';

void test('negotiated outgoing heart-beats are sent on time and only when nothing else was written', () => {
  const h = harness();
  const { send, transport } = h.open();
  send('CONNECT\naccept-version:1.2\nheart-beat:0,1000\n\n\0');
  transport.take();
  h.time.advance(999);
  assert.deepEqual(transport.take(), []);
  h.time.advance(1);
  assert.deepEqual(transport.take(), ['\n']);
  h.time.advance(1000);
  h.time.advance(1000);
  assert.deepEqual(transport.take(), ['\n', '\n']);
  // A frame written at 3500 pushes the next heart-beat to 4500.
  h.time.advance(500);
  send('SUBSCRIBE\ndestination:a\nid:1\nreceipt:r\n\n\0');
  transport.take();
  h.time.advance(999);
  assert.deepEqual(transport.take(), []);
  h.time.advance(1);
  assert.deepEqual(transport.take(), ['\n']);
});

void test('the engine case: heart-beat 0,15000 gets `\\n` every 15 s', () => {
  const h = harness();
  const { send, transport } = h.open();
  send('CONNECT\naccept-version:1.2\nheart-beat:0,15000\nhost:null\n\n\0');
  send('SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\n\n\0');
  transport.take();
  h.time.advance(60_000);
  assert.deepEqual(transport.take(), ['\n', '\n', '\n', '\n']);
});

void test('heart-beats flow before and without CONNECT', () => {
  const h = harness();
  const { send, transport } = h.open({ preConnectHeartbeatMs: 10_000 });
  send('SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\n\n\0');
  h.time.advance(30_000);
  assert.deepEqual(transport.take(), ['\n', '\n', '\n']);
});

void test('with heart-beat 0,0 nothing is sent and a subscribed client is never timed out', () => {
  const h = harness();
  const { send, transport, session } = h.open();
  send('CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0');
  send('SUBSCRIBE\ndestination:jms.queue.events\nid:e\n\n\0');
  transport.take();
  h.time.advance(3_600_000);
  assert.deepEqual(transport.take(), []);
  assert.equal(session.closed, false);
  assert.equal(h.time.pendingTimers, 0);
});

void test('a client that promised heart-beats and went silent is dropped within 2x the interval', () => {
  const h = harness();
  const { send, session, transport } = h.open();
  send('CONNECT\naccept-version:1.2\nheart-beat:1000,0\n\n\0');
  h.time.advance(1999);
  assert.equal(session.closed, false);
  h.time.advance(1);
  assert.equal(session.closed, true);
  assert.equal(transport.destroyed, true);
  assert.equal(h.time.pendingTimers, 0, 'no timers left behind');
});

void test('any bytes from the client, heart-beats included, keep it alive', () => {
  const h = harness();
  const { send, session } = h.open();
  send('CONNECT\naccept-version:1.2\nheart-beat:1000,0\n\n\0');
  for (let i = 0; i < 20; i++) {
    h.time.advance(1500);
    send('\n');
  }
  assert.equal(session.closed, false);
  h.time.advance(2000);
  assert.equal(session.closed, true);
});
