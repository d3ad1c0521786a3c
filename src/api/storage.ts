// The storage namespaces (StoragePool, StorageDomain, Volume, Image) with vdsm-api.yml's parameter
// names. Parameter types are declared as the engine really sends them (numbers where the schema says
// strings and the other way round, see src/storage/params.ts); the HSM converts them as vdsm does.
import { s, type Schema } from './schema.js';
import type { ApiMethodsFactory, MethodSpec, ParamSpec } from './method-table.js';
import type { ImagePort, StoragePort } from './storage-ports.js';

export interface StorageApiDeps {
  hsm: StoragePort;
  images: ImagePort;
}

const numberish: Schema = s.union(s.int(), s.string());
const boolish: Schema = s.union(s.bool(), s.string(), s.int());
const BLANK = '00000000-0000-0000-0000-000000000000';

const p = (name: string, type: Schema, description: string, extra: Partial<ParamSpec> = {}): ParamSpec => ({ name, type, description, ...extra });
const sp = p('storagepoolID', s.string(), 'The storage pool UUID.');
const sd = p('storagedomainID', s.string(), 'The storage domain UUID.');
const img = p('imageID', s.string(), 'The image UUID.');
const vol = p('volumeID', s.string(), 'The volume UUID.');
const taskId = s.named('TaskID', s.string());
const statusList = s.array(s.named('ConnectStorageServerStatus', s.object({ id: s.string(), status: s.int() })));

