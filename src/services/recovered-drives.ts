// The storage drives of a VM this agent re-adopts after a restart (./recovery.ts). The records of what
// was prepared lived in the previous process's memory only; the domain XML's <ovirt-vm:device>
// metadata (src/virt/drive-metadata.ts) still names each drive's image, so the records are rebuilt from
// it at once (destroy, hot-unplug and VM stats see them straight away), and the images are prepared
// again through the storage layer (prepareImage is idempotent) so the storage side's own state (the
// image's run link) is right. As vdsm's recovery (clientIF: wait for a connected storage pool, then each
// recovered VM's preparePaths, failures logged), that waits for the engine to connect the pool (an
// event, not a poll), runs in the background and never holds recovery or the main thread: a drive that
// cannot be prepared is logged and the VM stays recovered; its record keeps the path the XML names, so
// its teardown is still tried when the VM ends. A teardown (the VM ends, a drive is unplugged) never
// waits for a prepare in flight, which may hang on its storage: it stops the re-preparation, and a
// prepare that returns after its drive was released tears that image down again, so it does not stay
// prepared. Nothing else waits for it either: a snapshot that moves a drive meanwhile keeps its new
// volume's path (vdsm's snapshot does not wait for the recovery's preparePaths).
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { DomainInfo } from '../virt/domain-xml.js';
import { storageDrivesOf, type PreparedDrive } from '../virt/storage-drives.js';
import type { VmDriveStorage } from './vm-manager.js';

/** The drives the domain XML's metadata names, each with the path its <disk> source gives now. */
export function recordedDrives(domain: DomainInfo): PreparedDrive[] {
  const paths = new Map(domain.disks.map((d) => [d.target, d.path]));
  return storageDrivesOf(domain).map((d) => ({ ...d, path: paths.get(d.name) ?? '' }));
}

export interface RecoveredDrivesOptions {
  vmId: string;
  log: Logger;
}

/** The background re-preparation of one recovered VM's drives. */
export class DriveRepreparation {
  readonly #drives: readonly PreparedDrive[];
  readonly #storage: Pick<VmDriveStorage, 'prepare' | 'teardown' | 'poolConnected'>;
  readonly #o: RecoveredDrivesOptions;
  #stopped = false;
  #wakeStop: (() => void) | undefined;
  readonly #stop = new Promise<void>((resolve) => { this.#wakeStop = resolve; });
  /** Resolves once every drive was prepared, failed or skipped (never rejects). */
  readonly done: Promise<void>;

  /** `drives`: the VM's live list of drives; one removed from it meanwhile (unplugged) is not prepared. */
  constructor(drives: readonly PreparedDrive[], storage: Pick<VmDriveStorage, 'prepare' | 'teardown' | 'poolConnected'>, o: RecoveredDrivesOptions) {
    this.#drives = drives;
    this.#storage = storage;
    this.#o = o;
    this.done = this.#run();
  }

  /** No further prepare starts (the VM is being destroyed); a wait for the pool ends. */
  stop(): void {
    this.#stopped = true;
    this.#wakeStop?.();
  }

  async #run(): Promise<void> {
    if (this.#storage.poolConnected !== undefined) {
      const waiting = this.#storage.poolConnected();
      this.#o.log.info({ vmId: this.#o.vmId }, 'the recovered VM\'s storage drives are prepared again once a storage pool is connected');
      await Promise.race([waiting, this.#stop]);
    }
    for (const d of [...this.#drives]) {
      if (this.#stopped) return;
      if (!this.#drives.includes(d)) continue;
      // A snapshot may move the drive onto its new volume while this prepare runs (it does not wait for
      // it, as vdsm's does not wait for preparePaths): the image is the same, the snapshot's path stays.
      const volumeID = d.volumeID;
      try {
        const path = await this.#storage.prepare(d);
        if (await this.#released(d)) continue;
        if (d.volumeID !== volumeID) {
          this.#o.log.info({ vmId: this.#o.vmId, drive: d.name, volumeID: d.volumeID, path: d.path }, 'storage volume of the recovered VM prepared again; the drive moved to a new volume meanwhile (a snapshot), whose path stays');
          continue;
        }
        if (d.path === '') d.path = path;
        else if (path !== d.path) this.#o.log.warn({ vmId: this.#o.vmId, drive: d.name, path, was: d.path }, 'recovered drive prepared at another path than the VM runs on');
        this.#o.log.info({ vmId: this.#o.vmId, drive: d.name, path }, 'storage volume of the recovered VM prepared again');
      } catch (err) {
        if (await this.#released(d)) continue;
        this.#o.log.warn({ vmId: this.#o.vmId, drive: d.name, domainID: d.domainID, imageID: d.imageID, err: errorMessage(err) }, 'storage volume of the recovered VM could not be prepared again; the VM stays recovered and its teardown is still tried when it ends');
      }
    }
  }

  /**
   * After a prepare of `d` returned: when the VM ended or the drive was unplugged meanwhile, its
   * teardown already ran (it does not wait for this prepare), so the image is torn down again here.
   */
  async #released(d: PreparedDrive): Promise<boolean> {
    if (!this.#stopped && this.#drives.includes(d)) return false;
    try {
      await this.#storage.teardown(d);
      this.#o.log.info({ vmId: this.#o.vmId, drive: d.name, domainID: d.domainID, imageID: d.imageID }, 'storage volume prepared after its drive was released: torn down');
    } catch (err) {
      this.#o.log.warn({ vmId: this.#o.vmId, drive: d.name, err: errorMessage(err) }, 'image teardown failed');
    }
    return true;
  }
}
