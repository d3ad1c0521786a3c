// The live-migration operations of workers/ops/migration.ts (one call of the binding each) and libvirt's
// migration constants. migrateToURI3 blocks for the whole migration, without limit when the destination
// hangs: it is dispatched to an Executor of its own and never discarded; the short calls (job stats,
// abort, downtime, speed) go to the periodic Executor so they never queue behind it. Types and constants.
import type { FlatStats } from './libvirt-types.js';

/** libvirt's migration parameters (VIR_MIGRATE_PARAM_*): strings, or numbers for the numeric ones. */
export type MigrateParams = Record<string, string | number>;

/** virDomainGetJobStats: libvirt's flat keys plus `type` (JobType); `operation` is a JobOperation. */
export type JobStats = FlatStats & { type: number; operation?: number };

interface DomainArgs { conn: number; uuid: string }

/** Operation name -> { args, result } of workers/ops/migration.ts. */
export interface MigrationOps {
  'migration.migrateToURI3': { args: DomainArgs & { duri: string; params: MigrateParams; flags: number }; result: null };
  'migration.jobStats': { args: DomainArgs & { flags?: number }; result: JobStats };
  'migration.abortJob': { args: DomainArgs; result: null };
  'migration.setMaxDowntime': { args: DomainArgs & { downtimeMs: number }; result: null };
  'migration.setMaxSpeed': { args: DomainArgs & { bandwidthMiBs: number }; result: null };
  'migration.getMaxSpeed': { args: DomainArgs; result: number };
  'migration.startPostCopy': { args: DomainArgs; result: null };
  /** virDomainSaveFlags (hibernation): as long as the memory takes to write; libvirt stops the domain. */
  'migration.save': { args: DomainArgs & { path: string; dxml?: string; flags?: number }; result: null };
  /** virDomainRestoreFlags: the saved domain runs again (in the state the file recorded, unless flags say). */
  'migration.restore': { args: { conn: number; path: string; dxml?: string; flags?: number }; result: null };
  /** virDomainSaveImageGetXMLDesc: the domain XML a save file carries (reads its header). */
  'migration.saveImageXml': { args: { conn: number; path: string }; result: string };
}

export type MigrationOpName = keyof MigrationOps;

/** virDomainMigrateFlags. */
export const MigrateFlag = {
  LIVE: 1, PEER2PEER: 2, TUNNELLED: 4, PERSIST_DEST: 8, UNDEFINE_SOURCE: 16, PAUSED: 32,
  NON_SHARED_DISK: 64, NON_SHARED_INC: 128, CHANGE_PROTECTION: 256, UNSAFE: 512, OFFLINE: 1024,
  COMPRESSED: 2048, ABORT_ON_ERROR: 4096, AUTO_CONVERGE: 8192, RDMA_PIN_ALL: 16384, POSTCOPY: 32768,
  TLS: 65536, PARALLEL: 131072, NON_SHARED_SYNCHRONOUS_WRITES: 262144, POSTCOPY_RESUME: 524288,
  ZEROCOPY: 1048576,
} as const;

/** The VIR_MIGRATE_PARAM_* names vdsm-node sets. */
export const MigrateParam = {
  URI: 'migrate_uri',
  DEST_XML: 'destination_xml',
  BANDWIDTH: 'bandwidth',
  GRAPHICS_URI: 'graphics_uri',
  LISTEN_ADDRESS: 'listen_address',
  PARALLEL_CONNECTIONS: 'parallel.connections',
  TLS_DESTINATION: 'tls.destination',
} as const;

/** virDomainSaveRestoreFlags. */
export const SaveFlag = { BYPASS_CACHE: 1, RUNNING: 2, PAUSED: 4, RESET_NVRAM: 8 } as const;

/** virDomainJobType. */
export const JobType = { NONE: 0, BOUNDED: 1, UNBOUNDED: 2, COMPLETED: 3, FAILED: 4, CANCELLED: 5 } as const;

/** virDomainJobOperation. */
export const JobOperation = {
  UNKNOWN: 0, START: 1, SAVE: 2, RESTORE: 3, MIGRATION_IN: 4, MIGRATION_OUT: 5, SNAPSHOT: 6,
  SNAPSHOT_REVERT: 7, DUMP: 8, BACKUP: 9,
} as const;

/** virDomainGetJobStatsFlags. */
export const JobStatsFlag = { COMPLETED: 1, KEEP_COMPLETED: 2 } as const;
