// The return from hibernation (VM.create with the hibernation volumes): the VM's saved parameters read
// from the configuration volume (best effort, as vdsm: without them the VM still comes back, from the
// domain XML the memory image carries), then libvirt restores the domain from the memory volume
// (virDomainRestoreFlags on the migration Executor: as long as the save was, never discarded). The
// VmManager drives the VM's status around it (Restoring state, then Up; Down on failure).
import type { Logger } from 'pino';
import { errorMessage } from '../../errors.js';
import { decodeSavedParams, formatHibernationHandle, type HibernationVolumes } from '../../virt/migration/hibernation-volumes.js';
import type { MemoryVolumeStorage } from './hibernation.js';
import type { MigrationLibvirt } from './migration-ports.js';
import type { MigrationSlots } from './slots.js';

/** The domain UUID in a save file's XML. */
function savedDomainUuid(xml: string): string | undefined {
  return /<uuid>\s*([0-9a-fA-F-]{36})\s*<\/uuid>/.exec(xml)?.[1];
}

/** The most of the configuration volume read back: the pickled parameters (two domain XMLs and guest information) are far smaller. */
export const SAVED_PARAMS_MAX_BYTES = 4 * 2 ** 20;

export interface MemoryRestorerOptions {
  libvirt: Pick<MigrationLibvirt, 'restore' | 'saveImageXml'>;
  storage: MemoryVolumeStorage;
  /**
   * Restores at once ([vars] max_incoming_migrations, counted into the migration Executor's bound):
   * more wait for a slot, so a burst of resumes queues instead of being refused by a full Executor.
   */
  slots: MigrationSlots;
  log: Logger;
}

export class MemoryRestorer {
  #o: MemoryRestorerOptions;

  constructor(o: MemoryRestorerOptions) {
    this.#o = o;
  }

  /** The parameters the hibernation saved; undefined (logged) when they cannot be read. */
  async savedParams(vmId: string, volumes: HibernationVolumes): Promise<Record<string, unknown> | undefined> {
    const o = this.#o;
    try {
      const path = await o.storage.prepare(volumes.conf);
      try {
        const r = decodeSavedParams(await o.storage.read(path, SAVED_PARAMS_MAX_BYTES));
        if (r.ok) return r.params;
        o.log.warn({ vmId, handle: formatHibernationHandle(volumes), why: r.why }, 'saved VM parameters not used; restoring from the memory image alone');
      } finally {
        await o.storage.teardown(volumes.conf).catch((err: unknown) => o.log.warn({ vmId, err: errorMessage(err) }, 'configuration volume teardown failed'));
      }
    } catch (err) {
      o.log.error({ vmId, handle: formatHibernationHandle(volumes), err: errorMessage(err) }, 'Error restoring VM parameters');
    }
    return undefined;
  }

  /** libvirt restores the domain from the memory volume (prepared for the call, torn down after). */
  async restore(vmId: string, volumes: HibernationVolumes): Promise<void> {
    const o = this.#o;
    await o.slots.acquire();
    try {
      const path = await o.storage.prepare(volumes.memory);
      try {
        // The handle must name this VM's memory state: restoring another VM's would run a domain the
        // agent does not know (the save file's XML says which VM it holds).
        const saved = savedDomainUuid(await o.libvirt.saveImageXml({ path }));
        if (saved === undefined || saved.toLowerCase() !== vmId.toLowerCase()) {
          throw new Error(`the memory volume holds ${saved === undefined ? 'no recognisable VM' : `the VM ${saved}`}, not ${vmId}`);
        }
        o.log.info({ vmId, path }, 'restoring the VM from its memory state');
        await o.libvirt.restore({ path });
      } finally {
        await o.storage.teardown(volumes.memory).catch((err: unknown) => o.log.warn({ vmId, err: errorMessage(err) }, 'memory volume teardown failed'));
      }
    } finally {
      o.slots.release();
    }
  }
}
