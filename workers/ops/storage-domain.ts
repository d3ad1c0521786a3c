// Worker operations on storage connections, domains and pool links (synchronous file system calls,
// run in Executor threads so a hung storage costs a thread, never the main loop): LOCALFS connect and
// disconnect (the mnt/<mangled path> symlink), domain discovery, creation, metadata read and write,
// statfs, the image list, the SPM's master tree, and the <repo>/<spUUID>/ links.
import { lstatSync, readFileSync, readlinkSync, renameSync, rmdirSync, statfsSync, statSync, symlinkSync, truncateSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Errors, errorMessage, storageError } from '../../src/errors.js';
import { FILE_SPECIAL_VOLUME_MIB, GLUSTER_MOUNT_DIR as GLUSTER_DIR, METADATA_PERMISSIONS, REMOVED_IMAGE_PREFIX, isUuid } from '../../src/contracts/storage-constants.js';
import { DomainLayout } from '../../src/contracts/storage-layout.js';
import { formatSdMetadata, MetadataSealBrokenError, parseSdMetadata, type SdMetadata } from '../../src/contracts/sd-metadata.js';
import { cleanupDir, ensureDir, exists, fsyncPath, isNoSpace, listDir, replaceFileAtomic, writeFileDurable } from '../storage/durable-files.js';
import type { AreaOps } from '../../src/contracts/operations.js';
import type { CreateDomainArgs, FoundDomain, LinkPoolArgs } from '../../src/contracts/storage-ops.js';

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Domains under one mount point: <uuid>/dom_md/metadata entries. */
function domainsUnder(mountPoint: string): FoundDomain[] {
  return listDir(mountPoint)
    .filter((n) => isUuid(n) && exists(join(mountPoint, n, 'dom_md', 'metadata')))
    .map((n) => ({ sdUUID: n, dir: join(mountPoint, n) }));
}

/** LocalDirectoryConnection.connect: the target must be a directory; mnt/<mangled> links to it. */
function connectLocal(a: { mountPoint: string; path: string }): FoundDomain[] {
  if (!isDir(a.path)) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `path=${a.path}` });
  ensureDir(join(a.mountPoint, '..'));
  try {
    if (readlinkSync(a.mountPoint) === a.path) return domainsUnder(a.mountPoint);
    unlinkSync(a.mountPoint);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EINVAL') throw storageError(Errors.SD_SERVER_CONNECTION, [`${a.mountPoint} exists and is not a link`]);
    if (code !== 'ENOENT') throw err;
  }
  symlinkSync(a.path, a.mountPoint);
  return domainsUnder(a.mountPoint);
}

