// The engine's plain request read without JSON.parse (issue 17): plainRequest() gives exactly what
// JSON.parse gives for the texts it takes and refuses every other text, and the server's answers are the
// same bytes whether a request took that path or the general one (the same request with a space added);
// the reply's envelope written around its id is what JSON.stringify gives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MethodTable } from '../../src/api/method-table.js';
import { apiMethods } from '../../src/api/host-basic.js';
import { s } from '../../src/api/schema.js';
import { JsonRpcServer, plainRequest } from '../../src/rpc/jsonrpc-server.js';
import { idJson, smallReplyText } from '../../src/rpc/reply-encoder.js';
import { utf8Length } from '../../src/rpc/stomp-frame.js';
import { RawJson } from '../../src/runtime/raw-json.js';
import { silentLogManager, silentLogger } from './silent-log.js';

const ctx = { clientAddress: '127.0.0.1', connectionId: 1 };
const plain = (method: string, idText: string): string => `{"jsonrpc":"2.0","method":"${method}","params":{},"id":${idText}}`;

void test('plainRequest: the engine shape, string and integer ids, is read as JSON.parse reads it', () => {
  for (const text of [
    plain('Host.ping2', '"134fb96d-8104-4fc2-aab6-8a14ee6aa99b"'),
    plain('Host.getStats', '"x"'),
    plain('Host.ping2', '""'),
    plain('Host.ping2', '0'),
    plain('Host.ping2', '7'),
    plain('Host.ping2', '123456789012345'),
    plain('Hôst.pïng2', '"ünïcødé ✓"'),
    plain('Host.ping2', '"\u{1F600}"'),
    plain('Host.ping2', '"a}b"'),
    plain('Host.ping2', '"\ud800"'),
  ]) {
    const r = plainRequest(text);
    assert.ok(r !== undefined, text);
    assert.deepEqual(r, JSON.parse(text), text);
    assert.equal(Object.getPrototypeOf(r), Object.prototype);
    assert.deepEqual(Object.keys(r), Object.keys(JSON.parse(text) as object));
  }
});

void test('plainRequest: anything else is left to JSON.parse', () => {
  for (const text of [
    ' ' + plain('Host.ping2', '"1"'),
    plain('Host.ping2', '"1"') + ' ',
    plain('Host.ping2', '"1"') + '\n',
    '{"jsonrpc": "2.0","method":"Host.ping2","params":{},"id":"1"}',
    '{"jsonrpc":"2.0","method":"Host.ping2","params":{ },"id":"1"}',
    '{"jsonrpc":"2.0","method":"Host.ping2","params":{"a":1},"id":"1"}',
    '{"jsonrpc":"2.0","method":"Host.ping2","params":[],"id":"1"}',
    '{"jsonrpc":"2.0","method":"Host.ping2","params":{}}',
    '{"jsonrpc":"2.0","method":"Host.ping2","id":"1"}',
    '{"method":"Host.ping2","jsonrpc":"2.0","params":{},"id":"1"}',
    '{"jsonrpc":"1.0","method":"Host.ping2","params":{},"id":"1"}',
    plain('Host\\u002eping2', '"1"'),
    plain('Host.ping2', '"a\\"b"'),
    plain('Host.ping2', '"a\\u0041"'),
    plain('Host.ping2', '"a\tb"'),
    plain('', '"1"'),
    plain('Host.ping2', 'null'),
    plain('Host.ping2', '-1'),
    plain('Host.ping2', '01'),
    plain('Host.ping2', '1.5'),
    plain('Host.ping2', '1e3'),
    plain('Host.ping2', '1234567890123456'),
    plain('Host.ping2', '"1"}'),
    plain('Host.ping2', '"1"x'),
    plain('Host.ping2', '"1'),
    plain('Host.ping2', ''),
    plain('Host.ping2', '"1","x":2'),
    `[${plain('Host.ping2', '"1"')}]`,
    plain('Host.ping2', `"${'x'.repeat(600)}"`),
  ]) {
    assert.equal(plainRequest(text), undefined, text);
  }
});

