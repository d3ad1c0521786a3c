// The response envelope read from its first and last bytes (reply-envelope.ts) and the client's
// callChecked, which uses it: it must never call something a result of this id that a full JSON.parse
// would not, errors still reject with their code, and a body in any other form is parsed in full.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { peekResult } from '../../src/rpc/reply-envelope.js';
import { RpcCallError, StompRpcClient } from '../../src/rpc/stomp-client.js';
import { startServer, type Fixture } from './server-fixture.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

void test('both envelope forms give the id; the result is not looked at', () => {
  assert.deepEqual(peekResult(b('{"jsonrpc":"2.0","id":"17","result":[{"vmId":"x"}]}')), { id: '17' });
  assert.deepEqual(peekResult(b('{"jsonrpc":"2.0","result":[{"vmId":"x"}],"id":"17"}')), { id: '17' });
  assert.deepEqual(peekResult(b('{"jsonrpc":"2.0","id":"a-uuid-4","result":true}')), { id: 'a-uuid-4' });
});

void test('errors, other forms and broken bodies are not recognised (parse them)', () => {
  for (const body of [
    '{"jsonrpc":"2.0","id":"17","error":{"code":-32601,"message":"Method not found"}}',
    '{"jsonrpc":"2.0","error":{"code":1,"message":"x"},"result":1,"id":"17"}', // error first: not a result form
    '{"jsonrpc":"2.0","error":{"code":1,"message":"x"},"id":"17"}',
    '{"jsonrpc": "2.0", "id": "17", "result": true}', // vdsm's Python server: white space
    '{"jsonrpc":"2.0","id":17,"result":true}', // a number id
    '{"jsonrpc":"2.0","id":"1\\"7","result":true}', // an escape in the id
    '{"jsonrpc":"2.0","result":true,"id":"1\\"7"}',
    '{"jsonrpc":"2.0","id":"17","result":[1,2]', // truncated: no closing brace
    '{"jsonrpc":"2.0","id":"17","result":}', // no value
    '{"jsonrpc":"2.0","result":{"id":"17"}}', // an id inside the result is not the envelope's
    '{"jsonrpc":"2.0","result":"id","id":"17"', // truncated
    '{"jsonrpc":"2.0","method":"x","params":{"id":"17"}}', // a notification
    '[{"jsonrpc":"2.0","id":"17","result":true}]', // a batch
    '',
  ]) assert.equal(peekResult(b(body)), undefined, body);
});

void test('whatever the response and its member order, a recognised body is a result with that id for JSON.parse too', () => {
  // Responses as JSON-RPC has them (a result or an error, never both: a body with both would pass if the
  // error came after the result, as the bytes between the envelope are never read), with any id and
  // members in any order, and an extra member.
  const envelope = fc.record({
    id: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constantFrom('17', 'id', '"', '\\')),
    result: fc.jsonValue(),
    error: fc.record({ code: fc.integer(), message: fc.string() }),
    extra: fc.jsonValue(),
  }, { requiredKeys: [] });
  const orders = fc.oneof(
    fc.shuffledSubarray(['id', 'result', 'extra'] as const), fc.shuffledSubarray(['id', 'error', 'extra'] as const),
    // The recognised orders and their near misses, more often than shuffling gives them.
    fc.constantFrom(['id', 'result'], ['result', 'id'], ['id', 'error'], ['error', 'id'], ['id', 'result', 'extra'], ['result', 'extra', 'id'], ['extra', 'id', 'result']),
  );
  let recognised = 0;
  fc.assert(fc.property(envelope, orders, (e, order) => {
    const o: Record<string, unknown> = { jsonrpc: '2.0' };
    for (const k of order) if (k in e) o[k] = e[k];
    const body = b(JSON.stringify(o));
    const peeked = peekResult(body);
    if (peeked === undefined) return;
    recognised++;
    const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    assert.equal(parsed['id'], peeked.id);
    assert.ok('result' in parsed && !('error' in parsed), body.toString());
  }), { numRuns: 2000 });
  assert.ok(recognised > 50, `only ${recognised} bodies recognised: the property shows little`);
});

