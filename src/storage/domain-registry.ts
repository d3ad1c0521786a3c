// The domains this host can see (vdsm's sdCache): sdUUID -> domain directory under <repo>/mnt/. Filled
// when storage is connected (the domains found under each connection) and when a domain is created;
// an unknown domain is looked for once more under every mount point before StorageDomainDoesNotExist.
import { Errors, storageError } from '../errors.js';
import type { RepoLayout } from '../contracts/storage-layout.js';
import type { StorageIo } from './storage-io.js';

export class DomainRegistry {
  #dirs = new Map<string, string>();
  #io: StorageIo;
  #layout: RepoLayout;

  constructor(io: StorageIo, layout: RepoLayout) {
    this.#io = io;
    this.#layout = layout;
  }

  add(sdUUID: string, dir: string): void {
    this.#dirs.set(sdUUID, dir);
  }

  remove(sdUUID: string): void {
    this.#dirs.delete(sdUUID);
  }

  /** Forget every domain below a mount point (its storage was disconnected). */
  removeUnder(mountPoint: string): void {
    for (const [sd, dir] of this.#dirs) if (dir.startsWith(`${mountPoint}/`)) this.#dirs.delete(sd);
  }

  known(sdUUID: string): string | undefined {
    return this.#dirs.get(sdUUID);
  }

  /** Every domain found so far. */
  all(): Map<string, string> {
    return new Map(this.#dirs);
  }

  /** The domain directory; refreshes from the mounts once; 358 when the domain is nowhere. */
  async produce(sdUUID: string): Promise<string> {
    const hit = this.#dirs.get(sdUUID);
    if (hit !== undefined) return hit;
    await this.refresh();
    const again = this.#dirs.get(sdUUID);
    if (again === undefined) throw storageError(Errors.SD_DOMAIN_DOES_NOT_EXIST, [sdUUID]);
    return again;
  }

  async refresh(): Promise<void> {
    for (const d of await this.#io.findDomains(this.#layout.mountDir)) this.#dirs.set(d.sdUUID, d.dir);
  }

  /** Domain directories by UUID, for recoveries run in workers. */
  snapshot(): Record<string, string> {
    return Object.fromEntries(this.#dirs);
  }
}
