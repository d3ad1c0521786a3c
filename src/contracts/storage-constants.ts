// vdsm's storage constants (lib/vdsm/storage/constants.py, sd.py): domain types and classes, volume
// formats, allocation types and roles, with the names the wire and the on-disk metadata use. Pure data:
// the worker operations import it too.

export const BLANK_UUID = '00000000-0000-0000-0000-000000000000';
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isUuid(v: unknown): v is string {
  return typeof v === 'string' && UUID_RE.test(v);
}

/** Storage domain types (sd.py): the engine sends the number, metadata holds the name. */
export const DomainType = { UNKNOWN: 0, NFS: 1, FCP: 2, ISCSI: 3, LOCALFS: 4, CIFS: 5, POSIXFS: 6, GLUSTERFS: 7 } as const;
export const DOMAIN_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'UNKNOWN', 1: 'NFS', 2: 'FCP', 3: 'ISCSI', 4: 'LOCALFS', 5: 'CIFS', 6: 'POSIXFS', 7: 'GLUSTERFS',
};

/** Domain classes (sd.py DOMAIN_CLASSES). */
export const DomainClass = { DATA: 1, ISO: 2, BACKUP: 3 } as const;
export const DOMAIN_CLASS_NAMES: Readonly<Record<number, string>> = { 1: 'Data', 2: 'Iso', 3: 'Backup' };

export const DomainRole = { MASTER: 'Master', REGULAR: 'Regular' } as const;

/** Domain statuses inside a pool (sd.py). */
export const DomainStatus = { UNKNOWN: 'Unknown', ATTACHED: 'Attached', UNATTACHED: 'Unattached', ACTIVE: 'Active' } as const;
export type DomainStatusName = typeof DomainStatus[keyof typeof DomainStatus];

/** Domain versions this agent creates and reads (sc.SUPPORTED_DOMAIN_VERSIONS). */
export const SUPPORTED_DOMAIN_VERSIONS: readonly number[] = [3, 4, 5];

// Volume allocation types, formats and roles share one numbering in vdsm (constants.py VOLUME_TYPES).
export const VolType = { UNKNOWN: 0, PREALLOCATED: 1, SPARSE: 2 } as const;
export const VolFormat = { UNKNOWN: 3, COW: 4, RAW: 5 } as const;
export const VolRole = { SHARED: 6, INTERNAL: 7, LEAF: 8 } as const;
export const VOLUME_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'UNKNOWN', 1: 'PREALLOCATED', 2: 'SPARSE', 3: 'UNKNOWN', 4: 'COW', 5: 'RAW', 6: 'SHARED', 7: 'INTERNAL', 8: 'LEAF',
};

export const Legality = { LEGAL: 'LEGAL', ILLEGAL: 'ILLEGAL', FAKE: 'FAKE' } as const;

/** DiskContentType of vdsm-api.yml (the advisory DISKTYPE of a volume). */
export const DISK_CONTENT_TYPES: readonly string[] = ['DATA', 'OVFS', 'ISOF', 'MEMD', 'MEMM', 'LEAS', 'HEVD', 'HESD', 'HEMD', 'HECI', '2'];

export const SPECIAL_VOLUMES = ['metadata', 'leases', 'ids', 'inbox', 'outbox', 'xleases'] as const;
/** Sizes of the special volumes on file domains (fileSD.FILE_SPECIAL_VOLUME_SIZES_MIB): sanlock files grow on use. */
export const FILE_SPECIAL_VOLUME_MIB: Readonly<Record<string, number>> = { leases: 0, ids: 0, inbox: 16, outbox: 16, xleases: 0 };

export const BLOCK_SIZE_512 = 512;
export const BLOCK_SIZE_4K = 4096;
/** Sanlock alignment of 512-byte-sector domains up to 2000 hosts (clusterlock.alignment). */
export const ALIGNMENT_1M = 1024 * 1024;

/** Default lease parameters of new domains (sd.DEFAULT_LEASE_PARAMS). */
export const DEFAULT_LEASE_PARAMS = { LEASERETRIES: 3, LEASETIMESEC: 60, LOCKRENEWALINTERVALSEC: 5, IOOPTIMEOUTSEC: 10 } as const;

/** Volume metadata must fit one 512-byte block (constants.METADATA_SIZE); the description 210 bytes. */
export const VOLUME_METADATA_SIZE = 512;
export const DESCRIPTION_SIZE = 210;
export const MAX_GENERATION = 999;

/** vdsm's GlusterFSConnection mounts below <repo>/mnt/glusterSD/. */
export const GLUSTER_MOUNT_DIR = 'glusterSD';
export const REMOVED_IMAGE_PREFIX = '_remove_me_';
export const META_EXT = '.meta';
export const LEASE_EXT = '.lease';
export const FILE_VOLUME_PERMISSIONS = 0o660;
export const METADATA_PERMISSIONS = 0o660;

/** SPM states (sp.py). */
export const SpmRole = { FREE: 'Free', CONTEND: 'Contend', SPM: 'SPM' } as const;
export type SpmRoleName = typeof SpmRole[keyof typeof SpmRole];
export const SPM_ID_FREE = -1;
export const LVER_INVALID = -1;

/** The pool directory link to the master domain (sp.POOL_MASTER_DOMAIN). */
export const POOL_MASTER_LINK = 'mastersd';

/** vdsm's ROLLBACK_SENTINEL: replaceRecoveries pops up to (and including) this one. */
export const ROLLBACK_SENTINEL = 'rollback sentinel';
