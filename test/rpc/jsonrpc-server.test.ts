// JSON-RPC 2.0 dispatch: vdsm's wire answers (acceptance cases F 82-101), with its batch and
// notification bugs fixed, and integer error codes throughout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MethodTable, type MethodSpec } from '../../src/api/method-table.js';
import { apiMethods } from '../../src/api/host-basic.js';
import { s } from '../../src/api/schema.js';
import { Errors, vdsmError } from '../../src/errors.js';
import { JsonRpcServer, rpcCallChannel, type CallRecord } from '../../src/rpc/jsonrpc-server.js';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { silentLogManager, silentLogger } from './silent-log.js';

const ctx = { clientAddress: '127.0.0.1', connectionId: 1 };

function server(extra: MethodSpec[] = [], opts: { ready?: () => boolean; onCall?: (r: CallRecord) => void } = {}) {
  const calls: string[] = [];
  const table = new MethodTable([
    ...apiMethods({ logManager: silentLogManager() }),
    { name: 'Test.note', description: 'records a call', params: [{ name: 'x', type: s.int() }], result: s.any(), handler: ({ x }) => void calls.push(`note ${String(x)}`) },
    { name: 'VM.getStats', description: 'missing VM', params: [{ name: 'vmID', type: s.string() }], result: s.any(), handler: ({ vmID }) => { throw vdsmError(Errors.NO_VM, { vmId: vmID }); } },
    { name: 'Test.valueError', description: 'plain Error', params: [], result: s.any(), handler: () => { throw new Error("unknown log level: 'FOO'"); } },
    { name: 'Test.busy', description: 'executor full', params: [], result: s.any(), handler: () => { throw vdsmError(Errors.RESOURCE_EXHAUSTED, { reason: 'Too many tasks', resource: 'jsonrpc', current_tasks: 80 }); } },
    { name: 'Test.crossWorker', description: 'error that lost its class', params: [], result: s.any(), handler: () => Promise.reject(Object.assign(new Error('stuck'), { code: 'ERR_UNAVAILABLE' })) },
    { name: 'Test.undef', description: 'returns nothing', params: [], result: s.any(), handler: async () => undefined },
    { name: 'Host.getStats', description: 'legacy success', params: [], result: s.any(), resultKey: 'info', handler: () => ({ status: { code: 0, message: 'Done' }, info: { cpuUser: '1.50' } }) },
    { name: 'Host.legacyVoid', description: 'legacy success, no member', params: [], result: s.any(), handler: () => ({ status: { code: 0, message: 'Done' } }) },
    { name: 'Host.legacyFail', description: 'legacy failure', params: [], result: s.any(), handler: () => ({ status: { code: 654, message: 'Not SPM' } }) },
    { name: 'VM.statusObject', description: 'a status that is not legacy', params: [], result: s.any(), handler: () => ({ vmId: 'a', status: 'Up' }) },
    ...extra,
  ]);
  const srv = new JsonRpcServer({ methods: table, log: silentLogger(), ...(opts.ready ? { isReady: opts.ready } : {}), ...(opts.onCall ? { onCall: opts.onCall } : {}) });
  return { srv, calls, call: async (body: unknown) => { const t = await srv.handle(typeof body === 'string' ? body : JSON.stringify(body), ctx); return t === undefined ? undefined : JSON.parse(t); } };
}

const req = (method: string, params: unknown, id: unknown = '1') => ({ jsonrpc: '2.0', method, params, id });

void test('success: result with the request id; null/undefined results become true', async () => {
  const { call } = server();
  assert.deepEqual(await call(req('Host.ping2', {})), { jsonrpc: '2.0', id: '1', result: true });
  assert.deepEqual(await call(req('Test.undef', {}, 7)), { jsonrpc: '2.0', id: 7, result: true });
  assert.deepEqual(await call(req('Host.echo', { message: { a: [1, 'x'] } })), { jsonrpc: '2.0', id: '1', result: { a: [1, 'x'] } });
  assert.deepEqual(await call(req('Host.echo', ['positional'])), { jsonrpc: '2.0', id: '1', result: 'positional' });
});

void test('unknown method: -32601 with vdsm\'s message', async () => {
  const { call } = server();
  assert.deepEqual(await call(req('Host.nope', {}, '3')), {
    jsonrpc: '2.0', id: '3', error: { code: -32601, message: "The method does not exist or is not available: {'method': 'Host.nope'}" },
  });
});

