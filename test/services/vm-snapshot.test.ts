// VM.freeze, VM.thaw and VM.snapshot's sequence (src/services/vm-snapshot.ts) with every outcome libvirt
// can give: freeze, snapshot, thaw in that order; thawed also after a failed freeze or snapshot; nothing
// of the VM's records moved unless libvirt switched the disks; vdsm's error codes; the virt jobs. The
// dispatcher is a stand-in that answers as libvirt would (the test driver takes no disk-only external
// snapshot and its guest agent always succeeds); the real-VM tier (test/realvm/snapshot-real-vm.test.ts)
// runs the same sequence against QEMU and qemu-ga.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { SnapshotFlag, VirErrorCode } from '../../src/libvirt/constants.js';
import type { Vm, VmDriveStorage } from '../../src/services/vm-manager.js';
import { VmSnapshots } from '../../src/services/vm-snapshot.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { ConnectionsStub } from '../support/connections-stub.js';

const VM_ID = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const SD = '11111111-1111-4111-8111-111111111111';
const IMG = '22222222-2222-4222-8222-222222222222';
const BASE = '33333333-3333-4333-8333-333333333333';
const TOP = '44444444-4444-4444-8444-444444444444';
const POOL = '77777777-7777-4777-8777-777777777777';
const BASE_PATH = `/rhev/sd/images/${IMG}/${BASE}`;
const TOP_PATH = `/rhev/sd/images/${IMG}/${TOP}`;

const liveXml = (vol: string, path: string, backing?: string): string => `<domain type='qemu' id='1'>
  <name>g</name><uuid>${VM_ID}</uuid><memory>131072</memory>
  <metadata>
    <ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
      <ovirt-vm:device name="vda" devtype="disk">
        <ovirt-vm:poolID>${POOL}</ovirt-vm:poolID>
        <ovirt-vm:domainID>${SD}</ovirt-vm:domainID>
        <ovirt-vm:imageID>${IMG}</ovirt-vm:imageID>
        <ovirt-vm:volumeID>${vol}</ovirt-vm:volumeID>
      </ovirt-vm:device>
    </ovirt-vm:vm>
  </metadata>
  <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${path}'/>${backing !== undefined ? `<backingStore type='file'><source file='${backing}'/></backingStore>` : ''}<target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><source file='/scratch.img'/><target dev='vdb' bus='virtio'/></disk></devices>
</domain>`;

/** A libvirt error as it crosses the worker boundary (src/libvirt/binding.ts toTransferableLibvirtError). */
const libvirtError = (virCode: number, message: string): Error => Object.assign(new Error(message), { code: `ERR_LIBVIRT_${virCode}`, context: { virCode, virDomain: 10, virMessage: message } });

interface Script {
  freeze?: Error;
  thaw?: Error;
  snapshot?: Error;
  prepare?: Error;
  /** Resolves the snapshot call (to hold it while a second request comes). */
  holdSnapshot?: Promise<void>;
}