function disconnectLocal(a: { mountPoint: string }): boolean {
  try {
    if (lstatSync(a.mountPoint).isSymbolicLink()) unlinkSync(a.mountPoint);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return true;
}

/** Whether something is mounted on `mountPoint` (its line in the mount table; the path as the kernel escapes it). */
function isMounted(mountPoint: string): boolean {
  const escaped = mountPoint.replace(/[\\ \t\n]/g, (ch) => `\\${ch.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === escaped);
}

function prepareMountPoint(a: { mountPoint: string }): { mounted: boolean } {
  if (isMounted(a.mountPoint)) return { mounted: true };
  try {
    if (lstatSync(a.mountPoint).isSymbolicLink()) throw storageError(Errors.SD_SERVER_CONNECTION, [`${a.mountPoint} is a local storage link, not a mount point`]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  ensureDir(a.mountPoint);
  return { mounted: false };
}

function releaseMountPoint(a: { mountPoint: string }): { mounted: boolean } {
  if (isMounted(a.mountPoint)) return { mounted: true };
  try {
    rmdirSync(a.mountPoint);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw err;
  }
  return { mounted: false };
}

function readMetadata(dir: string): { metadata: SdMetadata } {
  const layout = new DomainLayout(dir);
  let text: string;
  try {
    text = readFileSync(layout.metadata, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw storageError(Errors.SD_DOMAIN_METADATA_NOT_FOUND, { value: `sdUUID=${basename(dir)}, metafile path=${layout.metadata}` });
    throw storageError(Errors.SD_FILE_READ, [layout.metadata, errorMessage(err)], { cause: err });
  }
  try {
    return { metadata: parseSdMetadata(text) };
  } catch (err) {
    if (err instanceof MetadataSealBrokenError) throw storageError(Errors.SD_METADATA_SEAL_BROKEN, { value: err.message });
    throw err;
  }
}

/** LocalFsStorageDomain.create: validate the mount point, then dom_md/ with its special volumes and images/. */
function createDomain(a: CreateDomainArgs): FoundDomain {
  if (!isDir(a.mountPoint)) {
    throw storageError(Errors.SD_DOMAIN_CREATION, [`storage not connected: ${a.mountPoint} does not exist (call StoragePool.connectStorageServer first)`]);
  }
  // Remnants of another domain (localFsSD._preCreateValidation).
  if (listDir(a.mountPoint).some((n) => exists(join(a.mountPoint, n, 'dom_md')))) {
    throw storageError(Errors.SD_DOMAIN_NOT_EMPTY, [a.metadata['REMOTE_PATH'] ?? a.mountPoint]);
  }
  const dir = join(a.mountPoint, a.sdUUID);
  const layout = new DomainLayout(dir);
  try {
    ensureDir(layout.mdDir, 0o775);
    for (const [name, mib] of Object.entries(FILE_SPECIAL_VOLUME_MIB)) {
      const p = join(layout.mdDir, name);
      writeFileDurable(p, '', METADATA_PERMISSIONS);
      // Sparse: the mailboxes are 16 MiB of holes until used.
      if (mib > 0) truncateSync(p, mib * 1024 * 1024);
    }
    replaceFileAtomic(layout.metadata, formatSdMetadata(a.metadata), METADATA_PERMISSIONS);
    ensureDir(layout.imagesDir, 0o755);
    if (a.isoImageDir) ensureDir(join(layout.imagesDir, a.isoImageDir), 0o755);
    fsyncPath(dir);
    fsyncPath(a.mountPoint);
  } catch (err) {
    // Nothing half-made stays behind: the engine retries create with the same UUID.
    cleanupDir(dir);
    if (isNoSpace(err)) throw storageError(Errors.SD_NO_SPACE_LEFT, [a.sdUUID], { cause: err });
    throw storageError(Errors.SD_DOMAIN_METADATA_CREATION, [`${dir}: ${errorMessage(err)}`], { cause: err });
  }
  return { sdUUID: a.sdUUID, dir };
}

function writeMetadata(a: { dir: string; set: Record<string, string>; unset?: string[] }): { metadata: SdMetadata } {
  const { metadata } = readMetadata(a.dir);
  const next: SdMetadata = { ...metadata, ...a.set };
  for (const k of a.unset ?? []) delete next[k];
  try {
    replaceFileAtomic(new DomainLayout(a.dir).metadata, formatSdMetadata(next), METADATA_PERMISSIONS);
  } catch (err) {
    if (isNoSpace(err)) throw storageError(Errors.SD_NO_SPACE_LEFT, [basename(a.dir)], { cause: err });
    throw err;
  }
  return { metadata: next };
}

function stats(a: { dir: string }): { disktotal: string; diskfree: string } {
  try {
    const st = statfsSync(a.dir);
    return { disktotal: String(st.bsize * st.blocks), diskfree: String(st.bsize * st.bavail) };
  } catch (err) {
    throw storageError(Errors.SD_DOMAIN_ACCESS, [basename(a.dir)], { cause: err });
  }
}

function listImages(a: { dir: string }): string[] {
  const images = new DomainLayout(a.dir).imagesDir;
  return listDir(images).filter((n) => isUuid(n) && !n.startsWith(REMOVED_IMAGE_PREFIX) && isDir(join(images, n)));
}

/** <repo>/<sp>/<name> -> target, replaced atomically (sp._linkStorageDomain: tmp link + rename). */
function link(target: string, name: string): void {
  try {
    if (readlinkSync(name) === target) return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
  }
  const tmp = `${name}.${process.pid}.${Date.now()}.tmp`;
  symlinkSync(target, tmp);
  renameSync(tmp, name);
}

function linkPool(a: LinkPoolArgs): boolean {
  ensureDir(a.poolDir);
  const keep = new Set<string>();
  for (const l of a.links) {
    link(l.target, join(a.poolDir, l.name));
    keep.add(l.name);
  }
  if (a.prune) {
    for (const n of listDir(a.poolDir)) if (isUuid(n) && !keep.has(n)) unlinkSync(join(a.poolDir, n));
  }
  return true;
}

export const ops: AreaOps<'storage-domain'> = {
  'storage.connectLocal': (args) => connectLocal(args),
  'storage.disconnectLocal': (args) => disconnectLocal(args),
  'storage.prepareMountPoint': (args) => prepareMountPoint(args),
  'storage.releaseMountPoint': (args) => releaseMountPoint(args),
  'storage.isMounted': (args) => isMounted(args.mountPoint),
  'storage.domainsAt': (args) => domainsUnder(args.mountPoint),
  'storage.findDomains': (args) => {
    const { mountDir } = args;
    const gluster = join(mountDir, GLUSTER_DIR);
    return [
      ...listDir(mountDir).filter((m) => m !== GLUSTER_DIR).flatMap((m) => domainsUnder(join(mountDir, m))),
      ...(isDir(gluster) ? listDir(gluster).flatMap((m) => domainsUnder(join(gluster, m))) : []),
    ];
  },
  'storage.createDomain': (args) => createDomain(args),
  'storage.readDomain': (args) => readMetadata(args.dir),
  'storage.writeDomainMetadata': (args) => writeMetadata(args),
  'storage.domainStats': (args) => stats(args),
  'storage.listImages': (args) => listImages(args),
  'storage.createMasterTree': (args) => {
    const layout = new DomainLayout(args.dir);
    ensureDir(layout.vmsDir);
    ensureDir(layout.tasksDir);
    return true;
  },
  'storage.linkPool': (args) => linkPool(args),
  'storage.removePoolDir': (args) => {
    cleanupDir(args.poolDir);
    return true;
  },
  /** Where a link points (the real path of a LOCALFS domain, StorageDomain.getInfo remotePath). */
  'storage.readlink': (args) => {
    try {
      return readlinkSync(args.path);
    } catch {
      return '';
    }
  },
};
