// vdsm's argument rules (issue 11): a missing required argument is -32603 with vdsm's text; in the default
// non-strict mode the values vdsm's own code accepts are converted and logged once per method and
// parameter; [devel] api_strict_mode answers every departure with -32602. Through the real JSON-RPC server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentRules } from '../../src/api/argument-rules.js';
import { apiMethods as hostBasic } from '../../src/api/host-basic.js';
import { MethodTable, type MethodSpec } from '../../src/api/method-table.js';
import { s } from '../../src/api/schema.js';
import { JsonRpcServer } from '../../src/rpc/jsonrpc-server.js';
import { captureLog } from '../runtime/capture-log.js';
import { silentLogManager, silentLogger } from '../rpc/silent-log.js';

const ctx = { clientAddress: '127.0.0.1', connectionId: 1 };

/** Echoes the bound params back, so a test sees exactly what a handler would receive. */
const seen = (name: string, params: MethodSpec['params']): MethodSpec => ({ name, description: 't', params, result: s.any(), handler: (p) => p });

const TABLE: MethodSpec[] = [
  ...hostBasic({ logManager: silentLogManager() }),
  seen('Host.getVMList', [
    { name: 'fullStatus', type: s.bool(), default: false },
    { name: 'vmList', type: s.array(s.string()), default: [] },
    { name: 'onlyUUID', type: s.bool(), default: false },
  ]),
  seen('VM.shutdown', [
    { name: 'vmID', type: s.string() },
    { name: 'delay', type: s.union(s.int(), s.string()), optional: true },
    { name: 'timeout', type: s.int(), optional: true },
  ]),
  // The shape of the engine's storage verbs (the storage branch's schemas): numbers where a string is
  // declared, strings where a number is, a list of connection objects.
  seen('StoragePool.connectStorageServer', [
    { name: 'storagepoolID', type: s.string() },
    { name: 'domainType', type: s.union(s.int(), s.enumOf(['NFS', 'LOCALFS'])) },
    { name: 'connectionParams', type: s.array(s.object({ id: s.string(), connection: s.string(), port: s.optional(s.int()), version: s.optional(s.string()) })) },
    { name: 'options', type: s.map(s.any()), default: {} },
  ]),
];

function rpc(opts: { strict?: boolean; log?: ReturnType<typeof captureLog>['log'] } = {}) {
  const rules = new ArgumentRules({ strict: opts.strict ?? false, log: opts.log ?? silentLogger() });
  const srv = new JsonRpcServer({ methods: new MethodTable(TABLE, { rules }), log: silentLogger() });
  const call = async (method: string, params: unknown): Promise<{ result?: unknown; error?: { code: number; message: string } }> =>
    JSON.parse((await srv.handle(JSON.stringify({ jsonrpc: '2.0', method, params, id: 'i' }), ctx)) as string);
  return { call, rules };
}

void test('a missing required argument: -32603 with vdsm\'s text (non-strict), -32602 with the schema\'s (strict)', async () => {
  const lenient = rpc();
  assert.deepEqual(await lenient.call('Host.echo', {}), {
    jsonrpc: '2.0', id: 'i',
    error: { code: -32603, message: `Internal JSON-RPC error: {'reason': "Attempt to call function: Host.echo with arguments: {} error: missing a required argument: 'message'"}` },
  });
  // null is "not provided", as in vdsm's schema check
  assert.equal((await lenient.call('Host.echo', { message: null })).error?.code, -32603);
  assert.equal((await lenient.call('Host.echo', [])).error?.code, -32603);
  assert.match((await lenient.call('VM.shutdown', { delay: '5' })).error?.message ?? '', /missing a required argument: 'vmID'/);
  const strict = rpc({ strict: true });
  assert.deepEqual((await strict.call('Host.echo', {})).error, {
    code: -32602, message: "Invalid method parameter(s): {'method': 'Host.echo', 'reason': 'Required parameter message is not provided when calling Host.echo'}",
  });
  // present arguments still work in both modes
  assert.deepEqual((await lenient.call('Host.echo', { message: 'hi' })).result, 'hi');
  assert.deepEqual((await strict.call('Host.echo', ['hi'])).result, 'hi');
});

void test('non-strict: the strings vdsm-client sends for booleans, numbers and lists reach handlers typed', async () => {
  const { call } = rpc();
  assert.deepEqual((await call('Host.getVMList', { onlyUUID: 'true', fullStatus: 'False' })).result, { onlyUUID: true, fullStatus: false, vmList: [] });
  assert.deepEqual((await call('Host.getVMList', { vmList: 'a,b' })).result, { fullStatus: false, vmList: ['a', 'b'], onlyUUID: false });
  assert.deepEqual((await call('Host.getVMList', { vmList: '["a", "b c"]', onlyUUID: '1' })).result, { fullStatus: false, vmList: ['a', 'b c'], onlyUUID: true });
  assert.deepEqual((await call('Host.getVMList', { vmList: '' })).result, { fullStatus: false, vmList: [], onlyUUID: false });
  // delay matches its union's string alternative as it is, so it stays a string
  assert.deepEqual((await call('VM.shutdown', { vmID: 'v', timeout: '120', delay: '30' })).result, { vmID: 'v', timeout: 120, delay: '30' });
  assert.deepEqual((await call('Host.setLogLevel', { level: 'INFO', name: '' })).result, true);
});

