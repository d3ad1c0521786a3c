// Device verbs through the real vdsmd on libvirt's test driver (dev profile, api_strict_mode on):
// VM.hotplugNic / hotunplugNic, VM.hotplugDisk / hotunplugDisk, VM.changeCD, VM.changeFloppy, VM.setBalloonTarget.
// The test driver refuses virDomainAttachDeviceFlags, DetachDeviceFlags and UpdateDeviceFlags ("this
// function is not supported by the connection driver"), so here the verbs show what reaches libvirt and
// what comes back: vdsm's codes with libvirt's reason, the checks before libvirt is asked, the hook
// points around a refused plug. The plugs themselves are shown on a real QEMU guest in
// test/realvm/hotplug-real-vm.test.ts. The test driver does set the balloon target.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';

type Obj = Record<string, unknown>;
const UNKNOWN = 'deadbeef-0000-4000-8000-00000000beef';
const NIC = { macAddr: '00:1a:4a:16:01:99', network: 'ovirtmgmt', nicModel: 'virtio' };
const FLOPPY_VM = 'a0b1c2d3-0000-4000-8000-0000000f1071';
const FLOPPY_XML = `<domain type="test"><name>floppy</name><uuid>${FLOPPY_VM}</uuid><memory unit="KiB">65536</memory><vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os>
  <devices><disk type="file" device="floppy"><source file="/var/tmp/boot.vfd"/><target dev="fda" bus="fdc"/></disk></devices></domain>`;
const NIC_XML = '<hotplug><devices><interface type="bridge"><mac address="00:1a:4a:16:01:98"/><source bridge="ovirtmgmt"/><model type="virtio"/></interface></devices></hotplug>';

