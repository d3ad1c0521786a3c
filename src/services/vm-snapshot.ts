// VM.freeze, VM.thaw and VM.snapshot: the guest's file systems frozen and thawed through its QEMU guest
// agent (libvirt's virDomainFSFreeze / virDomainFSThaw, on the guest-agent connection), and a live
// disk-only snapshot into volumes the engine created (Volume.create over the current top): the new
// volumes prepared, the guest frozen, libvirt switches the disks onto them (virDomainSnapshotCreateXML),
// the guest thawed, and the VM's drive records moved onto the new tops (live metadata, the VM's XML and
// its record on disk, its storage drives). Every libvirt call goes through the Executor with its timeout,
// so a guest agent that never answers costs a worker's wait, not the daemon.
import type { Logger } from 'pino';
import { errorMessage, Errors, vdsmError, wrapError, type VdsmError } from '../errors.js';
import type { Libvirt } from '../libvirt/client.js';
import { Impact, MetadataType, VirErrorCode } from '../libvirt/constants.js';
import { isNoDomain, libvirtErrorInfo } from '../libvirt/errors.js';
import { OVIRT_VM_NS } from '../virt/domain-xml.js';
import {
  metadataFragment, ovirtVmElement, parseSnapDrives, planSnapshot, runningDrives, snapshotXml, SnapshotRequestError, withDriveVolume,
  type DriveSwitch,
} from '../virt/live-snapshot.js';
import { encodeSavedParams, HibernationHandleError, parseHibernationHandle, type HibernationVolumes, type VolumeRef } from '../virt/migration/hibernation-volumes.js';
import type { MemoryVolumeStorage } from './migration/hibernation.js';
import type { Vm, VmDriveStorage } from './vm-manager.js';

/** VM.snapshot's parameters as the engine sends them. */
export interface SnapshotRequest {
  snapDrives: unknown;
  snapMemory?: unknown;
  frozen?: unknown;
  jobUUID?: unknown;
  /** Minutes a memory snapshot may take (vdsm's default 30). */
  timeout?: unknown;
}

/** vdsm's limit on a snapshot job, minutes (VM.snapshot's `timeout` default). */
const DEFAULT_SNAPSHOT_TIMEOUT_MIN = 30;

/** A snapshot with the engine's jobUUID, as Host.getJobs reports it (vdsm's virt job `snapshot_vm`). */
export interface SnapshotJobInfo {
  id: string;
  status: 'running' | 'done' | 'failed';
  description: 'snapshot_vm';
  job_type: 'virt';
  error?: { code: number; message: string };
}

/** Snapshot jobs kept for Host.getJobs: the most recent ones, so a busy engine cannot grow the map. */
const KEPT_JOBS = 100;

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
}

