// VmDevices (src/services/vm-devices.ts) around libvirt's answers that a real guest gives only
// slowly or never: an unplug answers when DEVICE_REMOVED names the device, fails with vdsm's code (and
// its _fail hook) when the guest does not release it in time, and a release that comes later still
// refreshes the VM's devices; a disk volume prepared for a plug that fails is torn down again. The
// dispatcher and the VM manager are stand-ins (the test driver refuses device calls; the real-VM tier,
// test/realvm/hotplug-real-vm.test.ts, shows the plug and unplug with a guest that answers). Time is
// hand-driven.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { VmDevices, HOTUNPLUG_TIMEOUT_MS, type VmDevicesHost } from '../../src/services/vm-devices.js';
import type { Vm } from '../../src/services/vm-manager.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import { ManualTime } from '../support/manual-time.js';

const UUID = '7f9a0a46-2f5b-4d2b-9c37-0c3e6f1b2a11';
const OTHER = '0b0b0b0b-2f5b-4d2b-9c37-0c3e6f1b2a11';
const MAC = '52:54:00:aa:bb:cc';
const LIVE = `<domain type='qemu'><name>g</name><uuid>${UUID}</uuid><memory>65536</memory><devices>
  <disk type='file' device='disk'><source file='/a.img'/><target dev='vda' bus='virtio'/><alias name='virtio-disk0'/></disk>
  <interface type='bridge'><mac address='${MAC}'/><source bridge='br0'/><model type='virtio'/><alias name='net1'/></interface>
</devices></domain>`;
const VOL = { poolID: '11111111-1111-1111-1111-111111111111', domainID: '22222222-2222-2222-2222-222222222222', imageID: '33333333-3333-3333-3333-333333333333', volumeID: '44444444-4444-4444-4444-444444444444' };

function setup(answers: Partial<Record<string, () => Promise<unknown>>> = {}) {
  const time = new ManualTime(1_000);
  const connections = new ConnectionsStub();
  const calls: string[] = [];
  const dispatcher = {
    dispatch: <T>(op: string): Promise<T> => {
      calls.push(op);
      const answer = answers[op];
      if (answer !== undefined) return answer() as Promise<T>;
      return Promise.resolve((op === 'libvirt.xmlDesc' ? LIVE : null) as T);
    },
  };
  const vm = { vmId: UUID, xml: LIVE, domain: parseDomainXml(LIVE), storageDrives: [], state: { status: 'Up', isDown: false } } as unknown as Vm;
  const hooks: string[] = [];
  let refreshed = 0;
  const host: VmDevicesHost = {
    requireRunning: () => vm,
    get: (id) => (id === UUID ? vm : undefined),
    devicesChanged: () => { refreshed++; return Promise.resolve(); },
    runHook: (point) => { hooks.push(point); return Promise.resolve(); },
    runFailingHook: (point, s) => {
      hooks.push(point);
      return point === 'before_disk_hotplug' && answers['hook'] !== undefined ? answers['hook']() as Promise<string> : Promise.resolve(s.xml);
    },
  };
  const storage = { prepared: [] as unknown[], torn: [] as unknown[] };
  const devices = new VmDevices({
    vms: host,
    libvirt: new LibvirtClient({ dispatcher, connections }),
    timers: time,
    log: pino({ level: 'silent' }),
    drives: {
      prepare: (d) => { storage.prepared.push(d); return Promise.resolve('/rhev/prepared/vol'); },
      teardown: (d) => { storage.torn.push(d); return Promise.resolve(); },
      sizes: () => Promise.resolve({}),
    },
  });
  const removed = (uuid: string, alias: string): void => connections.emit({ conn: 0, eventId: 15, domain: { uuid, name: 'g', id: 1 }, event: 'device-removed', devAlias: alias } as never);
  return { vm, time, calls, hooks, devices, removed, refreshed: () => refreshed, storage };
}

/** Let the calls in flight run up to their next wait (the dispatcher answers in microtasks). */
const settle = async (): Promise<void> => { for (let i = 0; i < 20; i++) await Promise.resolve(); };