function server(): JsonRpcServer {
  const table = new MethodTable([
    ...apiMethods({ logManager: silentLogManager() }),
    { name: 'Test.value', description: 'a result to encode', params: [], result: s.any(), handler: () => ({ text: 'ünïcødé', n: 1.5 }) },
    { name: 'Test.needs', description: 'a required parameter', params: [{ name: 'x', type: s.int() }], result: s.any(), handler: () => true },
    { name: 'Test.fails', description: 'throws', params: [], result: s.any(), handler: () => { throw new Error('boom'); } },
  ]);
  return new JsonRpcServer({ methods: table, log: silentLogger() });
}

void test('answers: the same bytes through the plain path and the general path, errors included', async () => {
  const srv = server();
  let plainTaken = 0;
  for (const [method, idText] of [
    ['Host.ping2', '"134fb96d-8104-4fc2-aab6-8a14ee6aa99b"'], ['Host.ping2', '42'], ['Host.ping2', '"ünï ✓"'],
    ['Test.value', '"v"'], ['Test.needs', '"n"'], ['Test.fails', '"f"'], ['Host.nope', '"u"'], ['Hôst.nöpe', '9'],
  ] as const) {
    const fast = plain(method, idText);
    // The same request as the general path reads it (a space after the opening brace).
    const general = `{ ${fast.slice(1)}`;
    if (plainRequest(fast) !== undefined) plainTaken++;
    assert.equal(plainRequest(general), undefined);
    const a = await srv.handle(fast, ctx);
    const b = await srv.handle(general, ctx);
    assert.ok(a !== undefined);
    assert.equal(a, b, fast);
    assert.deepEqual(JSON.parse(a).id, JSON.parse(idText));
  }
  assert.equal(plainTaken, 8);
  // Bad input still gets its error; a notification (no id) still gets nothing.
  assert.match((await srv.handle('{"jsonrpc":"2.0","method":"Host.ping2","params":{},"id":', ctx))!, /"code":-32700/);
  assert.equal(await srv.handle('{"jsonrpc":"2.0","method":"Host.ping2","params":{}}', ctx), undefined);
  assert.match((await srv.handle('{"jsonrpc":"2.0","method":"Host.ping2","params":{},"id":-1.5e0}', ctx))!, /"id":-1.5,"result":true/);
});

void test('reply text: the constant envelope around the id is the bytes JSON.stringify gives', () => {
  const ids: unknown[] = ['134fb96d-8104-4fc2-aab6-8a14ee6aa99b', '', 'a"b', 'a\\b', 'tab\there', 'ünï', '\u{1F600}', '\ud800', '~ ok !', 0, -0, 7, -3, 2 ** 53, 1.5, null, undefined];
  for (const id of ids) {
    for (const result of [true, false, 1, 'x', { a: [1, 'ü'] }, null]) {
      const reply = { jsonrpc: '2.0', id: id ?? null, result };
      assert.equal(smallReplyText(reply, 4096), JSON.stringify(reply), `${String(id)} ${JSON.stringify(result)}`);
    }
    assert.equal(idJson(id), JSON.stringify(id ?? null));
    const raw = { jsonrpc: '2.0', id: id ?? null, result: new RawJson('{"k":"ü"}') };
    assert.equal(smallReplyText(raw, 4096), JSON.stringify({ jsonrpc: '2.0', id: id ?? null, result: { k: 'ü' } }));
  }
  // An error response and one that does not fit take the general path as before.
  const err = { jsonrpc: '2.0', id: '1', error: { code: -32601, message: 'nope' } };
  assert.equal(smallReplyText(err, 4096), JSON.stringify(err));
  assert.equal(smallReplyText({ jsonrpc: '2.0', id: 'x'.repeat(100), result: true }, 100), undefined);
});

void test('utf8Length: Buffer.byteLength for ASCII, non-ASCII, surrogates and long text', () => {
  for (const text of ['', 'a', 'MESSAGE\n', 'ü', 'a✓b', '\u{1F600}', '\ud800', 'x\udc00y', 'é'.repeat(2000), 'a'.repeat(5000), `${'a'.repeat(1023)}ü`]) {
    assert.equal(utf8Length(text), Buffer.byteLength(text, 'utf8'), JSON.stringify(text.slice(0, 20)));
  }
});
