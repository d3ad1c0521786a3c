// The typed door between the main thread and the Executor workers: every operation a worker serves,
// by area, as `name -> { args, result }`. The main side calls `dispatch(op, args)` with these types
// (src/contracts/dispatcher.ts); each workers/ops/<area>.ts implements its area as `AreaOps<area>`,
// and workers/ops/index.ts registers every area, so a missing, misspelt or mistyped operation fails
// the build instead of answering UNKNOWN_OPERATION at run time. Types only.
import type { GuestOps } from './guest-ops.js';
import type { HostdevOps } from './hostdev-facts.js';
import type { HostOps } from './host-facts.js';
import type { LibvirtOpMap } from './libvirt-ops.js';
import type { MigrationOps } from './migration-ops.js';
import type { SamplingOps } from './sampling-ops.js';
import type { SupervdsmOps } from './supervdsm-ops.js';
import type { StorageDomainOps, StorageRecoveryOps, StorageTaskOps, StorageVolumeOps } from './storage-ops.js';
import type { TestOps } from './test-ops.js';

/** Area (one workers/ops/<area>.ts module) -> its operations. */
export interface OpAreas {
  libvirt: LibvirtOpMap;
  sampling: SamplingOps;
  host: HostOps;
  hostdev: HostdevOps;
  guest: GuestOps;
  test: TestOps;
  supervdsm: SupervdsmOps;
  'storage-domain': StorageDomainOps;
  'storage-volume': StorageVolumeOps;
  'storage-tasks': StorageTaskOps;
  'storage-recovery': StorageRecoveryOps;
  migration: MigrationOps;
}

export type Area = keyof OpAreas;

/** Every operation of every area. */
export type OpMap = LibvirtOpMap & SamplingOps & HostOps & HostdevOps & GuestOps & TestOps & SupervdsmOps & MigrationOps
  & StorageDomainOps & StorageVolumeOps & StorageTaskOps & StorageRecoveryOps;
export type OpName = keyof OpMap;
export type OpArgs<K extends OpName> = OpMap[K]['args'];
export type OpResult<K extends OpName> = OpMap[K]['result'];

/** The minimal logger an operation gets (a pino logger bound to workerId and taskId satisfies it). */
export interface OpLog {
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

/** What an operation receives besides its arguments. */
export interface OpContext {
  /** Executor-wide task id (the same id the main thread logs and publishes). */
  taskId: number;
  /** Executor worker id (ever increasing; a replacement gets a new id). */
  workerId: number;
  /** Logger bound to { workerId, taskId }, created on first use. */
  log: OpLog;
  /** The Executor's `workerData` option, as given to every worker. */
  workerData: unknown;
  /**
   * The operation now awaits offloaded native call `call` (`<addon>:<id>`, from the asynchronous entry,
   * workers/offloaded-call.ts) and does nothing else until it settles: the Executor may park the task
   * and give this worker the next one. Absent outside an Executor worker.
   */
  park?: (call: string) => void;
  /**
   * Move `buffer`, part of this operation's result, to the main thread instead of copying it (the
   * result's postMessage transfer list): for a large result encoded into one buffer, such as
   * sampling.bulkStats' records. The operation must not touch the buffer after returning. Absent
   * outside an Executor worker (the result is then used as it is).
   */
  transfer?: (buffer: ArrayBuffer) => void;
}

/** One operation's implementation in a worker: plain data in, plain data (or a promise of it) out. */
export type OpImpl<K extends OpName> = (args: OpArgs<K>, ctx: OpContext) => OpResult<K> | Promise<OpResult<K>>;

/** What workers/ops/<area>.ts exports as `ops`: an implementation for exactly the area's operations. */
export type AreaOps<A extends Area> = { [K in keyof OpAreas[A] & OpName]: OpImpl<K> };

/** The static registry of areas (workers/ops/index.ts): every area, each loading its module on demand. */
export type OpRegistry = { readonly [A in Area]: () => Promise<{ ops: AreaOps<A> }> };
