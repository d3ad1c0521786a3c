// RpcServer.outputQueued() (issue 17): what the agent's background report rebuild waits for. It is true
// exactly while a connection has reply bytes queued behind its socket (a big reply leaving in chunks),
// and false once a small reply has been handed to the socket, over TLS too, where the socket itself
// (and so the memory budget's use) still reports such a reply until its write callback runs: the rebuild
// used to poll a 1 ms timer per slice after every TLS reply. Shown with events, no timing: every chunk
// hand-off of a held 3 MiB reply (vdsm:rpc:output) is compared with outputQueued() at that moment.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { s } from '../../src/api/schema.js';
import { rpcOutputChannel, type OutputEvent } from '../../src/rpc/chunked-writer.js';
import { StompRpcClient } from '../../src/rpc/stomp-client.js';
import { StompParser } from '../../src/rpc/stomp-parser.js';
import type { Frame } from '../../src/rpc/stomp-frame.js';
import { RawJson } from '../../src/runtime/raw-json.js';
import { connectRaw, startServer, type Fixture } from './server-fixture.js';

const BIG = `[${Array.from({ length: 3 * 4096 }, (_, i) => JSON.stringify(`vm-${i}-${'x'.repeat(240)}`)).join(',')}]`;

/** Resolves once `pred` holds, checked after every `check()` call. */
function condition(): { check(): void; until(pred: () => boolean): Promise<void> } {
  let waiters: (() => void)[] = [];
  return {
    check: () => {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    until: (pred) => new Promise((resolve) => {
      const test = (): void => {
        if (pred()) resolve();
        else waiters.push(test);
      };
      test();
    }),
  };
}

for (const mode of ['plain', 'tls'] as const) {
  void describe(`RpcServer.outputQueued (${mode})`, () => {
    let fx: Fixture;
    let client: StompRpcClient;

    before(async () => {
      fx = await startServer({
        tls: mode === 'tls',
        methods: [{
          name: 'Test.bigReply', description: 'a reply of about 3 MiB (RawJson)', params: [], result: s.any(),
          handler: () => new RawJson(BIG),
        }],
      });
      const t = fx.clientTls;
      client = new StompRpcClient({ host: '127.0.0.1', port: fx.port, ...(t ? { tls: t } : {}) });
      await client.connect();
    });
    after(async () => {
      client.close();
      await fx.close();
    });

    void it('is false once small replies have been handed to the socket', async () => {
      for (let i = 0; i < 20; i++) {
        assert.equal(await client.call('Host.ping2', {}), true);
        assert.equal(fx.rpc.outputQueued(), false, `after reply ${i}`);
      }
    });

    void it('is true exactly while a big reply waits behind its socket, false once it has all been handed', async () => {
      const socket = await connectRaw(fx);
      const frames: Frame[] = [];
      const cond = condition();
      const parser = new StompParser({ frame: (f) => frames.push(f), error: (e) => socket.destroy(e) }, { maxBodyBytes: 16 * 1024 * 1024 });
      socket.on('data', (d: Buffer) => {
        parser.push(d);
        cond.check();
      });
      const seen: { queued: number; outputQueued: boolean }[] = [];
      const onOutput = (m: unknown): void => {
        seen.push({ queued: (m as OutputEvent).queued, outputQueued: fx.rpc.outputQueued() });
        cond.check();
      };
      try {
        socket.write('CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\nreceipt:ok\n\n\0');
        await cond.until(() => frames.some((f) => f.command === 'RECEIPT'));
        rpcOutputChannel.subscribe(onOutput);
        // The reader stops reading: the reply fills the kernel's buffers and the rest stays queued.
        socket.pause();
        const body = JSON.stringify({ jsonrpc: '2.0', method: 'Test.bigReply', params: {}, id: 'big' });
        socket.write(`SEND\ndestination:jms.topic.vdsm_requests\nreply-to:jms.topic.vdsm_responses\ncontent-length:${Buffer.byteLength(body)}\n\n${body}\0`);
        await cond.until(() => seen.some((e) => e.queued > 0));
        assert.equal(fx.rpc.outputQueued(), true, 'while the reader holds the reply');
        socket.resume();
        await cond.until(() => frames.some((f) => f.command === 'MESSAGE'));
        const message = frames.find((f) => f.command === 'MESSAGE')!;
        assert.equal(message.body.toString('utf8'), `{"jsonrpc":"2.0","id":"big","result":${BIG}}`);
        assert.ok(seen.length > 2, `${seen.length} hand-offs`);
        for (const [i, e] of seen.entries()) assert.equal(e.outputQueued, e.queued > 0, `hand-off ${i}: ${JSON.stringify(e)}`);
        assert.equal(seen.at(-1)!.queued, 0);
        assert.equal(fx.rpc.outputQueued(), false, 'after the last chunk');
      } finally {
        rpcOutputChannel.unsubscribe(onOutput);
        socket.destroy();
      }
    });
  });
}
