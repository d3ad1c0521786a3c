// Connection loss and recovery against a real libvirtd (unprivileged, serving the test driver): the
// manager sees the close callback when the daemon dies, reports the outage, reconnects with backoff once
// the daemon is back, re-registers events and tells subscribers to resync; a frozen daemon is caught by
// libvirt's keepalive. Also: a worker blocked in a call to a frozen daemon leaves the main thread
// responsive. Calls go through the real Executor and the LibvirtClient. Real timers here, because the
// peer is a real daemon; the backoff is shortened to keep the test quick.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { ConnectionManager, type LibvirtConnectionState, type ReconnectInfo } from '../../src/libvirt/connection-manager.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { LifecycleEvent, StatsGroup } from '../../src/libvirt/constants.js';
import { fixtureDomains } from '../../src/libvirt/fixture.js';
import { Errors, isError } from '../../src/errors.js';
import type { DomainEvent } from '../../src/contracts/libvirt-types.js';
import { libvirtdUnavailable, TestLibvirtd } from './helpers/libvirtd.js';
import { nextMatching } from './helpers/node-fixture.js';
import { Executor } from '../../src/runtime/executor/executor.js';
import type { DoneEvent, StartEvent } from '../../src/runtime/executor/executor-events.js';
import { Scheduler } from '../../src/runtime/scheduler.js';

const FIXTURE = { domains: 3 };
const skip = libvirtdUnavailable();

