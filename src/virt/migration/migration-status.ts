// The migration status the engine reads (VM.getMigrationStatus, the VM_migration_status event, the
// VM's `migrationProgress`), and how each way a migration can fail lands in it: vdsm's codes, so the
// engine's audit log shows what it would show with vdsm. Pure.
import { Errors, type ErrorSpec } from '../../errors.js';
import { libvirtErrorInfo } from '../../libvirt/errors.js';
import { VIR_ERROR_NUMBERS } from '../../libvirt/vir-error-numbers.js';

export interface StatusCode {
  code: number;
  message: string;
}

/** `VM.getMigrationStatus`'s result (vdsm's migrationStats): downtime only after a completed migration. */
export interface MigrationStats {
  status: StatusCode;
  progress: number;
  downtime?: number;
}

export const MIGRATION_IN_PROGRESS: StatusCode = Object.freeze({ code: 0, message: 'Migration in progress' });
export const MIGRATION_DONE: StatusCode = Object.freeze({ code: 0, message: 'Migration done' });
export const MIGRATION_CANCELLED_BY_USER: StatusCode = Object.freeze({ code: 0, message: 'Migration process cancelled' });

export function statusOf(spec: ErrorSpec, message?: string): StatusCode {
  return { code: spec.vdsmCode, message: message !== undefined && message !== '' ? message : spec.message };
}

/** A status that reports a failure (vdsm's response.is_error). */
export function isErrorStatus(s: StatusCode): boolean {
  return s.code !== 0;
}

/**
 * The status a failed migrateToURI3 leaves, as vdsm maps it: an aborted job (our cancel, the schedule's
 * abort) is 47 "Migration canceled"; libvirt's OPERATION_FAILED (e.g. a domain of that name already on
 * the destination) is 102 with libvirt's own text; anything else is 12, the generic migration error.
 */
export function statusForMigrateError(err: unknown): StatusCode {
  const info = libvirtErrorInfo(err);
  if (info?.virCode === VIR_ERROR_NUMBERS['OPERATION_ABORTED']) return statusOf(Errors.MIG_CANCEL, 'Migration canceled');
  if (info?.virCode === VIR_ERROR_NUMBERS['OPERATION_FAILED']) return statusOf(Errors.MIG_OPERATION, info.virMessage);
  return statusOf(Errors.MIGRATE);
}

/** What the destination agent answered to VM.migrationCreate, as the source keeps it (vdsm: status = result). */
export function statusForDestinationError(err: unknown): StatusCode {
  const e = err as { code?: unknown; vdsmCode?: unknown; message?: unknown } | null;
  const code = typeof e?.vdsmCode === 'number' ? e.vdsmCode : typeof e?.code === 'number' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  // A transport failure (refused, no answer in time) has no vdsm code; vdsm reports it as migrateErr.
  if (code === undefined || code <= 0) return statusOf(Errors.MIGRATE, `${Errors.MIGRATE.message}: ${message}`);
  return { code, message };
}

/** True for the destination's "no incoming slot" answer: the source waits and tries again. */
export function isMigrateLimit(status: StatusCode): boolean {
  return status.code === Errors.MIGRATE_LIMIT.vdsmCode;
}
