// Device hot-plug on a real hypervisor: vdsmd on qemu:///session (an unprivileged libvirtd, TCG) runs the
// tiny guest (machine pc: ACPI PCI hot-plug) with a CD-ROM drive. A NIC (the engine's device XML; a user
// network, as an unprivileged libvirtd has no bridges) and a qcow2 disk made by qemu-img (the older
// drive dictionary) are hot-plugged: libvirt's live XML (virsh, an independent client) and the guest
// itself (qemu-ga's guest-network-get-interfaces / guest-get-diskstats) see them, VM.getStats and
// getVMFullList-era dumpxmls follow; then they are unplugged, which answers once the guest released them,
// and both are gone again from both views. VM.changeCD puts a raw image in the CD-ROM drive and ejects it.
// The test driver refuses these calls (test/e2e/hotplug-verbs.test.ts shows the errors there).
// Every wait is on a condition; the test removes its VM, daemon and files.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createGuestDisk, ensureRealVmAssets, realVmSkip, startSessionLibvirtd, tinyGuestXml, Virsh, waitFor, type SessionLibvirtd } from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';

const execFileAsync = promisify(execFile);
const check = await ensureRealVmAssets();
const skip = realVmSkip(check);
const CALL_TIMEOUT_MS = 60_000;
const BOOT_DEADLINE_MS = 90_000;
const GUEST_DEADLINE_MS = 60_000;

type Obj = Record<string, unknown>;