function setup(script: Script = {}) {
  const calls: { op: string; args: Record<string, unknown>; opts?: Record<string, unknown> }[] = [];
  let switched = false;
  const dispatcher = {
    dispatch: async <T>(op: string, args: Record<string, unknown>, opts?: Record<string, unknown>): Promise<T> => {
      calls.push({ op, args, ...(opts !== undefined ? { opts } : {}) });
      switch (op) {
        case 'libvirt.fsFreeze': if (script.freeze) throw script.freeze; return 1 as T;
        case 'libvirt.fsThaw': if (script.thaw) throw script.thaw; return 1 as T;
        case 'libvirt.snapshotCreateXML':
          await script.holdSnapshot;
          if (script.snapshot) throw script.snapshot;
          switched = true;
          return '1700000000' as T;
        case 'libvirt.xmlDesc': return (switched ? liveXml(BASE, TOP_PATH, BASE_PATH) : liveXml(BASE, BASE_PATH)) as T;
        case 'libvirt.setMetadata': return null as T;
        default: throw new Error(`unexpected ${op}`);
      }
    },
  };
  const vm = {
    vmId: VM_ID,
    xml: liveXml(BASE, BASE_PATH),
    domain: parseDomainXml(liveXml(BASE, BASE_PATH)),
    storageDrives: [{ name: 'vda', poolID: POOL, domainID: SD, imageID: IMG, volumeID: BASE, path: BASE_PATH }],
  } as unknown as Vm;
  const prepared: string[] = [];
  const drives: VmDriveStorage = {
    prepare: (d) => {
      prepared.push(d.volumeID);
      return script.prepare ? Promise.reject(script.prepare) : Promise.resolve(`/rhev/sd/images/${d.imageID}/${d.volumeID}`);
    },
    teardown: () => Promise.resolve(),
    sizes: () => Promise.resolve({}),
  };
  let adopted = 0;
  const memoryIo: string[] = [];
  const snaps = new VmSnapshots({
    memoryVolumes: {
      prepare: (v) => { memoryIo.push(`prepare ${v.volumeID}`); return Promise.resolve(`/rhev/sd/images/${v.imageID}/${v.volumeID}`); },
      teardown: (v) => { memoryIo.push(`teardown ${v.volumeID}`); return Promise.resolve(); },
      write: (path, data) => { memoryIo.push(`write ${path} ${Buffer.from(data).subarray(0, 2).toString('hex')}`); return Promise.resolve(); },
    },
    machineParams: () => Promise.resolve({ vmId: VM_ID, _srcDomXML: '<domain/>' }),
    libvirt: new LibvirtClient({ dispatcher, connections: new ConnectionsStub() }),
    log: pino({ level: 'silent' }),
    drives,
    requireRunning: (id) => {
      if (id !== VM_ID) throw Object.assign(new Error('Virtual machine does not exist'), { vdsmCode: 1 });
      return vm;
    },
    adoptLiveXml: () => { adopted++; return Promise.resolve(); },
  });
  const ops = (): string[] => calls.map((c) => c.op);
  return { snaps, vm, calls, ops, prepared, memoryIo, adopted: () => adopted };
}

const REQ = { snapDrives: [{ domainID: SD, imageID: IMG, volumeID: TOP, baseVolumeID: BASE }] };
const code = (n: number) => (err: { vdsmCode?: unknown }): boolean => err.vdsmCode === n;

