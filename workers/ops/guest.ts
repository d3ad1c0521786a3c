// The QEMU guest agent poller's per-VM task: the agent queries for one domain on the guest-agent libvirt
// connection (src/guest/qga-runner.ts), bound to libvirt's calls. Runs only in workers.
import { loadVirtBinding, type VirtBinding } from '../../src/libvirt/binding.js';
import { toTransferableLibvirtError } from '../../src/libvirt/errors.js';
import { runQgaTask, type QgaApi, type QgaTask, type QgaTaskResult } from '../../src/guest/qga-runner.js';
import type { Op } from '../op-context.js';

let binding: VirtBinding | undefined;
const virt = (): VirtBinding => (binding ??= loadVirtBinding());

export interface QgaPollArgs {
  conn: number;
  uuid: string;
  task: QgaTask;
}

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

const qgaPoll: Op = (a: QgaPollArgs): QgaTaskResult => runQgaTask(a.task, libvirtApi(virt(), a.conn, a.uuid));

export const ops: Record<string, Op> = { 'guest.qgaPoll': qgaPoll };
