// Engine verbs through the real vdsmd (dev profile: libvirt's test driver), under api_strict_mode:
// VM.setTicket and VM.reset as far as the test driver can show them (a reset of a running VM, the errors
// vdsm gives for an unknown VM and a VM without graphics, the engine's parameters accepted), VM.freeze and
// VM.thaw (the test driver's agent is canned) and VM.snapshot's refusals (the test driver takes no
// disk-only external snapshots: test/realvm/snapshot-real-vm.test.ts shows one),
// Host.getAllVmIoTunePolicies read from libvirt's live XML, Host.getJobs, Host.getDeviceList on a host
// without multipath (test/host/multipath-devices.test.ts reads a multipath device). The ticket reaching
// a live VNC device, and a reset rebooting a guest, are shown on a real QEMU guest in
// test/realvm/console-ticket-real-vm.test.ts (the test driver cannot update graphics devices).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';

type Obj = Record<string, unknown>;
const UNKNOWN = 'deadbeef-0000-4000-8000-00000000beef';
const TUNED = 'a0b1c2d3-0000-4000-8000-00000000e1e1';
const TUNED_XML = `<domain type="test">
  <name>iotuned</name>
  <uuid>${TUNED}</uuid>
  <memory unit="KiB">65536</memory>
  <vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os>
  <devices>
    <disk type="file" device="disk"><source file="/var/tmp/iotuned-a.img"/><target dev="vda" bus="virtio"/>
      <iotune><total_bytes_sec>10485760</total_bytes_sec><read_iops_sec>400</read_iops_sec><write_iops_sec>200</write_iops_sec></iotune></disk>
    <disk type="file" device="disk"><source file="/var/tmp/iotuned-b.img"/><target dev="vdb" bus="virtio"/></disk>
    <disk type="file" device="cdrom"><target dev="hdc" bus="ide"/><readonly/></disk>
  </devices>
</domain>`;


