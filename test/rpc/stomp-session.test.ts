// STOMP server semantics per connection: CONNECT negotiation, subscriptions, SEND routing, receipts,
// DISCONNECT, unknown commands and protocol errors (vdsm acceptance cases C and S, quirks fixed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHeaderValue } from '../../src/rpc/stomp-frame.js';
import { harness } from './session-harness.js';

const ERR = (text: string) => `ERROR\nmessage:${escapeHeaderValue(text)}\ncontent-type:text/plain\ncontent-length:${Buffer.byteLength(text)}\n\n${text}\0`;

void test('CONNECT mirrors the client heart-beats and raises non-zero values to 1000', () => {
  const cases: [string | undefined, string][] = [['0,8000', '8000,0'], ['0,500', '1000,0'], ['6000,5000', '5000,6000'], [undefined, '0,0'], ['x,y', '0,0'], ['0,15000', '15000,0']];
  for (const [hb, reply] of cases) {
    const { send, transport } = harness().open();
    send(`CONNECT\naccept-version:1.2\n${hb !== undefined ? `heart-beat:${hb}\n` : ''}\n\0`);
    assert.deepEqual(transport.take(), [`CONNECTED\nversion:1.2\nheart-beat:${reply}\ncontent-length:0\n\n\0`], String(hb));
  }
});

void test('STOMP is accepted like CONNECT, and an accept-version list containing 1.2 is accepted (vdsm quirk fixed)', () => {
  const { send, transport } = harness().open();
  send('STOMP\naccept-version:1.0,1.1,1.2\nhost:x\n\n\0');
  assert.match(transport.take()[0]!, /^CONNECTED\nversion:1.2\n/);
});

void test('CONNECT without 1.2 gets ERROR "Version unsupported" and the connection stays open', () => {
  const { send, transport, session } = harness().open();
  send('CONNECT\naccept-version:1.1\n\n\0');
  assert.deepEqual(transport.take(), [ERR('Version unsupported')]);
  assert.equal(session.closed, false);
  send('CONNECT\naccept-version:1.2\nheart-beat:0,2000\n\n\0');
  assert.match(transport.take()[0]!, /heart-beat:2000,0/);
});

void test('SUBSCRIBE errors: missing headers, duplicate id; UNSUBSCRIBE without id; unknown id ignored', () => {
  const h = harness();
  const { send, transport, session } = h.open();
  send('SUBSCRIBE\ndestination:a\n\n\0');
  assert.deepEqual(transport.take(), [ERR('Missing destination or subscription id header')]);
  send('SUBSCRIBE\ndestination:a\nid:1\n\n\0SUBSCRIBE\ndestination:b\nid:1\n\n\0');
  assert.deepEqual(transport.take(), [ERR('Subscription id already exists')]);
  send('UNSUBSCRIBE\n\n\0');
  assert.deepEqual(transport.take(), [ERR('Missing id header')]);
  send('UNSUBSCRIBE\nid:nope\n\n\0');
  assert.deepEqual(transport.take(), []);
  assert.equal(h.broker.subscriberCount('a'), 1);
  send('UNSUBSCRIBE\nid:1\n\n\0');
  assert.equal(h.broker.subscriberCount('a'), 0);
  assert.equal(session.closed, false);
});

void test('frames before CONNECT are served: SUBSCRIBE then SEND with no CONNECT at all', () => {
  const h = harness();
  const { send, transport } = h.open();
  send('SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nack:auto\nid:r\n\n\0');
  send('SEND\ndestination:jms.topic.vdsm_requests\nreply-to:jms.topic.vdsm_responses\ncontent-length:2\n\n{}\0');
  assert.equal(h.requests.length, 1);
  h.requests[0]!.reply('{"x":1}');
  assert.deepEqual(transport.take(), ['MESSAGE\ndestination:jms.topic.vdsm_responses\ncontent-type:application/json\nsubscription:r\ncontent-length:7\n\n{"x":1}\0']);
});

void test('SEND to a request queue or below it is a request; flow id and client address reach the context', () => {
  const h = harness();
  const { send } = h.open();
  send('SEND\ndestination:jms.topic.vdsm_requests.getAllVmStats\novirtCorrelationId:e8a936a6\n\n{}\0');
  send('SEND\ndestination:jms.topic.vdsm_irs_requests\n\n{}\0');
  assert.equal(h.requests.length, 2);
  assert.equal(h.requests[0]!.ctx.flowId, 'e8a936a6');
  assert.equal(h.requests[1]!.ctx.flowId, undefined);
  assert.equal(h.requests[0]!.ctx.clientAddress, '127.0.0.1');
});

