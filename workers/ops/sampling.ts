// The bulk-stats sampling call as one worker operation: libvirt's getAllDomainStats (fast path), or,
// while an earlier call is stuck, a per-VM control-state check followed by domainListGetStats for the
// VMs whose monitor answers (vdsm's slow path), so one hung VM cannot hide the others' stats.
import { toTransferableLibvirtError } from '../../src/libvirt/binding.js';
import { encodeBulkStats } from '../../src/contracts/bulk-stats-codec.js';
import type { AreaOps, OpContext, OpImpl } from '../../src/contracts/operations.js';
import type { BulkStatsResult } from '../../src/contracts/sampling-ops.js';
import { virtCall } from './libvirt.js';

/** virDomainControlState OK */
const CONTROL_OK = 0;

/**
 * The records as one buffer, moved to the main thread rather than cloned (bulk-stats-codec.ts): cloning
 * 1,000 VMs' records cost the main thread ~8 ms in one block and left their objects to its collector.
 */
function result(records: readonly { uuid: string; stats: Readonly<Record<string, unknown>> }[], unresponsive: string[], ctx: OpContext): BulkStatsResult {
  const buf = encodeBulkStats(records);
  ctx.transfer?.(buf);
  return { records: buf, unresponsive };
}

// Each libvirt call goes through the asynchronous entry (see libvirt.ts): the task parks while a call
// waits, so a stuck sampling call holds a native call thread, not this worker.
const bulkStats: OpImpl<'sampling.bulkStats'> = async (a, ctx) => {
  try {
    if (a.uuids === undefined) return result(await virtCall(ctx, (v) => v.getAllDomainStats(a.conn, a.stats, a.flags)), [], ctx);
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
    return result(ready.length > 0 ? await virtCall(ctx, (v) => v.domainListGetStats(a.conn, ready, a.stats, a.flags)) : [], unresponsive, ctx);
  } catch (err) {
    throw toTransferableLibvirtError(err);
  }
};

export const ops: AreaOps<'sampling'> = { 'sampling.bulkStats': bulkStats };
