// ConnectionManager state machine with injected time: retries with exponential backoff until the URI
// opens, gives up after the start timeout, checks liveness on suspicious errors, closes idempotently.
// The libvirt side is real (control thread + test driver); only time is manual.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { ConnectionManager } from '../../src/libvirt/connection-manager.js';
import type { ReconnectEvent, StateEvent } from '../../src/libvirt/libvirt-channels.js';
import { generateNodeXml, testDriverUri } from '../../src/libvirt/fixture.js';
import { Errors, isError } from '../../src/errors.js';
import { ManualTime } from '../support/manual-time.js';
import { nodeFixture, type NodeFixture } from './helpers/node-fixture.js';

/** Wait (on the event loop, not on time) until pred holds: control-thread replies are real messages. */
async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    if (pred()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

void describe('ConnectionManager', () => {
  let fx: NodeFixture;

  before(async () => {
    fx = await nodeFixture({ domains: 2 });
  });
  after(async () => {
    await fx.remove();
  });

  void it('retries with backoff 200, 400, 800 ms until the URI opens, then reports connected', async () => {
    const time = new ManualTime(1000);
    const path = join(fx.dir, 'late.xml');
    const manager = new ConnectionManager({ uri: testDriverUri(path), clock: time, timers: time, startTimeoutMs: 0 });
    try {
      const started = manager.start();
      assert.equal(manager.start(), started, 'start is idempotent');
      assert.equal(manager.state, 'connecting');
      await until(() => manager.health().control?.pending.length === 0 && time.pendingTimers === 1, 'first attempt failed');
      assert.equal(manager.health().attempts, 1);
      assert.match(manager.health().lastError!.code, /^ERR_LIBVIRT_/);
      assert.throws(() => manager.conn(), (err: unknown) => isError(err, Errors.LIBVIRT_CONNECTION));
      for (const delay of [200, 400]) {
        time.advance(delay - 1);
        assert.equal(manager.health().attempts, delay === 200 ? 1 : 2, `no retry before ${delay} ms`);
        time.advance(1);
        await until(() => manager.health().attempts === (delay === 200 ? 2 : 3), `retry after ${delay} ms`);
        await until(() => manager.health().control?.pending.length === 0 && time.pendingTimers === 1, 'attempt failed, next retry scheduled');
      }
      await writeFile(path, generateNodeXml({ domains: 1 }));
      time.advance(800);
      await started;
      const h = manager.health();
      assert.equal(h.state, 'connected');
      assert.equal(h.attempts, 4);
      assert.equal(h.outages.length, 0, 'a slow start is not an outage');
      assert.equal(typeof manager.conn(), 'number');
      assert.notEqual(manager.agentConn(), manager.conn());
    } finally {
      await manager.close();
    }
  });

  void it('rejects start() after startTimeoutMs and ends closed', async () => {
    const time = new ManualTime(1000);
    const manager = new ConnectionManager({ uri: testDriverUri(join(fx.dir, 'never.xml')), clock: time, timers: time, startTimeoutMs: 1000 });
    const started = manager.start();
    await until(() => manager.health().attempts === 1 && manager.health().lastError !== undefined, 'first attempt failed');
    time.advance(1000);
    await assert.rejects(started, (err: unknown) => isError(err, Errors.LIBVIRT_CONNECTION) && /within 1000 ms/.test((err as Error).message));
    await until(() => manager.state === 'closed', 'closed');
    await manager.close();
    const closedFirst = new ConnectionManager({ uri: fx.uri, clock: time, timers: time });
    await closedFirst.close();
    await assert.rejects(closedFirst.start(), (err: unknown) => isError(err, Errors.LIFECYCLE_STATE));
  });

  void it('a liveness ping that times out counts as a loss: fresh control thread, new connection, reconnect notice', async () => {
    const time = new ManualTime(1000);
    const manager = new ConnectionManager({ uri: fx.uri, clock: time, timers: time, callTimeoutMs: 5000, startTimeoutMs: 0 });
    const published: (StateEvent | ReconnectEvent)[] = [];
    const record = (m: unknown): void => { published.push(m as StateEvent | ReconnectEvent); };
    diagnostics_channel.subscribe('vdsm:libvirt:state', record);
    diagnostics_channel.subscribe('vdsm:libvirt:reconnect', record);
    try {
      await manager.start();
      const first = manager.conn();
      const tidBefore = manager.health().control?.tid;
      const reconnected = new Promise<number>((resolve) => manager.onReconnect((info) => resolve(info.conn)));
      manager.reportError(Object.assign(new Error('no answer'), { code: 'ERR_LIBVIRT_SYSTEM_ERROR', virCode: 38, virDomain: 13 }));
      time.advance(5000);  // the ping's bound passes before its reply can be read: as if the thread were stuck
      await until(() => manager.state === 'lost', 'lost');
      assert.match(manager.health().currentOutage?.reason ?? '', /liveness ping failed: .*timed out/);
      time.advance(0);  // the immediate retry
      const conn = await reconnected;
      assert.notEqual(conn, first);
      assert.notEqual(manager.health().control?.tid, tidBefore, 'a new control thread');
      assert.equal(manager.health().outages[0]?.attempts, 1);
      // The old connections, left open by the dropped thread, are closed through the new one.
      const virt = loadVirtBinding();
      await until(() => !virt.connections().some((c) => c.id === first), 'orphaned connection closed');
      const mine = published.filter((m) => m.uri === fx.uri);
      assert.deepEqual(mine.map((m) => ('state' in m ? m.state : 'reconnect')), ['connecting', 'connected', 'lost', 'connected', 'reconnect']);
      assert.match((mine[2] as StateEvent).reason ?? '', /liveness ping failed/);
    } finally {
      diagnostics_channel.unsubscribe('vdsm:libvirt:state', record);
      diagnostics_channel.unsubscribe('vdsm:libvirt:reconnect', record);
      await manager.close();
    }
  });

  void it('keeps the connection when a suspicious error is reported but the liveness ping answers', async () => {
    const manager = new ConnectionManager({ uri: fx.uri, agentConnection: false });
    await manager.start();
    try {
      const conn = manager.conn();
      assert.equal(manager.agentConn(), conn, 'no separate agent connection when disabled');
      manager.reportError(Object.assign(new Error('broken pipe'), { code: 'ERR_LIBVIRT_SYSTEM_ERROR', virCode: 38, virDomain: 7 }));
      manager.reportError(new Error('unrelated'));
      await until(() => (manager.health().control?.requests ?? 0) >= 3, 'ping sent');  // open, subscribe, ping
      await until(() => (manager.health().control?.pending.length ?? 1) === 0, 'ping answered');
      assert.equal(manager.state, 'connected');
      assert.equal(manager.conn(), conn);
      assert.equal(JSON.parse(JSON.stringify(manager)).state, 'connected');
    } finally {
      await manager.close();
      await manager.close();
    }
    assert.equal(manager.state, 'closed');
    assert.equal(manager.health().control, undefined);
  });
});
