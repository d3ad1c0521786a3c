// The QEMU guest agent poller's per-VM task: the agent queries for one domain on the guest-agent libvirt
// connection (workers/guest/qga-runner.ts), bound to libvirt's calls. Runs only in workers.
import { loadVirtBinding, toTransferableLibvirtError, type VirtBinding } from '../../src/libvirt/binding.js';
import type { AreaOps, OpImpl } from '../../src/contracts/operations.js';
import { runQgaTask, type QgaApi } from '../guest/qga-runner.js';

let binding: VirtBinding | undefined;
const virt = (): VirtBinding => (binding ??= loadVirtBinding());

/** libvirt's errors keep their numbers across the worker hop (the poller logs them). */
function libvirtApi(v: VirtBinding, conn: number, uuid: string): QgaApi {
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw toTransferableLibvirtError(err);
    }
  };
  return {
    setResponseTimeout: (s) => wrap(() => v.agentSetResponseTimeout(conn, uuid, s, 0)),
    command: (json, timeoutS) => wrap(() => v.qemuAgentCommand(conn, uuid, json, timeoutS, 0)),
    guestInfo: (types) => wrap(() => v.getGuestInfo(conn, uuid, types, 0)),
    vcpus: () => wrap(() => v.getGuestVcpus(conn, uuid, 0)),
  };
}

// The VMs of a batch one after another: an agent that stops answering costs its own calls (the first
// unanswered one ends its task), then the next VM goes on.
const qgaPoll: OpImpl<'guest.qgaPoll'> = (a) => a.tasks.map((t) => runQgaTask(t, libvirtApi(virt(), a.conn, t.vmId)));

export const ops: AreaOps<'guest'> = { 'guest.qgaPoll': qgaPoll };
