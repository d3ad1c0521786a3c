// What the engine's Java client needs, checked byte for byte over a real socket (engine-wire.md §1-2):
// its frame order, CONNECT lost, content-length on every frame, reply-to routing, integer error codes,
// heart-beats and the idle timeout (with injected time), `\n` line endings.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RawClient } from '../peers/raw-socket.js';
import { ManualTime } from '../support/manual-time.js';
import { startServer, type Fixture } from './server-fixture.js';

let fx: Fixture;
let time: ManualTime;
before(async () => {
  time = new ManualTime();
  fx = await startServer({ timers: time, clock: time });
});
after(() => fx.close());

const SUB_EVENTS = 'SUBSCRIBE\ndestination:jms.queue.events\nack:auto\nid:6d1b0b5e-0000-4000-8000-000000000001\n\n\0';
const SUB_RESP = 'SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nack:auto\nid:6d1b0b5e-0000-4000-8000-000000000002\n\n\0';
const CONNECT = 'CONNECT\naccept-version:1.2\nheart-beat:0,15000\nhost:null\n\n\0';
function send(body: string, extra = ''): string {
  return `SEND\ndestination:jms.topic.vdsm_requests\nreply-to:jms.topic.vdsm_responses\ncontent-length:${Buffer.byteLength(body)}\n${extra}\n${body}\0`;
}
const ping = (id: string, method = 'Host.ping2') => JSON.stringify({ jsonrpc: '2.0', method, params: {}, id });

/** Split received text into frames (heart-beat newlines between frames dropped). */
function frames(text: string): { command: string; headers: [string, string][]; body: string }[] {
  const out = [];
  let rest = text;
  for (;;) {
    rest = rest.replace(/^\n+/, '');
    const nul = rest.indexOf('\0');
    if (nul === -1) break;
    const raw = rest.slice(0, nul);
    rest = rest.slice(nul + 1);
    const [head, ...bodyParts] = raw.split('\n\n');
    const [command, ...lines] = head!.split('\n');
    out.push({ command: command!, headers: lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)] as [string, string]), body: bodyParts.join('\n\n') });
  }
  return out;
}

void test('the engine\'s order (SUBSCRIBE, SUBSCRIBE, CONNECT, SEND) gets CONNECTED heart-beat:15000,0 and a MESSAGE with content-length', async () => {
  const c = await RawClient.connect(fx.port);
  c.write(SUB_EVENTS + SUB_RESP + CONNECT + send(ping('134fb96d-8104-4fc2-aab6-8a14ee6aa99b'), 'ovirtCorrelationId:flow-1\n'));
  const text = await c.until((t) => t.includes('"result"'));
  assert.ok(!text.includes('\r'), 'LF line endings only');
  const [connected, message] = frames(text);
  assert.equal(connected!.command, 'CONNECTED');
  assert.deepEqual(connected!.headers.filter(([k]) => k !== 'content-length'), [['version', '1.2'], ['heart-beat', '15000,0']]);
  assert.equal(message!.command, 'MESSAGE');
  assert.deepEqual(message!.headers.map(([k]) => k), ['destination', 'content-type', 'subscription', 'content-length']);
  assert.deepEqual(Object.fromEntries(message!.headers), {
    destination: 'jms.topic.vdsm_responses',
    'content-type': 'application/json',
    subscription: '6d1b0b5e-0000-4000-8000-000000000002',
    'content-length': String(Buffer.byteLength(message!.body)),
  });
  assert.deepEqual(JSON.parse(message!.body), { jsonrpc: '2.0', id: '134fb96d-8104-4fc2-aab6-8a14ee6aa99b', result: true });
  c.close();
});

void test('every frame the server sends carries content-length, ERROR and RECEIPT included', async () => {
  const c = await RawClient.connect(fx.port);
  c.write(CONNECT + SUB_RESP + 'SEND\ndestination:nowhere\n\nx\0' + 'SUBSCRIBE\ndestination:a\nid:z\nreceipt:r1\n\n\0' + send(ping('1')));
  const text = await c.until((t) => t.includes('"result"'));
  const fs = frames(text);
  assert.deepEqual(fs.map((f) => f.command), ['CONNECTED', 'ERROR', 'RECEIPT', 'MESSAGE']);
  for (const f of fs) assert.equal(Number(new Map(f.headers).get('content-length')), Buffer.byteLength(f.body), f.command);
  c.close();
});

