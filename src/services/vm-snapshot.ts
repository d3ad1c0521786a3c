// VM.freeze, VM.thaw and VM.snapshot: the guest's file systems frozen and thawed through its QEMU guest
// agent (libvirt's virDomainFSFreeze / virDomainFSThaw, on the guest-agent connection), and a live
// disk-only snapshot into volumes the engine created (Volume.create over the current top): the new
// volumes prepared, the guest frozen, libvirt switches the disks onto them (virDomainSnapshotCreateXML),
// the guest thawed, and the VM's drive records moved onto the new tops (live metadata, the VM's XML and
// its record on disk, its storage drives). As with vdsm 4.4+, VM.snapshot answers once the snapshot is
// started as a virt job (./virt-jobs.ts), which the engine follows with Host.getJobs; a memory snapshot
// past its timeout has libvirt's job aborted (and the job fails, even when libvirt completes the snapshot
// anyway). The job's state is kept in the VM's domain metadata (./snapshot-job-state.ts) while it runs, so
// an agent restarted mid-job recovers it (recover): listed again, ended as vdsm ends it, the guest thawed. Every libvirt call goes through the Executor with its timeout, so a guest agent that never
// answers costs a worker's wait, not the daemon.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { errorMessage, Errors, vdsmError, wrapError, type VdsmError } from '../errors.js';
import type { Libvirt } from '../libvirt/client.js';
import { Impact, MetadataType, VirErrorCode } from '../libvirt/constants.js';
import { isNoDomain, libvirtErrorInfo } from '../libvirt/errors.js';
import { OVIRT_VM_NS } from '../virt/domain-xml.js';
import { snapshotJobOf, type SnapshotJobDrive } from '../virt/snapshot-job-metadata.js';
import { finishRecoveredJob, RecordedJob } from './snapshot-job-state.js';
import {
  metadataFragment, ovirtVmElement, parseSnapDrives, planSnapshot, runningDrives, snapshotXml, SnapshotRequestError, withDriveVolume,
  type DriveSwitch, type SnapshotPlan,
} from '../virt/live-snapshot.js';
import type { Clock, Timers } from '../runtime/clock.js';
import { encodeSavedParams, HibernationHandleError, parseHibernationHandle, type HibernationVolumes, type VolumeRef } from '../virt/migration/hibernation-volumes.js';
import type { MemoryVolumeStorage } from './migration/hibernation.js';
import type { Vm, VmDriveStorage } from './vm-manager.js';
import type { VirtJobs } from './virt-jobs.js';

/** VM.snapshot's parameters as the engine sends them. */
export interface SnapshotRequest {
  snapDrives: unknown;
  snapMemory?: unknown;
  frozen?: unknown;
  jobUUID?: unknown;
  /** Minutes a memory snapshot may take (vdsm's default 30); past it libvirt's job is aborted. */
  timeout?: unknown;
  /** Minutes from the job's start to the snapshot of a disk-only one (vdsm's default 8). */
  freeze_timeout?: unknown;
}

/** vdsm's limit on a snapshot job, minutes (VM.snapshot's `timeout` default). */
const DEFAULT_SNAPSHOT_TIMEOUT_MIN = 30;
/** vdsm's limit from a disk-only snapshot job's start to libvirt's snapshot call, minutes (`freeze_timeout`). */
const DEFAULT_FREEZE_TIMEOUT_MIN = 8;
/**
 * The memory snapshot's libvirt call is given this much beyond the snapshot's timeout: at the timeout
 * libvirt's job is aborted and the call returns; the executor's own limit is only the backstop for a
 * libvirt that does not honour the abort.
 */
const ABORT_GRACE_MS = 60_000;
/** An abort libvirt refused because its job had not started yet is sent again after this long. */
const ABORT_RETRY_MS = 1_000;

/** vdsm's description of its snapshot job. */
export const SNAPSHOT_JOB = 'snapshot_vm';

