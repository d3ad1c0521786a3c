// A live snapshot job's state as the VM's domain metadata keeps it (../virt/snapshot-job-metadata.ts),
// and the end of a job an earlier agent left there. RecordedJob writes the record in order, one write at
// a time, each from libvirt's live XML (a write that fails is logged: the job goes on, as vdsm's); a
// record is removed when the job ends. finishRecoveredJob is what ./vm-snapshot.ts recover runs for a
// job found at start-up: it follows libvirt's job until it is gone, then judges the job from the
// domain's disks, as vdsm's LiveSnapshotRecovery does.
import type { Logger } from 'pino';
import { JobType } from '../contracts/migration-ops.js';
import { errorMessage, Errors, vdsmError } from '../errors.js';
import type { Libvirt } from '../libvirt/client.js';
import { Impact, MetadataType } from '../libvirt/constants.js';
import { isNoDomain } from '../libvirt/errors.js';
import type { Clock, Timers } from '../runtime/clock.js';
import { OVIRT_VM_NS, parseDomainXml } from '../virt/domain-xml.js';
import type { DriveSwitch } from '../virt/live-snapshot.js';
import type { VolumeRef } from '../virt/migration/hibernation-volumes.js';
import { withSnapshotJob, type SnapshotJobRecord } from '../virt/snapshot-job-metadata.js';

/** A recovered job looks at libvirt's job this often until it is gone (vdsm's interval). */
export const RECOVERY_POLL_MS = 10_000;

/** One job's record in one VM's metadata. */
export class RecordedJob {
  readonly record: SnapshotJobRecord;
  readonly #vmId: string;
  readonly #libvirt: Libvirt;
  readonly #log: Logger;
  #writes: Promise<void> = Promise.resolve();
  /** Some state reached the metadata (a recovered job's did): it is removed when the job ends. */
  #written: boolean;

  constructor(vmId: string, record: SnapshotJobRecord | undefined, o: { libvirt: Libvirt; log: Logger; recovered?: boolean }) {
    this.#vmId = vmId;
    // Only RecordedJob.remove makes one without a record, and it only clears.
    this.record = record ?? ({} as SnapshotJobRecord);
    this.#libvirt = o.libvirt;
    this.#log = o.log;
    this.#written = o.recovered === true;
  }

  /** Removes whatever snapshot job record VM `vmId`'s metadata holds (one that cannot be resumed). */
  static remove(vmId: string, o: { libvirt: Libvirt; log: Logger }): Promise<void> {
    return new RecordedJob(vmId, undefined, { ...o, recovered: true }).clear();
  }

  /** The record as it is now written, after any write before it. */
  persist(): Promise<void> {
    this.#written = true;
    const record = structuredClone(this.record);
    this.#writes = this.#writes.then(() => this.#write(record));
    return this.#writes;
  }

  /** The record removed (when anything of it was written). */
  async clear(): Promise<void> {
    if (!this.#written) return;
    this.#writes = this.#writes.then(() => this.#write(undefined));
    await this.#writes;
  }

  async #write(record: SnapshotJobRecord | undefined): Promise<void> {
    try {
      const live = await this.#libvirt.call('libvirt.xmlDesc', { uuid: this.#vmId, flags: 0 });
      const metadata = withSnapshotJob(live, record);
      if (metadata === undefined) return;
      await this.#libvirt.call('libvirt.setMetadata', { uuid: this.#vmId, type: MetadataType.ELEMENT, metadata, key: 'ovirt-vm', uri: OVIRT_VM_NS, flags: Impact.LIVE });
    } catch (err) {
      // As vdsm: the job goes on; only a restart of this agent meanwhile would miss what was not written.
      this.#log.error({ err: errorMessage(err) }, 'the snapshot job\'s state could not be written to the VM\'s metadata');
    }
  }
}

export interface RecoveredJobDeps {
  libvirt: Libvirt;
  clock: Clock;
  timers: Timers;
  log: Logger;
  /** Tears the memory volume down (absent: nothing to tear down). */
  teardownMemory?: ((v: VolumeRef) => Promise<void>) | undefined;
  /** The guest thawed (failures logged by it). */
  thaw(): Promise<void>;
  /** The VM's records moved onto the new volumes, as after a snapshot without a restart. */
  moveDriveRecords(targets: { sw: DriveSwitch; path: string }[]): Promise<void>;
}