void describe('engine verbs on the test driver (api_strict_mode on)', () => {
  let agent: AgentProcess;
  let engine: EngineClient;
  let running: string;

  before(async () => {
    agent = await AgentProcess.start({ args: ['--set', 'devel.api_strict_mode=true'] });
    await agent.whenReady();
    engine = await EngineClient.connect({ port: agent.port });
    const vms = await engine.call<Obj[]>('Host.getVMFullList');
    running = String(vms.find((v) => v['status'] === 'Up')!['vmId']);
  });
  after(async () => {
    engine?.close();
    await agent?.cleanup();
  });

  void it('VM.reset of a running VM answers true and the VM stays Up', async () => {
    assert.equal(await engine.call('VM.reset', { vmID: running }), true);
    assert.equal((await engine.call<Obj>('VM.getInfo', { vmID: running }))['status'], 'Up');
    await agent.waitForLog((l) => l['msg'] === 'VM reset' && l['vmId'] === running, 5_000);
  });

  void it('an unknown VM is error 1 for both verbs', async () => {
    assert.equal((await engine.callError('VM.reset', { vmID: UNKNOWN })).code, 1);
    assert.equal((await engine.callError('VM.setTicket', { vmID: UNKNOWN, password: 'pw', ttl: 120, existingConnAction: 'disconnect', params: {} })).code, 1);
  });

  void it("VM.setTicket with the engine's parameters on a VM without graphics: error 18, and the password is not echoed or logged", async () => {
    const password = 'Secret-7d1c2';
    const e = await engine.callError('VM.setTicket', { vmID: running, password, ttl: 120, existingConnAction: 'disconnect', params: { vncUsername: 'u', fips: 'false', disconnectAction: 'LOCK_SCREEN' } });
    assert.equal(e.code, 18);
    assert.equal(e.message, 'no graphics devices configured', 'vdsm\'s message');
    assert.ok(!agent.lines.some((l) => JSON.stringify(l).includes(password)));
  });

  void it('VM.updateDevice: graphics on a VM without graphics is 56, another device type 44, an unknown VM 1', async () => {
    const graphics = { deviceType: 'graphics', graphicsType: 'vnc', password: 'pw', ttl: '120', existingConnAction: 'disconnect', params: { fips: 'false' } };
    assert.equal((await engine.callError('VM.updateDevice', { vmID: running, params: graphics })).code, 56);
    assert.equal((await engine.callError('VM.updateDevice', { vmID: running, params: { deviceType: 'interface', alias: 'net0' } })).code, 44);
    assert.equal((await engine.callError('VM.updateDevice', { vmID: UNKNOWN, params: graphics })).code, 1);
  });

  void it('strict mode: an unknown existingConnAction is refused (-32602); a missing one too, without echoing the password', async () => {
    assert.equal((await engine.callError('VM.setTicket', { vmID: running, password: 'pw', ttl: 1, existingConnAction: 'drop', params: {} })).code, -32602);
    const e = await engine.callError('VM.setTicket', { vmID: running, password: 'Hidden-55', ttl: 1, params: {} });
    assert.ok(e.code === -32602 || e.code === -32603, `code ${String(e.code)}`);
    assert.doesNotMatch(String(e.message), /Hidden-55/);
  });

  void it('VM.freeze and VM.thaw through the test driver\'s canned guest agent: true, logged with the file system count', async () => {
    assert.equal(await engine.call('VM.freeze', { vmID: running }), true);
    const frozen = await agent.waitForLog((l) => l['msg'] === 'guest filesystems frozen' && l['vmId'] === running, 5_000);
    assert.equal(typeof frozen['filesystems'], 'number');
    assert.equal(await engine.call('VM.thaw', { vmID: running }), true);
    await agent.waitForLog((l) => l['msg'] === 'guest filesystems thawed' && l['vmId'] === running, 5_000);
  });

  void it('VM.snapshot: an unknown VM is 1; a disk the VM does not run on, or a malformed snapMemory, is 48; a missing snapDrives -32602', async () => {
    const drive = { domainID: 'a0000000-0000-4000-8000-000000000001', imageID: 'a0000000-0000-4000-8000-000000000002', volumeID: 'a0000000-0000-4000-8000-000000000003', baseVolumeID: 'a0000000-0000-4000-8000-000000000004' };
    assert.equal((await engine.callError('VM.snapshot', { vmID: UNKNOWN, snapDrives: [drive] })).code, 1);
    assert.equal((await engine.callError('VM.freeze', { vmID: UNKNOWN })).code, 1);
    assert.equal((await engine.callError('VM.thaw', { vmID: UNKNOWN })).code, 1);
    const e = await engine.callError('VM.snapshot', { vmID: running, snapDrives: [drive], frozen: false });
    assert.equal(e.code, 48);
    assert.match(String(e.message), /^Snapshot failed: /);
    const m = await engine.callError('VM.snapshot', { vmID: running, snapDrives: [drive], snapMemory: 'a,b,c,d,e,f' });
    assert.equal(m.code, 48);
    assert.match(String(m.message), /snapMemory/);
    assert.equal((await engine.callError('VM.snapshot', { vmID: running })).code, -32602);
    // A request refused at once starts no job (test/e2e/snapshot-job.test.ts follows one that starts).
    const jobUUID = 'a0000000-0000-4000-8000-000000000051';
    assert.equal((await engine.callError('VM.snapshot', { vmID: running, snapDrives: [drive], jobUUID })).code, 48);
    assert.deepEqual(await engine.call('Host.getJobs', { job_ids: [jobUUID] }), {});
    assert.equal((await engine.call<Obj>('VM.getInfo', { vmID: running }))['status'], 'Up');
  });

  void it('Host.getAllVmIoTunePolicies: every running VM, each hard disk with the limits of its live <iotune>, 0 where unset', async () => {
    await engine.call('VM.create', { vmID: TUNED, vmParams: { vmId: TUNED, xml: TUNED_XML } });
    await engine.waitForEvent(isVmStatus(TUNED, 'Powering up'), 30_000);
    const all = await engine.call<Record<string, Obj>>('Host.getAllVmIoTunePolicies');
    const up = (await engine.call<Obj[]>('Host.getVMFullList')).filter((v) => v['status'] !== 'Down' && v['status'] !== 'WaitForLaunch').map((v) => String(v['vmId'])).sort();
    assert.ok(up.includes(TUNED) && up.length === 5, `running VMs: ${up.join(' ')}`);
    assert.deepEqual(Object.keys(all).sort(), up);
    const zero = { total_bytes_sec: 0, read_bytes_sec: 0, write_bytes_sec: 0, total_iops_sec: 0, read_iops_sec: 0, write_iops_sec: 0 };
    assert.deepEqual(all[TUNED], {
      policy: [],
      current_values: [
        { name: 'vda', path: '/var/tmp/iotuned-a.img', ioTune: { ...zero, total_bytes_sec: 10485760, read_iops_sec: 400, write_iops_sec: 200 } },
        { name: 'vdb', path: '/var/tmp/iotuned-b.img', ioTune: zero },
      ],
    });
    const fixture = all[running]!['current_values'] as Obj[];
    assert.deepEqual(fixture.map((d) => d['name']), ['vda', 'vdb']);
    for (const d of fixture) assert.deepEqual(d['ioTune'], zero);
  });

  void it("Host.getJobs: no storage or v2v jobs (this host runs none), with vdsm's job_type values checked", async () => {
    // Only virt jobs (VM.snapshot calls given a jobUUID) are ever listed.
    const all = await engine.call<Record<string, Obj>>('Host.getJobs');
    assert.ok(Object.values(all).every((j) => j['job_type'] === 'virt'), JSON.stringify(all));
    assert.deepEqual(await engine.call('Host.getJobs', { job_type: 'storage', job_ids: [UNKNOWN] }), {});
    assert.deepEqual(await engine.call('Host.getJobs', { job_type: 'v2v' }), {});
    assert.equal((await engine.callError('Host.getJobs', { job_type: 'backup' })).code, -32602);
  });

  void it('Host.getDeviceList as the engine calls it (storageType 3, checkStatus false): [], this host has no multipath device', async () => {
    assert.deepEqual(await engine.call('Host.getDeviceList', { storageType: 3, checkStatus: false }), []);
    assert.deepEqual(await engine.call('Host.getDeviceList', { storageType: 2, guids: ['36001405abcdef0123456789abcdef012'], checkStatus: true, refresh: true }), []);
  });
});