export interface VmSnapshotsOptions {
  libvirt: Libvirt;
  log: Logger;
  /** Storage volumes: the new top volumes are prepared through it (absent: VM.snapshot is refused). */
  drives?: VmDriveStorage | undefined;
  /** The running VM (NO_VM for an unknown one, VM_DOWN for one that is down). */
  requireRunning(vmId: string): Vm;
  /** Take libvirt's live XML as the VM's XML and domain, and record it on disk (best effort). */
  adoptLiveXml(vm: Vm): Promise<void>;
  /** The memory and configuration volumes of a memory snapshot (absent: memory snapshots are refused). */
  memoryVolumes?: Pick<MemoryVolumeStorage, 'prepare' | 'teardown' | 'write'> | undefined;
  /** The VM's parameters for its configuration volume (what hibernation saves: live XML, elapsed time, guest info). */
  machineParams?: ((vm: Vm) => Promise<Record<string, unknown>>) | undefined;
  /** The snapshot's timeouts count on it; the abort at the memory snapshot's timeout is its timer. */
  clock: Clock;
  timers: Timers;
  /** The host's virt jobs (Host.getJobs): each snapshot is one. */
  jobs: VirtJobs;
  /** At a job's end, done or failed (vdsm's finalize): the guest's clock, if [vars] time_sync_snapshot_enable. */
  syncGuestTime?: (vm: Vm) => void;
}

export class VmSnapshots {
  readonly #o: VmSnapshotsOptions;
  /** VMs with a snapshot under way: a second one at the same time is refused (the disks are moving). */
  readonly #busy = new Set<string>();
  /** The snapshots under way, by job id: settled when the job is finished (tests, shutdown). */
  readonly #running = new Map<string, Promise<void>>();
  /** The agent stops: a job ending now (its libvirt calls cut short) leaves its record for the next agent. */
  #closed = false;

  constructor(opts: VmSnapshotsOptions) {
    this.#o = opts;
  }

  /** VM.freeze: every mounted file system of the guest frozen by its agent. */
  async freeze(vmId: string): Promise<true> {
    const vm = this.#o.requireRunning(vmId);
    const n = await this.#fs(vm, 'freeze');
    this.#o.log.info({ vmId: vm.vmId, filesystems: n }, 'guest filesystems frozen');
    return true;
  }

  /** VM.thaw: the guest's frozen file systems thawed by its agent. */
  async thaw(vmId: string): Promise<true> {
    const vm = this.#o.requireRunning(vmId);
    const n = await this.#fs(vm, 'thaw');
    this.#o.log.info({ vmId: vm.vmId, filesystems: n }, 'guest filesystems thawed');
    return true;
  }

