// Head-of-line blocking (issue 17): a multi-MB reply leaves its connection in bounded chunks, the next
// only after the socket took the previous one and the loop turned, so other connections are answered
// in between, over plain TCP and TLS. Proven without timing: a reader that takes one socket read and
// then waits for a ping2 on another connection before the next still receives the whole reply byte for
// byte while those pings are answered, and the server's hand-off order (vdsm:rpc:output; for plain TCP
// also the socket writes themselves) shows the other connection's replies between the chunks. Frames of
// one connection stay whole and in order; a connection closed mid-reply frees its queue.
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import net, { type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { s } from '../../src/api/schema.js';
import { OUTPUT_CHUNK_BYTES, rpcOutputChannel, type OutputEvent } from '../../src/rpc/chunked-writer.js';
import { StompParser } from '../../src/rpc/stomp-parser.js';
import type { Frame } from '../../src/rpc/stomp-frame.js';
import { StompRpcClient } from '../../src/rpc/stomp-client.js';
import { RawJson } from '../../src/runtime/raw-json.js';
import { startServer, type Fixture } from './server-fixture.js';

const MiB = 1024 * 1024;

/** A JSON array of about `mb` MiB, non-ASCII included (multi-byte characters cut by chunk borders). */
function bigText(mb: number): string {
  const items: string[] = [];
  let size = 2;
  for (let i = 0; size < mb * MiB; i++) {
    const item = JSON.stringify(`vm-${String(i).padStart(6, '0')}-é€\u{1F600}-${'x'.repeat(200 + (i % 97))}`);
    items.push(item);
    size += Buffer.byteLength(item) + 1;
  }
  return `[${items.join(',')}]`;
}

const BIG = new Map<number, string>();
const big = (mb: number): string => {
  let t = BIG.get(mb);
  if (t === undefined) BIG.set(mb, (t = bigText(mb)));
  return t;
};

/** A raw STOMP connection that parses what it receives and can hold its reading. */
class Conn {
  readonly socket: Socket;
  readonly frames: Frame[] = [];
  dataEvents = 0;
  #waiters: (() => void)[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    const parser = new StompParser({ frame: (f) => this.frames.push(f), error: (e) => socket.destroy(e) }, { maxBodyBytes: 64 * MiB });
    socket.on('data', (d: Buffer) => {
      this.dataEvents++;
      parser.push(d);
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  static async open(port: number, tlsOpts?: tls.ConnectionOptions): Promise<Conn> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = tlsOpts ? tls.connect({ host: '127.0.0.1', port, checkServerIdentity: () => undefined, ...tlsOpts }) : net.connect({ host: '127.0.0.1', port });
      s.once(tlsOpts ? 'secureConnect' : 'connect', () => resolve(s));
      s.once('error', reject);
    });
    const c = new Conn(socket);
    socket.write('CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\nreceipt:ready\n\n\0');
    await c.until(() => c.frames.some((f) => f.command === 'RECEIPT'));
    c.frames.length = 0;
    return c;
  }

  send(method: string, id: string, params: Record<string, unknown> = {}): void {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', method, params, id }));
    this.socket.write(Buffer.concat([Buffer.from(`SEND\ndestination:jms.topic.vdsm_requests\nreply-to:jms.topic.vdsm_responses\ncontent-length:${body.length}\n\n`), body, Buffer.from([0])]));
  }

  /** Ids of the MESSAGE frames received so far, in order. */
  ids(): string[] {
    return this.frames.filter((f) => f.command === 'MESSAGE').map((f) => (JSON.parse(f.body.toString('utf8')) as { id: string }).id);
  }

  until(pred: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (pred()) resolve();
        else if (this.closed) reject(new Error(`closed; frames: ${this.frames.map((f) => f.command).join(',')}`));
        else this.#waiters.push(check);
      };
      check();
    });
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** Everything published on vdsm:rpc:output while the test runs. */
function recordOutput(): { events: OutputEvent[]; stop(): void; waitFor(pred: (e: OutputEvent) => boolean): Promise<OutputEvent> } {
  const events: OutputEvent[] = [];
  const waiters: (() => void)[] = [];
  const on = (m: unknown): void => {
    events.push(m as OutputEvent);
    for (const w of waiters.splice(0)) w();
  };
  rpcOutputChannel.subscribe(on);
  return {
    events,
    stop: () => rpcOutputChannel.unsubscribe(on),
    waitFor: (pred) => new Promise((resolve) => {
      const check = (): void => {
        const e = events.find(pred);
        if (e) resolve(e);
        else waiters.push(check);
      };
      check();
    }),
  };
}

