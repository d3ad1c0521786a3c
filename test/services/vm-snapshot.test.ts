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
import { DriveRepreparation } from '../../src/services/recovered-drives.js';
import { VirtJobs, type VirtJobInfo } from '../../src/services/virt-jobs.js';
import { ManualTime } from '../support/manual-time.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import { escapeXml } from '../../src/libvirt/xml-tree.js';

const VM_ID = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const SD = '11111111-1111-4111-8111-111111111111';
const IMG = '22222222-2222-4222-8222-222222222222';
const BASE = '33333333-3333-4333-8333-333333333333';
const TOP = '44444444-4444-4444-8444-444444444444';
const POOL = '77777777-7777-4777-8777-777777777777';
const BASE_PATH = `/rhev/sd/images/${IMG}/${BASE}`;
const TOP_PATH = `/rhev/sd/images/${IMG}/${TOP}`;

const ovirtVm = (vol: string, extra = ''): string => `<ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
      <ovirt-vm:device name="vda" devtype="disk">
        <ovirt-vm:poolID>${POOL}</ovirt-vm:poolID>
        <ovirt-vm:domainID>${SD}</ovirt-vm:domainID>
        <ovirt-vm:imageID>${IMG}</ovirt-vm:imageID>
        <ovirt-vm:volumeID>${vol}</ovirt-vm:volumeID>
      </ovirt-vm:device>${extra}
    </ovirt-vm:vm>`;