  /**
   * VM.snapshot, as vdsm 4.4+ runs it: what can be checked at once is (unknown VM 1, a request that
   * names no drive the VM runs on or a malformed snapMemory 48, another snapshot of the VM under way 48,
   * a job id still listed 100), then the snapshot is registered as the virt job `snapshot_vm` (the
   * engine's `jobUUID`, or an id of our own), runs in the background and the call answers `true` at once.
   * Host.getJobs shows the job running, then done, or failed with error 48 and the reason; a failure
   * before libvirt switched the disks leaves every drive on its old volume.
   */
  snapshot(vmId: string, req: SnapshotRequest): true {
    const vm = this.#o.requireRunning(vmId);
    let memory: HibernationVolumes | undefined;
    if (req.snapMemory !== undefined && req.snapMemory !== null && req.snapMemory !== '') {
      if (this.#o.memoryVolumes === undefined || this.#o.machineParams === undefined) {
        throw vdsmError(Errors.SNAPSHOT, 'Snapshot failed: memory snapshots (snapMemory) need storage domains, which this host does not serve; take a disk-only snapshot');
      }
      try {
        memory = parseHibernationHandle(req.snapMemory);
      } catch (err) {
        if (err instanceof HibernationHandleError) throw vdsmError(Errors.SNAPSHOT, `Snapshot failed: snapMemory: ${err.message}`);
        throw err;
      }
    }
    if (this.#o.drives === undefined) throw vdsmError(Errors.SNAPSHOT, 'Snapshot failed: this host serves no storage domains');
    let plan: SnapshotPlan;
    try {
      plan = planSnapshot(parseSnapDrives(req.snapDrives), runningDrives(vm.domain), { frozen: req.frozen === true || req.frozen === 'true', memory: memory !== undefined });
    } catch (err) {
      if (err instanceof SnapshotRequestError) throw vdsmError(Errors.SNAPSHOT, `Snapshot failed: ${err.message}`);
      throw err;
    }
    if (this.#busy.has(vm.vmId)) throw vdsmError(Errors.SNAPSHOT, 'Snapshot failed: another snapshot of this VM is under way');
    const jobId = typeof req.jobUUID === 'string' && req.jobUUID !== '' ? req.jobUUID : randomUUID();
    // vdsm refuses a job id it still lists (its JobExistsError reaches the engine as a general error).
    if (!this.#o.jobs.start(jobId, SNAPSHOT_JOB)) throw vdsmError(Errors.GENERAL, `General Exception: Job '${jobId}' exists`);
    this.#busy.add(vm.vmId);
    const minutes = typeof req.timeout === 'number' && req.timeout > 0 ? req.timeout : DEFAULT_SNAPSHOT_TIMEOUT_MIN;
    const freezeMinutes = typeof req.freeze_timeout === 'number' && req.freeze_timeout > 0 ? req.freeze_timeout : DEFAULT_FREEZE_TIMEOUT_MIN;
    const log = this.#o.log.child({ vmId: vm.vmId, jobUUID: jobId });
    const st = new RecordedJob(vm.vmId, {
      jobUUID: jobId, startTime: this.#o.clock.now() / 1000, timeout: minutes * 60, freezeTimeout: freezeMinutes * 60,
      abort: false, completed: false, frozen: req.frozen === true || req.frozen === 'true', freeze: plan.freeze, memoryParams: memory ?? null,
    }, { libvirt: this.#o.libvirt, log });
    log.info({ memory: memory !== undefined, drives: plan.switches.length }, 'snapshot job started');
    this.#track(vm, st, this.#snapshot(vm, st, plan, memory, log), log);
    return true;
  }

  /**
   * After an agent restart, the snapshot job `xml`'s metadata records (the VM's live domain XML; nothing
   * when it records none): listed again in Host.getJobs as running, and ended as vdsm ends it. A memory
   * snapshot whose libvirt job still runs is followed until libvirt's job is gone (aborted at its timeout,
   * counted from the job's first start); then the job is done when every disk it moves runs on its new
   * volume, and failed (48) when libvirt's job was aborted, when the disks did not move, or when the
   * previous agent stopped before it recorded the volumes (its state cannot be judged). Either way the
   * guest is thawed when the job froze it, the memory volume torn down, the metadata's job removed and
   * the `|jobs|status|` event sent.
   */
  recover(vm: Vm, xml: string): void {
    const found = snapshotJobOf(xml);
    if (found === undefined) return;
    if ('error' in found) {
      this.#o.log.error({ vmId: vm.vmId, err: found.error }, 'the VM\'s metadata records a snapshot job this agent cannot resume; the record is removed');
      void RecordedJob.remove(vm.vmId, { libvirt: this.#o.libvirt, log: this.#o.log.child({ vmId: vm.vmId }) });
      return;
    }
    const record = found.record;
    const log = this.#o.log.child({ vmId: vm.vmId, jobUUID: record.jobUUID });
    if (!this.#o.jobs.start(record.jobUUID, SNAPSHOT_JOB)) {
      log.error('the snapshot job recorded in the VM\'s metadata is already listed; not recovered twice');
      return;
    }
    this.#busy.add(vm.vmId);
    log.info({ memory: record.memoryParams !== null, abort: record.abort, completed: record.completed, recorded: record.newDrives !== undefined }, 'snapshot job recovered from the VM\'s metadata');
    const st = new RecordedJob(vm.vmId, record, { libvirt: this.#o.libvirt, log, recovered: true });
    this.#track(vm, st, finishRecoveredJob(vm.vmId, st, {
      libvirt: this.#o.libvirt, clock: this.#o.clock, timers: this.#o.timers, log,
      teardownMemory: this.#o.memoryVolumes !== undefined ? (v) => this.#o.memoryVolumes!.teardown(v) : undefined,
      thaw: () => this.#thawAfterSnapshot(vm, log),
      moveDriveRecords: (targets) => this.#moveDriveRecords(vm, targets, log),
    }), log);
  }

  /** The job's end: its record removed from the metadata, then the job reported done or failed (48). */
  #track(vm: Vm, st: RecordedJob, work: Promise<boolean | void>, log: Logger): void {
    const jobId = st.record.jobUUID;
    const leftToNext = (): boolean => {
      if (!this.#closed) return false;
      log.warn('the agent stops: the snapshot job is left in the VM\'s metadata for the next agent');
      return true;
    };
    const run = work.then(
      async (quiesce) => {
        if (leftToNext()) return;
        await st.clear();
        log.info(typeof quiesce === 'boolean' ? { quiesce } : {}, 'snapshot job done');
        this.#o.jobs.finish(jobId);
      },
      async (err: unknown) => {
        if (leftToNext()) return;
        await st.clear();
        // As vdsm: whatever went wrong, the job fails with 48 (the reason kept in the message).
        const own = (err as { vdsmCode?: unknown }).vdsmCode === Errors.SNAPSHOT.vdsmCode;
        const message = own ? errorMessage(err) : `${Errors.SNAPSHOT.message}: ${errorMessage(err)}`;
        log.error({ err: errorMessage(err) }, 'snapshot job failed');
        this.#o.jobs.finish(jobId, { code: Errors.SNAPSHOT.vdsmCode, message });
      },
    ).finally(() => {
      this.#busy.delete(vm.vmId);
      this.#running.delete(jobId);
      if (!this.#closed) this.#o.syncGuestTime?.(vm);
    });
    this.#running.set(jobId, run);
  }

  /**
   * The agent stops: jobs still under way keep their record in the VM's metadata, so the next agent
   * recovers them (libvirt may well complete the snapshot meanwhile) instead of this one failing them
   * because its own calls were cut short. Idempotent.
   */
  close(): void {
    this.#closed = true;
  }

  /** Settles when snapshot job `jobId` is finished (undefined when none of that id runs). */
  settled(jobId: string): Promise<void> | undefined {
    return this.#running.get(jobId);
  }

  /** Settles when every snapshot under way is finished. */
  async drain(): Promise<void> {
    await Promise.all([...this.#running.values()]);
  }

  /** The snapshot job's work; resolves with whether this job froze the guest (logged: vdsm's answer no longer carries it). */
  async #snapshot(vm: Vm, st: RecordedJob, plan: SnapshotPlan, memory: HibernationVolumes | undefined, log: Logger): Promise<boolean> {
    if (plan.switches.length === 0 && memory === undefined) {
      log.info('every requested drive already runs on its new volume: nothing to snapshot');
      return false;
    }
    // What a restarted agent needs to find the job (vdsm writes it before anything is prepared).
    await st.persist();
    // The new volumes prepared (their image is the one the VM runs on, already prepared): each path is
    // the new top's file. A volume that does not exist or cannot be used fails here, nothing switched.
    const targets: { sw: DriveSwitch; path: string }[] = [];
    for (const sw of plan.switches) {
      const d = sw.drive;
      try {
        const path = await this.#o.drives!.prepare({ poolID: d.poolID, domainID: d.domainID, imageID: d.imageID, volumeID: sw.newVolumeID });
        targets.push({ sw, path });
      } catch (err) {
        log.warn({ drive: d.name, volumeID: sw.newVolumeID, err: errorMessage(err) }, 'new snapshot volume could not be prepared');
        throw wrapError(Errors.SNAPSHOT, err, { vmId: vm.vmId });
      }
    }
    st.record.newDrives = targets.map(({ sw, path }): SnapshotJobDrive => ({
      name: sw.drive.name, poolID: sw.drive.poolID, domainID: sw.drive.domainID, imageID: sw.drive.imageID, baseVolumeID: sw.drive.volumeID, volumeID: sw.newVolumeID, path,
    }));
    const switching = new Set(targets.map((t) => t.sw.drive.name));
    const others = vm.domain.disks.filter((d) => (d.device === 'disk' || d.device === 'lun') && d.target !== '' && !switching.has(d.target)).map((d) => d.target);
    if (memory !== undefined) return this.#memorySnapshot(vm, st, memory, targets, others, plan.flags, log);
    st.record.memoryVolPath = null;
    await st.persist();
    const xml = snapshotXml(targets.map((t) => ({ name: t.sw.drive.name, path: t.path })), others);

    let quiesce = false;
    if (plan.freeze) {
      try {
        const n = await this.#call(vm, 'libvirt.fsFreeze');
        quiesce = true;
        log.info({ filesystems: n }, 'guest filesystems frozen for the snapshot');
      } catch (err) {
        // As vdsm: the snapshot goes on without the guest's help (crash-consistent), and the answer says so.
        log.warn({ err: errorMessage(err) }, 'guest filesystems could not be frozen; the snapshot is taken without quiescing');
      }
    }
    // vdsm's freeze_timeout: a disk-only snapshot not taken within it from the job's start is not taken
    // (the guest would have been frozen, or the engine waiting, far too long).
    const elapsedMs = this.#o.clock.now() - st.record.startTime * 1000;
    if (elapsedMs > st.record.freezeTimeout * 1000) {
      if (plan.freeze) await this.#thawAfterSnapshot(vm, log);
      throw vdsmError(Errors.SNAPSHOT, `Snapshot failed: ${Math.round(elapsedMs / 1000)} s passed before the snapshot could be taken, past its freeze_timeout of ${st.record.freezeTimeout / 60} min`);
    }
    log.info({ drives: targets.map((t) => ({ name: t.sw.drive.name, from: t.sw.drive.volumeID, to: t.sw.newVolumeID })), quiesce }, 'taking a live snapshot');
    try {
      await this.#o.libvirt.call('libvirt.snapshotCreateXML', { uuid: vm.vmId, xml, flags: plan.flags });
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'live snapshot failed');
      if (plan.freeze) await this.#thawAfterSnapshot(vm, log);
      if (isNoDomain(err)) throw vdsmError(Errors.NO_VM, { vmId: vm.vmId });
      throw wrapError(Errors.SNAPSHOT, err, { vmId: vm.vmId });
    }
    // Thawed whether or not the freeze answered: a guest may have frozen and failed to say so.
    if (plan.freeze) await this.#thawAfterSnapshot(vm, log);
    log.info('live snapshot completed');
    st.record.completed = true;
    await st.persist();
    await this.#moveDriveRecords(vm, targets, log);
    return quiesce;
  }

  /**
   * A snapshot with the guest's memory (vdsm's snapMemory): the VM's parameters written to the
   * configuration volume (as hibernation writes them, with `restoreFromSnapshot`, so VM.create can bring
   * the VM back from this snapshot), then libvirt pauses the guest, writes its memory state into the
   * memory volume, switches the disks and resumes it. That takes as long as the memory takes to write: the
   * snapshot's `timeout` (minutes from the job's start, vdsm's 30 by default) is its limit. Past it the
   * job is marked aborted (in the metadata too) and libvirt's job aborted (virDomainAbortJob, on another
   * executor than the snapshot call's): libvirt resumes the guest, the disks stay where they were and the
   * job fails. An abort that comes too late to stop libvirt fails the job all the same, as vdsm's does
   * (its abort mark wins over libvirt's completion); the disks did move then, so the records follow them.
   * The call's worker is not discarded. The memory volume is torn down after, as vdsm does.
   */
  async #memorySnapshot(vm: Vm, st: RecordedJob, memory: HibernationVolumes, targets: { sw: DriveSwitch; path: string }[], others: string[], flags: number, log: Logger): Promise<boolean> {
    const volumes = this.#o.memoryVolumes!;
    const withVolume = async <T>(v: VolumeRef, f: (path: string) => Promise<T>): Promise<T> => {
      let path: string;
      try {
        path = await volumes.prepare(v);
      } catch (err) {
        throw wrapError(Errors.SNAPSHOT, err, { vmId: vm.vmId });
      }
      try {
        return await f(path);
      } finally {
        await volumes.teardown(v).catch((err: unknown) => log.warn({ volume: v.volumeID, err: errorMessage(err) }, 'memory snapshot volume teardown failed'));
      }
    };
    const params = { ...(await this.#o.machineParams!(vm)), restoreFromSnapshot: true };
    await withVolume(memory.conf, async (path) => {
      try {
        await volumes.write(path, encodeSavedParams(params));
      } catch (err) {
        throw wrapError(Errors.SNAPSHOT, err, { vmId: vm.vmId });
      }
    });
    const minutes = st.record.timeout / 60;
    let lateAbort = false;
    await withVolume(memory.memory, async (memoryPath) => {
      st.record.memoryVolPath = memoryPath;
      await st.persist();
      const xml = snapshotXml(targets.map((t) => ({ name: t.sw.drive.name, path: t.path })), others, memoryPath);
      log.info({ drives: targets.map((t) => ({ name: t.sw.drive.name, from: t.sw.drive.volumeID, to: t.sw.newVolumeID })), memory: memoryPath }, 'taking a live snapshot with the memory');
      const remainingMs = Math.max(0, (st.record.startTime + st.record.timeout) * 1000 - this.#o.clock.now());
      let settled = false;
      let timer: unknown;
      const abort = (): void => {
        if (settled) return;
        const first = !st.record.abort;
        if (first) log.warn({ timeoutMin: minutes }, 'memory snapshot timeout reached: aborting libvirt\'s job');
        // As vdsm: the abort is marked before libvirt is asked, so whatever libvirt does next, the job is
        // failed. The mark's metadata write is not waited for: libvirt holds a modify job such as
        // virDomainSetMetadata until the snapshot's own job ends, and the abort must not wait for that.
        st.record.abort = true;
        if (first) void st.persist();
        this.#o.libvirt.call('migration.abortJob', { uuid: vm.vmId }).catch((err: unknown) => {
          // No job in libvirt yet (the call still queued or starting): again shortly, as vdsm waits for
          // libvirt's job to run before it aborts it.
          if (!settled && libvirtErrorInfo(err)?.virCode === VirErrorCode.OPERATION_INVALID) {
            timer = this.#o.timers.setTimeout(abort, ABORT_RETRY_MS);
            return;
          }
          log.error({ err: errorMessage(err) }, 'libvirt\'s snapshot job could not be aborted');
        });
      };
      timer = this.#o.timers.setTimeout(abort, remainingMs);
      try {
        await this.#o.libvirt.call('libvirt.snapshotCreateXML', { uuid: vm.vmId, xml, flags }, { timeoutMs: remainingMs + ABORT_GRACE_MS, discard: false });
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'live snapshot with the memory failed');
        if (st.record.abort) throw vdsmError(Errors.SNAPSHOT, `Snapshot failed: the memory snapshot outlived its timeout of ${minutes} min and libvirt's job was aborted (${errorMessage(err)})`);
        if (isNoDomain(err)) throw vdsmError(Errors.NO_VM, { vmId: vm.vmId });
        throw wrapError(Errors.SNAPSHOT, err, { vmId: vm.vmId });
      } finally {
        settled = true;
        this.#o.timers.clearTimeout(timer);
      }
      if (st.record.abort) {
        log.warn('the abort came too late: libvirt completed the memory snapshot; the job fails, as vdsm\'s does');
        lateAbort = true;
      } else {
        st.record.completed = true;
        await st.persist();
      }
    });
    log.info('live snapshot with the memory completed');
    if (targets.length > 0) await this.#moveDriveRecords(vm, targets, log);
    if (lateAbort) {
      throw vdsmError(Errors.SNAPSHOT, `Snapshot failed: the memory snapshot outlived its timeout of ${minutes} min; libvirt completed it after the abort was sent (the disks run on the new volumes)`);
    }
    return false;
  }

  /**
   * libvirt runs the disks on the new tops now: the live metadata names the new volumes (so a restart
   * of this agent, a migration and Host.dumpxmls see them), the VM's XML and record follow libvirt's
   * live XML, and the storage drives (teardown, sizes) point at the new files. Too late to fail: each
   * step that cannot be done is logged, as vdsm does. A recovered VM's re-preparation still in flight is
   * not waited for (a prepare hung on its storage would hold the job for ever; vdsm's snapshot does not
   * wait for the recovery's preparePaths either): it leaves a drive moved meanwhile on its new volume.
   */
  async #moveDriveRecords(vm: Vm, targets: { sw: DriveSwitch; path: string }[], log: Logger): Promise<void> {
    try {
      const live = await this.#o.libvirt.call('libvirt.xmlDesc', { uuid: vm.vmId, flags: 0 });
      const element = ovirtVmElement(live);
      if (element === undefined) throw new Error('the live domain XML has no ovirt-vm metadata');
      let md = element.xml;
      for (const { sw, path } of targets) {
        const next = withDriveVolume({ xml: md, prefix: element.prefix }, sw.drive.name, { domainID: sw.drive.domainID, imageID: sw.drive.imageID, volumeID: sw.newVolumeID, path });
        if (next === undefined) throw new Error(`no ovirt-vm device ${sw.drive.name} with a volumeID in the metadata`);
        md = next;
      }
      const metadata = metadataFragment({ xml: md, prefix: element.prefix });
      await this.#o.libvirt.call('libvirt.setMetadata', { uuid: vm.vmId, type: MetadataType.ELEMENT, metadata, key: 'ovirt-vm', uri: OVIRT_VM_NS, flags: Impact.LIVE });
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'the VM\'s metadata could not be moved onto the new volumes');
    }
    for (const { sw, path } of targets) {
      const prepared = vm.storageDrives.find((d) => d.name === sw.drive.name);
      if (prepared !== undefined) {
        prepared.volumeID = sw.newVolumeID;
        prepared.path = path;
      }
    }
    await this.#o.adoptLiveXml(vm).catch((err: unknown) => log.error({ err: errorMessage(err) }, 'the VM\'s XML could not be refreshed after the snapshot'));
  }

  async #thawAfterSnapshot(vm: Vm, log: Logger): Promise<void> {
    try {
      const n = await this.#call(vm, 'libvirt.fsThaw');
      log.info({ filesystems: n }, 'guest filesystems thawed after the snapshot');
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'guest filesystems could not be thawed after the snapshot');
    }
  }

  #call(vm: Vm, op: 'libvirt.fsFreeze' | 'libvirt.fsThaw'): Promise<number> {
    return this.#o.libvirt.call(op, { uuid: vm.vmId, flags: 0 });
  }

  /** The freeze or thaw call with vdsm's errors: 19 agent not responding, 75 not supported, 76 / 77 otherwise. */
  async #fs(vm: Vm, what: 'freeze' | 'thaw'): Promise<number> {
    try {
      return await this.#call(vm, what === 'freeze' ? 'libvirt.fsFreeze' : 'libvirt.fsThaw');
    } catch (err) {
      this.#o.log.warn({ vmId: vm.vmId, err: errorMessage(err) }, `unable to ${what} guest filesystems`);
      throw fsError(err, what, vm.vmId);
    }
  }
}

function fsError(err: unknown, what: 'freeze' | 'thaw', vmId: string): VdsmError {
  if (isNoDomain(err)) return vdsmError(Errors.NO_VM, { vmId });
  const code = libvirtErrorInfo(err)?.virCode;
  if (code === VirErrorCode.AGENT_UNRESPONSIVE) return wrapError(Errors.GUEST_AGENT_NONRESPONSIVE, err, { vmId });
  if (code === VirErrorCode.NO_SUPPORT) return wrapError(Errors.UNSUPPORTED_OPERATION, err, { vmId });
  return wrapError(what === 'freeze' ? Errors.FREEZE : Errors.THAW, err, { vmId });
}