void describe('VmDevices unplug waits for the guest', () => {
  void it('answers once DEVICE_REMOVED names the device; an event for another VM or device does not count', async () => {
    const t = setup();
    let done = false;
    const p = t.devices.hotunplugNic(UUID, { nic: { macAddr: MAC.toUpperCase() } }).then((r) => { done = true; return r; });
    await settle();
    assert.deepEqual(t.calls, ['libvirt.xmlDesc', 'libvirt.detachDeviceFlags']);
    t.removed(OTHER, 'net1');
    t.removed(UUID, 'net0');
    await settle();
    assert.equal(done, false, 'still waiting for the guest');
    assert.equal(t.refreshed(), 1, 'another device of the VM removed: its devices refreshed');
    t.removed(UUID, 'net1');
    const r = await p;
    assert.equal(r.vmId, UUID);
    assert.deepEqual(t.hooks, ['before_nic_hotunplug', 'after_nic_hotunplug']);
    assert.equal(t.refreshed(), 2);
    assert.equal(t.time.pendingTimers, 0, 'no timer left behind');
  });

  void it('a guest that does not release the NIC in time: 50, after_nic_hotunplug_fail; its late release still refreshes the devices', async () => {
    const t = setup();
    const p = t.devices.hotunplugNic(UUID, { nic: { macAddr: MAC } });
    await settle();
    t.time.advance(HOTUNPLUG_TIMEOUT_MS - 1);
    await settle();
    t.time.advance(1);
    await assert.rejects(p, (e: { vdsmCode?: number; message: string }) => e.vdsmCode === 50 && /did not release device net1/.test(e.message));
    assert.deepEqual(t.hooks, ['before_nic_hotunplug', 'after_nic_hotunplug_fail']);
    assert.equal(t.refreshed(), 0);
    t.removed(UUID, 'net1');
    await settle();
    assert.equal(t.refreshed(), 1, 'the late DEVICE_REMOVED refreshed the VM\'s devices');
  });

  void it('a disk unplug waits the same way and answers 46 when the guest keeps it', async () => {
    const t = setup();
    const p = t.devices.hotunplugDisk(UUID, { drive: { path: '/a.img' } });
    await settle();
    t.time.advance(HOTUNPLUG_TIMEOUT_MS);
    await assert.rejects(p, (e: { vdsmCode?: number }) => e.vdsmCode === 46);
  });
});

void describe('VmDevices disk volumes', () => {
  void it('a volume prepared for a plug libvirt refuses is torn down; the answer is 45 with libvirt\'s reason', async () => {
    const t = setup({ 'libvirt.attachDeviceFlags': () => Promise.reject(new Error('unsupported configuration: no free PCI slot')) });
    await assert.rejects(t.devices.hotplugDisk(UUID, { drive: { ...VOL, iface: 'virtio', format: 'cow' } }), (e: { vdsmCode?: number; message: string }) => e.vdsmCode === 45 && /no free PCI slot/.test(e.message));
    assert.deepEqual(t.storage.prepared, [VOL]);
    assert.deepEqual(t.storage.torn, [{ name: 'vdb', ...VOL, path: '/rhev/prepared/vol' }]);
    assert.equal(t.refreshed(), 0);
  });

  void it('a before_disk_hotplug script that fails refuses the plug before libvirt, and the volume is torn down', async () => {
    const t = setup({ hook: () => Promise.reject(Object.assign(new Error('Hook error: before_disk_hotplug: no'), { vdsmCode: 78 })) });
    await assert.rejects(t.devices.hotplugDisk(UUID, { drive: { ...VOL } }), (e: { vdsmCode?: number }) => e.vdsmCode === 78);
    assert.ok(!t.calls.includes('libvirt.attachDeviceFlags'));
    assert.equal(t.storage.torn.length, 1);
  });

  void it('a plugged volume is kept on the VM (its unplug tears it down)', async () => {
    const t = setup();
    const r = await t.devices.hotplugDisk(UUID, { drive: { ...VOL } });
    assert.deepEqual(t.hooks, ['before_disk_hotplug', 'after_disk_hotplug']);
    assert.equal(r.vmId, UUID);
    assert.deepEqual(t.vm.storageDrives, [{ name: 'vdb', ...VOL, path: '/rhev/prepared/vol' }], 'kept for the unplug\'s teardown');
    assert.equal(t.storage.torn.length, 0);
  });
});
