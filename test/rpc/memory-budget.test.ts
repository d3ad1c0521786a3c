// A global memory budget for what connections make the server hold (issue 9, item 4), over raw sockets,
// plain and TLS: clients that each hold most of a large frame, and one that never reads, cannot push the
// server's buffered bytes past the budget; the greediest is dropped with an ERROR frame, a bystander keeps
// being answered, and once they are gone the accounting is back to zero.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StompRpcClient } from '../../src/rpc/stomp-client.js';
import { RawClient } from '../peers/raw-socket.js';
import { startServer, type Fixture } from './server-fixture.js';

const MiB = 1024 * 1024;
const BUDGET = 8 * MiB;
const SUBSCRIBE = 'CONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\ndestination:jms.queue.events\nid:e\nreceipt:s\n\n\0';
type Memory = { limit: number; used: number; peak: number; dropped: number };

for (const mode of ['plain', 'tls'] as const) {
  void describe(`memory budget (${mode})`, () => {
    let fx: Fixture;
    let bystander: StompRpcClient;
    const memory = (): Memory => (fx.rpc.state()['memory'] as Memory | undefined) ?? { limit: 0, used: 0, peak: 0, dropped: 0 };
    const tlsOpts = (): { key: string | Buffer; cert: string | Buffer; ca: string | Buffer } => ({ key: fx.clientTls!.key, cert: fx.clientTls!.cert, ca: fx.clientTls!.ca });
    const raw = (): Promise<RawClient> => RawClient.connect(fx.port, mode === 'tls' ? { tls: tlsOpts() } : {});
    const until = async (pred: () => boolean): Promise<void> => {
      for (let i = 0; i < 50_000 && !pred(); i++) await new Promise((r) => setImmediate(r));
      assert.ok(pred(), JSON.stringify(memory()));
    };

    before(async () => {
      fx = await startServer({ tls: mode === 'tls', limits: { memoryBudgetBytes: BUDGET, maxBodyBytes: 4 * MiB } });
      bystander = new StompRpcClient({ host: '127.0.0.1', port: fx.port, ...(mode === 'tls' ? { tls: tlsOpts() } : {}) });
      await bystander.connect();
    });
    after(async () => {
      bystander.close();
      await fx.close();
    });

    void it('clients each holding most of a 4 MiB frame: the greediest is dropped with an ERROR, the total stays within the budget', async () => {
      const hogs: RawClient[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await raw();
        c.write(SUBSCRIBE);
        await c.until((t) => t.includes('receipt-id:s'));
        // 3.5 MiB of a 4 MiB body, never finished.
        c.write(`SEND\ndestination:jms.topic.vdsm_requests\ncontent-length:${4 * MiB}\n\n`);
        c.write(Buffer.alloc(3.5 * MiB + i * 1024, 0x20));
        hogs.push(c);
        await until(() => memory().used >= (i + 1) * 3.5 * MiB * 0.99 || memory().dropped > 0 || c.closed);
      }
      await until(() => memory().dropped >= 1);
      const dropped = hogs.filter((c) => c.closed || c.text.includes('ERROR'));
      assert.ok(dropped.length >= 1);
      await dropped[0]!.until((t) => t.includes('ERROR\n') && t.includes('memory budget'));
      assert.ok(memory().peak <= BUDGET + 4 * MiB, `peak ${memory().peak} vs budget ${BUDGET}`);
      assert.ok(memory().used <= BUDGET, JSON.stringify(memory()));
      assert.equal(await bystander.call('Host.ping2', {}, 5000), true);
      for (const c of hogs) c.close();
      await until(() => memory().used < 64 * 1024);
    });

    void it('a client that never reads is dropped once its unsent output is the greediest holding', async () => {
      const c = await raw();
      c.write(SUBSCRIBE);
      await c.until((t) => t.includes('receipt-id:s'));
      c.socket.pause();
      const big = 'x'.repeat(512 * 1024);
      const before = memory().dropped;
      for (let i = 0; i < 200 && memory().dropped === before; i++) {
        fx.rpc.publish('|test|big|', { big });
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(memory().dropped, before + 1);
      assert.ok(memory().peak <= BUDGET + 4 * MiB);
      assert.equal(await bystander.call('Host.ping2', {}, 5000), true);
      c.close();
      await until(() => memory().used < 64 * 1024);
    });
  });
}
