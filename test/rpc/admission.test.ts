// Admission a silent crowd cannot use against everyone (issue 9, item 2), over raw sockets, plain and
// TLS: undetected sockets (TLS handshakes included) past their bound make room oldest first, so a new
// client always gets in; established connections that fill their share make room idlest first once
// idle a while, and /health always gets in through the reserve; a frame trickled byte by byte is
// dropped at the frame deadline; a session that neither subscribes nor sends is closed. Every limit
// hit leaves a warn line and a metric. Time is injected (ManualTime): no test waits for it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StompRpcClient } from '../../src/rpc/stomp-client.js';
import { RawClient } from '../peers/raw-socket.js';
import { ManualTime } from '../support/manual-time.js';
import { startServer, type Fixture } from './server-fixture.js';
import { capturingLogManager } from './silent-log.js';

const LIMITS = { maxConnections: 40, maxDetecting: 10, frameTimeoutMs: 30_000, idleTimeoutMs: 60_000 };
const CONNECT = 'CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0';
const SUBSCRIBE = 'SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\nreceipt:s\n\n\0';

for (const mode of ['plain', 'tls'] as const) {
  void describe(`admission (${mode})`, () => {
    let fx: Fixture;
    let time: ManualTime;
    let lines: Record<string, unknown>[];
    const open: RawClient[] = [];

    before(async () => {
      time = new ManualTime();
      const logs = capturingLogManager('info');
      lines = logs.lines;
      fx = await startServer({ tls: mode === 'tls', timers: time, clock: time, logManager: logs.logManager, limits: LIMITS });
    });
    after(async () => {
      for (const c of open) c.close();
      await fx.close();
    });

    const tlsOpts = (): { key: string | Buffer; cert: string | Buffer; ca: string | Buffer } => ({ key: fx.clientTls!.key, cert: fx.clientTls!.cert, ca: fx.clientTls!.ca });
    /** A client that completes TCP (and TLS) and then says nothing. */
    const raw = async (handshake = mode === 'tls'): Promise<RawClient> => {
      const c = await RawClient.connect(fx.port, handshake ? { tls: tlsOpts() } : {});
      open.push(c);
      return c;
    };
    const acceptor = (): { accepted: number; admission: { detecting: number; established: number; evicted: number } } =>
      fx.rpc.state()['acceptor'] as { accepted: number; admission: { detecting: number; established: number; evicted: number } };
    const acceptedAtLeast = async (n: number): Promise<void> => {
      while (acceptor().accepted < n) await new Promise((r) => setImmediate(r));
    };
    const legit = async (): Promise<boolean> => {
      const client = new StompRpcClient({ host: '127.0.0.1', port: fx.port, ...(mode === 'tls' ? { tls: tlsOpts() } : {}) });
      await client.connect();
      try {
        return (await client.call('Host.ping2', {}, 5000)) === true;
      } finally {
        client.close();
      }
    };
    const health = async (): Promise<string> => {
      const c = await raw();
      c.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      return c.until((t) => t.includes('"live":true'));
    };
    const limitHits = async (limit: string): Promise<number> => {
      const text = await fx.registry.metrics();
      const m = new RegExp(`vdsm_rpc_limit_hits_total\\{limit="${limit}",action="(evicted|refused|dropped)"\\} (\\d+)`, 'g');
      let n = 0;
      for (const hit of text.matchAll(m)) n += Number(hit[2]);
      return n;
    };

    void it('a crowd of silent undetected sockets (TLS handshakes too) cannot keep a new client or /health out', async () => {
      const crowd: RawClient[] = [];
      // Plain TCP to a TLS port: these sit in the handshake, which counts as detection.
      for (let i = 0; i < 30; i++) {
        crowd.push(await raw(false));
        await acceptedAtLeast(i + 1);
      }
      assert.ok(acceptor().admission.detecting <= LIMITS.maxDetecting, JSON.stringify(acceptor()));
      assert.equal(await legit(), true);
      await health();
      assert.ok(crowd.filter((c) => c.closed).length >= 20, 'the oldest silent sockets were evicted');
      assert.ok(lines.some((l) => l['level'] === 40 && l['limit'] === 'detecting' && l['action'] === 'evicted'));
      assert.ok(await limitHits('detecting') >= 20);
      for (const c of crowd) c.close();
    });

    void it('connections that sent CONNECT and went quiet make room, idlest first, once idle 10 s; /health always gets in', async () => {
      const crowd: RawClient[] = [];
      const share = LIMITS.maxConnections - 16;  // the reserve: max(16, 40 / 16)
      for (let i = 0; i < share; i++) {
        const c = await raw();
        c.write(CONNECT + SUBSCRIBE);
        await c.until((t) => t.includes('receipt-id:s'));
        crowd.push(c);
      }
      assert.equal(acceptor().admission.established, share);
      await health();  // through the reserve, while every established slot is taken
      const before = acceptor().admission.evicted;
      time.advance(10_000);
      assert.equal(await legit(), true);
      assert.ok(acceptor().admission.evicted > before, 'the idlest connection made room');
      assert.equal(crowd[0]!.closed || (await crowd[0]!.waitClosed().then(() => true)), true, 'the first (idlest) went');
      assert.ok(lines.some((l) => l['level'] === 40 && l['limit'] === 'established' && l['action'] === 'evicted'));
      for (const c of crowd) c.close();
    });

    void it('a frame trickled byte by byte is dropped at the frame deadline with an ERROR', async () => {
      const c = await raw();
      c.write(CONNECT + SUBSCRIBE);
      await c.until((t) => t.includes('receipt-id:s'));
      const used = (): number => (fx.rpc.state()['memory'] as { used: number }).used;
      // One byte a second: each byte reaches the server (its buffered bytes grow) before time moves on.
      const frame = `SEND\ndestination:jms.topic.vdsm_requests\nx-pad:${'a'.repeat(60)}`;
      for (let i = 0; i < frame.length && !c.closed; i++) {
        const before = used();
        c.write(frame[i]!);
        while (used() === before && !c.closed) await new Promise((r) => setImmediate(r));
        time.advance(1000);
      }
      await c.until((t) => t.includes('ERROR\n') && t.includes('Frame not completed within 30 s'));
      await c.waitClosed();
      assert.ok(await limitHits('frame-deadline') >= 1);
    });

    void it('a session that never subscribes and sends nothing is closed after the idle deadline', async () => {
      const c = await raw();
      c.write(CONNECT);
      await c.until((t) => t.startsWith('CONNECTED'));
      time.advance(59_999);
      assert.equal(c.closed, false);
      time.advance(1);
      await c.waitClosed();
      assert.ok(await limitHits('idle') >= 1);
    });
  });
}
