// Operations of the storage areas (workers/ops/storage-*.ts): synchronous file-system work on storage
// domains, volumes and task directories, each run in an Executor thread of the 'storage' executor so a
// hung storage costs a thread (discarded after [irs] process_pool_timeout), never the main loop.
// Types only.
import type { SdMetadata } from './sd-metadata.js';
import type { LoadedTaskDir, RecoveryRecord } from './task-format.js';
import type { VolumeMetadata } from './volume-metadata.js';

/** A domain found under a mount point: <mount point>/<sdUUID>, through the mnt/ link. */
export interface FoundDomain {
  sdUUID: string;
  dir: string;
}

/** One volume of an image with its parsed metadata (undefined and errors when unreadable). */
export interface ImageVolume {
  volUUID: string;
  md: VolumeMetadata | undefined;
  errors: string[];
}

/** Image.prepare's answer for a file domain. */
export interface PreparedImage {
  path: string;
  info: { type: string; path: string };
  imgVolumesInfo: { domainID: string; imageID: string; volumeID: string; path: string }[];
}

export interface VolumeRef {
  /** The domain directory (<repo>/mnt/<mangled>/<sdUUID>). */
  dir: string;
  imgUUID: string;
  volUUID: string;
}

/** Volume.getInfo in vdsm's shape (sizes and capacity in bytes as decimal strings). */
export interface VolumeInfo {
  uuid: string;
  type: string;
  format: string;
  disktype: string;
  voltype: string;
  capacity: string;
  parent: string;
  description: string;
  pool: string;
  domain: string;
  image: string;
  ctime: string;
  mtime: string;
  legality: string;
  generation: number;
  apparentsize: string;
  truesize: string;
  /** ILLEGAL also when the metadata cannot be read (vdsm says INVALID, which the engine cannot map). */
  status: 'OK' | 'LOCKED' | 'ILLEGAL';
  children: string[];
}

export interface VolumeSizes {
  apparentsize: number;
  truesize: number;
}

export interface CreateDomainArgs {
  mountPoint: string;
  sdUUID: string;
  metadata: SdMetadata;
  /** Make images/<this> too (ISO domains' 11111111-... image). */
  isoImageDir?: string;
}

export interface LinkPoolArgs {
  poolDir: string;
  links: { name: string; target: string }[];
  /** Remove UUID-named links not listed (stale domains, as sp.__rebuild does). */
  prune: boolean;
}

export interface PrepareImageArgs extends VolumeRef {
  sdUUID: string;
  allowIllegal: boolean;
  /** <run_dir>/storage/<sd>/<img>: the link vdsm makes to the image directory. */
  runLink: string;
}

/** workers/ops/storage-domain.ts: connections, domains, the pool's links. */
export interface StorageDomainOps {
  /** LOCALFS connect: <mountPoint> becomes a link to `path`; the domains found under it. */
  'storage.connectLocal': { args: { mountPoint: string; path: string }; result: FoundDomain[] };
  'storage.disconnectLocal': { args: { mountPoint: string }; result: boolean };
  /** A mount connection's mount point: made (mkdir -p) and whether something is mounted on it now. */
  'storage.prepareMountPoint': { args: { mountPoint: string }; result: { mounted: boolean } };
  /** After an unmount: the domains under it forgotten by the caller, the empty mount point removed. */
  'storage.releaseMountPoint': { args: { mountPoint: string }; result: { mounted: boolean } };
  /** Whether something is mounted on `mountPoint` now (the mount table, not the mount itself). */
  'storage.isMounted': { args: { mountPoint: string }; result: boolean };
  /** Domains directly under one mount point. */
  'storage.domainsAt': { args: { mountPoint: string }; result: FoundDomain[] };
  /** Domains under every mount point of <repo>/mnt (and of mnt/glusterSD). */
  'storage.findDomains': { args: { mountDir: string }; result: FoundDomain[] };
  'storage.createDomain': { args: CreateDomainArgs; result: FoundDomain };
  'storage.readDomain': { args: { dir: string }; result: { metadata: SdMetadata } };
  /** Read, change (set, then unset) and atomically replace dom_md/metadata. */
  'storage.writeDomainMetadata': { args: { dir: string; set: Record<string, string>; unset?: string[] }; result: { metadata: SdMetadata } };
  /** statfs of the domain, in bytes as decimal strings (vdsm's getStats shape). */
  'storage.domainStats': { args: { dir: string }; result: { disktotal: string; diskfree: string } };
  'storage.listImages': { args: { dir: string }; result: string[] };
  /** master/vms and master/tasks of the master domain. */
  'storage.createMasterTree': { args: { dir: string }; result: boolean };
  'storage.linkPool': { args: LinkPoolArgs; result: boolean };
  'storage.removePoolDir': { args: { poolDir: string }; result: boolean };
  /** Where a link points ('' when it is not one). */
  'storage.readlink': { args: { path: string }; result: string };
}

/** workers/ops/storage-volume.ts: volume and image answers that need no task. */
export interface StorageVolumeOps {
  /** Volume.getInfo in vdsm's shape. */
  'storage.volumeInfo': { args: VolumeRef & { sdUUID: string }; result: VolumeInfo };
  'storage.volumeSize': { args: VolumeRef; result: { apparentsize: string; truesize: string } };
  /** Sizes by file path (VM disk sampling); missing files are left out. */
  'storage.pathSizes': { args: { paths: string[] }; result: Record<string, VolumeSizes> };
  'storage.imageVolumes': { args: { dir: string; imgUUID: string }; result: ImageVolume[] };
  'storage.prepareImage': { args: PrepareImageArgs; result: PreparedImage };
  'storage.teardownImage': { args: { runLink: string }; result: boolean };
  /** Image.delete's synchronous part: rename to _remove_me_<img>; the image's volumes. */
  'storage.markImageRemoved': { args: { dir: string; imgUUID: string; sdUUID: string }; result: string[] };
  /** Write at the start of an existing volume file, in place (no create, no truncation), then fsync. */
  'storage.writeVolumeHead': { args: { path: string; data: Uint8Array }; result: boolean };
  /** The first bytes (at most maxBytes) of a volume file. */
  'storage.readVolumeHead': { args: { path: string; maxBytes: number }; result: Uint8Array };
}

export interface TaskSaveArgs {
  store: string;
  id: string;
  /** File name -> bytes (src/contracts/task-format.ts taskFiles). */
  files: Record<string, string>;
}

/** workers/ops/storage-tasks.ts: task directories in vdsm's layout, swapped in atomically. */
export interface StorageTaskOps {
  'storage.taskSave': { args: TaskSaveArgs; result: boolean };
  'storage.taskLoadAll': { args: { store: string }; result: { tasks: LoadedTaskDir[]; errors: string[] } };
  'storage.taskClean': { args: { store: string; id: string }; result: boolean };
  'storage.taskCreateDir': { args: { store: string; id: string }; result: boolean };
}

export interface RecoverArgs {
  rec: RecoveryRecord;
  /** Domain directories by sdUUID (vdsm finds them through its domain cache). */
  domains: Record<string, string>;
}

/** workers/ops/storage-recovery.ts: task recoveries run by vdsm's names. */
export interface StorageRecoveryOps {
  'storage.recover': { args: RecoverArgs; result: boolean };
  /** "<module>.<object>.<function>" of every recovery this agent can run. */
  'storage.knownRecoveries': { args: undefined; result: string[] };
}
