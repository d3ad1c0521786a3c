// How migrations reach libvirt: migrateToURI3, and hibernation's save and restore, alone on an Executor
// of its own (no timeout, never discarded: a worker blocked there is the migration still running in
// libvirtd, which a discard would not stop), every short call (job stats, abort, downtime, speed, XML, state) on the periodic Executor
// with a timeout, so the monitor and the engine's cancel never queue behind a blocked migration.
import type { Logger } from 'pino';
import type { Dispatcher } from '../../contracts/dispatcher.js';
import type { DomainEvent } from '../../contracts/libvirt-types.js';
import type { OpArgs } from '../../contracts/operations.js';
import type { Clock } from '../../runtime/clock.js';
import { Executor } from '../../runtime/executor/executor.js';
import type { Scheduler } from '../../runtime/scheduler.js';
import type { MigrationLibvirt, NoConn, ShortOp } from './migration-ports.js';

/** A short migration call may take this long before its worker is discarded (the monitor tries again). */
export const SHORT_CALL_TIMEOUT_MS = 30_000;

export function migrationExecutor(o: { maxOutgoing: number; maxRestores?: number; scheduler: Scheduler; log: Logger; clock: Clock }): Executor {
  // Room for every outgoing migration (or hibernation's save) plus as many calls still blocked after
  // libvirt decided them, and for the restores from hibernation allowed at once.
  const bound = 2 * o.maxOutgoing + (o.maxRestores ?? 0) + 1;
  return new Executor({
    name: 'migration',
    workersCount: 0,
    maxWorkers: bound,
    maxTasks: bound,
    spares: 0,
    opsModules: ['migration'],
    scheduler: o.scheduler,
    log: o.log,
    clock: o.clock,
  });
}

export interface MigrationLibvirtOptions {
  /** The periodic Executor. */
  short: Dispatcher;
  /** The migration Executor. */
  migration: Dispatcher;
  connections: { conn(): number; onEvent(cb: (e: DomainEvent) => void): () => void };
}

export function migrationLibvirt(o: MigrationLibvirtOptions): MigrationLibvirt {
  return {
    call: <K extends ShortOp>(op: K, args: NoConn<K>) =>
      o.short.dispatch(op, { ...args, conn: o.connections.conn() } as OpArgs<K>, { timeoutMs: SHORT_CALL_TIMEOUT_MS, discard: true }),
    migrate: (args) => o.migration.dispatch('migration.migrateToURI3', { ...args, conn: o.connections.conn() }, { discard: false }),
    save: (args) => o.migration.dispatch('migration.save', { ...args, conn: o.connections.conn() }, { discard: false }),
    restore: (args) => o.migration.dispatch('migration.restore', { ...args, conn: o.connections.conn() }, { discard: false }),
    saveImageXml: (args) => o.migration.dispatch('migration.saveImageXml', { ...args, conn: o.connections.conn() }, { discard: false }),
    onEvent: (cb) => o.connections.onEvent(cb),
  };
}