void describe('device verbs on the test driver (api_strict_mode on)', () => {
  let agent: AgentProcess;
  let engine: EngineClient;
  let running: string;
  let dir: string;
  let hooksDir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-hotplug-e2e-'));
    hooksDir = join(dir, 'hooks');
    // Scripts that record what they were given; before_nic_hotplug refuses a NIC whose XML names the bridge "refused".
    for (const point of ['before_nic_hotplug', 'after_nic_hotplug_fail', 'after_nic_hotplug', 'before_disk_hotplug']) {
      await mkdir(join(hooksDir, point), { recursive: true });
      const refuse = point === 'before_nic_hotplug' ? 'grep -q refused "$_hook_domxml" && { echo "no such network here" >&2; exit 1; }\n' : '';
      await writeFile(join(hooksDir, point, '50_keep'), `#!/bin/sh\ncat "$_hook_domxml" >> "${hooksDir}/${point}.xml"\necho >> "${hooksDir}/${point}.xml"\necho "vnic_prop=$vnic_prop" >> "${hooksDir}/${point}.env"\n${refuse}exit 0\n`, { mode: 0o755 });
    }
    agent = await AgentProcess.start({ args: ['--set', 'devel.api_strict_mode=true', '--set', `vars.hooks_dir=${hooksDir}`] });
    await agent.whenReady();
    engine = await EngineClient.connect({ port: agent.port });
    const vms = await engine.call<Obj[]>('Host.getVMFullList');
    running = String(vms.find((v) => v['status'] === 'Up')!['vmId']);
  });
  after(async () => {
    engine?.close();
    await agent?.cleanup();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const recorded = async (point: string): Promise<string> => readFile(join(hooksDir, `${point}.xml`), 'utf8').catch(() => '');

  void it('hotplugNic: the NIC reaches libvirt (49 with its reason), framed by before_nic_hotplug and after_nic_hotplug_fail', async () => {
    const e = await engine.callError('VM.hotplugNic', { vmID: running, params: { vmId: running, nic: { ...NIC, custom: { vnic_prop: 'queues=4' } } } });
    assert.equal(e.code, 49);
    assert.match(String(e.message), /^Failed to hotplug NIC: .*not supported/);
    const xml = await engine.callError('VM.hotplugNic', { vmID: running, params: { vmId: running, xml: NIC_XML } });
    assert.equal(xml.code, 49);
    // The scripts got the device XML (not the domain's), built from the dictionary and taken from the engine's XML.
    const before = await recorded('before_nic_hotplug');
    assert.match(before, /<interface type="bridge"><mac address="00:1a:4a:16:01:99"\/><model type="virtio"\/><source bridge="ovirtmgmt"\/><link state="up"\/><\/interface>/);
    assert.match(before, /00:1a:4a:16:01:98/);
    assert.doesNotMatch(before, /<domain/);
    assert.equal((await recorded('after_nic_hotplug_fail')).split('<interface').length - 1, 2);
    assert.equal(await recorded('after_nic_hotplug'), '');
    // The NIC's custom properties reach the scripts' environment (the first call's; the second had none).
    for (const point of ['before_nic_hotplug', 'after_nic_hotplug_fail']) {
      assert.deepEqual((await readFile(join(hooksDir, `${point}.env`), 'utf8')).trim().split('\n'), ['vnic_prop=queues=4', 'vnic_prop='], point);
    }
  });

  void it('a failing before_nic_hotplug script refuses the plug (78) with its message', async () => {
    const e = await engine.callError('VM.hotplugNic', { vmID: running, params: { nic: { ...NIC, network: 'refused' } } });
    assert.equal(e.code, 78);
    assert.match(String(e.message), /before_nic_hotplug.*no such network here/);
  });

  void it('bad device specs are -32602 before anything runs; an unknown VM is 1 for every verb', async () => {
    for (const params of [{ nic: { network: 'x' } }, { nic: { macAddr: 'nope', network: 'x' } }, { xml: '<hotplug><devices><interface>' }, { xml: '<hotplug><devices/></hotplug>' }, {}]) {
      assert.equal((await engine.callError('VM.hotplugNic', { vmID: running, params })).code, -32602, JSON.stringify(params));
    }
    for (const params of [{ drive: {} }, { drive: { path: '/x', iface: 'floppy-ish' } }, { drive: { path: '/x', domainID: 'nope' } }]) {
      assert.equal((await engine.callError('VM.hotplugDisk', { vmID: running, params })).code, -32602, JSON.stringify(params));
    }
    for (const [method, args] of [
      ['VM.hotplugNic', { params: { nic: NIC } }], ['VM.hotunplugNic', { params: { nic: NIC } }],
      ['VM.hotplugDisk', { params: { drive: { path: '/x' } } }], ['VM.hotunplugDisk', { params: { drive: { path: '/x' } } }],
      ['VM.changeCD', { driveSpec: '/x.iso' }], ['VM.changeFloppy', { driveSpec: '/x.vfd' }], ['VM.setBalloonTarget', { target: 1024 }],
    ] as const) assert.equal((await engine.callError(method, { vmID: UNKNOWN, ...args })).code, 1, method);
  });

  void it('hotunplugNic: an unknown MAC is 50 "NIC not found"; the VM\'s own NIC reaches libvirt (50 with its reason)', async () => {
    const none = await engine.callError('VM.hotunplugNic', { vmID: running, params: { nic: { macAddr: '00:1a:4a:16:01:97' } } });
    assert.equal(none.code, 50);
    assert.match(String(none.message), /NIC not found/);
    const live = (await engine.call<Record<string, string>>('Host.dumpxmls', { vmList: [running] }))[running]!;
    const mac = /<mac address='([^']+)'/.exec(live)![1]!;
    const e = await engine.callError('VM.hotunplugNic', { vmID: running, params: { nic: { macAddr: mac.toUpperCase() } } });
    assert.equal(e.code, 50);
    assert.match(String(e.message), /not supported/);
  });

  void it('hotplugDisk reaches libvirt (45 with its reason); a target the VM has is -32602; hotunplugDisk of no such disk is 46', async () => {
    const e = await engine.callError('VM.hotplugDisk', { vmID: running, params: { drive: { path: '/var/tmp/none.img', iface: 'virtio', format: 'raw' } } });
    assert.equal(e.code, 45);
    assert.match(String(e.message), /^Failed to hotplug disk: .*not supported/);
    assert.match(await recorded('before_disk_hotplug'), /<disk type="file" device="disk" snapshot="no"><source file="\/var\/tmp\/none.img"\/><target dev="vd[a-z]" bus="virtio"\/>/);
    const live = (await engine.call<Record<string, string>>('Host.dumpxmls', { vmList: [running] }))[running]!;
    const target = /<target dev='([^']+)' bus=/.exec(live)![1]!;
    assert.equal((await engine.callError('VM.hotplugDisk', { vmID: running, params: { drive: { path: '/x', name: target } } })).code, -32602);
    assert.equal((await engine.callError('VM.hotunplugDisk', { vmID: running, params: { drive: { path: '/not/attached.img' } } })).code, 46);
  });

  void it('changeCD on a VM without a CD-ROM drive is 41', async () => {
    const e = await engine.callError('VM.changeCD', { vmID: running, driveSpec: { path: '/var/tmp/x.iso' } });
    assert.equal(e.code, 41);
    assert.match(String(e.message), /no CD-ROM/);
  });

  void it('changeFloppy: the floppy drive reaches libvirt with the new medium (41 with its reason); a VM without one, or a medium on a storage volume, is 41; unknown VM 1', async () => {
    await engine.call('VM.create', { vmID: FLOPPY_VM, vmParams: { vmId: FLOPPY_VM, xml: FLOPPY_XML } });
    await engine.waitForEvent(isVmStatus(FLOPPY_VM, 'Powering up'), 30_000);
    const e = await engine.callError('VM.changeFloppy', { vmID: FLOPPY_VM, driveSpec: '/var/tmp/other.vfd' });
    assert.equal(e.code, 41);
    assert.match(String(e.message), /^Failed to change disk image: .*not supported/);
    assert.equal((await engine.callError('VM.changeFloppy', { vmID: FLOPPY_VM, driveSpec: { path: '' } })).code, 41, 'an eject reaches libvirt too');
    const none = await engine.callError('VM.changeFloppy', { vmID: running, driveSpec: { path: '/var/tmp/x.vfd' } });
    assert.equal(none.code, 41);
    assert.match(String(none.message), /no floppy drive/);
    assert.equal((await engine.callError('VM.changeFloppy', { vmID: FLOPPY_VM, driveSpec: { domainID: UNKNOWN, imageID: UNKNOWN, volumeID: UNKNOWN, poolID: UNKNOWN } })).code, 41);
    assert.equal((await engine.callError('VM.changeFloppy', { vmID: FLOPPY_VM, driveSpec: 7 })).code, -32602);
    assert.equal((await engine.callError('VM.changeFloppy', { vmID: UNKNOWN, driveSpec: '/x.vfd' })).code, 1);
    assert.equal(await engine.call('VM.destroy', { vmID: FLOPPY_VM }), true);
  });

  void it('setBalloonTarget sets the live memory target: libvirt\'s live XML has it; a target above the VM\'s memory or not a number is 53', async () => {
    const currentKiB = (): Promise<number> => engine.call<Record<string, string>>('Host.dumpxmls', { vmList: [running] }).then((x) => Number(/<currentMemory unit='KiB'>(\d+)</.exec(x[running]!)![1]));
    const target = (await currentKiB()) - 1024;
    assert.equal(await engine.call('VM.setBalloonTarget', { vmID: running, target }), true);
    assert.equal(await currentKiB(), target);
    assert.equal(await engine.call('VM.setBalloonTarget', { vmID: running, target: String(target + 1024) }), true, 'a numeric string, as older engines send');
    assert.equal(await currentKiB(), target + 1024);
    assert.equal((await engine.callError('VM.setBalloonTarget', { vmID: running, target: 1 << 30 })).code, 53);
    assert.equal((await engine.callError('VM.setBalloonTarget', { vmID: running, target: '12k' })).code, 53);
  });

  void it('setIoTune: the disk\'s limits reach libvirt (the test driver takes zeros and refuses a limit above its unset _max: 64 with its reason); vdsm\'s checks answer 64 before libvirt', async () => {
    const live = (await engine.call<Record<string, string>>('Host.dumpxmls', { vmList: [running] }))[running]!;
    const target = /<disk type='file' device='disk'>[\s\S]*?<target dev='([^']+)'/.exec(live)![1]!;
    assert.equal(await engine.call('VM.setIoTune', { vmID: running, tunables: [{ name: target, ioTune: { read_bytes_sec: 0 } }] }), true);
    const e = await engine.callError('VM.setIoTune', { vmID: running, tunables: [{ name: target, ioTune: { read_bytes_sec: 1024 } }] });
    assert.equal(e.code, 64);
    assert.match(String(e.message), /read_bytes_sec cannot be set higher than read_bytes_sec_max/);
    for (const tunables of [[{ name: 'vdz', ioTune: { read_bytes_sec: 1 } }], [{ name: target, ioTune: { total_bytes_sec: 1, read_bytes_sec: 1 } }], [{ name: target, ioTune: { read_bytes_sec: -1 } }], [{ name: target, ioTune: { bogus_sec: 1 } }], [{ name: target, ioTune: { read_bytes_sec: '1.5' } }]]) {
      assert.equal((await engine.callError('VM.setIoTune', { vmID: running, tunables })).code, 64, JSON.stringify(tunables));
    }
    assert.equal((await engine.callError('VM.setIoTune', { vmID: UNKNOWN, tunables: [] })).code, 1);
  });

  void it('setCpuTuneQuota / setCpuTunePeriod reach libvirt (the test driver knows only "weight": 62 with its reason); not a number is 62; unknown VM 1', async () => {
    for (const [method, args] of [['VM.setCpuTuneQuota', { quota: 50000 }], ['VM.setCpuTunePeriod', { period: '100000' }]] as const) {
      const e = await engine.callError(method, { vmID: running, ...args });
      assert.equal(e.code, 62, method);
      assert.match(String(e.message), /vcpu_(quota|period)/, method);
      assert.equal((await engine.callError(method, { vmID: running, ...(method === 'VM.setCpuTuneQuota' ? { quota: 'lots' } : { period: 'lots' }) })).code, 62);
      assert.equal((await engine.callError(method, { vmID: UNKNOWN, ...args })).code, 1);
    }
  });

  void it('updateVmPolicy keeps vcpuLimit and the disks\' I/O policy in the domain metadata; Host.getAllVmIoTunePolicies reports it; merges by disk', async () => {
    const live = (): Promise<string> => engine.call<Record<string, string>>('Host.dumpxmls', { vmList: [running] }).then((x) => x[running]!);
    const xml = await live();
    const m = /<disk type='file' device='disk'>[\s\S]*?<source file='([^']+)'[\s\S]*?<target dev='([^']+)'/.exec(xml)!;
    const [path, name] = [m[1]!, m[2]!];
    assert.equal(await engine.call('VM.updateVmPolicy', { vmID: running, params: { vmId: running, vcpuLimit: '50', ioTune: [{ name, path, maximum: { total_bytes_sec: 1000, read_iops_sec: 10 }, guaranteed: { total_bytes_sec: 100 } }] } }), true);
    // libvirt puts every element in the ovirt-tune namespace: vdsm's own form, which MOM reads.
    assert.match(await live(), /<ovirt-tune:qos xmlns:ovirt-tune="http:\/\/ovirt.org\/vm\/tune\/1.0">\s*<ovirt-tune:vcpuLimit>50<\/ovirt-tune:vcpuLimit>\s*<ovirt-tune:ioTune>/);
    const policy = async (): Promise<unknown> => (await engine.call<Record<string, { policy: unknown[] }>>('Host.getAllVmIoTunePolicies'))[running]?.policy;
    assert.deepEqual(await policy(), [{ name, path, maximum: { total_bytes_sec: 1000, read_iops_sec: 10 }, guaranteed: { total_bytes_sec: 100 } }]);
    // A second update of the same disk replaces its entry; vcpuLimit not given stays.
    assert.equal(await engine.call('VM.updateVmPolicy', { vmID: running, params: { ioTune: [{ name, path, maximum: { write_bytes_sec: 7 } }] } }), true);
    assert.deepEqual(await policy(), [{ name, path, maximum: { write_bytes_sec: 7 }, guaranteed: {} }]);
    assert.match(await live(), /<ovirt-tune:vcpuLimit>50<\/ovirt-tune:vcpuLimit>/);
    assert.equal((await engine.callError('VM.updateVmPolicy', { vmID: running, params: {} })).code, 11);
    assert.equal((await engine.callError('VM.updateVmPolicy', { vmID: running, params: { ioTune: [{ domainID: 'a', poolID: 'b', imageID: 'c', volumeID: 'd', maximum: {} }] } })).code, 63);
    assert.equal((await engine.callError('VM.updateVmPolicy', { vmID: running, params: { ioTune: [{ name, path, maximum: { bogus: 1 } }] } })).code, 63);
    assert.equal((await engine.callError('VM.updateVmPolicy', { vmID: running, params: { vcpuLimit: '50%' } })).code, 63);
    assert.equal((await engine.callError('VM.updateVmPolicy', { vmID: UNKNOWN, params: { vcpuLimit: 1 } })).code, 1);
  });
});
