// Statistics through the whole main-side path: ConnectionManager (control thread) + LibvirtClient +
// worker operations in a Piscina pool, on a private test-driver hypervisor. The test driver returns only
// the state group in bulk stats and has no guest-agent API (code 3): the tests assert exactly that.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionManager } from '../../src/libvirt/connection-manager.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { StatsGroup, VDSM_STATS_GROUPS, StatsFlag } from '../../src/libvirt/constants.js';
import { Errors, isError } from '../../src/errors.js';
import { nodeFixture, type NodeFixture } from './helpers/node-fixture.js';
import { PiscinaDispatcher } from './helpers/piscina-dispatcher.js';

void describe('libvirt stats from workers', () => {
  let fx: NodeFixture;
  let manager: ConnectionManager;
  let dispatcher: PiscinaDispatcher;
  let client: LibvirtClient;

  before(async () => {
    fx = await nodeFixture({ domains: 6, paused: 1, shutoff: 1, cpus: 16, memoryKiB: 33554432 });
    manager = new ConnectionManager({ uri: fx.uri });
    await manager.start();
    dispatcher = new PiscinaDispatcher(2);
    client = new LibvirtClient({ dispatcher, connections: manager });
  });
  after(async () => {
    await dispatcher.close();
    await manager.close();
    await fx.remove();
  });

  void it('getAllDomainStats returns the state group for every domain (all the test driver provides)', async () => {
    const records = await client.call('libvirt.getAllDomainStats', { stats: VDSM_STATS_GROUPS });
    assert.equal(records.length, 6);
    const byUuid = new Map(records.map((r) => [r.uuid, r]));
    for (const d of fx.domains) {
      const r = byUuid.get(d.uuid);
      assert.ok(r, d.name);
      assert.equal(r.name, d.name);
      assert.equal(r.stats['state.state'], d.state);
      assert.deepEqual(Object.keys(r.stats).sort(), ['state.reason', 'state.state']);
    }
    const running = await client.call('libvirt.getAllDomainStats', { stats: StatsGroup.STATE, flags: StatsFlag.RUNNING | StatsFlag.NOWAIT });
    assert.equal(running.length, 4);
  });

  void it('domainListGetStats returns the listed domains and skips unknown UUIDs', async () => {
    const wanted = [fx.domains[0]!.uuid, fx.domains[5]!.uuid, 'deadbeef-0000-4000-8000-000000000000'];
    const records = await client.call('libvirt.domainListGetStats', { uuids: wanted, stats: StatsGroup.STATE });
    assert.deepEqual(records.map((r) => r.uuid).sort(), wanted.slice(0, 2).sort());
    assert.equal(records.find((r) => r.uuid === fx.domains[5]!.uuid)?.stats['state.state'], 5);
  });

  void it('per-domain block, memory, interface and vCPU figures', async () => {
    const uuid = fx.domains[0]!.uuid;
    const block = await client.call('libvirt.blockInfo', { uuid, disk: 'vdb' });
    assert.equal(block.physical, 2 ** 40);
    const mem = await client.call('libvirt.memoryStats', { uuid });
    assert.equal(mem.actual, 1048576);
    assert.equal(typeof mem.rss, 'number');
    const bs = await client.call('libvirt.blockStats', { uuid, disk: 'vda' });
    assert.ok(bs.rdBytes > 0);
    const ifs = await client.call('libvirt.interfaceStats', { uuid, device: 'testnet0' });
    assert.ok(ifs.rxBytes > 0);
    const vcpus = await client.call('libvirt.vcpus', { uuid });
    assert.equal(vcpus.length, 2);
  });

  void it('host figures: node info, CPU stats, hostname, versions, capabilities', async () => {
    const info = await client.call('libvirt.nodeGetInfo', {});
    assert.equal(info.cpus, 16);
    assert.equal(info.memoryKiB, 33554432);
    const cpu = await client.call('libvirt.nodeGetCPUStats', {});
    assert.equal(typeof cpu['idle'], 'number');
    assert.ok((await client.call('libvirt.getHostname', {})).length > 0);
    assert.ok((await client.call('libvirt.getLibVersion', {})) >= 9_000_000);
    assert.match(await client.call('libvirt.getCapabilities', {}), /<capabilities>/);
  });

  void it('unknown UUIDs become NO_VM; what the test driver lacks is ERR_LIBVIRT_NO_SUPPORT (code 3)', async () => {
    const uuid = 'deadbeef-0000-4000-8000-000000000000';
    await assert.rejects(client.call('libvirt.state', { uuid }), (err: unknown) => isError(err, Errors.NO_VM));
    const running = fx.domains[0]!.uuid;
    const noSupport = (err: any): boolean => err.code === 'ERR_LIBVIRT_NO_SUPPORT' && err.context?.virCode === 3;
    await assert.rejects(client.call('libvirt.qemuAgentCommand', { uuid: running, command: '{"execute":"guest-ping"}', timeout: 5 }), noSupport);
    await assert.rejects(client.call('libvirt.getGuestInfo', { uuid: running }), noSupport);
    await assert.rejects(client.call('libvirt.agentSetResponseTimeout', { uuid: running, timeout: 5 }), noSupport);
    await assert.rejects(client.call('libvirt.getDomainCapabilities', {}), noSupport);
    await assert.rejects(client.call('libvirt.nodeGetMemoryStats', {}), noSupport);
  });

  void it('guest-agent calls go to the agent connection', () => {
    assert.notEqual(manager.agentConn(), manager.conn());
    assert.equal(manager.health().state, 'connected');
  });
});