const liveXml = (vol: string, path: string, backing?: string, md = ovirtVm(vol)): string => `<domain type='qemu' id='1'>
  <name>g</name><uuid>${VM_ID}</uuid><memory>131072</memory>
  <metadata>
    ${md}
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
  /** Runs when the guest is being frozen (to move the hand-driven clock meanwhile). */
  onFreeze?: () => void;
  /** Resolves the VM's parameters for the configuration volume (to hold the job before libvirt's call). */
  holdParams?: Promise<void>;
  /** libvirt had finished the snapshot when the abort came: abortJob changes nothing. */
  abortTooLate?: boolean;
  /** libvirt's job had not started for the first aborts: so many are refused (OPERATION_INVALID). */
  abortsBeforeJob?: number;
  /** The domain's ovirt-vm metadata at the start (a recovered job's record in it). */
  md?: string;
  /** The disks already run on the new volume (a snapshot libvirt completed while the agent was down). */
  switched?: boolean;
  /** virDomainGetJobStats' job types, one per call (the last one repeats; NONE without any). */
  jobTypes?: number[];
}

/** The snapshot job records written to the metadata, in order (undefined: the record removed). */
const jobRecordOf = (fragment: string): Record<string, unknown> | undefined => {
  const m = /<snapshot_job>([\s\S]*?)<\/snapshot_job>/.exec(fragment);
  return m === null ? undefined : JSON.parse(m[1]!.replace(/&quot;/g, '"').replace(/&apos;/g, '\'').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')) as Record<string, unknown>;
};
/** A fragment virDomainSetMetadata takes, as libvirt gives it back under the ovirt-vm key. */
const prefixed = (fragment: string): string => fragment.replace(/<(\/?)([\w.-]+)/g, '<$1ovirt-vm:$2').replace(/^<ovirt-vm:vm/, '<ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0"');
const withoutJob = (md: string): string => md.replace(/<(?:ovirt-vm:)?snapshot_job>[\s\S]*?<\/(?:ovirt-vm:)?snapshot_job>/, '').replace(/\s+/g, '');

function setup(script: Script = {}) {
  const calls: { op: string; args: Record<string, unknown>; opts?: Record<string, unknown> }[] = [];
  let switched = script.switched === true;
  let md = script.md ?? ovirtVm(BASE);
  const jobRecords: (Record<string, unknown> | undefined)[] = [];
  let statsCalls = 0;
  let snapshotRunning: Promise<void> | undefined;
  // libvirt's behaviour on virDomainAbortJob during a memory snapshot: the snapshot call fails, aborted.
  let abortSnapshot: ((err: Error) => void) | undefined;
  let snapshotCalled!: () => void;
  const snapshotReached = new Promise<void>((r) => { snapshotCalled = r; });
  const dispatcher = {
    dispatch: async <T>(op: string, args: Record<string, unknown>, opts?: Record<string, unknown>): Promise<T> => {
      calls.push({ op, args, ...(opts !== undefined ? { opts } : {}) });
      switch (op) {
        case 'libvirt.fsFreeze': script.onFreeze?.(); if (script.freeze) throw script.freeze; return 1 as T;
        case 'libvirt.fsThaw': if (script.thaw) throw script.thaw; return 1 as T;
        case 'libvirt.snapshotCreateXML': {
          const aborted = new Promise<never>((_, reject) => { abortSnapshot = reject; });
          let ended!: () => void;
          snapshotRunning = new Promise<void>((r) => { ended = r; });
          snapshotCalled();
          try {
            await Promise.race([script.holdSnapshot, aborted]);
            if (script.snapshot) throw script.snapshot;
            switched = true;
            return '1700000000' as T;
          } finally {
            ended();
          }
        }
        case 'migration.abortJob':
          if (script.abortTooLate || (script.abortsBeforeJob ?? 0) > calls.filter((c) => c.op === op).length - 1) throw libvirtError(VirErrorCode.OPERATION_INVALID, 'Requested operation is not valid: no job is active on the domain');
          abortSnapshot?.(libvirtError(78 /* VIR_ERR_OPERATION_ABORTED */, 'operation aborted: snapshot job: canceled by client'));
          return null as T;
        case 'libvirt.xmlDesc': return (switched ? liveXml(BASE, TOP_PATH, BASE_PATH, md) : liveXml(BASE, BASE_PATH, undefined, md)) as T;
        case 'libvirt.setMetadata': {
          // As libvirt: a modify job such as this one waits for the snapshot's own job to end.
          const entry = calls.at(-1)!;
          await snapshotRunning;
          const next = prefixed(String(args['metadata']));
          // A write that changes only the snapshot job's record is shown as `job-md` (../ops).
          if (withoutJob(next) === withoutJob(md)) {
            entry.op = 'job-md';
            jobRecords.push(jobRecordOf(String(args['metadata'])));
          }
          md = next;
          return null as T;
        }
        case 'migration.jobStats': {
          const types = script.jobTypes ?? [0];
          return { type: types[Math.min(statsCalls++, types.length - 1)] } as T;
        }
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
  /** The time syncs asked for: the VM and the jobs' statuses at that moment. */
  const synced: string[] = [];
  const memoryIo: string[] = [];
  const time = new ManualTime(1_000_000);
  const events: VirtJobInfo[] = [];
  const jobs = new VirtJobs({ timers: time, autodeleteDelayS: 3600, onFinished: (j) => events.push(j) });
  const snaps = new VmSnapshots({
    memoryVolumes: {
      prepare: (v) => { memoryIo.push(`prepare ${v.volumeID}`); return Promise.resolve(`/rhev/sd/images/${v.imageID}/${v.volumeID}`); },
      teardown: (v) => { memoryIo.push(`teardown ${v.volumeID}`); return Promise.resolve(); },
      write: (path, data) => { memoryIo.push(`write ${path} ${Buffer.from(data).subarray(0, 2).toString('hex')}`); return Promise.resolve(); },
    },
    machineParams: async () => { await script.holdParams; return { vmId: VM_ID, _srcDomXML: '<domain/>' }; },
    libvirt: new LibvirtClient({ dispatcher, connections: new ConnectionsStub() }),
    log: pino({ level: 'silent' }),
    drives,
    requireRunning: (id) => {
      if (id !== VM_ID) throw Object.assign(new Error('Virtual machine does not exist'), { vdsmCode: 1 });
      return vm;
    },
    adoptLiveXml: () => { adopted++; return Promise.resolve(); },
    clock: time,
    timers: time,
    jobs,
    // vdsm's finalize: the time sync is asked for at every job's end (it decides by its key).
    syncGuestTime: (v) => synced.push(`${v.vmId} ${Object.values(jobs.info()).map((j) => j.status).join(',')}`),
  });
  /** libvirt's calls in order, without the XML reads (each metadata write reads the live XML first). */
  const ops = (): string[] => calls.map((c) => c.op).filter((op) => op !== 'libvirt.xmlDesc');
  /** VM.snapshot as the engine calls it: the answer, the job as Host.getJobs shows it then, and once finished. */
  const run = async (req: Record<string, unknown> & { snapDrives: unknown }, jobUUID = `job-${Math.random()}`) => {
    const answer = snaps.snapshot(VM_ID, { ...req, jobUUID });
    const atAnswer = jobs.info([jobUUID])[jobUUID];
    await snaps.settled(jobUUID);
    return { answer, atAnswer, job: jobs.info([jobUUID])[jobUUID]! };
  };
  return { snaps, jobs, events, time, vm, calls, ops, prepared, memoryIo, run, snapshotReached, adopted: () => adopted, jobRecords, md: () => md, synced };
}

const REQ = { snapDrives: [{ domainID: SD, imageID: IMG, volumeID: TOP, baseVolumeID: BASE }] };
const code = (n: number) => (err: { vdsmCode?: unknown }): boolean => err.vdsmCode === n;
const MEM = ['a1', 'a2', 'a3', 'a4'].map((x) => `${x}a1a1a1-0000-4000-8000-00000000${x}${x}`);
const snapMemory = [SD, POOL, ...MEM].join(',');

void describe('VM.snapshot as a virt job', () => {
  void it('answers true with the job running; freeze, snapshot into the prepared new volume, thaw, the records move; then done', async () => {
    const t = setup();
    const { answer, atAnswer, job } = await t.run({ ...REQ, frozen: false }, 'job-1');
    assert.equal(answer, true);
    assert.deepEqual(atAnswer, { id: 'job-1', status: 'running', description: 'snapshot_vm', job_type: 'virt' });
    assert.deepEqual(job, { id: 'job-1', status: 'done', description: 'snapshot_vm', job_type: 'virt' });
    assert.deepEqual(t.events, [job], 'one |jobs|status| event, when the job finished (as vdsm)');
    assert.deepEqual(t.prepared, [TOP]);
    // The job's record written when it starts, once the volumes are prepared, when libvirt completed, and removed at its end.
    assert.deepEqual(t.ops(), ['job-md', 'job-md', 'libvirt.fsFreeze', 'libvirt.snapshotCreateXML', 'libvirt.fsThaw', 'job-md', 'libvirt.setMetadata', 'job-md']);
    const snap = t.calls.find((c) => c.op === 'libvirt.snapshotCreateXML')!.args;
    assert.equal(snap['flags'], SnapshotFlag.DISK_ONLY | SnapshotFlag.REUSE_EXT | SnapshotFlag.NO_METADATA);
    assert.match(String(snap['xml']), new RegExp(`<disk name="vda" snapshot="external" type="file"><driver type="qcow2"/><source file="${TOP_PATH}"/></disk>`));
    assert.match(String(snap['xml']), /<disk name="vdb" snapshot="no"/);
    const md = t.calls.find((c) => c.op === 'libvirt.setMetadata')!.args;
    assert.equal(md['key'], 'ovirt-vm');
    assert.equal(md['uri'], 'http://ovirt.org/vm/1.0');
    assert.match(String(md['metadata']), new RegExp(`^<vm>\\s*<device name="vda" devtype="disk">[\\s\\S]*<volumeID>${TOP}</volumeID>`));
    assert.deepEqual(t.vm.storageDrives.map((d) => [d.volumeID, d.path]), [[TOP, TOP_PATH]]);
    assert.equal(t.adopted(), 1);
  });

  void it('asks for the guest time sync once at the job\'s end, done or failed (vdsm\'s finalize; time_sync_snapshot_enable decides)', async () => {
    const ok = setup();
    await ok.run({ ...REQ, frozen: false }, 'job-sync');
    assert.deepEqual(ok.synced, [`${VM_ID} done`]);
    const failed = setup({ snapshot: libvirtError(VirErrorCode.OPERATION_FAILED, 'snapshot refused') });
    await failed.run({ ...REQ, frozen: false }, 'job-sync-failed');
    assert.deepEqual(failed.synced, [`${VM_ID} failed`]);
  });

  void it('answers while libvirt still takes the snapshot: Host.getJobs shows it running until libvirt returns', async () => {
    let release!: () => void;
    const t = setup({ holdSnapshot: new Promise<void>((r) => { release = r; }) });
    assert.equal(t.snaps.snapshot(VM_ID, { ...REQ, jobUUID: 'job-slow' }), true);
    await t.snapshotReached;
    assert.equal(t.jobs.info(['job-slow'])['job-slow']?.status, 'running');
    assert.equal(t.vm.storageDrives[0]!.volumeID, BASE, 'nothing moved while libvirt works');
    release();
    await t.snaps.settled('job-slow');
    assert.equal(t.jobs.info(['job-slow'])['job-slow']?.status, 'done');
  });

  void it('without a jobUUID: an id of its own, answered at once, listed as a virt job', async () => {
    const t = setup();
    assert.equal(t.snaps.snapshot(VM_ID, REQ), true);
    const [id, ...more] = Object.keys(t.jobs.info());
    assert.equal(more.length, 0);
    assert.match(id!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await t.snaps.drain();
    assert.equal(t.jobs.info([id!])[id!]?.status, 'done');
  });

  void it('with the memory: the parameters written to the configuration volume, then one snapshot with the memory file, no freeze', async () => {
    const t = setup();
    const { answer, job } = await t.run({ ...REQ, snapMemory, timeout: 2 });
    assert.equal(answer, true);
    assert.equal(job.status, 'done');
    assert.deepEqual(t.memoryIo, [`prepare ${MEM[3]}`, `write /rhev/sd/images/${MEM[2]}/${MEM[3]} 8002`, `teardown ${MEM[3]}`, `prepare ${MEM[1]}`, `teardown ${MEM[1]}`]);
    assert.deepEqual(t.ops(), ['job-md', 'job-md', 'libvirt.snapshotCreateXML', 'job-md', 'libvirt.setMetadata', 'job-md']);
    const snap = t.calls.find((c) => c.op === 'libvirt.snapshotCreateXML')!;
    assert.equal(snap.args['flags'], SnapshotFlag.REUSE_EXT | SnapshotFlag.NO_METADATA);
    assert.match(String(snap.args['xml']), new RegExp(`<memory snapshot="external" file="/rhev/sd/images/${MEM[0]}/${MEM[1]}"/>`));
    assert.deepEqual(snap.opts, { timeoutMs: 120_000 + 60_000, discard: false }, 'the snapshot\'s own limit (the abort\'s grace beyond it), its worker kept');
    assert.deepEqual(t.vm.storageDrives.map((d) => d.volumeID), [TOP]);
    assert.equal(t.time.pendingTimers, 1, 'the abort timer cleared; only the job\'s autodelete is left');
    assert.throws(() => t.snaps.snapshot(VM_ID, { ...REQ, snapMemory: 'a,b' }), (err: Error & { vdsmCode?: number }) => err.vdsmCode === 48 && /snapMemory/.test(err.message));
  });

  void it('a memory snapshot past its timeout: libvirt\'s job aborted, the job failed with 48, nothing moved, the memory volume torn down', async () => {
    const t = setup({ holdSnapshot: new Promise<void>(() => undefined) });
    assert.equal(t.snaps.snapshot(VM_ID, { ...REQ, snapMemory, timeout: 1, jobUUID: 'job-mem' }), true);
    await t.snapshotReached;
    t.time.advance(59_999);
    assert.ok(!t.ops().includes('migration.abortJob'), 'not before the timeout');
    t.time.advance(1);
    await t.snaps.settled('job-mem');
    // The abort is not held by the record's write, which libvirt runs once the snapshot's job ended.
    assert.deepEqual(t.ops(), ['job-md', 'job-md', 'libvirt.snapshotCreateXML', 'migration.abortJob', 'job-md', 'job-md']);
    assert.deepEqual(t.jobRecords.map((r) => r === undefined ? 'removed' : `abort=${String(r['abort'])}`), ['abort=false', 'abort=false', 'abort=true', 'removed'], 'the abort recorded');
    const job = t.jobs.info(['job-mem'])['job-mem']!;
    assert.equal(job.status, 'failed');
    assert.equal(job.error?.code, 48);
    assert.match(job.error!.message, /^Snapshot failed: the memory snapshot outlived its timeout of 1 min and libvirt's job was aborted \(operation aborted/);
    assert.deepEqual(t.vm.storageDrives.map((d) => [d.volumeID, d.path]), [[BASE, BASE_PATH]]);
    assert.equal(t.adopted(), 0);
    assert.equal(t.memoryIo.at(-1), `teardown ${MEM[1]}`);
    // The VM is free for the engine's next attempt.
    assert.equal(t.snaps.snapshot(VM_ID, { ...REQ, jobUUID: 'job-next' }), true);
  });

  void it('an abort that comes too late (libvirt completed the memory snapshot): the job fails with 48 as vdsm\'s does; the records follow the disks', async () => {
    let release!: () => void;
    const t = setup({ holdSnapshot: new Promise<void>((r) => { release = r; }), abortTooLate: true });
    assert.equal(t.snaps.snapshot(VM_ID, { ...REQ, snapMemory, timeout: 1, jobUUID: 'job-late-abort' }), true);
    await t.snapshotReached;
    t.time.advance(60_000);
    release();
    await t.snaps.settled('job-late-abort');
    assert.deepEqual(t.ops(), ['job-md', 'job-md', 'libvirt.snapshotCreateXML', 'migration.abortJob', 'job-md', 'libvirt.setMetadata', 'job-md']);
    const job = t.jobs.info(['job-late-abort'])['job-late-abort']!;
    assert.equal(job.status, 'failed');
    assert.equal(job.error?.code, 48);
    assert.match(job.error!.message, /^Snapshot failed: the memory snapshot outlived its timeout of 1 min; libvirt completed it after the abort was sent/);
    assert.deepEqual(t.events.map((e) => e.status), ['failed']);
    assert.equal(t.jobRecords.some((r) => r?.['completed'] === true), false, 'never recorded completed once aborted');
    assert.equal(t.jobRecords.at(-1), undefined, 'the record removed');
    assert.deepEqual(t.vm.storageDrives.map((d) => d.volumeID), [TOP], 'libvirt moved the disks: the records follow them');
  });

  void it('an abort sent before libvirt\'s job runs is sent again a second later, until it takes', async () => {
    const t = setup({ holdSnapshot: new Promise<void>(() => undefined), abortsBeforeJob: 2 });
    assert.equal(t.snaps.snapshot(VM_ID, { ...REQ, snapMemory, timeout: 1, jobUUID: 'job-retry' }), true);
    await t.snapshotReached;
    const aborts = (): number => t.ops().filter((o) => o === 'migration.abortJob').length;
    const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r)); };
    t.time.advance(60_000);
    await settle();
    assert.equal(aborts(), 1);
    t.time.advance(999);
    await settle();
    assert.equal(aborts(), 1, 'not before a second');
    t.time.advance(1);
    await settle();
    assert.equal(aborts(), 2);
    t.time.advance(1_000);
    await t.snaps.settled('job-retry');
    assert.equal(aborts(), 3);
    assert.equal(t.jobs.info(['job-retry'])['job-retry']?.status, 'failed');
    assert.equal(t.time.pendingTimers, 1, 'no abort timer left behind; only the job\'s autodelete');
  });

  void it('the memory snapshot\'s timeout counts from the job\'s start', async () => {
    let params!: () => void;
    const t = setup({ holdSnapshot: new Promise<void>(() => undefined), holdParams: new Promise<void>((r) => { params = r; }) });
    assert.equal(t.snaps.snapshot(VM_ID, { ...REQ, snapMemory, timeout: 1, jobUUID: 'job-late' }), true);
    // 50 s go by before libvirt is asked: 10 s of the minute are left for it.
    t.time.advance(50_000);
    params();
    await t.snapshotReached;
    assert.deepEqual(t.calls.find((c) => c.op === 'libvirt.snapshotCreateXML')!.opts, { timeoutMs: 10_000 + 60_000, discard: false });
    t.time.advance(10_000);
    await t.snaps.settled('job-late');
    assert.equal(t.jobs.info(['job-late'])['job-late']?.status, 'failed');
    assert.deepEqual(t.ops(), ['job-md', 'job-md', 'libvirt.snapshotCreateXML', 'migration.abortJob', 'job-md', 'job-md']);
  });

  void it('a disk-only snapshot past freeze_timeout after the freeze: thawed, never taken, the job failed with 48', async () => {
    const time: { t?: ManualTime } = {};
    const t = setup({ onFreeze: () => time.t!.advance(8 * 60_000 + 1) });
    time.t = t.time;
    const { job } = await t.run({ ...REQ, freeze_timeout: 8 }, 'job-ft');
    assert.equal(job.status, 'failed');
    assert.match(job.error!.message, /^Snapshot failed: .*freeze_timeout of 8 min/);
    assert.deepEqual(t.ops(), ['job-md', 'job-md', 'libvirt.fsFreeze', 'libvirt.fsThaw', 'job-md']);
    assert.deepEqual(t.vm.storageDrives.map((d) => d.volumeID), [BASE]);
  });

  void it('frozen by the engine: no freeze or thaw here', async () => {
    const t = setup();
    assert.equal((await t.run({ ...REQ, frozen: true })).job.status, 'done');
    assert.deepEqual(t.ops(), ['job-md', 'job-md', 'libvirt.snapshotCreateXML', 'job-md', 'libvirt.setMetadata', 'job-md']);
  });

  void it('a freeze that fails: the snapshot is still taken and the guest still thawed', async () => {
    const t = setup({ freeze: libvirtError(VirErrorCode.AGENT_UNRESPONSIVE, 'Guest agent is not responding') });
    assert.equal((await t.run(REQ)).job.status, 'done');
    assert.deepEqual(t.ops().slice(2, 5), ['libvirt.fsFreeze', 'libvirt.snapshotCreateXML', 'libvirt.fsThaw']);
  });

  void it('a snapshot libvirt refuses: the job failed with 48 and libvirt\'s reason, thawed, nothing of the VM moved', async () => {
    const t = setup({ snapshot: libvirtError(VirErrorCode.OPERATION_FAILED, 'operation failed: missing overlay') });
    const { answer, job } = await t.run(REQ, 'job-1');
    assert.equal(answer, true);
    assert.equal(job.status, 'failed');
    assert.equal(job.error?.code, 48);
    assert.match(job.error!.message, /^Snapshot failed: .*missing overlay/);
    assert.deepEqual(t.ops(), ['job-md', 'job-md', 'libvirt.fsFreeze', 'libvirt.snapshotCreateXML', 'libvirt.fsThaw', 'job-md']);
    assert.deepEqual(t.vm.storageDrives.map((d) => [d.volumeID, d.path]), [[BASE, BASE_PATH]]);
    assert.equal(t.adopted(), 0);
  });

  // Without this, the job waited for the re-preparation and never ended (the case's timeout fails it).
  void it('a recovered VM whose re-preparation hangs on its storage: the job ends done, the records move, and the late prepare leaves the new volume\'s path', { timeout: 10_000 }, async () => {
    const t = setup();
    // The storage of the re-preparation: a stand-in whose prepare answers only when the test says (a real
    // hang is test/realvm/recovery-storage-vm's FIFO).
    let answer!: (path: string) => void;
    const asked: string[] = [];
    const hung = {
      prepare: (d: { volumeID: string }) => { asked.push(d.volumeID); return new Promise<string>((resolve) => { answer = resolve; }); },
      teardown: () => Promise.resolve(),
    };
    t.vm.drivesRecovering = new DriveRepreparation(t.vm.storageDrives, hung, { vmId: VM_ID, log: pino({ level: 'silent' }) });
    assert.deepEqual(asked, [BASE], 'the prepare of the drive\'s old volume is in flight');
    const { job } = await t.run({ ...REQ, frozen: false }, 'job-hung');
    assert.equal(job.status, 'done');
    assert.deepEqual(t.vm.storageDrives.map((d) => [d.volumeID, d.path]), [[TOP, TOP_PATH]]);
    answer(BASE_PATH);
    await t.vm.drivesRecovering.done;
    assert.deepEqual(t.vm.storageDrives.map((d) => [d.volumeID, d.path]), [[TOP, TOP_PATH]], 'the drive stays on the snapshot\'s volume');
  });

  void it('a new volume that cannot be prepared: the job failed with 48, the guest never frozen, libvirt never asked', async () => {
    const t = setup({ prepare: Object.assign(new Error('Volume does not exist'), { vdsmCode: 201 }) });
    const { job } = await t.run(REQ);
    assert.deepEqual(job.error, { code: 48, message: 'Snapshot failed: Volume does not exist' });
    assert.deepEqual(t.ops(), ['job-md', 'job-md'], 'the record written at the start, removed at the end');
    assert.doesNotMatch(t.md(), /snapshot_job/);
  });

  void it('bad requests are refused at once (48; an unknown VM 1) and start no job', () => {
    const t = setup();
    assert.throws(() => t.snaps.snapshot(VM_ID, { snapDrives: [{ ...REQ.snapDrives[0], baseVolumeID: TOP, volumeID: BASE.replace('3333-4', '3333-5') }], jobUUID: 'j1' }), code(48));
    assert.throws(() => t.snaps.snapshot(VM_ID, { snapDrives: 'vda', jobUUID: 'j2' }), code(48));
    assert.throws(() => t.snaps.snapshot(VM_ID, { ...REQ, snapMemory: 'a,b,c,d,e,f', jobUUID: 'j3' }), (err: Error & { vdsmCode?: number }) => err.vdsmCode === 48 && /snapMemory/.test(err.message));
    assert.throws(() => t.snaps.snapshot('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', { ...REQ, jobUUID: 'j4' }), code(1));
    assert.deepEqual(t.jobs.info(), {});
    assert.deepEqual(t.ops(), []);
    assert.deepEqual(t.prepared, []);
  });

  void it('a second snapshot of the VM while one runs is 48; a job id still listed is 100 (vdsm\'s JobExistsError)', async () => {
    let release!: () => void;
    const t = setup({ holdSnapshot: new Promise<void>((r) => { release = r; }) });
    assert.equal(t.snaps.snapshot(VM_ID, { ...REQ, jobUUID: 'job-a' }), true);
    assert.throws(() => t.snaps.snapshot(VM_ID, { ...REQ, jobUUID: 'job-b' }), (err: Error & { vdsmCode?: number }) => err.vdsmCode === 48 && /under way/.test(err.message));
    assert.deepEqual(Object.keys(t.jobs.info()), ['job-a']);
    release();
    await t.snaps.settled('job-a');
    assert.deepEqual(t.jobs.info(['job-a']), { 'job-a': { id: 'job-a', status: 'done', description: 'snapshot_vm', job_type: 'virt' } });
    assert.throws(() => t.snaps.snapshot(VM_ID, { ...REQ, jobUUID: 'job-a' }), (err: Error & { vdsmCode?: number }) => err.vdsmCode === 100 && /Job 'job-a' exists/.test(err.message));
  });

  void it('the agent stops mid-job: the job, cut short, keeps its record in the metadata for the next agent and is not reported', async () => {
    let release!: () => void;
    const t = setup({ holdSnapshot: new Promise<void>((r) => { release = r; }), snapshot: libvirtError(VirErrorCode.OPERATION_FAILED, 'the connection closed') });
    assert.equal(t.snaps.snapshot(VM_ID, { ...REQ, jobUUID: 'job-stop' }), true);
    await t.snapshotReached;
    t.snaps.close();
    release();
    await t.snaps.settled('job-stop');
    assert.match(t.md(), /<ovirt-vm:snapshot_job>.*job-stop.*newDrives/, 'the record stays');
    assert.deepEqual(t.events, [], 'no |jobs|status| event');
    assert.equal(t.jobs.info(['job-stop'])['job-stop']?.status, 'running');
  });

  void it('a finished job is forgotten after [jobs] autodelete_delay', async () => {
    const t = setup();
    await t.run(REQ, 'job-x');
    t.time.advance(3_599_999);
    assert.ok(t.jobs.has('job-x'));
    t.time.advance(1);
    assert.deepEqual(t.jobs.info(), {});
  });
});

/** The metadata of a VM whose snapshot job the previous agent left: the record as vdsm keeps it. */
const recordedJob = (r: Record<string, unknown>): string => ovirtVm(BASE, `<ovirt-vm:snapshot_job>${escapeXml(JSON.stringify({
  jobUUID: 'job-r', startTime: 970, timeout: 60, freezeTimeout: 480, abort: false, completed: false, frozen: false, freeze: false, memoryParams: null,
  newDrives: [{ name: 'vda', poolID: POOL, domainID: SD, imageID: IMG, baseVolumeID: BASE, volumeID: TOP, path: TOP_PATH }], memoryVolPath: null, ...r,
}))}</ovirt-vm:snapshot_job>`);
const MEMORY_PARAMS = { memory: { domainID: SD, poolID: POOL, imageID: MEM[0], volumeID: MEM[1] }, conf: { domainID: SD, poolID: POOL, imageID: MEM[2], volumeID: MEM[3] } };
/** Lets the job's promise chain run (no time passes). */
const settle = async (): Promise<void> => { for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r)); };

void describe('a snapshot job recovered after an agent restart (its state in the domain metadata)', () => {
  /** An agent starting on a VM whose metadata records a snapshot job: it recovers the job. */
  const recovering = (script: Script) => {
    const t = setup(script);
    t.snaps.recover(t.vm, liveXml(BASE, script.switched === true ? TOP_PATH : BASE_PATH, undefined, t.md()));
    return t;
  };

  void it('a memory snapshot libvirt still takes: listed running, followed until libvirt\'s job is gone, then done; the records move, the memory volume is torn down', async () => {
    const t = recovering({ md: recordedJob({ memoryParams: MEMORY_PARAMS, memoryVolPath: '/m' }), switched: true, jobTypes: [2, 2, 0] });
    assert.deepEqual(t.jobs.info(), { 'job-r': { id: 'job-r', status: 'running', description: 'snapshot_vm', job_type: 'virt' } });
    assert.throws(() => t.snaps.snapshot(VM_ID, { ...REQ, jobUUID: 'job-other' }), code(48), 'the VM is busy with the recovered job');
    await settle();
    assert.deepEqual(t.ops(), ['migration.jobStats']);
    t.time.advance(10_000);
    await settle();
    assert.deepEqual(t.ops(), ['migration.jobStats', 'migration.jobStats']);
    assert.equal(t.jobs.info(['job-r'])['job-r']?.status, 'running');
    t.time.advance(10_000);
    await t.snaps.settled('job-r');
    assert.deepEqual(t.ops(), ['migration.jobStats', 'migration.jobStats', 'migration.jobStats', 'job-md', 'libvirt.setMetadata', 'job-md']);
    assert.equal(t.jobRecords[0]?.['completed'], true);
    assert.equal(t.jobRecords[1], undefined, 'the record removed when the job ends');
    assert.doesNotMatch(t.md(), /snapshot_job/);
    assert.match(t.md(), new RegExp(`<ovirt-vm:volumeID>${TOP}</ovirt-vm:volumeID>`), 'the metadata names the new volume');
    assert.deepEqual(t.events, [{ id: 'job-r', status: 'done', description: 'snapshot_vm', job_type: 'virt' }]);
    assert.deepEqual(t.vm.storageDrives.map((d) => [d.volumeID, d.path]), [[TOP, TOP_PATH]]);
    assert.deepEqual(t.memoryIo, [`teardown ${MEM[1]}`]);
    assert.equal(t.time.pendingTimers, 1, 'the abort timer cleared; only the job\'s autodelete is left');
  });

  void it('a memory snapshot still running at its timeout (counted from the first start): aborted (and recorded), then failed with 48 even though libvirt switched the disks', async () => {
    const t = recovering({ md: recordedJob({ memoryParams: MEMORY_PARAMS }), switched: true, jobTypes: [2, 2, 2, 2, 2, 2, 2, 0] });
    await settle();
    t.time.advance(29_999);
    await settle();
    assert.ok(!t.ops().includes('migration.abortJob'), 'not before the timeout');
    t.time.advance(1);
    await settle();
    assert.deepEqual(t.ops().slice(-2), ['migration.abortJob', 'job-md']);
    assert.equal(t.jobRecords[0]?.['abort'], true);
    for (let i = 0; i < 6 && t.jobs.info(['job-r'])['job-r']?.status === 'running'; i++) {
      t.time.advance(10_000);
      await settle();
    }
    await t.snaps.settled('job-r');
    const job = t.jobs.info(['job-r'])['job-r']!;
    assert.equal(job.status, 'failed');
    assert.equal(job.error?.code, 48);
    assert.match(job.error!.message, /^Snapshot failed: the memory snapshot outlived its timeout of 1 min and libvirt's job was aborted/);
    assert.equal(t.jobRecords.at(-1), undefined, 'the record removed');
    assert.deepEqual(t.memoryIo, [`teardown ${MEM[1]}`]);
  });

  void it('a disk-only snapshot libvirt completed while the agent was down: the guest thawed, the records move, done', async () => {
    const t = recovering({ md: recordedJob({ freeze: true }), switched: true });
    await t.snaps.settled('job-r');
    assert.deepEqual(t.ops(), ['migration.jobStats', 'job-md', 'libvirt.fsThaw', 'libvirt.setMetadata', 'job-md']);
    assert.equal(t.jobs.info(['job-r'])['job-r']?.status, 'done');
    assert.deepEqual(t.vm.storageDrives.map((d) => d.volumeID), [TOP]);
    assert.equal(t.adopted(), 1);
  });

  void it('a snapshot that did not happen while the agent was down (the disks on their old volumes): the guest thawed, failed with 48, nothing moved', async () => {
    const t = recovering({ md: recordedJob({ freeze: true }) });
    await t.snaps.settled('job-r');
    assert.deepEqual(t.ops(), ['migration.jobStats', 'job-md', 'libvirt.fsThaw', 'job-md']);
    const job = t.jobs.info(['job-r'])['job-r']!;
    assert.equal(job.status, 'failed');
    assert.deepEqual(job.error, { code: 48, message: 'Snapshot failed: after the agent\'s restart, disk vda does not run on its new volume' });
    assert.deepEqual(t.events.map((e) => e.status), ['failed']);
    assert.deepEqual(t.vm.storageDrives.map((d) => d.volumeID), [BASE]);
    assert.doesNotMatch(t.md(), /snapshot_job/);
  });

  void it('a job stopped before it recorded its volumes cannot be judged: thawed, failed with 48', async () => {
    // Written when the job started, before its volumes were prepared: no newDrives yet.
    const md = recordedJob({ freeze: true }).replace(/,&quot;newDrives&quot;:\[.*?\],&quot;memoryVolPath&quot;:null/, '');
    assert.doesNotMatch(md, /newDrives/);
    const t = recovering({ md, switched: true });
    await t.snaps.settled('job-r');
    assert.deepEqual(t.ops(), ['migration.jobStats', 'job-md', 'libvirt.fsThaw', 'job-md']);
    assert.match(t.jobs.info(['job-r'])['job-r']!.error!.message, /cannot be judged/);
    assert.deepEqual(t.vm.storageDrives.map((d) => d.volumeID), [BASE]);
  });

  void it('a record that is not a job this agent can resume is removed; no job is listed; no record, nothing happens', async () => {
    const t = recovering({ md: ovirtVm(BASE, '<ovirt-vm:snapshot_job>{not json</ovirt-vm:snapshot_job>') });
    await settle();
    assert.deepEqual(t.jobs.info(), {});
    assert.doesNotMatch(t.md(), /snapshot_job/);
    const none = recovering({});
    await settle();
    assert.deepEqual(none.jobs.info(), {});
    assert.deepEqual(none.ops(), []);
  });
});

void describe('VirtJobs', () => {
  void it('keeps the most recent finished jobs within its bound, never a running one; a negative delay keeps them', () => {
    const time = new ManualTime();
    const jobs = new VirtJobs({ timers: time, autodeleteDelayS: -1, kept: 3 });
    assert.ok(jobs.start('run', 'snapshot_vm'));
    for (let i = 0; i < 5; i++) {
      assert.ok(jobs.start(`j${i}`, 'snapshot_vm'));
      jobs.finish(`j${i}`, i % 2 === 0 ? undefined : { code: 48, message: 'Snapshot failed' });
    }
    assert.deepEqual(Object.keys(jobs.info()), ['run', 'j2', 'j3', 'j4']);
    assert.deepEqual(jobs.info(['j3']), { j3: { id: 'j3', status: 'failed', description: 'snapshot_vm', job_type: 'virt', error: { code: 48, message: 'Snapshot failed' } } });
    assert.equal(jobs.start('j4', 'snapshot_vm'), false, 'an id still listed');
    assert.equal(time.pendingTimers, 0);
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