let fx: Fixture;
before(async () => {
  fx = await startServer();
});
after(async () => {
  await fx.close();
});

void test('callChecked against the real server: the reply size for a result, the code for an error', async () => {
  const cl = new StompRpcClient({ host: '127.0.0.1', port: fx.port });
  await cl.connect();
  try {
    const size = await cl.callChecked('Host.ping2');
    assert.equal(size, Buffer.byteLength(JSON.stringify({ jsonrpc: '2.0', id: '1', result: true })));
    await assert.rejects(cl.callChecked('Host.noSuchVerb'), (e: unknown) => e instanceof RpcCallError && e.code === -32601);
    assert.equal(await cl.call('Host.ping2'), true);
    assert.equal(cl.checkedParsed, 0);
  } finally {
    cl.close();
  }
});

/** A STOMP server answering every SEND with `body` (the id put in for ID), to give the client other forms. */
async function cannedServer(body: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((s) => {
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      let nul: number;
      while ((nul = text.indexOf('\0')) >= 0) {
        const frame = text.slice(0, nul);
        text = text.slice(nul + 1);
        if (frame.startsWith('CONNECT')) s.write('CONNECTED\nversion:1.2\n\n\0');
        else if (frame.startsWith('SEND')) {
          const id = /"id":"([^"]*)"/.exec(frame)![1]!;
          const replyTo = /\nreply-to:([^\n]*)/.exec(frame)![1]!;
          const reply = Buffer.from(body.replace('ID', id));
          s.write(Buffer.concat([Buffer.from(`MESSAGE\ndestination:${replyTo}\nsubscription:responses\ncontent-length:${reply.length}\n\n`), reply, Buffer.from([0])]));
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

void test('a reply in another form is parsed in full and counted; an error in it still rejects', async () => {
  for (const [body, expect] of [
    ['{"jsonrpc": "2.0", "id": "ID", "result": {"a": [1, 2]}}', 'size'],
    ['{"jsonrpc": "2.0", "id": "ID", "error": {"code": 42, "message": "no"}}', 'error'],
  ] as const) {
    const srv = await cannedServer(body);
    const cl = new StompRpcClient({ host: '127.0.0.1', port: srv.port });
    await cl.connect();
    try {
      if (expect === 'size') {
        assert.equal(await cl.callChecked('Host.x'), Buffer.byteLength(body.replace('ID', '1')));
        assert.equal(cl.checkedParsed, 1);
      } else await assert.rejects(cl.callChecked('Host.x'), (e: unknown) => e instanceof RpcCallError && e.code === 42);
    } finally {
      cl.close();
      await srv.close();
    }
  }
});

void test('time limits: calls without an answer fail with -32605 (the one timer re-armed for the later one), answered calls never', async () => {
  // A server that answers nothing but CONNECT.
  const server = net.createServer((s) => s.on('data', (d: Buffer) => {
    if (d.toString('latin1').startsWith('CONNECT')) s.write('CONNECTED\nversion:1.2\n\n\0');
  }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const cl = new StompRpcClient({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
  await cl.connect();
  try {
    const order: string[] = [];
    const long = cl.call('Host.long', {}, 400).catch((e: RpcCallError) => order.push(`long ${e.code}`));
    const short = cl.callChecked('Host.short', {}, 50).catch((e: RpcCallError) => order.push(`short ${e.code} ${e.message}`));
    await Promise.all([long, short]);
    // Usually the short one first; on a stalled machine both may be past their deadline at one sweep.
    assert.deepEqual(order.sort(), ['long -32605', "short -32605 No response for JSON-RPC request: {'method': 'Host.short'}"]);
  } finally {
    cl.close();
    await new Promise((r) => server.close(r));
  }
  // Answered calls leave nothing to fail: a real server, calls far shorter than their limit.
  const ok = new StompRpcClient({ host: '127.0.0.1', port: fx.port });
  await ok.connect();
  try {
    for (let i = 0; i < 3; i++) assert.equal(await ok.call('Host.ping2', {}, 30_000), true);
  } finally {
    ok.close();
  }
});
