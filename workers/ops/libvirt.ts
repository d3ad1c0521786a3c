// Executor operations over the libvirt binding: one per call, plain `{ conn, ... }` arguments (conn is an
// id from the process-wide connection table, valid in every worker). Runs only in workers.
//
// Every operation goes through the binding's asynchronous entry (../offloaded-call.ts): a call that
// talks to the daemon runs on a native call thread of this worker and the task awaits it, parked (the
// worker tells the Executor, ctx.park, and takes other tasks meanwhile). So a call stuck in a frozen
// libvirtd costs a native thread, not this worker's isolate; on timeout the Executor abandons the call
// and keeps the worker. Calls that stay synchronous in the binding (open, the last close, event
// registration) complete in the first pass, as before.
import { loadVirtBinding, toTransferableLibvirtError, type VirtBinding } from '../../src/libvirt/binding.js';
import type { LibvirtOpArgs as A, LibvirtOpName, LibvirtOpResult } from '../../src/contracts/libvirt-ops.js';
import type { AreaOps, OpContext, OpImpl } from '../../src/contracts/operations.js';
import { offloadedCall } from '../offloaded-call.js';

let binding: VirtBinding | undefined;
const virt = (): VirtBinding => (binding ??= loadVirtBinding());

type Impl<K extends LibvirtOpName> = (v: VirtBinding, a: A<K>) => LibvirtOpResult<K> | void;

/** One binding call through the asynchronous entry, parking the task while it waits (shared with sampling). */
export function virtCall<T>(ctx: OpContext | undefined, call: (v: VirtBinding) => T): Promise<T> {
  const v = virt();
  return offloadedCall('virt', v, () => call(v), ctx?.park, ctx);
}

/** Wraps a call: loads the binding lazily, turns void into null, keeps libvirt's numbers on errors. */
function op<K extends LibvirtOpName>(impl: Impl<K>): OpImpl<K> {
  return async (args: A<K>, ctx: OpContext) => {
    try {
      const value = await virtCall(ctx, (v) => impl(v, args));
      return (value === undefined ? null : value) as LibvirtOpResult<K>;
    } catch (err) {
      throw toTransferableLibvirtError(err);
    }
  };
}