void describe('device hot-plug on a real hypervisor (qemu:///session, TCG)', { skip, timeout: 300_000 }, () => {
  let lv: SessionLibvirtd;
  let virsh: Virsh;
  let stateDir: string;
  let hooksDir: string;
  let agent: AgentProcess;
  let engine: EngineClient;
  const vmId = randomUUID();
  const name = `hp-${vmId.slice(0, 4)}`;

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    lv = await startSessionLibvirtd();
    virsh = new Virsh(lv.uri('qemu'), { binary: check.assets.tools.virsh });
    stateDir = await mkdtemp(join(tmpdir(), 'vdsm-realvm-hotplug-'));
    hooksDir = join(stateDir, 'hooks');
    for (const point of ['before_nic_hotplug', 'after_nic_hotplug', 'before_nic_hotunplug', 'after_nic_hotunplug', 'before_disk_hotplug', 'after_disk_hotplug', 'before_disk_hotunplug', 'after_disk_hotunplug']) {
      await mkdir(join(hooksDir, point), { recursive: true });
      await writeFile(join(hooksDir, point, '50_log'), `#!/bin/sh\necho "$vmId $(head -c 40 "$_hook_domxml")" >> "${hooksDir}/calls.log"\necho ${point} >> "${hooksDir}/calls.log"\n`, { mode: 0o755 });
    }
    agent = await AgentProcess.start({ stateDir, args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', 'vars.fake_kvm_support=false', '--set', `vars.hooks_dir=${hooksDir}`] });
    await agent.whenReady(CALL_TIMEOUT_MS);
    engine = await EngineClient.connect({ port: agent.port });
    const xml = tinyGuestXml({ uuid: vmId, name, kernel: check.assets.kernel, initrd: check.assets.initrd })
      .replace('<devices>\n', '<devices>\n    <disk type="file" device="cdrom"><driver name="qemu" type="raw"/><target dev="hdc" bus="ide"/><readonly/></disk>\n');
    assert.match(xml, /device="cdrom"/);
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml } }, CALL_TIMEOUT_MS);
    await engine.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
    await waitFor(() => virsh.agentCommand(name, 'guest-ping', undefined, 10).then(() => true, () => undefined), { timeoutMs: BOOT_DEADLINE_MS, intervalMs: 500, what: 'qemu-ga in the guest' });
  });

  after(async () => {
    if (engine !== undefined) await engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS).catch(() => undefined);
    engine?.close();
    await agent?.kill();
    await lv?.stop();
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  const tools = (): Record<string, string> => (check.ok ? check.assets.tools : {});
  const liveXml = (): Promise<string> => virsh.run(['dumpxml', name]);
  const guestMacs = async (): Promise<string[]> => ((await virsh.agentCommand(name, 'guest-network-get-interfaces', undefined, 10)) as { 'hardware-address'?: string }[]).map((i) => String(i['hardware-address'] ?? '').toLowerCase());
  // The guest kernel's block devices (/proc/diskstats through qemu-ga; this busybox guest has no udev, so
  // guest-get-disks, which looks devices up under /dev/block, answers []).
  const guestDisks = async (): Promise<string[]> => ((await virsh.agentCommand(name, 'guest-get-diskstats', undefined, 10)) as { name: string }[]).map((d) => d.name);

  void it('VM.hotplugNic puts the NIC in the live domain and the guest; VM.hotunplugNic answers once the guest let it go', async () => {
    const mac = '52:54:00:4b:1c:7e';
    const xml = `<?xml version="1.0" encoding="UTF-8"?><hotplug><devices><interface type="user"><mac address="${mac}"/><model type="virtio"/><alias name="ua-hp-nic"/></interface></devices><metadata xmlns:ovirt-vm="http://ovirt.org/vm/1.0"><ovirt-vm:vm><ovirt-vm:device mac_address="${mac}"/></ovirt-vm:vm></metadata></hotplug>`;
    assert.ok(!(await guestMacs()).includes(mac));
    const r = await engine.call<Obj>('VM.hotplugNic', { vmID: vmId, params: { vmId, xml } }, CALL_TIMEOUT_MS);
    assert.equal(r['vmId'], vmId);
    assert.ok((r['devices'] as Obj[]).some((d) => d['type'] === 'interface' && d['macAddr'] === mac), 'the answer lists the new NIC');
    assert.match(await liveXml(), new RegExp(`<mac address='${mac}'/>`));
    await waitFor(async () => ((await guestMacs()).includes(mac) ? true : undefined), { timeoutMs: GUEST_DEADLINE_MS, intervalMs: 500, what: 'the guest seeing the new NIC' });
    // The engine's view follows: the VM's stats list the NIC.
    const statsMacs = async (): Promise<string[]> => Object.values(((await engine.call<Obj[]>('VM.getStats', { vmID: vmId }))[0]!['network'] ?? {}) as Record<string, Obj>).map((n) => String(n['macAddr']));
    assert.ok((await statsMacs()).includes(mac), 'VM stats have the new NIC');

    const u = await engine.call<Obj>('VM.hotunplugNic', { vmID: vmId, params: { vmId, xml } }, CALL_TIMEOUT_MS);
    assert.ok(!(u['devices'] as Obj[]).some((d) => d['macAddr'] === mac), 'the answer no longer lists it');
    assert.doesNotMatch(await liveXml(), new RegExp(mac), 'gone from the live XML when the call answers');
    await waitFor(async () => (!(await guestMacs()).includes(mac) ? true : undefined), { timeoutMs: GUEST_DEADLINE_MS, intervalMs: 500, what: 'the guest losing the NIC' });
    assert.ok(!(await statsMacs()).includes(mac), 'and VM stats no longer have it');
    const calls = await readFile(join(hooksDir, 'calls.log'), 'utf8');
    assert.deepEqual(calls.split('\n').filter((l) => /^[a-z_]+$/.test(l)), ['before_nic_hotplug', 'after_nic_hotplug', 'before_nic_hotunplug', 'after_nic_hotunplug']);
    assert.match(calls, new RegExp(`${vmId} <interface`), 'the scripts got the device XML');
  });

  void it('VM.hotplugDisk attaches a qcow2 the guest kernel sees (vda in its diskstats); VM.hotunplugDisk detaches it again', async () => {
    const path = await createGuestDisk(join(lv.runDir, `${name}-hp.qcow2`), { sizeMiB: 16, owner: lv.owner, qemuImg: tools()['qemu-img'] });
    const serial = `hp${vmId.slice(0, 8)}`;
    assert.ok(!(await guestDisks()).includes('vda'), 'the guest has no vda before the plug');
    const r = await engine.call<Obj>('VM.hotplugDisk', { vmID: vmId, params: { vmId, drive: { path, iface: 'virtio', format: 'cow', serial, device: 'disk' } } }, CALL_TIMEOUT_MS);
    const disk = (r['devices'] as Obj[]).find((d) => d['type'] === 'disk' && d['path'] === path);
    assert.ok(disk !== undefined, 'the answer lists the new disk');
    assert.equal(disk['name'], 'vda', 'the first free virtio target');
    assert.equal(disk['format'], 'cow');
    assert.match(await liveXml(), new RegExp(`<source file='${path}'`));
    await waitFor(async () => ((await guestDisks()).includes('vda') ? true : undefined), { timeoutMs: GUEST_DEADLINE_MS, intervalMs: 500, what: 'the guest seeing the new disk' });
    assert.match(await liveXml(), new RegExp(`<serial>${serial}</serial>`));
    // VM stats list it once the next bulk-stats sample has it.
    await waitFor(async () => (Object.keys(((await engine.call<Obj[]>('VM.getStats', { vmID: vmId }))[0]!['disks'] ?? {}) as Obj).includes('vda') ? true : undefined), { timeoutMs: GUEST_DEADLINE_MS, intervalMs: 500, what: 'VM stats listing the new disk' });

    // VM.setIoTune on the plugged disk: QEMU's throttling, read back by virsh and Host.getAllVmIoTunePolicies.
    assert.equal(await engine.call('VM.setIoTune', { vmID: vmId, tunables: [{ name: 'vda', ioTune: { read_bytes_sec: 1048576, write_iops_sec: 200 } }] }, CALL_TIMEOUT_MS), true);
    // A total limit next to the kept write limit of the same kind: vdsm's rule refuses it, nothing changes.
    assert.equal((await engine.callError('VM.setIoTune', { vmID: vmId, tunables: [{ path, ioTune: { total_iops_sec: '300' } }] })).code, 64);
    assert.equal(await engine.call('VM.setIoTune', { vmID: vmId, tunables: [{ path, ioTune: { total_iops_sec: '300', write_iops_sec: 0 } }] }, CALL_TIMEOUT_MS), true, 'merged over the current limits');
    const tune = await virsh.run(['blkdeviotune', name, 'vda']);
    for (const [k, v] of [['read_bytes_sec', 1048576], ['write_iops_sec', 0], ['total_iops_sec', 300]] as const) assert.match(tune, new RegExp(`${k}\\s*:\\s*${v}\\b`), tune);
    const policies = await engine.call<Record<string, { current_values: { name: string; ioTune: Obj }[] }>>('Host.getAllVmIoTunePolicies', {}, CALL_TIMEOUT_MS);
    assert.deepEqual(policies[vmId]?.current_values.find((d) => d.name === 'vda')?.ioTune, { total_bytes_sec: 0, read_bytes_sec: 1048576, write_bytes_sec: 0, total_iops_sec: 300, read_iops_sec: 0, write_iops_sec: 0 });
    // The vCPU quota reaches QEMU's driver, which has no cgroups under an unprivileged libvirtd: 62 with its reason.
    const cpu = await engine.callError('VM.setCpuTuneQuota', { vmID: vmId, quota: 50000 });
    assert.equal(cpu.code, 62);
    assert.match(String(cpu.message), /CPU tuning is not available in session mode/);

    const u = await engine.call<Obj>('VM.hotunplugDisk', { vmID: vmId, params: { vmId, drive: { path } } }, CALL_TIMEOUT_MS);
    assert.ok(!(u['devices'] as Obj[]).some((d) => d['path'] === path));
    assert.doesNotMatch(await liveXml(), new RegExp(path));
    await waitFor(async () => (!(await guestDisks()).includes('vda') ? true : undefined), { timeoutMs: GUEST_DEADLINE_MS, intervalMs: 500, what: 'the guest losing the disk' });
    assert.equal((await engine.callError('VM.hotunplugDisk', { vmID: vmId, params: { drive: { path } } })).code, 46, 'a second unplug finds nothing');
  });

  void it('VM.changeCD puts a raw image in the CD-ROM drive and ejects it with an empty path', async () => {
    const iso = join(lv.runDir, `${name}-cd.raw`);
    await writeFile(iso, Buffer.alloc(1024 * 1024, 0x43));
    await chown(iso, lv.owner.uid, lv.owner.gid);
    const r = await engine.call<Obj>('VM.changeCD', { vmID: vmId, driveSpec: { path: iso } }, CALL_TIMEOUT_MS);
    assert.ok((r['devices'] as Obj[]).some((d) => d['device'] === 'cdrom' && d['path'] === iso));
    const { stdout } = await execFileAsync(tools()['virsh']!, ['-c', lv.uri('qemu'), 'domblklist', name], { timeout: 30_000 });
    assert.match(stdout, new RegExp(`hdc\\s+${iso}`));
    const e = await engine.call<Obj>('VM.changeCD', { vmID: vmId, driveSpec: '' }, CALL_TIMEOUT_MS);
    assert.ok((e['devices'] as Obj[]).some((d) => d['device'] === 'cdrom' && d['path'] === undefined), 'ejected');
    assert.doesNotMatch(await liveXml(), new RegExp(iso));
  });
});
