// Property tests with hostile input: the parser, a session and the JSON-RPC server never throw, always
// answer with a STOMP ERROR or a JSON-RPC error as fits; over real sockets the server survives random
// and mutated frames, huge frames and a client that never reads, and other connections keep working.
// The long run of the same properties: bench/rpc-fuzz.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { MethodTable } from '../../src/api/method-table.js';
import { apiMethods } from '../../src/api/host-basic.js';
import { JsonRpcServer } from '../../src/rpc/jsonrpc-server.js';
import { StompRpcClient } from '../../src/rpc/stomp-client.js';
import { StompParser } from '../../src/rpc/stomp-parser.js';
import { RawClient } from '../peers/raw-socket.js';
import { harness } from './session-harness.js';
import { silentLogManager, silentLogger } from './silent-log.js';
import { startServer, type Fixture } from './server-fixture.js';
import { chunked, hostileStream, rpcBody } from './stomp-arbitraries.js';

const RUNS = Number(process.env['VDSM_FUZZ_RUNS'] ?? 200);

void test('parser: any byte stream, in any chunking, yields frames or one error, never a throw, bounded memory', () => {
  fc.assert(
    fc.property(hostileStream, fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 5 }), (parts, sizes) => {
      let errors = 0;
      const p = new StompParser({ frame: () => {}, error: () => errors++ }, { maxBodyBytes: 4096, maxHeaderBytes: 2048, maxHeaderLineBytes: 1024 });
      for (const c of chunked(Buffer.concat(parts), sizes)) p.push(c);
      assert.ok(errors <= 1);
      assert.ok(p.buffered <= 4096 + 2048 + 1024 + 2, `buffered ${p.buffered}`);
    }),
    { numRuns: RUNS },
  );
});

void test('session: any byte stream gives only well-formed frames back (ERROR, RECEIPT, CONNECTED, MESSAGE, heart-beats)', () => {
  fc.assert(
    fc.property(hostileStream, (parts) => {
      const h = harness();
      const { session, transport } = h.open();
      for (const c of parts) session.receive(c);
      for (const r of h.requests) r.reply('{"jsonrpc":"2.0","id":1,"result":true}');
      h.time.advance(60_000);
      for (const w of transport.writes) {
        if (w.length === 1 && w[0] === 0x0a) continue;
        const frames: string[] = [];
        const p = new StompParser({ frame: (f) => frames.push(f.command), error: (e) => assert.fail(`server wrote a bad frame: ${e.message}`) });
        p.push(w);
        assert.equal(frames.length, 1, 'one frame per write');
        assert.ok(['ERROR', 'RECEIPT', 'CONNECTED', 'MESSAGE'].includes(frames[0]!), frames[0]);
      }
    }),
    { numRuns: RUNS },
  );
});

void test('JSON-RPC: any body gets nothing (notifications) or well-formed responses with integer error codes', async () => {
  const srv = new JsonRpcServer({ methods: new MethodTable(apiMethods({ logManager: silentLogManager() })), log: silentLogger() });
  await fc.assert(
    fc.asyncProperty(rpcBody, async (body) => {
      const out = await srv.handle(body, { clientAddress: 'x', connectionId: 1 });
      if (out === undefined) return;
      const parsed = JSON.parse(out) as unknown;
      for (const r of Array.isArray(parsed) ? parsed : [parsed]) {
        const resp = r as { jsonrpc: string; result?: unknown; error?: { code: unknown; message: unknown } };
        assert.equal(resp.jsonrpc, '2.0');
        assert.ok('id' in resp);
        assert.ok(('result' in resp) !== ('error' in resp));
        if (resp.error) {
          assert.ok(Number.isInteger(resp.error.code));
          assert.equal(typeof resp.error.message, 'string');
        }
      }
    }),
    { numRuns: RUNS },
  );
});