void describe('VM.snapshot sequence', () => {
  void it('freeze, snapshot into the prepared new volume, thaw, then the records move: {quiesce: true}', async () => {
    const t = setup();
    assert.deepEqual(await t.snaps.snapshot(VM_ID, { ...REQ, frozen: false }), { quiesce: true });
    assert.deepEqual(t.prepared, [TOP]);
    assert.deepEqual(t.ops(), ['libvirt.fsFreeze', 'libvirt.snapshotCreateXML', 'libvirt.fsThaw', 'libvirt.xmlDesc', 'libvirt.setMetadata']);
    const snap = t.calls[1]!.args;
    assert.equal(snap['flags'], SnapshotFlag.DISK_ONLY | SnapshotFlag.REUSE_EXT | SnapshotFlag.NO_METADATA);
    assert.match(String(snap['xml']), new RegExp(`<disk name="vda" snapshot="external" type="file"><driver type="qcow2"/><source file="${TOP_PATH}"/></disk>`));
    assert.match(String(snap['xml']), /<disk name="vdb" snapshot="no"/);
    const md = t.calls[4]!.args;
    assert.equal(md['key'], 'ovirt-vm');
    assert.equal(md['uri'], 'http://ovirt.org/vm/1.0');
    assert.match(String(md['metadata']), new RegExp(`^<vm>\\s*<device name="vda" devtype="disk">[\\s\\S]*<volumeID>${TOP}</volumeID>`));
    assert.deepEqual(t.vm.storageDrives.map((d) => [d.volumeID, d.path]), [[TOP, TOP_PATH]]);
    assert.equal(t.adopted(), 1);
  });

  void it('with the memory: the parameters written to the configuration volume, then one snapshot with the memory file, no freeze', async () => {
    const t = setup();
    const [MI, MV, CI, CV] = ['a1', 'a2', 'a3', 'a4'].map((x) => `${x}a1a1a1-0000-4000-8000-00000000${x}${x}`);
    assert.deepEqual(await t.snaps.snapshot(VM_ID, { ...REQ, snapMemory: [SD, POOL, MI, MV, CI, CV].join(','), timeout: 2 }), { quiesce: false });
    assert.deepEqual(t.memoryIo, [`prepare ${CV}`, `write /rhev/sd/images/${CI}/${CV} 8002`, `teardown ${CV}`, `prepare ${MV}`, `teardown ${MV}`]);
    assert.deepEqual(t.ops(), ['libvirt.snapshotCreateXML', 'libvirt.xmlDesc', 'libvirt.setMetadata']);
    const snap = t.calls[0]!;
    assert.equal(snap.args['flags'], SnapshotFlag.REUSE_EXT | SnapshotFlag.NO_METADATA);
    assert.match(String(snap.args['xml']), new RegExp(`<memory snapshot="external" file="/rhev/sd/images/${MI}/${MV}"/>`));
    assert.deepEqual(snap.opts, { timeoutMs: 120_000, discard: false }, 'the snapshot\'s own limit, its worker kept');
    assert.deepEqual(t.vm.storageDrives.map((d) => d.volumeID), [TOP]);
    await assert.rejects(t.snaps.snapshot(VM_ID, { ...REQ, snapMemory: 'a,b' }), (err: Error & { vdsmCode?: number }) => err.vdsmCode === 48 && /snapMemory/.test(err.message));
  });

  void it('frozen by the engine: no freeze or thaw here, {quiesce: false}', async () => {
    const t = setup();
    assert.deepEqual(await t.snaps.snapshot(VM_ID, { ...REQ, frozen: true }), { quiesce: false });
    assert.deepEqual(t.ops(), ['libvirt.snapshotCreateXML', 'libvirt.xmlDesc', 'libvirt.setMetadata']);
  });

  void it('a freeze that fails: the snapshot is still taken and the guest still thawed, {quiesce: false}', async () => {
    const t = setup({ freeze: libvirtError(VirErrorCode.AGENT_UNRESPONSIVE, 'Guest agent is not responding') });
    assert.deepEqual(await t.snaps.snapshot(VM_ID, REQ), { quiesce: false });
    assert.deepEqual(t.ops().slice(0, 3), ['libvirt.fsFreeze', 'libvirt.snapshotCreateXML', 'libvirt.fsThaw']);
  });

  void it('a snapshot libvirt refuses: 48 with its reason, thawed, nothing of the VM moved', async () => {
    const t = setup({ snapshot: libvirtError(VirErrorCode.OPERATION_FAILED, 'operation failed: missing overlay') });
    await assert.rejects(t.snaps.snapshot(VM_ID, { ...REQ, jobUUID: 'job-1' }), (err: Error & { vdsmCode?: number }) => err.vdsmCode === 48 && /^Snapshot failed: .*missing overlay/.test(err.message));
    assert.deepEqual(t.ops(), ['libvirt.fsFreeze', 'libvirt.snapshotCreateXML', 'libvirt.fsThaw']);
    assert.deepEqual(t.vm.storageDrives.map((d) => [d.volumeID, d.path]), [[BASE, BASE_PATH]]);
    assert.equal(t.adopted(), 0);
    const job = t.snaps.jobs(['job-1'])['job-1']!;
    assert.equal(job.status, 'failed');
    assert.equal(job.error?.code, 48);
  });

  void it('a new volume that cannot be prepared: 48, the guest never frozen, libvirt never asked', async () => {
    const t = setup({ prepare: Object.assign(new Error('Volume does not exist'), { vdsmCode: 201 }) });
    await assert.rejects(t.snaps.snapshot(VM_ID, REQ), code(48));
    assert.deepEqual(t.ops(), []);
  });

  void it('bad requests are 48 before anything happens; a malformed snapMemory too; an unknown VM is the caller\'s error', async () => {
    const t = setup();
    await assert.rejects(t.snaps.snapshot(VM_ID, { snapDrives: [{ ...REQ.snapDrives[0], baseVolumeID: TOP, volumeID: BASE.replace('3333-4', '3333-5') }] }), code(48));
    await assert.rejects(t.snaps.snapshot(VM_ID, { snapDrives: 'vda' }), code(48));
    await assert.rejects(t.snaps.snapshot(VM_ID, { ...REQ, snapMemory: 'a,b,c,d,e,f' }), (err: Error & { vdsmCode?: number }) => err.vdsmCode === 48 && /snapMemory/.test(err.message));
    await assert.rejects(t.snaps.snapshot('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', REQ), code(1));
    assert.deepEqual(t.ops(), []);
    assert.deepEqual(t.prepared, []);
  });

  void it('a second snapshot of the VM while one runs is 48; the first completes', async () => {
    let release!: () => void;
    const t = setup({ holdSnapshot: new Promise<void>((r) => { release = r; }) });
    const first = t.snaps.snapshot(VM_ID, { ...REQ, jobUUID: 'job-a' });
    await new Promise<void>((r) => setImmediate(r));
    assert.equal(t.snaps.jobs(['job-a'])['job-a']?.status, 'running');
    await assert.rejects(t.snaps.snapshot(VM_ID, REQ), (err: Error & { vdsmCode?: number }) => err.vdsmCode === 48 && /under way/.test(err.message));
    release();
    assert.deepEqual(await first, { quiesce: true });
    assert.deepEqual(t.snaps.jobs(['job-a']), { 'job-a': { id: 'job-a', status: 'done', description: 'snapshot_vm', job_type: 'virt' } });
  });

  void it('keeps the 100 most recent jobs', async () => {
    const t = setup({ prepare: new Error('no volume') });
    for (let i = 0; i < 105; i++) await t.snaps.snapshot(VM_ID, { ...REQ, jobUUID: `j${i}` }).catch(() => undefined);
    const ids = Object.keys(t.snaps.jobs());
    assert.equal(ids.length, 100);
    assert.equal(ids[0], 'j5');
    assert.equal(ids.at(-1), 'j104');
  });
});

void describe('VM.freeze / VM.thaw errors', () => {
  void it('vdsm\'s codes: agent not responding 19, not supported 75, otherwise 76 / 77', async () => {
    const cases: [Error, number, number][] = [
      [libvirtError(VirErrorCode.AGENT_UNRESPONSIVE, 'Guest agent is not responding'), 19, 19],
      [libvirtError(VirErrorCode.NO_SUPPORT, 'this function is not supported'), 75, 75],
      [libvirtError(VirErrorCode.ARGUMENT_UNSUPPORTED, 'QEMU guest agent is not configured'), 76, 77],
    ];
    for (const [err, freezeCode, thawCode] of cases) {
      const t = setup({ freeze: err, thaw: err });
      await assert.rejects(t.snaps.freeze(VM_ID), (e: Error & { vdsmCode?: number }) => e.vdsmCode === freezeCode && e.message.includes(err.message));
      await assert.rejects(t.snaps.thaw(VM_ID), code(thawCode));
    }
    const ok = setup();
    assert.equal(await ok.snaps.freeze(VM_ID), true);
    assert.equal(await ok.snaps.thaw(VM_ID), true);
    assert.deepEqual(ok.ops(), ['libvirt.fsFreeze', 'libvirt.fsThaw']);
  });
});
