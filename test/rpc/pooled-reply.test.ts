// Pooled reply buffers through the real server and real sockets, plain TCP and TLS (issue 17): a reply
// assembled in a pooled buffer (as getAllVmStats' is) reaches the client byte for byte as without the
// pool, alone and in a batch; while a client leaves a big reply unread (its socket's write callbacks are
// held back by the kernel), a second big reply on another connection is built in another buffer and the
// first still arrives intact once read; a buffer comes back for reuse only once written; a connection
// destroyed mid-reply never gives its buffer back. The JSON-RPC layer's text path (toJSON) still reads
// a pooled value that was never encoded in place.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type tls from 'node:tls';
import { MethodTable } from '../../src/api/method-table.js';
import { s } from '../../src/api/schema.js';
import { rpcOutputChannel, type OutputEvent } from '../../src/rpc/chunked-writer.js';
import { JsonRpcServer } from '../../src/rpc/jsonrpc-server.js';
import { rawJsonArrayOf, type JsonPieces } from '../../src/runtime/raw-json.js';
import { ReplyBufferPool } from '../../src/runtime/reply-buffers.js';
import { RawRpc } from './raw-rpc.js';
import { startServer, type Fixture } from './server-fixture.js';
import { silentLogger } from './silent-log.js';

const MiB = 1024 * 1024;
/** MiB of a reply left unread: more than the kernel's socket buffers take from a reader that does not read. */
const BIG = 8;

/** Array elements making about `mb` MiB of JSON, non-ASCII included, distinct per tag. */
const ITEMS = new Map<string, string[]>();
function items(tag: string, mb: number): string[] {
  const key = `${tag}/${mb}`;
  let out = ITEMS.get(key);
  if (out !== undefined) return out;
  out = [];
  for (let size = 0, i = 0; size < mb * MiB; i++) {
    const item = JSON.stringify({ vm: `${tag}-${i}`, note: `é€\u{1F600}${tag.repeat(150 + (i % 61))}` });
    out.push(item);
    size += Buffer.byteLength(item) + 1;
  }
  ITEMS.set(key, out);
  return out;
}
const textOf = (tag: string, mb: number): string => `[${items(tag, mb).join(',')}]`;
const put = (item: string, into: JsonPieces): void => into.text(item);

/** A verb building its result as getAllVmStats does: in a buffer from `pool` when there is one. */
function pooledVerb(pool: ReplyBufferPool | undefined) {
  return {
    name: 'Test.pooled', description: 'a result assembled from pieces, in a pooled buffer when the server has a pool',
    params: [{ name: 'tag', type: s.string() }, { name: 'mb', type: s.number(), default: 1 }], result: s.any(),
    handler: ({ tag, mb }: Record<string, unknown>) => {
      const list = items(tag as string, mb as number);
      return rawJsonArrayOf(list, put, Buffer.byteLength(textOf(tag as string, mb as number)), pool);
    },
  };
}

/** Buffers the pool hands out, in order. */
function recordAcquired(pool: ReplyBufferPool): Buffer[] {
  const seen: Buffer[] = [];
  const acquire = pool.acquire.bind(pool);
  pool.acquire = (n: number): Buffer => {
    const b = acquire(n);
    seen.push(b);
    return b;
  };
  return seen;
}

const request = (id: string, tag: string, mb: number): string => JSON.stringify({ jsonrpc: '2.0', method: 'Test.pooled', params: { tag, mb }, id });

function sendRaw(c: RawRpc, body: string): void {
  const b = Buffer.from(body);
  c.client.write(Buffer.concat([Buffer.from(`SEND\ndestination:jms.topic.vdsm_requests\nreply-to:jms.topic.vdsm_responses\ncontent-length:${b.length}\n\n`), b, Buffer.from([0])]));
}

/** The body bytes of the next MESSAGE. */
async function replyBytes(c: RawRpc): Promise<Buffer> {
  return (await c.next((f) => f.command === 'MESSAGE', 120_000)).body;
}

function nextOutput(pred: (e: OutputEvent) => boolean): Promise<OutputEvent> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      if (!pred(m as OutputEvent)) return;
      rpcOutputChannel.unsubscribe(on);
      resolve(m as OutputEvent);
    };
    rpcOutputChannel.subscribe(on);
  });
}

/** Run turns of the event loop until `pred` holds (the server reacts to a socket event in a later turn). */
async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setImmediate(r));
}

