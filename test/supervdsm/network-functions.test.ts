// The network functions across the helper's socket, vdsmd's side included (src/supervdsm/network.ts
// over the real client and server): arguments as the engine sent them arrive unchanged, results come
// back typed, a network error keeps vdsm's code (what the engine is answered with), a malformed change
// id is refused before the applier sees it, and a helper without networking says so. The applier here
// is a recording stand-in: the real one changes a kernel's network, which the netns tests
// (test/network/engine-install-netns.test.ts) drive through the real supervdsmd.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Errors, isError, vdsmError } from '../../src/errors.js';
import type { NetworkPrivileged } from '../../src/network/network-service.js';
import { SupervdsmClient } from '../../src/supervdsm/client.js';
import { ALL_FUNCTIONS } from '../../src/supervdsm/functions/index.js';
import { networkThroughHelper } from '../../src/supervdsm/network.js';
import { supervdsmOf } from '../../src/supervdsm/privileged.js';
import { captureLog } from '../runtime/capture-log.js';
import { startHelper, type HelperHarness } from './harness.js';

const TX = '0b0a7e34-4c2e-4c39-9d3a-5a2f3c1d9e10';
const EMPTY = { networks: {}, bonds: {} };

function recordingApplier(calls: unknown[][]): NetworkPrivileged {
  return {
    setup: async (args) => {
      calls.push(['setup', args]);
      if ('taken' in args.networks) throw vdsmError(Errors.NET_USED_NIC, 'nic eth1 is already used by network red');
      return { txId: TX, pending: true, timeoutS: 120, steps: 7 };
    },
    commit: async (txId) => { calls.push(['commit', txId]); },
    rollback: async (txId, reason) => {
      calls.push(['rollback', txId, reason]);
      return { txId, reason, before: { eth1: { up: true } }, after: { eth1: { up: true } }, errors: [] };
    },
    persist: async () => { calls.push(['persist']); return EMPTY; },
    facts: async () => ({ links: '[]', addrs: '[]', routes4: '[]', routes6: '[]', sysctl: {}, speeds: {}, dhcp: {} }),
    configs: async () => ({ running: EMPTY, safe: EMPTY }),
    nameservers: async () => ['192.0.2.53'],
  };
}

async function clientOf(helper: HelperHarness): Promise<SupervdsmClient> {
  const client = new SupervdsmClient({ path: join(helper.dir, 'svdsm.sock'), log: captureLog('silent').log, defaultTimeoutMs: 30_000, backoffMs: { initial: 20, max: 200 } });
  client.start();
  await client.whenConnected();
  return client;
}

void describe('network functions through the helper', () => {
  const calls: unknown[][] = [];
  let helper: HelperHarness;
  let client: SupervdsmClient;
  before(async () => {
    helper = await startHelper({ functions: ALL_FUNCTIONS, network: recordingApplier(calls) });
    client = await clientOf(helper);
  });
  after(async () => {
    await client?.close();
    await helper?.close();
  });

  void it('setup, commit, rollback, persist and the reads carry their arguments and results', async () => {
    const net = networkThroughHelper(supervdsmOf(client));
    const args = { networks: { ovirtmgmt: { nic: 'eth0', bridged: 'true', ipaddr: '192.0.2.10', prefix: '24' } }, bondings: {}, options: { connectivityCheck: 'true', connectivityTimeout: 120 } };
    assert.deepEqual(await net.setup(args), { txId: TX, pending: true, timeoutS: 120, steps: 7 });
    await net.commit(TX);
    assert.deepEqual((await net.rollback(TX, 'connectivity check failed')).before, { eth1: { up: true } });
    assert.deepEqual(await net.persist(), EMPTY);
    assert.deepEqual(await net.nameservers(), ['192.0.2.53']);
    assert.deepEqual(await net.configs(), { running: EMPTY, safe: EMPTY });
    assert.equal((await net.facts()).links, '[]');
    assert.deepEqual(calls, [['setup', args], ['commit', TX], ['rollback', TX, 'connectivity check failed'], ['persist']]);
  });

  void it('a network error keeps vdsm\'s code and message across the socket', async () => {
    const net = networkThroughHelper(supervdsmOf(client));
    await assert.rejects(net.setup({ networks: { taken: { nic: 'eth1' } }, bondings: {}, options: {} }), (err: unknown) => {
      assert.ok(isError(err, Errors.NET_USED_NIC), String(err));
      assert.equal((err as { vdsmCode?: number }).vdsmCode, 24);
      assert.match((err as Error).message, /nic eth1 is already used by network red/);
      return true;
    });
  });

  void it('a change id that is not one the applier gave out is refused before the applier sees it', async () => {
    const before = calls.length;
    for (const txId of ['', '../../etc/passwd', `${TX}x`, '--force']) {
      await assert.rejects(client.call('networkCommit', { txId }), (err: unknown) => isError(err, Errors.SVDSM_INVALID_ARGUMENT), txId);
      await assert.rejects(client.call('networkRollback', { txId, reason: 'x' }), (err: unknown) => isError(err, Errors.SVDSM_INVALID_ARGUMENT), txId);
    }
    await assert.rejects(client.call('networkSetup', { networks: {}, bondings: {} } as never), (err: unknown) => isError(err, Errors.SVDSM_INVALID_ARGUMENT));
    await assert.rejects(client.call('networkSetup', { networks: [], bondings: {}, options: {} } as never), (err: unknown) => isError(err, Errors.SVDSM_INVALID_ARGUMENT));
    assert.equal(calls.length, before);
  });
});

void it('the change of a vdsmd that goes away is rolled back at once; a helper that stops rolls nothing back', async () => {
  const calls: unknown[][] = [];
  let rolledBack!: () => void;
  const rollback = new Promise<void>((resolve) => { rolledBack = resolve; });
  const applier = recordingApplier(calls);
  const helper = await startHelper({ functions: ALL_FUNCTIONS, network: { ...applier, rollback: async (txId, reason) => { const r = await applier.rollback(txId, reason); rolledBack(); return r; } } });
  try {
    const gone = await clientOf(helper);
    assert.equal((await networkThroughHelper(supervdsmOf(gone)).setup({ networks: {}, bondings: {}, options: {} })).pending, true);
    await gone.close();
    await rollback;
    assert.deepEqual(calls, [['setup', { networks: {}, bondings: {}, options: {} }], ['rollback', TX, 'vdsmd went away before confirming the change']]);

    const stays = await clientOf(helper);
    await networkThroughHelper(supervdsmOf(stays)).setup({ networks: {}, bondings: {}, options: {} });
    await helper.close();
    await stays.close();
    assert.equal(calls.filter((c) => c[0] === 'rollback').length, 1, 'the helper stopping is not vdsmd going away');
  } finally {
    await helper.close().catch(() => undefined);
  }
});

void it('a helper started without host networking answers its network functions with ERR_SVDSM_UNAVAILABLE, saying why', async () => {
  const helper = await startHelper({ functions: ALL_FUNCTIONS });
  const client = await clientOf(helper);
  try {
    await assert.rejects(client.call('networkFacts', {}), (err: unknown) => {
      assert.ok(isError(err, Errors.SVDSM_UNAVAILABLE), String(err));
      assert.match((err as Error).message, /without host networking/);
      return true;
    });
    assert.equal(await client.call('ping', {}), true);
  } finally {
    await client.close();
    await helper.close();
  }
});