void test('argument rules (vdsm, non-strict): missing or surplus arguments -32603, unusable values -32602', async () => {
  const { call } = server();
  for (const params of [{}, ['INFO', '', 'extra']]) {
    const r = await call(req('Host.setLogLevel', params));
    assert.equal(r.error.code, -32603, JSON.stringify(params));
    assert.match(r.error.message, /^Internal JSON-RPC error: \{'reason': "Attempt to call function: Host.setLogLevel with arguments: /);
  }
  for (const params of [{ level: { name: 'INFO' } }, { level: ['INFO'] }]) {
    const r = await call(req('Host.setLogLevel', params));
    assert.equal(r.error.code, -32602, JSON.stringify(params));
    assert.match(r.error.message, /^Invalid method parameter\(s\): \{'method': 'Host.setLogLevel', 'reason': /);
  }
  assert.equal((await call(req('Host.echo', { message: 'x', size: 1.5 }))).error.code, -32602);
  // a value outside the enum reaches the handler, which answers as vdsm's does (case 92)
  assert.equal((await call(req('Host.setLogLevel', { level: 'LOUD' }))).error.code, -32603);
});

void test('handler errors: vdsm codes, 1100 when exhausted, -32603 with the reason otherwise', async () => {
  const { call } = server();
  assert.deepEqual(await call(req('VM.getStats', { vmID: 'abc' }, '4')), { jsonrpc: '2.0', id: '4', error: { code: 1, message: "Virtual machine does not exist: {'vmId': 'abc'}" } });
  assert.deepEqual(await call(req('Test.valueError', {}, '5')), { jsonrpc: '2.0', id: '5', error: { code: -32603, message: `Internal JSON-RPC error: {'reason': "unknown log level: 'FOO'"}` } });
  const busy = await call(req('Test.busy', {}));
  assert.equal(busy.error.code, 1100);
  assert.equal(busy.error.message, "Not enough resources: {'reason': 'Too many tasks', 'resource': 'jsonrpc', 'current_tasks': 80}");
  assert.equal((await call(req('Test.crossWorker', {}))).error.code, 40, 'string code maps back to the vdsm code');
});

void test('vdsm\'s status convention: non-zero code is an error, success returns the named member or true', async () => {
  const { call } = server();
  assert.deepEqual(await call(req('Host.getStats', {})), { jsonrpc: '2.0', id: '1', result: { cpuUser: '1.50' } });
  assert.deepEqual(await call(req('Host.legacyVoid', {})), { jsonrpc: '2.0', id: '1', result: true });
  assert.deepEqual(await call(req('Host.legacyFail', {})), { jsonrpc: '2.0', id: '1', error: { code: 654, message: 'Not SPM' } });
  assert.deepEqual(await call(req('VM.statusObject', {})), { jsonrpc: '2.0', id: '1', result: { vmId: 'a', status: 'Up' } });
});

void test('Host.setLogLevel with a valid level answers true', async () => {
  const { call } = server();
  assert.deepEqual(await call(req('Host.setLogLevel', { level: 'DEBUG', name: 'rpc' })), { jsonrpc: '2.0', id: '1', result: true });
});

void test('not ready: 99 for every valid request, id echoed', async () => {
  let ready = false;
  const { call } = server([], { ready: () => ready });
  assert.deepEqual(await call(req('Host.ping2', {}, '9')), { jsonrpc: '2.0', id: '9', error: { code: 99, message: 'Recovering from crash or Initializing' } });
  ready = true;
  assert.equal((await call(req('Host.ping2', {}, '9'))).result, true);
});

void test('invalid requests: -32600 once, id echoed when readable', async () => {
  const { call } = server();
  const r1 = await call({ jsonrpc: '1.0', method: 'Host.ping2', id: 'x' });
  assert.equal(r1.error.code, -32600);
  assert.equal(r1.id, 'x');
  assert.match(r1.error.message, /^Invalid request: \{'request': \{.*\}, 'reason': 'Wrong protocol version'\}$/);
  assert.match((await call({ jsonrpc: '2.0', id: 1 })).error.message, /missing method header in method/);
  assert.match((await call({ jsonrpc: '2.0', method: 'Host.ping2', params: 'x', id: 1 })).error.message, /wrong params type/);
  assert.deepEqual(await call({ jsonrpc: '2.0', method: 'Host.ping2', id: { bad: 1 } }), { jsonrpc: '2.0', id: null, error: { code: -32600, message: "Invalid request: {'request': {'jsonrpc': '2.0', 'method': 'Host.ping2', 'id': {'bad': 1}}, 'reason': 'wrong id type'}" } });
});

void test('bad JSON: one -32700 with id null; empty batch: -32600', async () => {
  const { call } = server();
  assert.deepEqual(await call('not json'), { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Invalid JSON was received by the server. An error occurred on the server while parsing the JSON text.' } });
  assert.deepEqual(await call('[]'), { jsonrpc: '2.0', id: null, error: { code: -32600, message: "Invalid request: {'request': [], 'reason': 'request batch is empty'}" } });
});

void test('a batch of one is answered with an array of one (vdsm sends a bare object)', async () => {
  const { call } = server();
  assert.deepEqual(await call([req('Host.ping2', {}, 'a')]), [{ jsonrpc: '2.0', id: 'a', result: true }]);
});

void test('a batch of several is answered with one array in order, errors included (vdsm loses it)', async () => {
  const { call } = server();
  const r = await call([req('Host.ping2', {}, 'a'), req('Host.nope', {}, 'b'), { jsonrpc: '2.0', method: 'Test.note', params: { x: 1 } }, 'junk']);
  assert.equal(r.length, 3);
  assert.deepEqual(r[0], { jsonrpc: '2.0', id: 'a', result: true });
  assert.equal(r[1].error.code, -32601);
  assert.equal(r[2].error.code, -32600);
});

void test('notifications run and are never answered; a batch of notifications sends nothing', async () => {
  const { call, calls } = server();
  assert.equal(await call({ jsonrpc: '2.0', method: 'Test.note', params: { x: 1 } }), undefined);
  assert.equal(await call([{ jsonrpc: '2.0', method: 'Test.note', params: { x: 2 } }, { jsonrpc: '2.0', method: 'Host.nope' }]), undefined);
  assert.deepEqual(calls, ['note 1', 'note 2']);
});

void test('regression (vdsm wedges): a normal request after a notification is answered', async () => {
  const { call } = server();
  assert.equal(await call({ jsonrpc: '2.0', method: 'Host.ping2', params: {} }), undefined);
  assert.deepEqual(await call(req('Host.ping2', {}, 'after')), { jsonrpc: '2.0', id: 'after', result: true });
});

void test('every call is reported with a bounded method label, to onCall and diagnostics_channel', async () => {
  const seen: CallRecord[] = [];
  const published: CallRecord[] = [];
  const onMsg = (m: unknown) => published.push(m as CallRecord);
  subscribe(rpcCallChannel.name, onMsg);
  try {
    const { call } = server([], { onCall: (r) => seen.push(r) });
    await call(req('Host.ping2', {}));
    await call(req('No.such' + Math.random(), {}));
    await call(req('Test.busy', {}));
    assert.deepEqual(seen.map((r) => [r.method, r.outcome, r.code]), [['Host.ping2', 'ok', 0], ['<unknown>', 'not_found', -32601], ['Test.busy', 'exhausted', 1100]]);
    assert.equal(published.length, 3);
  } finally {
    unsubscribe(rpcCallChannel.name, onMsg);
  }
});

void test('a verb that answers synchronously is answered synchronously (no promise, no microtask hop); a promise only when the handler returns one', async () => {
  const { srv } = server();
  const body = (method: string, params: unknown): string => JSON.stringify(req(method, params));
  const ok = srv.respond(body('Host.ping2', {}), ctx);
  assert.ok(!(ok instanceof Promise), 'ping2 answered synchronously');
  assert.deepEqual(ok, { jsonrpc: '2.0', id: '1', result: true });
  const failed = srv.respond(body('VM.getStats', { vmID: 'x' }), ctx);
  assert.ok(!(failed instanceof Promise), 'a synchronous throw is answered synchronously');
  assert.equal((failed as { error: { code: number } }).error.code, Errors.NO_VM.vdsmCode);
  const legacy = srv.respond(body('Host.getStats', []), ctx);
  assert.deepEqual(legacy, { jsonrpc: '2.0', id: '1', result: { cpuUser: '1.50' } });
  const later = srv.respond(body('Test.undef', {}), ctx);
  assert.ok(later instanceof Promise, 'an async handler gives a promise');
  assert.equal(srv.state().inFlight, 1, 'counted in flight until it settles');
  assert.deepEqual(await later, { jsonrpc: '2.0', id: '1', result: true });
  const rejected = srv.respond(body('Test.crossWorker', {}), ctx);
  assert.ok(rejected instanceof Promise);
  assert.equal(((await rejected) as { error: { code: number } }).error.code, Errors.UNAVAILABLE.vdsmCode);
  assert.equal(srv.state().inFlight, 0);
  assert.equal(srv.state().handled, 5);
});
