// The bulk-stats sampling call as one worker operation: libvirt's getAllDomainStats (fast path), or,
// while an earlier call is stuck, a per-VM control-state check followed by domainListGetStats for the
// VMs whose monitor answers (vdsm's slow path), so one hung VM cannot hide the others' stats.
import { toTransferableLibvirtError } from '../../src/libvirt/binding.js';
import type { AreaOps, OpImpl } from '../../src/contracts/operations.js';
import type { BulkStatsResult } from '../../src/contracts/sampling-ops.js';
import { virtCall } from './libvirt.js';

/** virDomainControlState OK */
const CONTROL_OK = 0;

// Each libvirt call goes through the asynchronous entry (see libvirt.ts): the task parks while a call
// waits, so a stuck sampling call holds a native call thread, not this worker.
const bulkStats: OpImpl<'sampling.bulkStats'> = async (a, ctx) => {
  try {
    if (a.uuids === undefined) {
      const out: BulkStatsResult = { records: {}, unresponsive: [] };
      for (const r of await virtCall(ctx, (v) => v.getAllDomainStats(a.conn, a.stats, a.flags))) out.records[r.uuid] = r.stats;
      return out;
    }
    const ready: string[] = [];
    const unresponsive: string[] = [];
    for (const uuid of a.uuids) {
      try {
        if ((await virtCall(ctx, (v) => v.controlInfo(a.conn, uuid))).state === CONTROL_OK) ready.push(uuid);
        else unresponsive.push(uuid);
      } catch (err) {
        // The task timed out and its call was abandoned: stop here (the Executor answered already).
        if ((err as { code?: unknown }).code === 'ERR_NATIVE_CALL_ABANDONED') throw err;
        unresponsive.push(uuid); // gone or failing: not worth a stats call
      }
    }
    const out: BulkStatsResult = { records: {}, unresponsive };
    if (ready.length > 0) for (const r of await virtCall(ctx, (v) => v.domainListGetStats(a.conn, ready, a.stats, a.flags))) out.records[r.uuid] = r.stats;
    return out;
  } catch (err) {
    throw toTransferableLibvirtError(err);
  }
};

export const ops: AreaOps<'sampling'> = { 'sampling.bulkStats': bulkStats };