void test('JSON-RPC: a non-string level is -32602 when unusable, else the converted value reaches the handler (-32603)', async () => {
  const srv = new JsonRpcServer({ methods: new MethodTable(apiMethods({ logManager: silentLogManager() })), log: silentLogger() });
  await fc.assert(
    fc.asyncProperty(fc.jsonValue().filter((v) => typeof v !== 'string'), async (level) => {
      const out = await srv.handle(JSON.stringify({ jsonrpc: '2.0', method: 'Host.setLogLevel', params: { level }, id: 1 }), { clientAddress: 'x', connectionId: 1 });
      const code = (JSON.parse(out!) as { error: { code: number } }).error.code;
      // objects and arrays cannot be a level (-32602); null is a missing argument and a number or boolean
      // becomes a string no logger level is named after (both -32603, as vdsm answers them)
      assert.equal(code, typeof level === 'object' && level !== null ? -32602 : -32603, JSON.stringify(level));
    }),
    { numRuns: RUNS },
  );
});

void describeSockets();

function describeSockets(): void {
  let fx: Fixture;
  let good: StompRpcClient;
  before(async () => {
    fx = await startServer({ limits: { maxBodyBytes: 64 * 1024, maxOutgoingBytes: 256 * 1024 } });
    good = new StompRpcClient({ host: '127.0.0.1', port: fx.port });
    await good.connect();
  });
  after(async () => {
    good.close();
    await fx.close();
  });

  void test('sockets: random and mutated frames never crash the server; a bystander keeps being answered', async () => {
    await fc.assert(
      fc.asyncProperty(hostileStream, async (parts) => {
        const c = await RawClient.connect(fx.port);
        c.write('SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\n\n\0');
        for (const p of parts) c.write(p);
        // FIN after the data: once the server closed its side it has consumed every byte.
        c.socket.end();
        await c.waitClosed();
        assert.equal(await good.call('Host.ping2', {}, 5000), true);
        c.close();
      }),
      { numRuns: Math.min(RUNS, 40) },
    );
  });

  void test('sockets: a huge frame gets a STOMP ERROR and a close', async () => {
    const c = await RawClient.connect(fx.port);
    c.write(`SEND\ndestination:jms.topic.vdsm_requests\ncontent-length:${100 * 1024 * 1024}\n\n`);
    await c.until((t) => t.startsWith('ERROR\n') && t.includes('Body larger than'));
    await c.waitClosed();
    const d = await RawClient.connect(fx.port);
    d.write(`SEND\ndestination:x\n${'h:v\n'.repeat(5000)}`);
    await d.until((t) => t.startsWith('ERROR\n') && t.includes('More than'));
    await d.waitClosed();
    const e = await RawClient.connect(fx.port);
    e.write(`SEND\ndestination:jms.topic.vdsm_requests\n\n${'x'.repeat(70 * 1024)}`);
    await e.until((t) => t.startsWith('ERROR\n'));
    await e.waitClosed();
    assert.equal(await good.call('Host.ping2'), true);
  });

  void test('sockets: a client that never reads is disconnected once its unread output passes the bound', async () => {
    const c = await RawClient.connect(fx.port);
    c.write('SUBSCRIBE\ndestination:jms.queue.events\nid:e\nreceipt:subscribed\n\n\0');
    await c.until((t) => t.includes('receipt-id:subscribed'));
    c.socket.pause();
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 400 && (fx.rpc.state()['connections'] as number) > 1; i++) {
      fx.rpc.publish('|test|big|', { big });
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(fx.rpc.state()['connections'], 1, 'only the bystander is left');
    assert.equal(await good.call('Host.ping2'), true);
    c.close();
  });

  void test('sockets: bad JSON and wrong types get JSON-RPC errors on the same connection', async () => {
    const r = await RawClient.connect(fx.port);
    r.write('SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\n\n\0');
    r.write('SEND\ndestination:jms.topic.vdsm_requests\n\n{not json\0');
    r.write('SEND\ndestination:jms.topic.vdsm_requests\n\n{"jsonrpc":"2.0","method":"Host.echo","params":{"message":"m","size":"big"},"id":"t"}\0');
    const text = await r.until((t) => t.includes('-32700') && t.includes('-32602'));
    assert.ok(!r.closed && text.length > 0);
    r.close();
  });
}
