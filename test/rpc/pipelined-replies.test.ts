// Replies to a pipelined chunk leave together (issue 17): when a read chunk holds more than one frame,
// the session corks its transport from the first SEND until the chunk is handled, so the replies answered
// meanwhile reach the kernel in one write (plain TCP: one writev instead of one write per reply), as a
// server that reads a chunk and then answers it would. Shown with an in-memory transport (cork, the
// frames, uncork, in that order; no cork for a lone frame or heart-beat EOLs; uncorked whatever ends
// the chunk: DISCONNECT, a protocol error) and over real sockets: the replies are the ones sent one by
// one, in order, and over plain TCP the server socket hands all of them to one _writev.
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { after, before, describe, it, test } from 'node:test';
import { StompParser } from '../../src/rpc/stomp-parser.js';
import type { Frame } from '../../src/rpc/stomp-frame.js';
import { harness, MemoryTransport } from './session-harness.js';
import { connectRaw, startServer, type Fixture } from './server-fixture.js';

/** MemoryTransport that can cork: `log` has 'cork', 'uncork' and each written frame's command, in order. */
class CorkingTransport extends MemoryTransport {
  readonly log: string[] = [];
  override write(frame: Parameters<MemoryTransport['write']>[0]): void {
    super.write(frame);
    this.log.push(this.writes.at(-1)!.toString('utf8').split('\n', 1)[0]!);
  }
  cork(): void {
    this.log.push('cork');
  }
  uncork(): void {
    this.log.push('uncork');
  }
}

const SUBSCRIBE = 'SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\n\n\0';
const send = (id: number): string => {
  const body = `{"jsonrpc":"2.0","method":"Host.ping2","params":{},"id":${id}}`;
  return `SEND\ndestination:jms.topic.vdsm_requests\nreply-to:jms.topic.vdsm_responses\ncontent-length:${body.length}\n\n${body}\0`;
};

function open(): { transport: CorkingTransport; push(text: string): void } {
  const h = harness();
  const transport = new CorkingTransport();
  const { session } = h.open({
    transport,
    // Answered at once, as the small verbs are.
    onRequest: (body, _ctx, reply) => reply(`{"answer":${JSON.stringify(body.toString('utf8'))}}`),
  });
  session.receive(Buffer.from(SUBSCRIBE));
  transport.log.length = 0;
  return { transport, push: (text) => session.receive(Buffer.from(text)) };
}

void test('a chunk of several SENDs is answered between one cork and one uncork, in order', () => {
  const { transport, push } = open();
  push(`${send(1)}\n${send(2)}${send(3)}\n`);
  assert.deepEqual(transport.log, ['cork', 'MESSAGE', 'MESSAGE', 'MESSAGE', 'uncork']);
  const ids = transport.take().map((m) => (JSON.parse(JSON.parse(m.slice(m.indexOf('\n\n') + 2, -1)).answer as string) as { id: number }).id);
  assert.deepEqual(ids, [1, 2, 3]);
});

void test('a lone SEND, even followed by heart-beat EOLs, and a SEND split across chunks are written uncorked', () => {
  const { transport, push } = open();
  push(send(1));
  push(`${send(2)}\n\r\n`);
  const split = send(3);
  push(split.slice(0, 40));
  push(split.slice(40));
  assert.deepEqual(transport.log, ['MESSAGE', 'MESSAGE', 'MESSAGE']);
});

void test('the transport is uncorked however the chunk ends: a DISCONNECT after the SEND, a protocol error after it', () => {
  const a = open();
  a.push(`${send(1)}DISCONNECT\nreceipt:bye\n\n\0${send(2)}`);
  assert.deepEqual(a.transport.log, ['cork', 'MESSAGE', 'RECEIPT', 'uncork']);
  assert.equal(a.transport.ended, true);
  const b = open();
  b.push(`${send(1)}SEND\ncontent-length:x\n\n\0`);
  assert.deepEqual(b.transport.log, ['cork', 'MESSAGE', 'ERROR', 'uncork']);
  assert.equal(b.transport.ended, true);
});

for (const mode of ['plain', 'tls'] as const) {
  void describe(`pipelined requests over ${mode}`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startServer({ tls: mode === 'tls' });
    });
    after(async () => {
      await fx.close();
    });

    void it('8 requests in one write get the replies one-by-one requests get, in order' + (mode === 'plain' ? ', handed to the kernel in one writev' : ''), async () => {
      // Plain TCP: watch the server's sockets hand bytes to the kernel (Node's net.server.socket).
      const handOffs: number[] = [];
      const onSocket = (m: unknown): void => {
        const sock = (m as { socket: Socket & { _writev?: (chunks: { chunk: Buffer | string }[], cb: () => void) => void; _write: (c: Buffer | string, e: string, cb: () => void) => void } }).socket;
        const writev = sock._writev!.bind(sock);
        const write = sock._write.bind(sock);
        sock._writev = (chunks, cb) => {
          handOffs.push(chunks.length);
          writev(chunks, cb);
        };
        sock._write = (c, e, cb) => {
          handOffs.push(1);
          write(c, e, cb);
        };
      };
      if (mode === 'plain') diagnostics_channel.subscribe('net.server.socket', onSocket);
      const socket = await connectRaw(fx);
      const frames: Frame[] = [];
      let waiting: (() => void) | undefined;
      const parser = new StompParser({ frame: (f) => frames.push(f), error: (e) => socket.destroy(e) });
      socket.on('data', (d: Buffer) => {
        parser.push(d);
        waiting?.();
      });
      const until = (n: number): Promise<void> => new Promise((resolve) => {
        const check = (): void => {
          if (frames.filter((f) => f.command === 'MESSAGE').length >= n) resolve();
          else waiting = check;
        };
        check();
      });
      const bodies = (): string[] => frames.filter((f) => f.command === 'MESSAGE').map((f) => f.body.toString('utf8'));
      try {
        socket.write(`CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0${SUBSCRIBE}`);
        // One by one first: the replies to compare with.
        for (let i = 1; i <= 8; i++) {
          socket.write(send(i));
          await until(i);
        }
        const oneByOne = bodies();
        frames.length = 0;
        handOffs.length = 0;
        socket.write(Array.from({ length: 8 }, (_, i) => send(i + 1)).join(''));
        await until(8);
        assert.deepEqual(bodies(), oneByOne);
        assert.deepEqual(oneByOne.map((b) => (JSON.parse(b) as { id: number }).id), [1, 2, 3, 4, 5, 6, 7, 8]);
        // The eight arrived in one read on the server (loopback, one small write): one hand-off of all.
        if (mode === 'plain') assert.deepEqual(handOffs, [8]);
      } finally {
        if (mode === 'plain') diagnostics_channel.unsubscribe('net.server.socket', onSocket);
        socket.destroy();
      }
    });
  });
}