export class VmSnapshots {
  readonly #o: VmSnapshotsOptions;
  /** VMs with a snapshot under way: a second one at the same time is refused (the disks are moving). */
  readonly #busy = new Set<string>();
  /** Snapshots the engine gave a jobUUID, by it (insertion order: the oldest is dropped first). */
  readonly #jobs = new Map<string, SnapshotJobInfo>();

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
   * VM.snapshot. Resolves with `quiesce`: whether the guest's file systems were frozen by this call
   * (false when the engine froze them itself, or when the agent could not freeze them: the snapshot is
   * then crash-consistent, as with vdsm). Any failure before libvirt switched the disks is error 48 and
   * leaves every drive on its old volume.
   */
  async snapshot(vmId: string, req: SnapshotRequest): Promise<{ quiesce: boolean }> {
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
    if (this.#busy.has(vm.vmId)) throw vdsmError(Errors.SNAPSHOT, 'Snapshot failed: another snapshot of this VM is under way');
    this.#busy.add(vm.vmId);
    const jobId = typeof req.jobUUID === 'string' && req.jobUUID !== '' ? req.jobUUID : undefined;
    if (jobId !== undefined) this.#setJob({ id: jobId, status: 'running', description: 'snapshot_vm', job_type: 'virt' });
    try {
      const res = await this.#snapshot(vm, req, memory);
      if (jobId !== undefined) this.#setJob({ id: jobId, status: 'done', description: 'snapshot_vm', job_type: 'virt' });
      return res;
    } catch (err) {
      if (jobId !== undefined) {
        const code = typeof (err as { vdsmCode?: unknown }).vdsmCode === 'number' ? (err as { vdsmCode: number }).vdsmCode : Errors.SNAPSHOT.vdsmCode;
        this.#setJob({ id: jobId, status: 'failed', description: 'snapshot_vm', job_type: 'virt', error: { code, message: errorMessage(err) } });
      }
      throw err;
    } finally {
      this.#busy.delete(vm.vmId);
    }
  }

  /**
   * Host.getJobs' virt jobs: the snapshots the engine gave a jobUUID (every one kept, or those of
   * `ids`). The snapshot is finished when VM.snapshot answers, so an engine that follows the job sees
   * it done (or failed, with the error VM.snapshot answered).
   */
  jobs(ids: readonly string[] = []): Record<string, SnapshotJobInfo> {
    const out: Record<string, SnapshotJobInfo> = {};
    for (const [id, job] of this.#jobs) if (ids.length === 0 || ids.includes(id)) out[id] = { ...job };
    return out;
  }

  #setJob(job: SnapshotJobInfo): void {
    this.#jobs.delete(job.id);
    this.#jobs.set(job.id, job);
    while (this.#jobs.size > KEPT_JOBS) this.#jobs.delete(this.#jobs.keys().next().value!);
  }

  async #snapshot(vm: Vm, req: SnapshotRequest, memory: HibernationVolumes | undefined): Promise<{ quiesce: boolean }> {
    const log = this.#o.log.child({ vmId: vm.vmId, ...(typeof req.jobUUID === 'string' ? { jobUUID: req.jobUUID } : {}) });
    let plan;
    try {
      plan = planSnapshot(parseSnapDrives(req.snapDrives), runningDrives(vm.domain), { frozen: req.frozen === true || req.frozen === 'true', memory: memory !== undefined });
    } catch (err) {
      if (err instanceof SnapshotRequestError) throw vdsmError(Errors.SNAPSHOT, `Snapshot failed: ${err.message}`);
      throw err;
    }
    if (plan.switches.length === 0 && memory === undefined) {
      log.info('every requested drive already runs on its new volume: nothing to snapshot');
      return { quiesce: false };
    }
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
    const switching = new Set(targets.map((t) => t.sw.drive.name));
    const others = vm.domain.disks.filter((d) => (d.device === 'disk' || d.device === 'lun') && d.target !== '' && !switching.has(d.target)).map((d) => d.target);
    if (memory !== undefined) return this.#memorySnapshot(vm, req, memory, targets, others, plan.flags, log);
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
    await this.#moveDriveRecords(vm, targets, log);
    return { quiesce };
  }

  /**
   * A snapshot with the guest's memory (vdsm's snapMemory): the VM's parameters written to the
   * configuration volume (as hibernation writes them, with `restoreFromSnapshot`, so VM.create can bring
   * the VM back from this snapshot), then libvirt pauses the guest, writes its memory state into the
   * memory volume, switches the disks and resumes it. That takes as long as the memory takes to write, so
   * the call gets the snapshot's `timeout` (minutes, vdsm's 30 by default) and its worker is not discarded.
   * The memory volume is torn down after, as vdsm does.
   */
  async #memorySnapshot(vm: Vm, req: SnapshotRequest, memory: HibernationVolumes, targets: { sw: DriveSwitch; path: string }[], others: string[], flags: number, log: Logger): Promise<{ quiesce: boolean }> {
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
    const minutes = typeof req.timeout === 'number' && req.timeout > 0 ? req.timeout : DEFAULT_SNAPSHOT_TIMEOUT_MIN;
    await withVolume(memory.memory, async (memoryPath) => {
      const xml = snapshotXml(targets.map((t) => ({ name: t.sw.drive.name, path: t.path })), others, memoryPath);
      log.info({ drives: targets.map((t) => ({ name: t.sw.drive.name, from: t.sw.drive.volumeID, to: t.sw.newVolumeID })), memory: memoryPath }, 'taking a live snapshot with the memory');
      try {
        await this.#o.libvirt.call('libvirt.snapshotCreateXML', { uuid: vm.vmId, xml, flags }, { timeoutMs: minutes * 60_000, discard: false });
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'live snapshot with the memory failed');
        if (isNoDomain(err)) throw vdsmError(Errors.NO_VM, { vmId: vm.vmId });
        throw wrapError(Errors.SNAPSHOT, err, { vmId: vm.vmId });
      }
    });
    log.info('live snapshot with the memory completed');
    if (targets.length > 0) await this.#moveDriveRecords(vm, targets, log);
    return { quiesce: false };
  }

  /**
   * libvirt runs the disks on the new tops now: the live metadata names the new volumes (so a restart
   * of this agent, a migration and Host.dumpxmls see them), the VM's XML and record follow libvirt's
   * live XML, and the storage drives (teardown, sizes) point at the new files. Too late to fail: each
   * step that cannot be done is logged, as vdsm does.
   */
  async #moveDriveRecords(vm: Vm, targets: { sw: DriveSwitch; path: string }[], log: Logger): Promise<void> {
    await vm.drivesRecovering?.settled();
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
