// A handler's result already serialised (RawJson: getAllVmStats and getStats from their reports built
// once per change) is spliced into the JSON-RPC reply as is: the reply text is what stringifying the
// plain value would give, alone, with any id type, and inside a batch next to ordinary replies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MethodTable } from '../../src/api/method-table.js';
import { s } from '../../src/api/schema.js';
import { RawJson } from '../../src/runtime/raw-json.js';
import { JsonRpcServer } from '../../src/rpc/jsonrpc-server.js';
import { silentLogger } from './silent-log.js';

const ctx = { clientAddress: '127.0.0.1', connectionId: 1 };
const value = [{ vmId: 'a', status: 'Up', network: { vnet0: { rx: '1', sampleTime: '12.000000' } } }, { vmId: 'b\u00e9"', status: 'Down' }];

function server(): JsonRpcServer {
  const methods = new MethodTable([
    { name: 'Test.raw', description: 'serialised result', params: [], result: s.any(), handler: () => new RawJson(JSON.stringify(value)) },
    { name: 'Test.plain', description: 'plain result', params: [], result: s.any(), handler: () => value },
  ]);
  return new JsonRpcServer({ methods, log: silentLogger() });
}

void test('a RawJson result is spliced: byte for byte the plain reply, for string, number and null ids', async () => {
  const srv = server();
  for (const id of ['1', 7, null, 'x"y']) {
    const raw = await srv.handle(JSON.stringify({ jsonrpc: '2.0', method: 'Test.raw', params: {}, id }), ctx);
    const plain = await srv.handle(JSON.stringify({ jsonrpc: '2.0', method: 'Test.plain', params: {}, id }), ctx);
    assert.equal(raw, plain);
    assert.deepEqual(JSON.parse(raw!), { jsonrpc: '2.0', id, result: value });
  }
});

void test('in a batch, spliced and ordinary replies make one valid array; a notification stays unanswered', async () => {
  const srv = server();
  const text = await srv.handle(JSON.stringify([
    { jsonrpc: '2.0', method: 'Test.raw', params: {}, id: 1 },
    { jsonrpc: '2.0', method: 'Test.raw', params: {} },
    { jsonrpc: '2.0', method: 'Test.plain', params: {}, id: 2 },
    { jsonrpc: '2.0', method: 'No.such', params: {}, id: 3 },
  ]), ctx);
  const replies = JSON.parse(text!) as Array<{ id: number; result?: unknown; error?: { code: number } }>;
  assert.deepEqual(replies.map((r) => r.id), [1, 2, 3]);
  assert.deepEqual(replies[0]!.result, value);
  assert.deepEqual(replies[1]!.result, value);
  assert.equal(replies[2]!.error?.code, -32601);
});
