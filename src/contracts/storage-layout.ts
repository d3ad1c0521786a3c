// Where things live, as in vdsm: the repository root ([irs] repository, /rhev/data-center) holds
// mnt/<mangled remote path> (for LOCALFS a symlink to the directory; for NFS and the like a mount
// point) and <spUUID>/ with one link per domain plus mastersd; a domain is <mount>/<sdUUID>/ with
// dom_md/ and images/<imgUUID>/<volUUID>{,.meta,.lease}; the SPM keeps master/{tasks,vms} on the master
// domain. Pure path arithmetic (no I/O), shared by the worker operations and the main thread.
import { join, normalize } from 'node:path';
import { META_EXT, LEASE_EXT, POOL_MASTER_LINK, REMOVED_IMAGE_PREFIX } from './storage-constants.js';

/** vdsm's fileUtils.transformPath: "_" doubles, then "/" becomes "_" (/data/a_b -> _data_a__b). */
export function transformPath(remotePath: string): string {
  return remotePath.replace(/_/g, '__').replace(/\//g, '_');
}

/** A LOCALFS path must be absolute and normalized (localFsSD._preCreateValidation). */
export function isCleanAbsolutePath(p: string): boolean {
  return p.startsWith('/') && normalize(p) === p && (p === '/' || !p.endsWith('/'));
}

export class RepoLayout {
  constructor(readonly root: string) {}

  get mountDir(): string {
    return join(this.root, 'mnt');
  }

  /** The mount point (LOCALFS: the link) of a remote path. */
  mountPoint(remotePath: string): string {
    return join(this.mountDir, transformPath(remotePath));
  }

  poolDir(spUUID: string): string {
    return join(this.root, spUUID);
  }

  poolDomainLink(spUUID: string, sdUUID: string): string {
    return join(this.root, spUUID, sdUUID);
  }

  masterLink(spUUID: string): string {
    return join(this.root, spUUID, POOL_MASTER_LINK);
  }

  /** Where the SPM persists its tasks: <pool>/mastersd/master/tasks (sp.StoragePool.startSpm). */
  poolTasksDir(spUUID: string): string {
    return join(this.masterLink(spUUID), 'master', 'tasks');
  }
}

/** Paths inside one domain directory (<mount>/<sdUUID>). */
export class DomainLayout {
  constructor(readonly dir: string) {}

  get mdDir(): string {
    return join(this.dir, 'dom_md');
  }

  get metadata(): string {
    return join(this.dir, 'dom_md', 'metadata');
  }

  /** The lock file of the local (flock) SPM lock (clusterlock.LocalLock locks dom_md/ids). */
  get ids(): string {
    return join(this.dir, 'dom_md', 'ids');
  }

  get imagesDir(): string {
    return join(this.dir, 'images');
  }

  imageDir(imgUUID: string): string {
    return join(this.dir, 'images', imgUUID);
  }

  removedImageDir(imgUUID: string): string {
    return join(this.dir, 'images', REMOVED_IMAGE_PREFIX + imgUUID);
  }

  volume(imgUUID: string, volUUID: string): string {
    return join(this.dir, 'images', imgUUID, volUUID);
  }

  meta(imgUUID: string, volUUID: string): string {
    return this.volume(imgUUID, volUUID) + META_EXT;
  }

  lease(imgUUID: string, volUUID: string): string {
    return this.volume(imgUUID, volUUID) + LEASE_EXT;
  }

  get masterDir(): string {
    return join(this.dir, 'master');
  }

  get tasksDir(): string {
    return join(this.dir, 'master', 'tasks');
  }

  get vmsDir(): string {
    return join(this.dir, 'master', 'vms');
  }
}

/** The /run link to a prepared image (fileSD.createImageLinks): <run_dir>/storage/<sd>/<img>. */
export function imageRunLink(runDir: string, sdUUID: string, imgUUID: string): string {
  return join(runDir, 'storage', sdUUID, imgUUID);
}