for (const mode of ['plain', 'tls'] as const) {
  void describe(`pooled replies (${mode})`, () => {
    // Room for the 8 MiB replies' buffers (the default keeps 8 MiB at most).
    const pool = new ReplyBufferPool({ maxIdleBytes: 64 * MiB });
    const acquired = recordAcquired(pool);
    let fx: Fixture;
    let plainFx: Fixture;
    const tlsOf = (f: Fixture): { tls?: tls.ConnectionOptions } => (mode === 'tls' ? { tls: { key: f.clientTls!.key, cert: f.clientTls!.cert, ca: f.clientTls!.ca } } : {});
    const open = (f: Fixture): Promise<RawRpc> => RawRpc.open(f.port, tlsOf(f));
    const unsent = (): number => (fx.rpc.state()['memory'] as { used: number }).used;
    /** Ask for a BIG reply on a connection that does not read: resolves with its buffer once its writing began. */
    const unreadReply = async (c: RawRpc, id: string, tag: string): Promise<Buffer> => {
      c.client.socket.pause();
      const begun = nextOutput((e) => e.queued > 0);
      sendRaw(c, request(id, tag, BIG));
      await begun;
      return acquired.at(-1)!;
    };

    before(async () => {
      fx = await startServer({ tls: mode === 'tls', replyBuffers: pool, methods: [pooledVerb(pool)] });
      plainFx = await startServer({ tls: mode === 'tls', methods: [pooledVerb(undefined)] });
    });
    after(async () => {
      await fx.close();
      await plainFx.close();
    });

    void it('the reply bytes are the same with and without the pool, alone and in a batch', async () => {
      const [c, p] = await Promise.all([open(fx), open(plainFx)]);
      try {
        // 0.1 MiB: a frame written at once (up to 256 KiB); the others are written in chunks.
        for (const [mb, id] of [[0.1, 'x01'], [1, 'x1'], [3, 'x3'], [1, 'again'], [0.1, 'again01']] as const) {
          sendRaw(c, request(id, 'a', mb));
          sendRaw(p, request(id, 'a', mb));
          const [pooled, plain] = await Promise.all([replyBytes(c), replyBytes(p)]);
          assert.ok(pooled.equals(plain), `${mb} MiB: same bytes`);
          assert.ok(pooled.equals(Buffer.from(`{"jsonrpc":"2.0","id":"${id}","result":${textOf('a', mb)}}`)));
        }
        assert.ok(pool.describe().reused > 0, 'the pool was used (a buffer came back and was reused)');
        const batch = JSON.stringify([JSON.parse(request('b1', 'a', 1)) as object, JSON.parse(request('b2', 'b', 1)) as object]);
        sendRaw(c, batch);
        sendRaw(p, batch);
        const [pooled, plain] = await Promise.all([replyBytes(c), replyBytes(p)]);
        assert.ok(pooled.equals(plain), 'batch: same bytes');
        assert.deepEqual((JSON.parse(pooled.toString('utf8')) as { id: string }[]).map((r) => r.id), ['b1', 'b2']);
      } finally {
        c.client.socket.destroy();
        p.client.socket.destroy();
      }
    });

    void it('a reply left unread keeps its buffer: a second big reply meanwhile gets another one and the first arrives intact', async () => {
      const [slow, other] = await Promise.all([open(fx), open(fx)]);
      try {
        const slowBuf = await unreadReply(slow, 'slow', 'S');
        sendRaw(other, request('other', 'O', BIG));
        const second = await replyBytes(other);
        assert.ok(unsent() > 0, 'the unread reply is still being written (its buffer still held)');
        assert.notEqual(acquired.at(-1)!.buffer, slowBuf.buffer, 'the second reply was built in another buffer');
        assert.ok(second.equals(Buffer.from(`{"jsonrpc":"2.0","id":"other","result":${textOf('O', BIG)}}`)));
        const reusedBefore = pool.describe().reused;
        slow.client.socket.resume();
        const first = await replyBytes(slow);
        assert.ok(first.equals(Buffer.from(`{"jsonrpc":"2.0","id":"slow","result":${textOf('S', BIG)}}`)), 'the first reply was not overwritten');
        await until(() => unsent() === 0);
        sendRaw(other, request('third', 'O', BIG));
        await replyBytes(other);
        assert.ok(pool.describe().reused > reusedBefore, 'once written, a buffer is reused');
      } finally {
        slow.client.socket.destroy();
        other.client.socket.destroy();
      }
    });

    void it('a connection destroyed mid-reply never gives its buffer back', async () => {
      const [gone, other] = await Promise.all([open(fx), open(fx)]);
      try {
        const goneBuf = await unreadReply(gone, 'gone', 'G');
        const connections = fx.rpc.state()['connections'] as number;
        gone.client.socket.destroy();
        await until(() => (fx.rpc.state()['connections'] as number) < connections);
        for (const id of ['o1', 'o2', 'o3']) {
          sendRaw(other, request(id, 'O', BIG));
          await replyBytes(other);
          assert.notEqual(acquired.at(-1)!.buffer, goneBuf.buffer, `${id}: not the destroyed connection's buffer`);
        }
        assert.ok(pool.held(goneBuf), 'never released');
      } finally {
        other.client.socket.destroy();
      }
    });
  });
}

void it('the JSON-RPC text path (toJSON) reads a pooled value that was never encoded in place', async () => {
  const pool = new ReplyBufferPool();
  const srv = new JsonRpcServer({ methods: new MethodTable([pooledVerb(pool)]), log: silentLogger() });
  const text = await srv.handle(request('t', 'a', 1), { clientAddress: '127.0.0.1', connectionId: 1 });
  assert.equal(text, `{"jsonrpc":"2.0","id":"t","result":${textOf('a', 1)}}`);
});