export const apiMethods: ApiMethodsFactory<StorageApiDeps> = ({ hsm, images }) => {
  const m: MethodSpec[] = [
    {
      name: 'StoragePool.connectStorageServer',
      description: 'Connect storage. LOCALFS (domainType 4) links <repository>/mnt/<mangled path> to the directory named by `connection` (vdsm-api.yml calls it `path`); NFS (1), POSIXFS (6, with `vfs_type`) and GLUSTERFS (7) are mounted there by supervdsm (`mnt_options`, and for NFS `protocol_version`, `timeout`, `retrans`), once; without supervdsm they answer 477.',
      params: [sp, p('domainType', numberish, 'Storage type: 4 (LOCALFS), 1 (NFS), 6 (POSIXFS), ...'), p('connectionParams', s.array(s.any()), '[{id, connection, ...}]')],
      result: statusList,
      resultDescription: 'One `{id, status}` per connection; status 0 or a vdsm error code.',
      handler: async (a) => (await hsm.connectStorageServer(a['domainType'], a['storagepoolID'], a['connectionParams'])).statuslist,
    },
    {
      name: 'StoragePool.disconnectStorageServer',
      description: 'Remove storage connections (LOCALFS: the mnt/ link; mounts: unmounted by supervdsm, the mount point removed).',
      params: [sp, p('domainType', numberish, 'Storage type.'), p('connectionParams', s.array(s.any()), 'As given to connectStorageServer.')],
      result: statusList,
      handler: async (a) => (await hsm.disconnectStorageServer(a['domainType'], a['storagepoolID'], a['connectionParams'])).statuslist,
    },
    {
      name: 'StoragePool.create',
      description: 'Create a pool: the master domain gets the pool metadata and the Master role; the other domains are attached.',
      params: [
        sp, p('name', s.string(), 'Pool description (up to 50 characters).'), p('masterSdUUID', s.string(), 'Master domain.'),
        p('masterVersion', numberish, 'Master version.'), p('domainList', s.union(s.array(s.string()), s.string()), 'Domains to attach (the master included).'),
        p('lockRenewalIntervalSec', numberish, 'Lease parameter (0: default).', { optional: true }), p('leaseTimeSec', numberish, 'Lease parameter.', { optional: true }),
        p('ioOpTimeoutSec', numberish, 'Lease parameter.', { optional: true }), p('leaseRetries', numberish, 'Lease parameter.', { optional: true }),
      ],
      result: s.bool(),
      handler: (a) => hsm.createStoragePool(a),
    },
    {
      name: 'StoragePool.connect',
      description: 'Connect to a pool: verify the master domain and version, link and monitor the active domains. With domainDict the pool keeps its domain map in memory (engines since 3.4).',
      params: [sp, p('hostID', numberish, 'Host id in the pool.'), p('scsiKey', s.string(), 'Deprecated.', { optional: true }), p('masterSdUUID', s.string(), 'Master domain.'), p('masterVersion', numberish, 'Master version.'), p('domainDict', s.map(s.string()), '{sdUUID: "active" | "attached"}.', { optional: true })],
      result: s.bool(),
      handler: (a) => hsm.connectStoragePool(a),
    },
    {
      name: 'StoragePool.disconnect',
      description: 'Disconnect from the pool; refused (656) while this host is SPM.',
      params: [sp, p('hostID', numberish, 'Host id.'), p('scsiKey', s.string(), 'Deprecated.', { optional: true }), p('remove', boolish, 'Unused.', { default: false })],
      result: s.bool(),
      handler: (a) => hsm.disconnectStoragePool(a['storagepoolID'], a['hostID']),
    },
    {
      name: 'StoragePool.getSpmStatus',
      description: 'SPM role of this host: Free / Contend / SPM with the lock version and the SPM host id.',
      params: [sp],
      result: s.named('SpmStatus', s.object({ spmStatus: s.string(), spmLver: s.int(), spmId: s.int() })),
      resultDescription: 'vdsm `spm_st`; error 309 when the pool is not connected.',
      handler: (a) => hsm.getSpmStatus(a['storagepoolID']),
    },
    {
      name: 'StoragePool.spmStart',
      description: 'Become SPM: an hsm task takes the local lock on the master domain, makes master/{tasks,vms} and recovers the SPM tasks persisted there.',
      params: [
        sp, p('prevID', numberish, 'Deprecated.'), p('prevLver', numberish, 'Deprecated.'), p('enableScsiFencing', boolish, 'Unused.'),
        p('maxHostID', numberish, 'Maximum host id.', { optional: true }), p('domVersion', numberish, 'Expected master domain version.', { optional: true }),
      ],
      result: taskId,
      resultDescription: 'The task UUID; 656 when already SPM.',
      handler: (a) => hsm.spmStart(a),
    },
    {
      name: 'StoragePool.spmStop',
      description: 'Give up the SPM role; refused (653) while SPM tasks are unfinished.',
      params: [sp],
      result: s.bool(),
      handler: (a) => hsm.spmStop(a['storagepoolID']),
    },
    {
      name: 'StoragePool.getInfo',
      description: 'Pool information (type, master_uuid, master_ver, domains, spm_id) and, per domain, status, version and space.',
      params: [sp],
      result: s.named('StoragePoolFullInfo', s.object({ info: s.map(s.any()), dominfo: s.map(s.any()) })),
      handler: (a) => hsm.getStoragePoolInfo(a['storagepoolID']),
    },
    {
      name: 'StorageDomain.create',
      description: 'Create a file storage domain in the connected directory (LOCALFS) or mount (NFS, POSIXFS, GLUSTERFS; 360 when not mounted) `typeArgs`: dom_md/ (metadata, ids, leases, inbox, outbox, xleases) and images/.',
      params: [
        sd, p('domainType', numberish, 'Storage type (4: LOCALFS; 1, 6, 7: NFS, POSIXFS, GLUSTERFS).'), p('typeArgs', s.string(), 'The local path, or the connection as given to connectStorageServer.'), p('name', s.string(), 'Domain name.'),
        p('domainClass', numberish, '1 (Data), 2 (Iso), 3 (Backup).'), p('version', numberish, 'Domain version (3, 4, 5).', { optional: true }),
        p('blockSize', numberish, '512, or 0 to detect.', { optional: true }), p('maxHosts', numberish, 'Hosts the domain supports (1 to 2000).', { optional: true }),
      ],
      result: s.bool(),
      handler: (a) => hsm.createStorageDomain(a),
    },
    {
      name: 'StorageDomain.getInfo',
      description: 'Domain information from its metadata.',
      params: [sd],
      result: s.named('StorageDomainInfo', s.object({ uuid: s.string(), type: s.string(), class: s.string(), name: s.string(), role: s.string(), pool: s.array(s.string()), version: s.string(), remotePath: s.string() })),
      handler: (a) => hsm.getStorageDomainInfo(a['storagedomainID']),
    },
    {
      name: 'StorageDomain.getStats',
      description: 'Space of the domain (disktotal, diskfree as strings of bytes).',
      params: [sd],
      result: s.named('StorageDomainStats', s.object({ disktotal: s.string(), diskfree: s.string() })),
      handler: (a) => hsm.getStorageDomainStats(a['storagedomainID']),
    },
    {
      name: 'StorageDomain.getImages',
      description: 'Image UUIDs of the domain.',
      params: [sd],
      result: s.array(s.string()),
      handler: (a) => hsm.getImagesList(a['storagedomainID']),
    },
    {
      name: 'StorageDomain.activate',
      description: 'Activate an attached domain of the connected pool (it is then linked and monitored).',
      params: [sd, sp],
      result: s.bool(),
      handler: (a) => hsm.activateStorageDomain(a['storagedomainID'], a['storagepoolID']),
    },
    {
      name: 'StorageDomain.attach',
      description: 'Attach an unattached domain to the connected pool.',
      params: [sd, sp],
      result: s.bool(),
      handler: (a) => hsm.attachStorageDomain(a['storagedomainID'], a['storagepoolID']),
    },
    {
      name: 'StorageDomain.detach',
      description: 'Detach a domain from the pool (never the master: 383).',
      params: [sd, sp, p('masterSdUUID', s.string(), 'Obsolete.', { optional: true }), p('masterVersion', numberish, 'Obsolete.', { default: 0 }), p('force', boolish, 'Skip the domain metadata update.', { default: false })],
      result: s.bool(),
      handler: (a) => hsm.detachStorageDomain(a['storagedomainID'], a['storagepoolID'], a['force']),
    },
    {
      name: 'Volume.create',
      description: 'Create a volume (raw or qcow2, sparse or preallocated, or a qcow2 snapshot of srcVolUUID in the same image) as an SPM task.',
      params: [
        vol, sp, sd, img, p('size', numberish, 'Bytes (a string, as the engine sends it).'), p('volFormat', numberish, '5 (RAW) or 4 (COW).'),
        p('preallocate', numberish, '1 (PREALLOCATED) or 2 (SPARSE).'), p('diskType', numberish, 'DATA, OVFS, ...'), p('desc', s.string(), 'Description (JSON from the engine), truncated to 210 bytes.'),
        p('srcImgUUID', s.string(), 'Snapshot source image.', { default: BLANK }), p('srcVolUUID', s.string(), 'Snapshot source volume.', { default: BLANK }),
        p('initialSize', numberish, 'Ignored on file domains.', { optional: true }), p('addBitmaps', boolish, 'Unsupported; accepted.', { default: false }),
        p('legal', boolish, 'Create the volume legal.', { default: true }), p('sequence', numberish, 'Sequence number.', { default: 0 }),
        p('bitmap', s.string(), 'Unsupported; accepted.', { optional: true }),
      ],
      result: taskId,
      handler: (a) => images.createVolume(a),
    },
    {
      name: 'Volume.delete',
      description: 'Delete a volume as an SPM task (a shared volume or one with children only with force).',
      params: [vol, sp, sd, img, p('postZero', boolish, 'File domains never zero.', { default: false }), p('force', boolish, 'Delete even shared volumes and parents.', { default: false }), p('discard', boolish, 'Unsupported; accepted.', { default: false })],
      result: taskId,
      handler: (a) => images.deleteVolume(a),
    },
    {
      name: 'Volume.getInfo',
      description: 'Volume information; status is OK or ILLEGAL (also for unreadable metadata).',
      params: [vol, sp, sd, img],
      result: s.named('VolumeInfo', s.object({ uuid: s.string(), status: s.enumOf(['OK', 'LOCKED', 'ILLEGAL']), capacity: s.string(), apparentsize: s.string(), truesize: s.string() })),
      handler: (a) => images.getVolumeInfo(a),
    },
    {
      name: 'Volume.getSize',
      description: 'Apparent and allocated size of the volume file, in bytes (strings).',
      params: [vol, sp, sd, img],
      result: s.named('VolumeSizeInfo', s.object({ apparentsize: s.string(), truesize: s.string() })),
      handler: (a) => images.getVolumeSize(a),
    },
    {
      name: 'Volume.copy',
      description: 'Copy a volume (its chain collapsed) into a new image with qemu-img convert, as an SPM task with progress (vdsm copyImage).',
      params: [
        vol, sp, sd, img, p('dstSdUUID', s.string(), 'Destination domain (blank: the same).'), p('dstImgUUID', s.string(), 'New image.'), p('dstVolUUID', s.string(), 'New volume.'),
        p('desc', s.string(), 'Description.', { default: '' }), p('volType', numberish, 'Unused.', { default: 6 }), p('volFormat', numberish, 'Destination format (3: same as source).', { default: 3 }),
        p('preallocate', numberish, 'Destination allocation (0: same as source).', { default: 0 }), p('postZero', boolish, 'Unused.', { default: false }),
        p('force', boolish, 'Unused.', { default: false }), p('discard', boolish, 'Unused.', { default: false }),
      ],
      result: taskId,
      handler: (a) => images.copyImage(a),
    },
    {
      name: 'Image.prepare',
      description: 'Prepare an image for use: every volume legal (unless allowIllegal), the run link made.',
      params: [sp, sd, img, vol, p('allowIllegal', boolish, 'Prepare illegal volumes too.', { default: false })],
      result: s.named('PreparedImageInfo', s.object({ path: s.string(), info: s.map(s.any()), imgVolumesInfo: s.array(s.map(s.any())) })),
      handler: (a) => images.prepareImage(a),
    },
    {
      name: 'Image.teardown',
      description: 'Release a prepared image (the engine also sends leafVolID).',
      params: [sp, sd, img, p('volumeID', s.string(), 'Optional.', { optional: true }), p('leafVolID', s.string(), 'What ovirt-engine sends in place of volumeID; not needed to tear down.', { optional: true })],
      result: s.bool(),
      handler: (a) => images.teardownImage(a),
    },
    {
      name: 'Image.delete',
      description: 'Delete an image: renamed to _remove_me_<img> at once, its volumes purged by an SPM task.',
      params: [img, sp, sd, p('postZero', boolish, 'File domains never zero.', { default: false }), p('force', boolish, 'Deprecated, ignored.', { default: false }), p('discard', boolish, 'Unsupported; accepted.', { default: false })],
      result: taskId,
      handler: (a) => images.deleteImage(a),
    },
  ];
  return m;
};
