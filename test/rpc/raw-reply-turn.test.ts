// A result serialised beforehand (RawJson: getAllVmStats) is answered within the request's own turn: the
// reply is handed to the socket before any microtask the verb queued runs, so the read is acknowledged by
// the answer (no TCP_QUICKACK, rpc/quick-ack.ts) and no promise sits between the handler and the write.
// A RawJson result too big for the connection is still answered with the "too large" error.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { test } from 'node:test';
import { s } from '../../src/api/schema.js';
import { Errors } from '../../src/errors.js';
import { rpcOutputChannel } from '../../src/rpc/chunked-writer.js';
import { RawJson } from '../../src/runtime/raw-json.js';
import { RawRpc } from './raw-rpc.js';
import { startServer } from './server-fixture.js';

const value = Array.from({ length: 400 }, (_, i) => ({ vmId: `vm-${i}`, status: 'Up', elapsedTime: String(i) }));
const text = JSON.stringify(value);

void test('a big RawJson result is written before a microtask queued by its verb runs (same turn), bytes unchanged', async () => {
  let microtaskRan = false;
  const seen: boolean[] = [];
  const fx = await startServer({
    methods: [{
      name: 'Test.rawBig', description: 'a serialised result of ~20 KB', params: [], result: s.any(),
      handler: () => {
        microtaskRan = false;
        queueMicrotask(() => (microtaskRan = true));
        return new RawJson(text);
      },
    }],
  });
  const onOutput = (): void => {
    seen.push(microtaskRan);
  };
  subscribe(rpcOutputChannel.name, onOutput);
  const c = await RawRpc.open(fx.port);
  try {
    for (const id of ['a-1', 7]) {
      const before = seen.length;
      const reply = await c.call(JSON.stringify({ jsonrpc: '2.0', method: 'Test.rawBig', params: {}, id }));
      assert.deepEqual(reply, { jsonrpc: '2.0', id, result: value });
      assert.deepEqual(seen.slice(before), [false], 'the reply left in the handler\'s turn, before its microtask');
    }
  } finally {
    unsubscribe(rpcOutputChannel.name, onOutput);
    c.close();
    await fx.close();
  }
});

void test('a RawJson result above the connection\'s bound is answered with the too-large error, synchronously too', async () => {
  const fx = await startServer({
    limits: { maxOutgoingBytes: 4096 + 8 * 1024 },
    methods: [{ name: 'Test.rawBig', description: 'a serialised result of ~20 KB', params: [], result: s.any(), handler: () => new RawJson(text) }],
  });
  const c = await RawRpc.open(fx.port);
  try {
    const reply = await c.call(JSON.stringify({ jsonrpc: '2.0', method: 'Test.rawBig', params: {}, id: 'big' })) as { id: unknown; error: { code: number; message: string } };
    assert.equal(reply.id, 'big');
    assert.equal(reply.error.code, Errors.RESPONSE_TOO_LARGE.vdsmCode);
    assert.match(reply.error.message, /ask for less per call/);
    // The connection survives and answers the next request.
    assert.deepEqual(await c.call(JSON.stringify({ jsonrpc: '2.0', method: 'Host.ping2', params: {}, id: 2 })), { jsonrpc: '2.0', id: 2, result: true });
  } finally {
    c.close();
    await fx.close();
  }
});
