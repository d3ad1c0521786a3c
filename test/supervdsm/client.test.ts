// vdsmd's supervdsm client against the real server: connect with retry, fail fast while the helper is
// down, calls in flight failing when it goes away, reconnect by itself when it comes back, deadlines,
// a helper of another protocol version refused, and its calls and state published for reporters.
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Errors, isError } from '../../src/errors.js';
import { SupervdsmClient } from '../../src/supervdsm/client.js';
import type { SupervdsmCallEvent, SupervdsmStateEvent } from '../../src/supervdsm/client-events.js';
import { metricsChannels, type Figure } from '../../src/observability/metrics/convention.js';
import { reportSupervdsmFigures } from '../../src/supervdsm/client-metrics.js';
import { ping, status } from '../../src/supervdsm/functions/ping.js';
import { ksmTune } from '../../src/supervdsm/functions/ksm.js';
import { MessageCodec } from '../../src/supervdsm/protocol.js';
import { defineFunction } from '../../src/supervdsm/registry.js';
import { captureLog } from '../runtime/capture-log.js';
import { startHelper, type HelperHarness } from './harness.js';

const stuckChild = defineFunction<Record<string, never>, unknown>({ name: 'stuckChild', summary: 'test: a child that does not end', params: {}, run: async (_a, ctx) => (await ctx.run('dmidecode', ['3600'])).exitCode });
const functions = [ping, status, ksmTune, stuckChild];

function listen<T>(channel: string): { events: T[]; off: () => void; next: (pred: (e: T) => boolean) => Promise<T> } {
  const events: T[] = [];
  const waiters: (() => void)[] = [];
  const fn = (m: unknown): void => {
    events.push(m as T);
    for (const w of waiters.splice(0)) w();
  };
  diagnostics_channel.subscribe(channel, fn);
  const next = (pred: (e: T) => boolean): Promise<T> => new Promise((resolve) => {
    const check = (): void => {
      const hit = events.find(pred);
      if (hit !== undefined) resolve(hit);
      else waiters.push(check);
    };
    check();
  });
  return { events, off: () => diagnostics_channel.unsubscribe(channel, fn), next };
}