/**
 * A job an earlier agent left in the metadata, ended: resolves when it is done, rejects (48) when it
 * failed. A memory snapshot still running is aborted at its timeout, counted from the job's first start
 * (vdsm's abort thread resumes too); once libvirt runs no job, the job is done when every drive it moves
 * runs on its new volume, and failed when libvirt's job was aborted, a disk stayed or the volumes were
 * never recorded. The guest is thawed either way when the job was to freeze it, the memory volume torn down.
 */
export async function finishRecoveredJob(vmId: string, job: RecordedJob, d: RecoveredJobDeps): Promise<void> {
  const r = job.record;
  let ended = false;
  let timer: unknown;
  if (r.memoryParams !== null && !r.abort && !r.completed) {
    const abort = (): void => {
      if (ended) return;
      d.log.warn({ timeoutMin: r.timeout / 60 }, 'memory snapshot timeout reached after the agent\'s restart: aborting libvirt\'s job');
      r.abort = true;
      // Not waited for: libvirt runs virDomainSetMetadata only once the snapshot's own job has ended.
      void job.persist();
      d.libvirt.call('migration.abortJob', { uuid: vmId }).catch((err: unknown) => d.log.error({ err: errorMessage(err) }, 'libvirt\'s snapshot job could not be aborted'));
    };
    timer = d.timers.setTimeout(abort, Math.max(0, (r.startTime + r.timeout) * 1000 - d.clock.now()));
  }
  try {
    await libvirtJobGone(vmId, d);
  } finally {
    ended = true;
    d.timers.clearTimeout(timer);
  }
  if (!r.abort && !r.completed) {
    r.completed = true;
    await job.persist();
  }
  try {
    if (r.abort) throw vdsmError(Errors.SNAPSHOT, `Snapshot failed: the memory snapshot outlived its timeout of ${r.timeout / 60} min and libvirt's job was aborted`);
    if (r.newDrives === undefined) throw vdsmError(Errors.SNAPSHOT, 'Snapshot failed: the agent stopped before the job recorded its new volumes; its outcome cannot be judged');
    // Judged from the domain's disks, as vdsm judges it: done when every drive runs on its new volume.
    const disks = parseDomainXml(await d.libvirt.call('libvirt.xmlDesc', { uuid: vmId, flags: 0 })).disks;
    const stayed = r.newDrives.filter((nd) => {
      const path = disks.find((x) => x.target === nd.name)?.path;
      return path === undefined || (path !== nd.path && !path.endsWith(`/${nd.volumeID}`));
    });
    if (r.newDrives.length === 0 || stayed.length > 0) {
      throw vdsmError(Errors.SNAPSHOT, `Snapshot failed: after the agent's restart, ${stayed.length > 0 ? `disk ${stayed.map((nd) => nd.name).join(', ')} does not run on its new volume` : 'the job moved no disk'}`);
    }
    if (r.freeze) await d.thaw();
    d.log.info('the recovered snapshot job completed: the disks run on the new volumes');
    await d.moveDriveRecords(r.newDrives.map((nd) => ({
      sw: { drive: { name: nd.name, poolID: nd.poolID, domainID: nd.domainID, imageID: nd.imageID, volumeID: nd.baseVolumeID, path: '', type: 'file' }, newVolumeID: nd.volumeID },
      path: nd.path,
    })));
  } catch (err) {
    // The guest is never left frozen by a job that ended while no agent ran.
    if (r.freeze) await d.thaw();
    if (isNoDomain(err)) throw vdsmError(Errors.NO_VM, { vmId });
    throw err;
  } finally {
    if (r.memoryParams !== null && d.teardownMemory !== undefined) {
      await d.teardownMemory(r.memoryParams.memory).catch((err: unknown) => d.log.warn({ err: errorMessage(err) }, 'memory snapshot volume teardown failed'));
    }
  }
}

/** Resolves once libvirt runs no job on the domain (vdsm's check of the job stats, every 10 s). */
async function libvirtJobGone(vmId: string, d: RecoveredJobDeps): Promise<void> {
  for (;;) {
    try {
      const stats = await d.libvirt.call('migration.jobStats', { uuid: vmId, flags: 0 });
      if (stats.type === JobType.NONE || stats.type === JobType.COMPLETED) return;
      d.log.info({ type: stats.type }, 'the recovered snapshot job is still running in libvirt');
    } catch (err) {
      if (isNoDomain(err)) throw err;
      d.log.warn({ err: errorMessage(err) }, 'libvirt\'s job of the recovered snapshot could not be read; trying again');
    }
    await new Promise<void>((resolve) => d.timers.setTimeout(resolve, RECOVERY_POLL_MS));
  }
}
