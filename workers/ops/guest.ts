// The QEMU guest agent poller's per-VM task and the guest time sync's setTime: the agent queries for one domain on the guest-agent libvirt
// connection (workers/guest/qga-runner.ts), bound to libvirt's calls (through the asynchronous entry, as
// every libvirt op in a worker). Runs only in workers.
import { toTransferableLibvirtError } from '../../src/libvirt/binding.js';
import type { AreaOps, OpContext, OpImpl } from '../../src/contracts/operations.js';
import type { QgaTaskResult } from '../../src/contracts/guest-ops.js';
import { runQgaTask, type QgaApi } from '../guest/qga-runner.js';
import { virtCall } from './libvirt.js';

/**
 * libvirt's calls for one domain, each through the binding's asynchronous entry (the task parks while an
 * agent is slow); libvirt's errors keep their numbers across the worker hop (the poller logs them).
 */
function libvirtApi(ctx: OpContext, conn: number, uuid: string): QgaApi {
  const call = async <T>(fn: Parameters<typeof virtCall<T>>[1]): Promise<T> => {
    try {
      return await virtCall(ctx, fn);
    } catch (err) {
      throw toTransferableLibvirtError(err);
    }
  };
  return {
    setResponseTimeout: (s) => call((v) => v.agentSetResponseTimeout(conn, uuid, s, 0)),
    command: (json, timeoutS) => call((v) => v.qemuAgentCommand(conn, uuid, json, timeoutS, 0)),
    guestInfo: (types) => call((v) => v.getGuestInfo(conn, uuid, types, 0)),
    vcpus: () => call((v) => v.getGuestVcpus(conn, uuid, 0)),
  };
}

// The VMs of a batch one after another: an agent that stops answering costs its own calls (the first
// unanswered one ends its task), then the next VM goes on.
const qgaPoll: OpImpl<'guest.qgaPoll'> = async (a, ctx) => {
  const out: QgaTaskResult[] = [];
  for (const t of a.tasks) out.push(await runQgaTask(t, libvirtApi(ctx, a.conn, t.vmId)));
  return out;
};

// The guest's clock after it stood still (src/virt/guest-time-sync.ts): on this executor, so an agent
// that does not answer parks this task, never a verb's.
const setTime: OpImpl<'guest.setTime'> = async (a, ctx) => {
  try {
    await virtCall(ctx, (v) => v.setTime(a.conn, a.uuid, a.seconds, a.nseconds, 0));
    return null;
  } catch (err) {
    throw toTransferableLibvirtError(err);
  }
};

export const ops: AreaOps<'guest'> = { 'guest.qgaPoll': qgaPoll, 'guest.setTime': setTime };