void test('a SEND without reply-to is answered on jms.topic.vdsm_responses (vdsm drops it)', () => {
  const h = harness();
  const { send, transport } = h.open();
  send('SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\n\n\0SEND\ndestination:jms.topic.vdsm_requests\n\n{}\0');
  h.requests[0]!.reply('{}');
  assert.match(transport.take()[0]!, /^MESSAGE\ndestination:jms.topic.vdsm_responses\n/);
});

void test('responses go to the requesting connection only when it subscribed the reply-to destination', () => {
  const h = harness();
  const a = h.open();
  const b = h.open();
  for (const c of [a, b]) c.send('SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\n\n\0');
  a.send('SEND\ndestination:jms.topic.vdsm_requests\nreply-to:jms.topic.vdsm_responses\n\n{}\0');
  h.requests[0]!.reply('{"id":"a"}');
  assert.equal(a.transport.take().length, 1);
  assert.equal(b.transport.take().length, 0, 'B does not see A\'s response');
  // Mini-broker case: C asks for replies on a destination only B subscribed.
  b.send('SUBSCRIBE\ndestination:shared.replies\nid:s\n\n\0');
  const c = h.open();
  c.send('SEND\ndestination:jms.topic.vdsm_requests\nreply-to:shared.replies\n\n{}\0');
  h.requests[1]!.reply('{"id":"c"}');
  assert.match(b.transport.take()[0]!, /subscription:s\n/);
  assert.deepEqual(c.transport.take(), []);
});

void test('a response for a connection that closed meanwhile is dropped, not sent to other subscribers', () => {
  const h = harness();
  const a = h.open();
  const b = h.open();
  for (const c of [a, b]) c.send('SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\n\n\0');
  a.send('SEND\ndestination:jms.topic.vdsm_requests\n\n{}\0');
  a.session.close('gone');
  h.requests[0]!.reply('{"id":"late"}');
  assert.deepEqual(b.transport.take(), []);
});

void test('SEND is forwarded to subscribers of the destination and its dot prefixes (mini-broker)', () => {
  const h = harness();
  const b = h.open();
  b.send('SUBSCRIBE\ndestination:my.topic\nid:B2\n\n\0SUBSCRIBE\ndestination:my.top\nid:B3\n\n\0SUBSCRIBE\ndestination:my\nid:B4\n\n\0');
  const a = h.open();
  a.send('SEND\ndestination:my.topic.child\nx-custom:1\n\nhello\0');
  const got = b.transport.take();
  assert.equal(got.length, 2);
  assert.ok(got.includes('MESSAGE\nsubscription:B2\ndestination:my.topic.child\nx-custom:1\ncontent-length:5\n\nhello\0'));
  assert.ok(got.some((m) => m.startsWith('MESSAGE\nsubscription:B4\n')));
  assert.deepEqual(a.transport.take(), []);
});

void test('SEND to a request queue is also copied to its subscribers and still executed', () => {
  const h = harness();
  const spy = h.open();
  spy.send('SUBSCRIBE\ndestination:jms.topic.vdsm_requests\nid:spy\n\n\0');
  h.open().send('SEND\ndestination:jms.topic.vdsm_requests\n\n{"a":1}\0');
  assert.equal(h.requests.length, 1);
  assert.match(spy.transport.take()[0]!, /\n\n\{"a":1\}\0$/);
});

void test('SEND to an unsubscribed non-request destination gets "Subscription not available"', () => {
  const { send, transport, session } = harness().open();
  send('SEND\ndestination:jms.topic.unknown\n\nx\0');
  assert.deepEqual(transport.take(), [ERR('Subscription not available')]);
  assert.equal(session.closed, false);
});

void test('SEND without destination gets an ERROR frame, then the connection closes', () => {
  const { send, transport, session } = harness().open();
  send('SEND\n\nhi\0');
  assert.deepEqual(transport.take(), [ERR('Missing destination header')]);
  assert.equal(session.closed, true);
  assert.equal(transport.ended, true);
});

void test('receipt is honoured on any frame; DISCONNECT answers RECEIPT then closes gracefully', () => {
  const { send, transport, session } = harness().open();
  send('SUBSCRIBE\ndestination:a\nid:1\nreceipt:9\n\n\0');
  assert.deepEqual(transport.take(), ['RECEIPT\nreceipt-id:9\ncontent-length:0\n\n\0']);
  send('DISCONNECT\nreceipt:77\n\n\0');
  assert.deepEqual(transport.take(), ['RECEIPT\nreceipt-id:77\ncontent-length:0\n\n\0']);
  assert.equal(session.closed, true);
  assert.equal(transport.ended, true);
});

