// Executor operations for live migration over the libvirt binding: one call each, plain arguments. The
// migration Executor loads only this area; the periodic Executor serves the short calls (job stats,
// abort, downtime, speed) so they never wait behind a blocked migrateToURI3.
// Like every libvirt op in a worker, through the asynchronous entry (see libvirt.ts): the task parks
// while its call runs, so a migrateToURI3 lasting minutes holds a native call thread, not the worker.
import { toTransferableLibvirtError, type VirtBinding } from '../../src/libvirt/binding.js';
import type { MigrationOpName, MigrationOps } from '../../src/contracts/migration-ops.js';
import type { AreaOps, OpImpl } from '../../src/contracts/operations.js';
import { virtCall } from './libvirt.js';

type Impl<K extends MigrationOpName> = (v: VirtBinding, a: MigrationOps[K]['args']) => MigrationOps[K]['result'] | void;

function op<K extends MigrationOpName>(impl: Impl<K>): OpImpl<K> {
  return async (args, ctx) => {
    try {
      const value = await virtCall(ctx, (v) => impl(v, args));
      return (value === undefined ? null : value) as MigrationOps[K]['result'];
    } catch (err) {
      throw toTransferableLibvirtError(err);
    }
  };
}

export const ops: AreaOps<'migration'> = {
  'migration.migrateToURI3': op<'migration.migrateToURI3'>((v, a) => v.migrateToURI3(a.conn, a.uuid, a.duri, a.params, a.flags)),
  'migration.jobStats': op<'migration.jobStats'>((v, a) => v.jobStats(a.conn, a.uuid, a.flags ?? 0)),
  'migration.abortJob': op<'migration.abortJob'>((v, a) => v.abortJob(a.conn, a.uuid)),
  'migration.setMaxDowntime': op<'migration.setMaxDowntime'>((v, a) => v.migrateSetMaxDowntime(a.conn, a.uuid, a.downtimeMs, 0)),
  'migration.setMaxSpeed': op<'migration.setMaxSpeed'>((v, a) => v.migrateSetMaxSpeed(a.conn, a.uuid, a.bandwidthMiBs, 0)),
  'migration.getMaxSpeed': op<'migration.getMaxSpeed'>((v, a) => v.migrateGetMaxSpeed(a.conn, a.uuid, 0)),
  'migration.startPostCopy': op<'migration.startPostCopy'>((v, a) => v.migrateStartPostCopy(a.conn, a.uuid, 0)),
  'migration.save': op<'migration.save'>((v, a) => v.save(a.conn, a.uuid, a.path, a.dxml ?? null, a.flags ?? 0)),
  'migration.restore': op<'migration.restore'>((v, a) => v.restore(a.conn, a.path, a.dxml ?? null, a.flags ?? 0)),
  'migration.saveImageXml': op<'migration.saveImageXml'>((v, a) => v.saveImageXml(a.conn, a.path, 0)),
};
