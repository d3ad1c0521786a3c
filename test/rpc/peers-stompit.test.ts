// An independent npm STOMP client (stompit) over plain TCP and TLS: ping2, echo, events, a batch, a
// notification followed by a normal call, and its default accept-version list (which vdsm rejects).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StompitPeer } from '../peers/stompit-peer.js';
import { startServer, type Fixture } from './server-fixture.js';

const REQ = 'jms.topic.vdsm_requests';
const RESP = 'jms.topic.vdsm_responses';
const EVENTS = 'jms.queue.events';

for (const mode of ['plain', 'tls'] as const) {
  void describe(`stompit over ${mode}`, () => {
    let fx: Fixture;
    let peer: StompitPeer;
    before(async () => {
      fx = await startServer({ tls: mode === 'tls' });
      peer = await StompitPeer.connect({ port: fx.port, ...(fx.clientTls ? { tls: { key: fx.clientTls.key as Buffer, cert: fx.clientTls.cert as Buffer, ca: fx.clientTls.ca as Buffer } } : {}) });
      peer.subscribe(RESP);
      peer.subscribe(EVENTS);
    });
    after(async () => {
      peer.close();
      await fx.close();
    });
    const call = async (body: unknown, n: number): Promise<unknown> => {
      peer.send(REQ, JSON.stringify(body), { 'reply-to': RESP });
      const got = await peer.waitFor(RESP, n);
      return JSON.parse(got[n - 1]!.body);
    };

    void test('ping2 answers true, with the MESSAGE headers the engine expects', async () => {
      assert.deepEqual(await call({ jsonrpc: '2.0', method: 'Host.ping2', params: {}, id: 'p1' }, 1), { jsonrpc: '2.0', id: 'p1', result: true });
      const m = peer.messages.get(RESP)![0]!;
      assert.equal(m.headers['destination'], RESP);
      assert.equal(m.headers['content-type'], 'application/json');
      assert.equal(Number(m.headers['content-length']), Buffer.byteLength(m.body));
    });

    void test('echo returns a 16 KiB message unchanged', async () => {
      const message = 'ąx'.repeat(8192);
      assert.deepEqual(await call({ jsonrpc: '2.0', method: 'Host.echo', params: { message }, id: 'e1' }, 2), { jsonrpc: '2.0', id: 'e1', result: message });
    });

    void test('events published by a verb arrive on jms.queue.events with notify_time', async () => {
      assert.equal(((await call({ jsonrpc: '2.0', method: 'Test.emitEvents', params: { count: 2 }, id: 'ev' }, 3)) as { result: unknown }).result, true);
      const evs = await peer.waitFor(EVENTS, 2);
      const e = JSON.parse(evs[0]!.body) as { method: string; params: Record<string, unknown>; id?: unknown };
      assert.equal(e.method, '|virt|VM_status|vm0');
      assert.deepEqual(e.params['vm0'], { status: 'Up' });
      assert.ok(Number.isInteger(e.params['notify_time']) && (e.params['notify_time'] as number) > 2 ** 31 - 1);
      assert.equal('id' in e, false);
    });

    void test('a batch gets one array reply', async () => {
      const r = await call([{ jsonrpc: '2.0', method: 'Host.ping2', params: {}, id: 'b1' }, { jsonrpc: '2.0', method: 'Host.nope', params: {}, id: 'b2' }], 4);
      assert.ok(Array.isArray(r));
      assert.deepEqual((r as { id: string }[]).map((x) => x.id), ['b1', 'b2']);
    });

    void test('a notification is not answered and the next request still is', async () => {
      peer.send(REQ, JSON.stringify({ jsonrpc: '2.0', method: 'Host.ping2', params: {} }), { 'reply-to': RESP });
      assert.deepEqual(await call({ jsonrpc: '2.0', method: 'Host.ping2', params: {}, id: 'after-notification' }, 5), { jsonrpc: '2.0', id: 'after-notification', result: true });
      assert.equal(peer.messages.get(RESP)!.length, 5, 'nothing was sent for the notification');
      assert.deepEqual(peer.errors, []);
    });
  });
}