const impls: { [K in LibvirtOpName]: Impl<K> } = {
  'libvirt.open': (v, a) => v.open(a.uri, a),
  'libvirt.close': (v, a) => v.close(a.conn),
  'libvirt.connectionInfo': (v, a) => v.connectionInfo(a.conn),
  'libvirt.listAllDomains': (v, a) => v.listAllDomains(a.conn, a.flags ?? 0, a.withState ?? true),
  'libvirt.lookupByUUID': (v, a) => v.lookupByUUID(a.conn, a.uuid),
  'libvirt.lookupByName': (v, a) => v.lookupByName(a.conn, a.name),
  'libvirt.createXML': (v, a) => v.createXML(a.conn, a.xml, a.flags ?? 0),
  'libvirt.defineXML': (v, a) => v.defineXML(a.conn, a.xml, a.flags ?? 0),
  'libvirt.create': (v, a) => v.create(a.conn, a.uuid, a.flags ?? 0),
  'libvirt.suspend': (v, a) => v.suspend(a.conn, a.uuid),
  'libvirt.resume': (v, a) => v.resume(a.conn, a.uuid),
  'libvirt.reboot': (v, a) => v.reboot(a.conn, a.uuid, a.flags ?? 0),
  'libvirt.reset': (v, a) => v.reset(a.conn, a.uuid, a.flags ?? 0),
  'libvirt.destroy': (v, a) => v.destroy(a.conn, a.uuid, a.flags ?? 0),
  'libvirt.shutdown': (v, a) => v.shutdown(a.conn, a.uuid, a.flags ?? 0),
  'libvirt.undefine': (v, a) => v.undefine(a.conn, a.uuid, a.flags ?? 0),
  'libvirt.attachDeviceFlags': (v, a) => v.attachDeviceFlags(a.conn, a.uuid, a.xml, a.flags ?? 0),
  'libvirt.detachDeviceFlags': (v, a) => v.detachDeviceFlags(a.conn, a.uuid, a.xml, a.flags ?? 0),
  'libvirt.updateDeviceFlags': (v, a) => v.updateDeviceFlags(a.conn, a.uuid, a.xml, a.flags ?? 0),
  'libvirt.setMemoryFlags': (v, a) => v.setMemoryFlags(a.conn, a.uuid, a.memoryKiB, a.flags ?? 0),
  'libvirt.setVcpusFlags': (v, a) => v.setVcpusFlags(a.conn, a.uuid, a.count, a.flags ?? 0),
  'libvirt.setBlockThreshold': (v, a) => v.setBlockThreshold(a.conn, a.uuid, a.dev, a.threshold, a.flags ?? 0),
  'libvirt.setBlockIoTune': (v, a) => v.setBlockIoTune(a.conn, a.uuid, a.disk, a.params, a.flags ?? 0),
  'libvirt.setSchedulerParameters': (v, a) => v.setSchedulerParameters(a.conn, a.uuid, a.params, a.flags ?? 0),
  'libvirt.schedulerParameters': (v, a) => v.schedulerParameters(a.conn, a.uuid, a.flags ?? 0),
  'libvirt.xmlDesc': (v, a) => v.xmlDesc(a.conn, a.uuid, a.flags ?? 0),
  'libvirt.state': (v, a) => v.state(a.conn, a.uuid),
  'libvirt.controlInfo': (v, a) => v.controlInfo(a.conn, a.uuid),
  'libvirt.getMetadata': (v, a) => v.getMetadata(a.conn, a.uuid, a.type, a.uri ?? null, a.flags ?? 0),
  'libvirt.setMetadata': (v, a) => v.setMetadata(a.conn, a.uuid, a.type, a.metadata, a.key ?? null, a.uri ?? null, a.flags ?? 0),
  'libvirt.fsFreeze': (v, a) => v.fsFreeze(a.conn, a.uuid, a.flags ?? 0),
  'libvirt.fsThaw': (v, a) => v.fsThaw(a.conn, a.uuid, a.flags ?? 0),
  'libvirt.snapshotCreateXML': (v, a) => v.snapshotCreateXML(a.conn, a.uuid, a.xml, a.flags ?? 0),
  'libvirt.getAllDomainStats': (v, a) => v.getAllDomainStats(a.conn, a.stats, a.flags ?? 0),
  'libvirt.domainListGetStats': (v, a) => v.domainListGetStats(a.conn, a.uuids, a.stats, a.flags ?? 0),
  'libvirt.blockInfo': (v, a) => v.blockInfo(a.conn, a.uuid, a.disk, a.flags ?? 0),
  'libvirt.memoryStats': (v, a) => v.memoryStats(a.conn, a.uuid, a.flags ?? 0),
  'libvirt.blockStats': (v, a) => v.blockStats(a.conn, a.uuid, a.disk),
  'libvirt.interfaceStats': (v, a) => v.interfaceStats(a.conn, a.uuid, a.device),
  'libvirt.vcpus': (v, a) => v.vcpus(a.conn, a.uuid),
  'libvirt.getCapabilities': (v, a) => v.getCapabilities(a.conn),
  'libvirt.getDomainCapabilities': (v, a) =>
    v.getDomainCapabilities(a.conn, a.emulatorbin ?? null, a.arch ?? null, a.machine ?? null, a.virttype ?? null, a.flags ?? 0),
  'libvirt.nodeGetInfo': (v, a) => v.nodeGetInfo(a.conn),
  'libvirt.nodeGetCPUStats': (v, a) => v.nodeGetCPUStats(a.conn, a.cpu ?? -1, a.flags ?? 0),
  'libvirt.nodeGetMemoryStats': (v, a) => v.nodeGetMemoryStats(a.conn, a.cell ?? -1, a.flags ?? 0),
  'libvirt.getHostname': (v, a) => v.getHostname(a.conn),
  'libvirt.secretDefineXML': (v, a) => v.secretDefineXML(a.conn, a.xml, a.flags ?? 0),
  'libvirt.secretSetValue': (v, a) => v.secretSetValue(a.conn, a.uuid, a.value, a.flags ?? 0),
  'libvirt.secretUndefine': (v, a) => v.secretUndefine(a.conn, a.uuid),
  'libvirt.listAllSecrets': (v, a) => v.listAllSecrets(a.conn, a.flags ?? 0),
  'libvirt.getLibVersion': (v, a) => v.getLibVersion(a.conn),
  'libvirt.getVersion': (v, a) => v.getVersion(a.conn),
  'libvirt.qemuAgentCommand': (v, a) => v.qemuAgentCommand(a.conn, a.uuid, a.command, a.timeout, a.flags ?? 0),
  'libvirt.getGuestInfo': (v, a) => v.getGuestInfo(a.conn, a.uuid, a.types ?? 0, a.flags ?? 0),
  'libvirt.agentSetResponseTimeout': (v, a) => v.agentSetResponseTimeout(a.conn, a.uuid, a.timeout, a.flags ?? 0),
  'libvirt.getGuestVcpus': (v, a) => v.getGuestVcpus(a.conn, a.uuid, a.flags ?? 0),
  'libvirt.threadId': (v) => v.threadId(),
  'libvirt.holdConnection': (v, a) => v.holdConnection(a.conn, a.ms),
};

export const ops = Object.fromEntries(
  Object.entries(impls).map(([name, impl]) => [name, op(impl as Impl<LibvirtOpName>)]),
) as AreaOps<'libvirt'>;