void test('DISCONNECT without receipt closes gracefully with no frame', () => {
  const { send, transport, session } = harness().open();
  send('DISCONNECT\n\n\0');
  assert.deepEqual(transport.take(), []);
  assert.equal(session.closed, true);
  assert.equal(transport.destroyed, false);
});

void test('an unknown command gets ERROR then close (vdsm closes silently); ACK is accepted', () => {
  const a = harness().open();
  a.send('ACK\nid:1\n\n\0');
  assert.equal(a.session.closed, false);
  const b = harness().open();
  b.send('BOGUS\n\n\0');
  assert.deepEqual(b.transport.take(), [ERR('Unknown command: BOGUS')]);
  assert.equal(b.session.closed, true);
});

void test('a protocol error gets an ERROR frame naming it, then close', () => {
  const { send, transport, session } = harness().open({ limits: { maxBodyBytes: 10 } });
  send('SEND\ndestination:q\ncontent-length:11\n\n');
  assert.deepEqual(transport.take(), [ERR('Body larger than 10 bytes')]);
  assert.equal(session.closed, true);
});

void test('closing a connection removes its subscriptions from the shared registry', () => {
  const h = harness();
  const { send, session } = h.open();
  send('SUBSCRIBE\ndestination:jms.queue.events\nid:e\n\n\0SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\n\n\0');
  assert.equal(h.broker.state().subscriptions, 2);
  session.close('test');
  assert.equal(h.broker.state().subscriptions, 0);
  assert.equal(h.broker.state().destinations, 0);
});

void test('events go to exact event-queue subscribers on every connection, not to prefix subscribers', () => {
  const h = harness();
  const a = h.open();
  const b = h.open();
  a.send('SUBSCRIBE\ndestination:jms.queue.events\nid:e1\n\n\0');
  b.send('SUBSCRIBE\ndestination:jms.queue.events\nid:e2\n\n\0SUBSCRIBE\ndestination:jms.queue\nid:q\n\n\0');
  assert.equal(h.broker.deliverEvent('{"m":1}'), 2);
  assert.match(a.transport.take()[0]!, /subscription:e1/);
  assert.deepEqual(b.transport.take().length, 1);
});

void test('past the outgoing bound frames wait in a backlog and input pauses; at 4x the bound the client is disconnected', () => {
  const h = harness();
  const { send, transport, session } = h.open({ maxOutgoingBytes: 1000 });
  let paused = 0;
  transport.pauseInput = () => { paused++; };
  transport.resumeInput = () => { paused--; };
  send('SUBSCRIBE\ndestination:jms.queue.events\nid:e\n\n\0');
  transport.take();
  transport.pendingBytes = 990;
  h.broker.deliverEvent('x'.repeat(50));
  assert.deepEqual(transport.take(), [], 'held back: the peer has not read what it has');
  assert.equal(paused, 1, 'and is not read from meanwhile');
  transport.pendingBytes = 0;
  session.outputDrained();
  assert.equal(transport.take().length, 1, 'sent once the peer caught up');
  assert.equal(paused, 0);
  transport.pendingBytes = 3990;
  h.broker.deliverEvent('x'.repeat(50));
  assert.equal(session.closed, true);
  assert.equal(transport.destroyed, true);
});

void test('a chunk of 200 pipelined requests: 64 are handled, the rest wait (unread) until answers go out', () => {
  const h = harness();
  let paused = 0;
  const { session, transport } = h.open();
  transport.pauseInput = () => { paused++; };
  transport.resumeInput = () => { paused--; };
  const send = 'SEND\ndestination:jms.topic.vdsm_requests\n\n{"jsonrpc":"2.0","method":"Host.ping2","id":1}\0';
  session.receive(Buffer.from(send.repeat(200)));
  assert.equal(h.requests.length, 64);
  assert.equal(paused, 1);
  for (const r of h.requests.splice(0, 10)) r.reply('{"jsonrpc":"2.0","id":1,"result":true}');
  assert.equal(h.requests.length, 54 + 10, 'ten answered, ten more taken');
  while (h.requests.length > 0) for (const r of h.requests.splice(0)) r.reply('{"jsonrpc":"2.0","id":1,"result":true}');
  assert.equal(paused, 0);
});