void describe('supervdsm client', () => {
  let dir: string;
  let helper: HelperHarness | undefined;
  let client: SupervdsmClient;
  const calls = listen<SupervdsmCallEvent>('vdsm:supervdsm:call');
  const states = listen<SupervdsmStateEvent>('vdsm:supervdsm:state');
  let metricsOff: () => void;
  /** One collection, as a reporter makes it (a Prometheus scrape): every figure supervdsm adds. */
  const collect = (): Figure[] => {
    const figures: Figure[] = [];
    metricsChannels.collect.publish({ add: (source: string, f: readonly Figure[]) => { if (source === 'supervdsm') figures.push(...f); } });
    return figures;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-svdsm-client-'));
    client = new SupervdsmClient({ path: join(dir, 'svdsm.sock'), log: captureLog('warn').log, defaultTimeoutMs: 30_000, backoffMs: { initial: 20, max: 200 } });
    metricsOff = reportSupervdsmFigures(() => client.health());
  });
  after(async () => {
    await client.close();
    await helper?.close();
    metricsOff();
    calls.off();
    states.off();
    await rm(dir, { recursive: true, force: true });
  });

  void it('while no helper listens, calls fail at once with ERR_SVDSM_UNAVAILABLE naming the socket and the cause', async () => {
    client.start();
    await assert.rejects(client.call('ping'), (err: Error) => {
      assert.ok(isError(err, Errors.SVDSM_UNAVAILABLE));
      assert.match(err.message, new RegExp(`supervdsm is not available at ${join(dir, 'svdsm.sock')}`));
      assert.match(err.message, /systemctl status supervdsmd/);
      return true;
    });
    assert.equal(notConnected(client.health()['state']), true);
    const last = calls.events.at(-1)!;
    assert.deepEqual([last.method, last.ok, last.code], ['ping', false, 'ERR_SVDSM_UNAVAILABLE']);
  });

  void it('connects by itself once the helper starts, and calls go through', async () => {
    helper = await startHelper({ functions, dir, commands: { dmidecode: '/usr/bin/sleep' } });
    await client.whenConnected(30_000);
    assert.equal(await client.call('ping'), true);
    const health = client.health();
    assert.equal(health['state'], 'connected');
    assert.equal(health['serverPid'], process.pid);
    assert.ok(states.events.some((e) => e.state === 'connected' && e.serverPid === process.pid));
  });

  void it('a helper error keeps its code and context across the socket', async () => {
    await assert.rejects(client.call('ksmTune', { tuningParams: { run: 9 } }), (e: Error & { context?: Record<string, unknown> }) => {
      assert.ok(isError(e, Errors.SVDSM_INVALID_ARGUMENT));
      assert.equal(e.context?.['argument'], 'tuningParams.run');
      return true;
    });
  });

  void it('a deadline that passes fails the call with ERR_SVDSM_TIMEOUT', async () => {
    await assert.rejects(client.call('stuckChild', {}, { timeoutMs: 200 }), (e: Error) => isError(e, Errors.SVDSM_TIMEOUT));
    assert.equal(await client.call('ping'), true, 'the connection is fine afterwards');
  });

  void it('the helper goes away mid-call: that call fails with ERR_SVDSM_CONNECTION_LOST, later ones fail fast, and it reconnects when the helper is back', async () => {
    const inFlight = assert.rejects(client.call('stuckChild', {}, { timeoutMs: 60_000 }), (e: Error) => isError(e, Errors.SVDSM_CONNECTION_LOST));
    await helper!.close();
    helper = undefined;
    await inFlight;
    await assert.rejects(client.call('ping'), (e: Error) => isError(e, Errors.SVDSM_UNAVAILABLE));
    helper = await startHelper({ functions, dir, commands: { dmidecode: '/usr/bin/sleep' } });
    await client.whenConnected(30_000);
    assert.equal(await client.call('ping'), true);
    assert.ok((client.health()['connects'] as number) >= 2);
    const seq = states.events.map((e) => e.state);
    assert.ok(seq.lastIndexOf('connected') > seq.lastIndexOf('disconnected'), seq.join(','));
  });

  void it('every call is a figure by function and outcome, in the metrics convention', async () => {
    const figures = collect();
    const calls = (method: string, outcome: string): number | undefined => figures.find((f) => f.name === 'vdsm_supervdsm_calls_total' && f.labels?.['method'] === method && f.labels['outcome'] === outcome)?.value;
    assert.ok((calls('ping', 'ok') ?? 0) >= 1);
    assert.ok((calls('ping', 'ERR_SVDSM_UNAVAILABLE') ?? 0) >= 1);
    assert.equal(calls('stuckChild', 'ERR_SVDSM_TIMEOUT'), 1);
    assert.equal(calls('stuckChild', 'ERR_SVDSM_CONNECTION_LOST'), 1);
    assert.equal(figures.find((f) => f.name === 'vdsm_supervdsm_connected')?.value, 1);
    assert.ok((figures.find((f) => f.name === 'vdsm_supervdsm_call_seconds_total' && f.labels?.['method'] === 'stuckChild')?.value ?? 0) >= 0.2);
    assert.ok((figures.find((f) => f.name === 'vdsm_supervdsm_connects_total')?.value ?? 0) >= 2);
  });
});

function notConnected(state: unknown): boolean {
  return state === 'connecting' || state === 'disconnected';
}

void it('a helper speaking another protocol version is not used, and the reason is kept', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-svdsm-proto-'));
  const codec = new MessageCodec();
  const server = createServer((s) => s.end(codec.encode({ type: 'hello', version: 99, pid: 1, server: 'future', methods: [] })));
  await new Promise<void>((r) => server.listen(join(dir, 'svdsm.sock'), r));
  const states = listen<SupervdsmStateEvent>('vdsm:supervdsm:state');
  const client = new SupervdsmClient({ path: join(dir, 'svdsm.sock'), log: captureLog('silent').log, defaultTimeoutMs: 1000, backoffMs: { initial: 20, max: 100 } });
  try {
    client.start();
    await states.next((e) => e.state === 'disconnected' && /protocol 99/.test(e.error ?? ''));
    await assert.rejects(client.call('ping'), (e: Error) => isError(e, Errors.SVDSM_UNAVAILABLE) && /protocol 99/.test(e.message));
  } finally {
    states.off();
    await client.close();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