void test('non-strict: the engine\'s numbers-as-strings and strings-as-numbers, nested in storage-style arguments', async () => {
  const { call } = rpc();
  const r = await call('StoragePool.connectStorageServer', {
    storagepoolID: '00000000-0000-0000-0000-000000000000',
    domainType: '1',
    connectionParams: [{ id: 'c1', connection: 'nfs:/x', port: '2049', version: 4 }],
    options: '{"retries": 3}',
  });
  assert.deepEqual(r.result, {
    storagepoolID: '00000000-0000-0000-0000-000000000000',
    domainType: 1,
    connectionParams: [{ id: 'c1', connection: 'nfs:/x', port: 2049, version: '4' }],
    options: { retries: 3 },
  });
  // a value that matches one union alternative as is is left alone
  assert.deepEqual((await call('StoragePool.connectStorageServer', { storagepoolID: 'p', domainType: 'NFS', connectionParams: [] })).result, { storagepoolID: 'p', domainType: 'NFS', connectionParams: [], options: {} });
});

void test('non-strict: each departure is logged once per method and parameter, then silently accepted', async () => {
  const { log, lines } = captureLog('warn');
  const { call, rules } = rpc({ log });
  for (let i = 0; i < 5; i++) {
    await call('Host.getVMList', { onlyUUID: 'true', vmList: 'x' });
    await call('Host.getVMList', { onlyUUID: 'false', nope: 1 });
  }
  const msgs = lines.map((l) => l.msg);
  assert.equal(msgs.length, 3, msgs.join('\n'));
  assert.ok(msgs.some((m) => /Host.getVMList: Parameter onlyUUID is not boolean type: string "true" converted/.test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => /Parameter vmList is not list type/.test(m)));
  assert.ok(msgs.some((m) => /Parameter nope is not recognized; passed on unchanged/.test(m)));
  assert.ok(lines.every((l) => l['parameter'] !== undefined && l['method'] === 'Host.getVMList'));
  assert.deepEqual({ ...rules.state(), remembered: undefined }, { strict: false, remembered: undefined, coerced: 15, passedOn: 5, rejected: 0, missing: 0 });
});

void test('the once-only memory is bounded however many parameter names a client invents', async () => {
  const { log, lines } = captureLog('warn');
  const rules = new ArgumentRules({ log, maxRemembered: 100 });
  const spec = TABLE.find((m) => m.name === 'Host.getVMList')!;
  for (let i = 0; i < 5000; i++) assert.ok(rules.bind(spec, { [`p${i}`]: 1 }).ok);
  assert.ok(rules.state().remembered <= 101);
  assert.equal(lines.length, 101, 'one line per remembered departure plus one saying logging stopped');
});

void test('values that cannot be used are -32602 in both modes; strict mode refuses every conversion too', async () => {
  for (const strict of [false, true]) {
    const { call } = rpc({ strict });
    for (const [method, params] of [
      ['Host.getVMList', { onlyUUID: 'maybe' }],
      ['Host.getVMList', { vmList: { a: 1 } }],
      ['VM.shutdown', { vmID: 'v', timeout: '1.5' }],
      ['VM.shutdown', { vmID: { id: 'v' } }],
      ['StoragePool.connectStorageServer', { storagepoolID: 'p', domainType: 1, connectionParams: [{ id: 'c' }] }],
    ] as const) {
      const r = await call(method, params);
      assert.equal(r.error?.code, -32602, `${String(strict)} ${method} ${JSON.stringify(params)}`);
      assert.match(r.error?.message ?? '', /^Invalid method parameter\(s\): \{'method': /);
    }
  }
  const strict = rpc({ strict: true });
  assert.match((await strict.call('Host.getVMList', { onlyUUID: 'true' })).error?.message ?? '', /Parameter onlyUUID is not boolean type/);
  assert.match((await strict.call('Host.getVMList', { onlyForce: true })).error?.message ?? '', /Following parameters \['onlyForce'\] were not recognized/);
  assert.match((await strict.call('Host.setLogLevel', { level: 'LOUD' })).error?.message ?? '', /Provided value "LOUD" not defined/);
});

void test('non-strict: a value outside an enum reaches the handler, which answers as vdsm\'s does', async () => {
  const { call } = rpc();
  const r = await call('Host.setLogLevel', { level: 'LOUD' });
  assert.equal(r.error?.code, -32603);
  assert.match(r.error?.message ?? '', /LOUD/);
});
