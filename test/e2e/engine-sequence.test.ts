// Plays the engine's host-activation and VM sequence (engine-wire.md §3.3, §4, §7) against the real
// vdsmd program on libvirt's test driver, through the independent npm `stompit` STOMP client, and checks
// every key and JSON type the engine requires (test/helpers/engine-types.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { checkCapabilities, checkHostStats, checkVmStats, checkVmStatusEvent } from '../helpers/engine-types.js';

const VM_ID = 'a9f1c0de-0000-4000-8000-00000000e2e1';

/** A domain XML as the engine would send it, of the test driver's type. */
const DOMAIN_XML = `<domain type="test">
  <name>engine-e2e</name>
  <uuid>${VM_ID}</uuid>
  <memory unit="KiB">1048576</memory>
  <currentMemory unit="KiB">1048576</currentMemory>
  <vcpu>2</vcpu>
  <os><type arch="x86_64">hvm</type></os>
  <features><acpi/></features>
  <devices>
    <disk type="file" device="disk"><source file="/rhev/data-center/mnt/e2e/disk0.qcow2"/><target dev="vda" bus="virtio"/><serial>e2e-0</serial></disk>
    <interface type="network"><mac address="52:54:00:e2:e2:01"/><source network="default"/><model type="virtio"/></interface>
    <graphics type="vnc" port="5901" autoport="no" listen="127.0.0.1"/>
    <memballoon model="virtio"/>
  </devices>
</domain>`;