void describe('libvirt reconnect through a real libvirtd', { skip: skip ?? false }, () => {
  let daemon: TestLibvirtd;
  let manager: ConnectionManager;
  let scheduler: Scheduler;
  let executor: Executor;
  let client: LibvirtClient;
  const states: LibvirtConnectionState[] = [];
  const uuid = fixtureDomains(FIXTURE)[0]!.uuid;
  const onEvent = (cb: (e: DomainEvent) => void): (() => void) => manager.onEvent(cb);
  const suspended = (e: DomainEvent): boolean => e.event === 'lifecycle' && e.type === LifecycleEvent.SUSPENDED && e.domain.uuid === uuid;

  before(async () => {
    daemon = await TestLibvirtd.create(FIXTURE);
    await daemon.start();
    manager = new ConnectionManager({
      uri: daemon.uri, keepaliveInterval: 1, keepaliveCount: 3, backoffInitialMs: 50, backoffMaxMs: 250, callTimeoutMs: 5000, startTimeoutMs: 15_000,
    });
    manager.onStateChange((s) => states.push(s));
    const log = pino({ level: 'silent' });
    scheduler = new Scheduler({ log });
    scheduler.start();
    executor = new Executor({ name: 'reconnect-test', workersCount: 2, maxWorkers: 4, maxTasks: 16, scheduler, log, opsModules: ['libvirt'] });
    executor.start();
    client = new LibvirtClient({ dispatcher: executor, connections: manager });
    await manager.start();
  });
  after(async () => {
    await manager?.close();
    await executor?.stop({ graceMs: 1000 });
    scheduler?.stop();
    await daemon?.cleanup();
  });

  void it('reports the outage when libvirtd dies and recovers when it is back, with events flowing again', async () => {
    const firstConn = manager.conn();
    const ev1 = nextMatching(onEvent, suspended);
    await client.call('libvirt.suspend', { uuid });
    assert.equal((await ev1).conn, firstConn);

    const lost = nextMatching((cb) => manager.onStateChange(cb), (s) => s === 'lost');
    await daemon.kill('SIGKILL');
    await lost;
    const during = manager.health();
    assert.equal(during.state, 'lost');
    assert.ok(during.currentOutage, 'an outage is open');
    assert.match(during.currentOutage.reason, /closed connection|control thread|ping/);
    assert.throws(() => client.call('libvirt.getHostname', {}), (err: unknown) => isError(err, Errors.LIBVIRT_CONNECTION), 'refused at once, nothing queued');

    const reconnected = new Promise<ReconnectInfo>((resolve) => { const off = manager.onReconnect((info) => { off(); resolve(info); }); });
    await daemon.start();
    const info = await reconnected;
    assert.notEqual(info.conn, firstConn, 'a new connection');
    assert.ok(info.outage.end !== undefined && info.outage.durationMs !== undefined && info.outage.durationMs >= 0);
    assert.ok(info.outage.attempts >= 1);

    const after = manager.health();
    assert.equal(after.state, 'connected');
    assert.equal(after.currentOutage, undefined);
    assert.equal(after.outages.length, 1);
    assert.equal(after.reconnects, 1);
    assert.deepEqual(states.slice(-3), ['connected', 'lost', 'connected']);

    // The new remote connection sees a fresh hypervisor (the domain runs again) and events flow again.
    const ev2 = nextMatching(onEvent, suspended);
    await client.call('libvirt.suspend', { uuid });
    assert.equal((await ev2).conn, manager.conn());
    await client.call('libvirt.resume', { uuid });
  });

  void it('a frozen libvirtd is detected by keepalive, and the manager reconnects once it answers again', async () => {
    const before = manager.health();
    const lost = nextMatching((cb) => manager.onStateChange(cb), (s) => s === 'lost');
    const reconnected = new Promise<ReconnectInfo>((resolve) => { const off = manager.onReconnect((info) => { off(); resolve(info); }); });
    daemon.freeze();
    try {
      await lost;  // no answer to keepalive probes (1 s x 3): libvirt closes the connection itself
    } finally {
      daemon.thaw();
    }
    assert.match(manager.health().currentOutage?.reason ?? '', /reason 2\)/, 'virConnectCloseReason KEEPALIVE');
    const info = await reconnected;
    assert.equal(info.outage.reason, manager.health().outages.at(-1)?.reason);
    assert.equal(manager.health().reconnects, before.reconnects + 1);
    const ev = nextMatching(onEvent, suspended);
    await client.call('libvirt.suspend', { uuid });
    assert.equal((await ev).conn, manager.conn());
    await client.call('libvirt.resume', { uuid });
  });

  void it('a worker blocked on a frozen libvirtd does not stall the main thread', async () => {
    // The task's start (stamped by the worker just before it calls libvirt) and its end, from the
    // Executor's own events: proof that the call was in flight while the daemon was frozen.
    const startCh = diagnostics_channel.channel('vdsm:executor:start');
    const doneCh = diagnostics_channel.channel('vdsm:executor:done');
    let startedAt: number | undefined;
    let doneAt: number | undefined;
    let runtimeMs: number | undefined;
    const onStart = (m: unknown): void => {
      const e = m as StartEvent;
      if (e.executor === executor.name && e.op === 'libvirt.getAllDomainStats') startedAt ??= performance.now();
    };
    const onDone = (m: unknown): void => {
      const e = m as DoneEvent;
      if (e.executor === executor.name && e.op === 'libvirt.getAllDomainStats' && doneAt === undefined) { doneAt = performance.now(); runtimeMs = e.runtimeMs; }
    };
    startCh.subscribe(onStart);
    doneCh.subscribe(onDone);
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const waitFor = async (cond: () => boolean, what: string): Promise<void> => {
      const deadline = performance.now() + 10_000;
      while (!cond()) {
        if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));  // polling a condition
      }
    };
    daemon.freeze();
    let thawedAt: number;
    let blocked: Promise<unknown>;
    try {
      blocked = client.call('libvirt.getAllDomainStats', { stats: StatsGroup.STATE });
      await waitFor(() => startedAt !== undefined, 'the worker to start the call');
      // The main loop keeps ticking while the worker waits on the frozen daemon: 40 ticks of 10 ms,
      // well inside libvirt's keepalive (1 s x 3), which would otherwise close the connection.
      const from = ticks;
      await waitFor(() => ticks >= from + 40, 'the main loop to tick while the worker is blocked');
      assert.equal(doneAt, undefined, 'the call cannot finish while the daemon is frozen');
    } finally {
      thawedAt = performance.now();
      daemon.thaw();
    }
    const records = (await blocked) as unknown[];
    clearInterval(ticker);
    histogram.disable();
    startCh.unsubscribe(onStart);
    doneCh.unsubscribe(onDone);
    assert.equal(records.length, 3);
    assert.ok(startedAt! < thawedAt && doneAt! >= thawedAt, 'started before the thaw, answered only after it');
    assert.ok(runtimeMs! >= thawedAt - startedAt! - 5, `the worker spent ${runtimeMs} ms in the call`);
    const maxMs = histogram.max / 1e6;
    assert.ok(maxMs < 400, `main loop max delay ${maxMs.toFixed(1)} ms while the worker was blocked`);
    assert.equal(manager.state, 'connected');
  });
});