void test('CONNECT lost: SUBSCRIBE and SEND without CONNECT are still answered on reply-to', async () => {
  const c = await RawClient.connect(fx.port);
  c.write(SUB_EVENTS + SUB_RESP + send(ping('no-connect')));
  const text = await c.until((t) => t.includes('"result"'));
  assert.deepEqual(frames(text).map((f) => f.command), ['MESSAGE']);
  c.close();
});

void test('responses are routed to the reply-to destination\'s subscription', async () => {
  const c = await RawClient.connect(fx.port);
  c.write(CONNECT + 'SUBSCRIBE\ndestination:private.replies.42\nid:mine\n\n\0' + SUB_RESP);
  c.write(`SEND\ndestination:jms.topic.vdsm_requests\nreply-to:private.replies.42\n\n${ping('r')}\0`);
  const text = await c.until((t) => t.includes('"result"'));
  const m = frames(text).find((f) => f.command === 'MESSAGE')!;
  assert.equal(new Map(m.headers).get('destination'), 'private.replies.42');
  assert.equal(new Map(m.headers).get('subscription'), 'mine');
  c.close();
});

void test('error codes are JSON integers: -32601, -32602 and 99 while not ready', async () => {
  const c = await RawClient.connect(fx.port);
  c.write(CONNECT + SUB_RESP + send(ping('a', 'Host.nope')) + send(JSON.stringify({ jsonrpc: '2.0', method: 'Host.setLogLevel', params: { level: { name: 'INFO' } }, id: 'b' })));
  await c.until((t) => t.includes('"id":"b"') && t.includes('"id":"a"'));
  fx.setReady(false);
  try {
    c.write(send(ping('c')));
    const text = await c.until((t) => t.includes('"id":"c"'));
    const codes = frames(text).filter((f) => f.command === 'MESSAGE').map((f) => (JSON.parse(f.body) as { error: { code: unknown } }).error.code);
    assert.deepEqual(codes.sort(), [-32601, -32602, 99].sort());
    assert.ok(/"code":-32601[,}]/.test(text) && /"code":99[,}]/.test(text), 'integers on the wire, not strings');
  } finally {
    fx.setReady(true);
  }
  c.close();
});

void test('events produced while not ready are held and delivered once ready (vdsm drops them)', async () => {
  const c = await RawClient.connect(fx.port);
  c.write(CONNECT + SUB_EVENTS);
  await c.until((t) => t.includes('CONNECTED'));
  fx.setReady(false);
  fx.rpc.publish('|virt|VM_status|held', { held: { status: 'Up' } });
  fx.rpc.publish('|net|host_conn|no_id', {});
  assert.equal((fx.rpc.state()['events'] as { held: number }).held, 2);
  fx.setReady(true);
  const text = await c.until((t) => t.includes('host_conn'));
  const bodies = frames(text).filter((f) => f.command === 'MESSAGE').map((f) => JSON.parse(f.body) as { method: string });
  assert.deepEqual(bodies.map((b) => b.method), ['|virt|VM_status|held', '|net|host_conn|no_id']);
  c.close();
});

void test('heart-beats: `\\n` every negotiated period on the wire; a silent client is dropped within 2x its period', async () => {
  const c = await RawClient.connect(fx.port);
  c.write('CONNECT\naccept-version:1.2\nheart-beat:3000,1000\n\n\0');
  await c.until((t) => t.includes('CONNECTED'));
  const base = c.text.length;
  time.advance(1000);
  await c.until((t) => t.length === base + 1, 2000, 'first heart-beat');
  time.advance(1000);
  await c.until((t) => t.length === base + 2, 2000, 'second heart-beat');
  assert.equal(c.text.slice(base), '\n\n');
  c.write('\n');
  await new Promise((r) => setImmediate(r));
  time.advance(5000);
  assert.equal(c.closed, false);
  time.advance(1000);
  await c.waitClosed();
});
