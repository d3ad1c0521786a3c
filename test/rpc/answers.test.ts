// Every request gets an answer (issue 9, item 5), over raw sockets, plain and TLS: a reply larger than
// the connection's outgoing bound becomes a JSON-RPC error that says so (per batch item: what fits is
// answered), JSON nested 100,000 deep gets -32700 and a batch past the bound -32600, each with a
// message, and the connection stays usable.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RawRpc } from './raw-rpc.js';
import { startServer, type Fixture } from './server-fixture.js';

const BOUND = 1024 * 1024;
/** The documented limits (docs/api.md, jsonrpc-server.ts). */
const MAX_JSON_DEPTH = 64;
const MAX_BATCH = 1000;
type Resp = { jsonrpc: string; id: unknown; result?: unknown; error?: { code: number; message: string } };
const req = (method: string, params: object, id: unknown): object => ({ jsonrpc: '2.0', method, params, id });

for (const mode of ['plain', 'tls'] as const) {
  void describe(`every request gets an answer (${mode})`, () => {
    let fx: Fixture;
    let rpc: RawRpc;
    before(async () => {
      fx = await startServer({ tls: mode === 'tls', limits: { maxOutgoingBytes: BOUND, maxBodyBytes: 4 * 1024 * 1024 } });
      rpc = await RawRpc.open(fx.port, mode === 'tls' ? { tls: { key: fx.clientTls!.key, cert: fx.clientTls!.cert, ca: fx.clientTls!.ca } } : {});
    });
    after(async () => {
      rpc.close();
      await fx.close();
    });
    const pingOk = async (): Promise<void> => {
      assert.deepEqual(await rpc.call(JSON.stringify(req('Host.ping2', {}, 'p'))), { jsonrpc: '2.0', id: 'p', result: true });
    };

    void it('a batch whose reply exceeds the bound: the items that fit are answered, the rest get "Response too large"', async () => {
      const batch = Array.from({ length: 30 }, (_, i) => req('Host.echo', { message: 'x', size: 100_000 }, i));
      const out = await rpc.call(JSON.stringify(batch)) as Resp[];
      assert.equal(out.length, 30);
      assert.deepEqual(out.map((r) => r.id), batch.map((_, i) => i));
      const ok = out.filter((r) => typeof r.result === 'string');
      const tooLarge = out.filter((r) => r.error?.code === -32603 && /Response too large.*bound of this connection/.test(r.error.message));
      assert.ok(ok.length >= 5 && ok.length < 11, `answered with results: ${ok.length}`);
      assert.equal(ok.length + tooLarge.length, 30);
      await pingOk();
    });

    void it('a single reply over the bound becomes -32603 with the reason', async () => {
      const r = await rpc.call(JSON.stringify(req('Host.echo', { message: 'x', size: 2 * BOUND }, 'big'))) as Resp;
      assert.equal(r.id, 'big');
      assert.equal(r.error?.code, -32603);
      assert.match(r.error!.message, /Response too large/);
      await pingOk();
    });

    void it(`100,000 nested arrays get -32700 saying it nests deeper than ${MAX_JSON_DEPTH}`, async () => {
      const r = await rpc.call('['.repeat(100_000) + ']'.repeat(100_000)) as Resp;
      assert.equal(r.error?.code, -32700);
      assert.match(r.error!.message, new RegExp(`deeper than ${MAX_JSON_DEPTH} levels`));
      const nestedParams = await rpc.call(JSON.stringify({ jsonrpc: '2.0', method: 'Host.ping2', params: { a: JSON.parse('['.repeat(1000) + ']'.repeat(1000)) as unknown }, id: 1 })) as Resp;
      assert.equal(nestedParams.error?.code, -32700);
      await pingOk();
    });

    void it(`a batch of ${MAX_BATCH + 1} requests gets one -32600 naming the limit`, async () => {
      const r = await rpc.call(JSON.stringify(Array.from({ length: MAX_BATCH + 1 }, (_, i) => req('Host.ping2', {}, i)))) as Resp;
      assert.equal(r.error?.code, -32600);
      assert.match(r.error!.message, new RegExp(`at most ${MAX_BATCH} requests`));
      await pingOk();
    });
  });
}