/** The server-side connection id of `conn`: the connection a ping reply was just handed to. */
async function connectionIdOf(conn: Conn, out: ReturnType<typeof recordOutput>, tag: string): Promise<number> {
  const from = out.events.length;
  conn.send('Host.ping2', tag);
  await conn.until(() => conn.ids().includes(tag));
  const mine = out.events.slice(from);
  assert.equal(new Set(mine.map((e) => e.connectionId)).size, 1, JSON.stringify(mine));
  conn.frames.length = 0;
  return mine[0]!.connectionId;
}

for (const mode of ['plain', 'tls'] as const) {
  void describe(`big replies leave in chunks (${mode})`, () => {
    let fx: Fixture;
    let bystander: StompRpcClient;
    const tlsOpts = (): tls.ConnectionOptions | undefined => (mode === 'tls' ? { key: fx.clientTls!.key, cert: fx.clientTls!.cert, ca: fx.clientTls!.ca } : undefined);
    const memoryUsed = (): number => (fx.rpc.state()['memory'] as { used: number }).used;

    before(async () => {
      fx = await startServer({
        tls: mode === 'tls',
        methods: [{
          name: 'Test.bigReply', description: 'a reply of about `mb` MiB, serialised once (RawJson)',
          params: [{ name: 'mb', type: s.int(), default: 3 }], result: s.any(),
          handler: ({ mb }) => new RawJson(big(mb as number)),
        }],
      });
      const t = tlsOpts();
      bystander = new StompRpcClient({ host: '127.0.0.1', port: fx.port, ...(t ? { tls: { key: t.key as string, cert: t.cert as string, ca: t.ca as string } } : {}) });
      await bystander.connect();
    });
    after(async () => {
      bystander.close();
      await fx.close();
    });

    void it('a reader that waits for a ping2 on another connection after every read gets the whole 3 MiB reply; the pings are answered between its chunks', async () => {
      const out = recordOutput();
      // Plain TCP: the socket writes themselves, seen on the server's own sockets (Node's net.server.socket).
      const socketWrites: { port: number; bytes: number }[] = [];
      const onSocket = (m: unknown): void => {
        const sock = (m as { socket: Socket }).socket;
        const write = sock.write.bind(sock) as (...a: unknown[]) => boolean;
        (sock as unknown as { write: (...a: unknown[]) => boolean }).write = (...a: unknown[]) => {
          const chunk = a[0];
          socketWrites.push({ port: sock.remotePort ?? 0, bytes: typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Buffer).length });
          return write(...a);
        };
      };
      if (mode === 'plain') diagnostics_channel.subscribe('net.server.socket', onSocket);
      const reader = await Conn.open(fx.port, tlsOpts());
      const pinger = await Conn.open(fx.port, tlsOpts());
      try {
        const readerId = await connectionIdOf(reader, out, 'who-r');
        const pingerId = await connectionIdOf(pinger, out, 'who-p');
        const start = out.events.length;
        const expected = `{"jsonrpc":"2.0","id":"big","result":${big(3)}}`;
        reader.socket.on('data', () => reader.socket.pause());
        reader.send('Test.bigReply', 'big', { mb: 3 });
        let pingsDuring = 0;
        let seen = 0;
        for (;;) {
          await reader.until(() => reader.dataEvents > seen);
          seen = reader.dataEvents;
          if (reader.frames.length > 0) break;
          // The reply has begun and is not complete: a ping on the other connection must still be answered.
          const id = `p${pingsDuring}`;
          pinger.send('Host.ping2', id);
          await pinger.until(() => pinger.ids().includes(id));
          pingsDuring++;
          reader.socket.resume();
        }
        assert.equal(reader.frames.length, 1);
        assert.equal(reader.frames[0]!.command, 'MESSAGE');
        assert.equal(reader.frames[0]!.body.toString('utf8'), expected, 'the reply arrives whole and exact');
        assert.ok(pingsDuring >= 3, `pings answered while the reply was in progress: ${pingsDuring}`);

        const events = out.events.slice(start);
        const mine = events.map((e, i) => ({ e, i })).filter(({ e }) => e.connectionId === readerId);
        assert.ok(mine.length >= Math.floor(Buffer.byteLength(expected) / OUTPUT_CHUNK_BYTES), `${mine.length} hand-offs for the reply`);
        for (const { e } of mine) assert.ok(e.bytes <= OUTPUT_CHUNK_BYTES, `a hand-off of ${e.bytes} bytes`);
        const between = events.slice(mine[0]!.i, mine.at(-1)!.i).filter((e) => e.connectionId === pingerId).length;
        assert.ok(between >= 1, `ping replies handed between the reply's first and last chunk: ${between}`);
        if (mode === 'plain') {
          const readerPort = reader.socket.localPort!;
          const big = socketWrites.filter((w) => w.port === readerPort);
          assert.ok(big.length >= mine.length);
          for (const w of big) assert.ok(w.bytes <= OUTPUT_CHUNK_BYTES, `a socket write of ${w.bytes} bytes`);
        }
      } finally {
        if (mode === 'plain') diagnostics_channel.unsubscribe('net.server.socket', onSocket);
        out.stop();
        reader.close();
        pinger.close();
      }
    });

    void it('requests sent while a big reply is on its way are answered after it, every frame whole', async () => {
      const out = recordOutput();
      const conn = await Conn.open(fx.port, tlsOpts());
      try {
        const id = await connectionIdOf(conn, out, 'who');
        const start = out.events.length;
        const hold = (): void => void conn.socket.pause();
        conn.socket.on('data', hold);
        conn.send('Test.bigReply', 'big', { mb: 2 });
        const during: string[] = [];
        let seen = 0;
        for (;;) {
          await conn.until(() => conn.dataEvents > seen);
          seen = conn.dataEvents;
          if (conn.ids().includes('big')) break;
          for (let k = 0; k < 3; k++) {
            const pid = `d${during.length}`;
            during.push(pid);
            conn.send('Host.ping2', pid);
          }
          conn.socket.resume();
        }
        conn.socket.off('data', hold);
        conn.socket.resume();
        await conn.until(() => conn.ids().length === during.length + 1);
        const ids = conn.ids();
        assert.equal(ids[0], 'big', `order: ${ids.slice(0, 5).join(',')}`);
        assert.deepEqual(ids.slice(1), during);
        assert.equal(conn.frames[0]!.body.toString('utf8'), `{"jsonrpc":"2.0","id":"big","result":${big(2)}}`);
        assert.ok(during.length >= 3);
        const chunks = out.events.slice(start).filter((e) => e.connectionId === id && e.queued > 0);
        assert.ok(chunks.length >= 2, `the reply left in ${chunks.length} chunks`);
      } finally {
        out.stop();
        conn.close();
      }
    });

    void it('a connection closed in the middle of a 16 MiB reply frees its queue; nothing more is handed for it', async () => {
      const out = recordOutput();
      const conn = await Conn.open(fx.port, tlsOpts());
      try {
        const id = await connectionIdOf(conn, out, 'who');
        conn.socket.pause();
        conn.send('Test.bigReply', 'big', { mb: 16 });
        // The reply is being chunked and most of it is still queued (the peer does not read).
        await out.waitFor((e) => e.connectionId === id && e.queued > 8 * MiB);
        assert.ok(memoryUsed() > 8 * MiB, `memory budget counts the queued reply: ${memoryUsed()}`);
        conn.close();
        // The server notices the close; its accounting is back to (about) nothing: the other sessions'
        // figures are as of their last write (a TLS socket reports a few bytes in flight then).
        for (let i = 0; i < 100_000 && memoryUsed() >= 64 * 1024; i++) await new Promise((r) => setImmediate(r));
        assert.ok(memoryUsed() < 64 * 1024, `still held: ${memoryUsed()}`);
        const handed = out.events.filter((e) => e.connectionId === id).length;
        for (let i = 0; i < 5; i++) assert.equal(await bystander.call('Host.ping2', {}, 5000), true);
        assert.equal(out.events.filter((e) => e.connectionId === id).length, handed, 'no chunk handed after the close');
        const total = out.events.filter((e) => e.connectionId === id).at(-1)!.handed;
        assert.ok(total < 16 * MiB, `handed ${total} bytes of the reply before the close`);
      } finally {
        out.stop();
        conn.close();
      }
    });
  });
}