void describe('engine sequence against vdsmd on the test driver', () => {
  let agent: AgentProcess;
  let engine: EngineClient;

  before(async () => {
    agent = await AgentProcess.start({
      args: ['--set', 'vars.guest_wait_timeout=1', '--set', 'vars.vm_sample_interval=1', '--set', 'vars.host_sample_stats_interval=1'],
    });
    engine = await EngineClient.connect({ port: agent.port });
  });

  after(async () => {
    engine?.close();
    await agent?.cleanup();
  });

  void it('answers 99 while recovering, then ping2 with true', async () => {
    // The engine polls ping2 every 0.5 s while it waits for the host; 99 means "Initializing".
    let r = await engine.request('Host.ping2');
    while (r.error !== undefined) {
      assert.equal(r.error.code, 99, 'only error 99 (recovering) is acceptable before ready');
      await agent.whenReady();
      r = await engine.request('Host.ping2');
    }
    assert.equal(r.result, true);
    assert.match(String(r.contentLength), /^\d+$/, 'every MESSAGE carries content-length');
  });

  void it('getCapabilities has every key and type the engine requires', async () => {
    const caps = await engine.call<Record<string, unknown>>('Host.getCapabilities');
    // libvirt's test driver reports a guest without machine types and no domain capabilities; the dev
    // profile's fake KVM (vdsm's fake_kvm_support) reports the machines and CPU an engine needs instead.
    assert.deepEqual(checkCapabilities(caps), []);
    assert.ok((caps['emulatedMachines'] as string[]).length > 0, 'fake KVM machine types');
  });

  void it('getHardwareInfo is an object of strings, or error 57 saying why nothing is readable', async () => {
    const r = await engine.request('Host.getHardwareInfo');
    if (r.error !== undefined) {
      assert.equal(r.error.code, 57, 'the engine only audits a failed getHardwareInfo');
      assert.match(String(r.error.message), /no hardware information readable/);
      return;
    }
    const hw = r.result as Record<string, unknown>;
    assert.equal(typeof hw, 'object');
    for (const [k, v] of Object.entries(hw)) assert.equal(typeof v, 'string', `getHardwareInfo.${k}`);
  });

  void it('getStats: fractional values as strings, ints never floats, once two samples exist', async () => {
    let stats = await engine.call<Record<string, unknown>>('Host.getStats');
    assert.deepEqual(checkHostStats(stats), []);
    // With two samples the per-core statistics appear; wait for them (the monitor runs every 1 s).
    for (let i = 0; i < 50 && stats['cpuStatistics'] === undefined; i++) {
      await new Promise((r) => setTimeout(r, 200));
      stats = await engine.call<Record<string, unknown>>('Host.getStats');
    }
    assert.ok(stats['cpuStatistics'], 'cpuStatistics after two samples');
    assert.deepEqual(checkHostStats(stats), []);
  });

  void it('getAllVmStats lists the embedded VMs with engine-safe types', async () => {
    const all = await engine.call<Record<string, unknown>[]>('Host.getAllVmStats');
    assert.ok(Array.isArray(all) && all.length >= 1, 'the embedded host runs VMs');
    for (const vm of all) assert.deepEqual(checkVmStats(vm), [], String(vm['vmId']));
  });

  void it('VM.create answers WaitForLaunch, then Powering up and Up arrive as VM_status events', async () => {
    const created = await engine.call<Record<string, unknown>>('VM.create', { vmID: VM_ID, vmParams: { vmId: VM_ID, xml: DOMAIN_XML } });
    assert.equal(created['vmId'], VM_ID);
    assert.equal(created['status'], 'WaitForLaunch');
    assert.match(String(created['statusTime']), /^\d+$/, 'statusTime is a numeric string');
    assert.equal(typeof created['statusTime'], 'string');

    const poweringUp = await engine.waitForEvent(isVmStatus(VM_ID, 'Powering up'));
    const up = await engine.waitForEvent(isVmStatus(VM_ID, 'Up'));
    for (const e of [poweringUp, up]) {
      assert.deepEqual(checkVmStatusEvent(e), []);
      assert.equal(e['id'], undefined, 'events are notifications: no id');
      assert.equal(typeof (e['params'] as Record<string, unknown>)['notify_time'], 'number');
    }
    const t1 = (poweringUp['params'] as Record<string, unknown>)['notify_time'] as number;
    const t2 = (up['params'] as Record<string, unknown>)['notify_time'] as number;
    assert.ok(t2 >= t1, 'notify_time does not go backwards');
  });

  void it('VM.create of an existing VM is error 4 (integer code)', async () => {
    const r = await engine.request('VM.create', { vmID: VM_ID, vmParams: { xml: DOMAIN_XML } });
    assert.equal(r.error?.code, 4);
  });

  void it('VM.getStats returns one engine-safe stats object with displayInfo ports as strings', async () => {
    const stats = await engine.call<Record<string, unknown>[]>('VM.getStats', { vmID: VM_ID });
    assert.equal(stats.length, 1);
    const vm = stats[0]!;
    assert.deepEqual(checkVmStats(vm), []);
    assert.equal(vm['status'], 'Up');
    assert.deepEqual(vm['displayInfo'], [{ type: 'vnc', port: '5901', tlsPort: '-1', ipAddress: '127.0.0.1' }]);
  });

  void it('Host.dumpxmls returns libvirt\'s live XML of the VM', async () => {
    const xmls = await engine.call<Record<string, string>>('Host.dumpxmls', { vmList: [VM_ID] });
    assert.deepEqual(Object.keys(xmls), [VM_ID]);
    assert.match(xmls[VM_ID]!, new RegExp(`<uuid>${VM_ID}</uuid>`));
    assert.match(xmls[VM_ID]!, /<domain type=.test. id=/, 'the live XML of a running domain carries its id');
  });

  void it('VM.pause and VM.cont answer {vmList: {}} and move the status', async () => {
    assert.deepEqual(await engine.call('VM.pause', { vmID: VM_ID }), { vmList: {} });
    await engine.waitForEvent(isVmStatus(VM_ID, 'Paused'));
    assert.deepEqual(await engine.call('VM.cont', { vmID: VM_ID }), { vmList: {} });
    const events = engine.events().filter(isVmStatus(VM_ID, 'Up'));
    if (events.length < 2) await engine.waitForEvent((e) => engine.events().filter(isVmStatus(VM_ID, 'Up')).length >= 2 && isVmStatus(VM_ID, 'Up')(e));
  });

  void it('VM.destroy answers true, sends Down with exit info, and forgets the VM', async () => {
    assert.equal(await engine.call('VM.destroy', { vmID: VM_ID }), true);
    const down = await engine.waitForEvent(isVmStatus(VM_ID, 'Down'));
    assert.deepEqual(checkVmStatusEvent(down), []);
    const details = (down['params'] as Record<string, Record<string, unknown>>)[VM_ID]!;
    assert.equal(typeof details['exitCode'], 'number');
    assert.equal(typeof details['exitReason'], 'number');
    const all = await engine.call<Record<string, unknown>[]>('Host.getAllVmStats');
    assert.ok(!all.some((v) => v['vmId'] === VM_ID), 'a destroyed VM is no longer listed');
    const again = await engine.request('VM.destroy', { vmID: VM_ID });
    assert.equal(again.error?.code, 1);
    assert.match(String(again.error?.message), /Virtual machine does not exist: \{'vmId': '/);
  });

  void it('an unknown verb is -32601 and the connection keeps working', async () => {
    const r = await engine.request('Host.noSuchVerb');
    assert.equal(r.error?.code, -32601);
    assert.equal(await engine.call('Host.ping2'), true);
  });
});
