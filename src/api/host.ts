// Host inventory and monitoring verbs: getCapabilities, getHardwareInfo, getStats, getAllVmStats,
// getVMList, getVMFullList, dumpxmls, setMOMPolicyParameters, hostdevListByCaps.
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';
import type { HostPort, VmPort } from './ports.js';
import type { Logger } from 'pino';

export interface HostApiDeps {
  host: HostPort;
  vms: VmPort;
  log: Logger;
}

const vmList = { name: 'vmList', type: s.array(s.string()), default: [], description: 'Only these VM ids (all when empty).' } as const;
const shortStatus = s.named('VmShortStatus', s.object({ vmId: s.string(), status: s.string(), statusTime: s.string() }));

export const apiMethods: ApiMethodsFactory<HostApiDeps> = (deps) => {
  const methods: MethodSpec[] = [
    {
      name: 'Host.getCapabilities',
      description: 'Host capabilities from /proc, /sys and libvirt, with the keys and JSON types the engine requires.',
      params: [],
      result: s.named('HostCapabilities', s.object({
        kvmEnabled: s.string(), cpuCores: s.string(), cpuSockets: s.string(), cpuThreads: s.string(), memSize: s.string(),
        emulatedMachines: s.array(s.string()), clusterLevels: s.array(s.string()), HBAInventory: s.map(s.array(s.any())),
        packages2: s.map(s.any()), networks: s.map(s.any()), nics: s.map(s.any()),
        lastClientIface: s.field(s.string(), "Device holding the address the caller's connection arrived on; '' when none."),
      })),
      resultDescription: 'The capabilities object (vdsm `info`), with `lastClientIface`: the host device holding the address the call arrived on.',
      handler: (_params, ctx) => deps.host.capabilities(ctx.localAddress !== undefined ? { localAddress: ctx.localAddress } : {}),
    },
    {
      name: 'Host.getHardwareInfo',
      description: 'DMI identity of the host (all keys optional strings): what an unprivileged process can read (world-readable /sys/class/dmi/id files, the device tree), overlaid by the privileged helper\'s dmidecode when one is configured.',
      params: [],
      result: s.named('HardwareInfo', s.object({
        systemManufacturer: s.optional(s.string()), systemProductName: s.optional(s.string()), systemVersion: s.optional(s.string()),
        systemSerialNumber: s.optional(s.string()), systemUUID: s.optional(s.string()), systemFamily: s.optional(s.string()),
      })),
      resultDescription: 'Error 57 when nothing is readable, saying why (no DMI tables on this machine, fields that need root, no privileged helper).',
      handler: () => deps.host.hardwareInfo(),
    },
    {
      name: 'Host.getStats',
      description: 'Host statistics from the HostMonitor window (15 s samples); fractional values are strings.',
      params: [],
      result: s.named('HostStats', s.map(s.any())),
      resultDescription: 'vdsm `info`: cpuUser, cpuSys, cpuIdle, cpuLoad, memFree, cpuStatistics, network, dateTime, ...',
      // Spliced into the response as serialised text: built once per host sample.
      handler: () => deps.host.statsJson(),
    },
    {
      name: 'Host.getAllVmStats',
      description: 'Statistics of every VM this host knows, Down ones included until VM.destroy; read from the stats cache.',
      params: [],
      result: s.array(s.named('VmStats', s.object({ vmId: s.string(), status: s.string(), statusTime: s.string() }))),
      resultDescription: 'An array of VM stats objects.',
      // Spliced into the response as serialised text: each VM's report is built once per change.
      handler: () => deps.vms.reportsJson(),
    },
    {
      name: 'Host.getVMList',
      description: "The VMs' ids, or their short status with `onlyUUID: false` (vdsm's bridge: fullStatus is never honoured, onlyUUID defaults to true; the engine sends false).",
      params: [
        { name: 'fullStatus', type: s.bool(), default: false, description: 'Ignored, as by vdsm\'s bridge.' },
        vmList,
        { name: 'onlyUUID', type: s.bool(), default: true, description: 'Only the VM ids (true, the default), or `{vmId, status, statusTime}` per VM.' },
      ],
      result: s.union(s.array(s.string()), s.array(shortStatus)),
      resultDescription: 'VM ids, or short status objects.',
      handler: ({ vmList: ids, onlyUUID }) => {
        const list = deps.vms.shortList(ids as string[]);
        return onlyUUID === true ? list.map((v) => v.vmId) : list;
      },
    },
    {
      name: 'Host.getVMFullList',
      description: "The same short objects as getVMList, as vdsm answers it despite the name and its schema's VMFullInfo (vdsm's Vm.status() has had no devices since vm.conf went; the engine reads devices from Host.dumpxmls).",
      params: [vmList],
      result: s.array(shortStatus),
      handler: ({ vmList: ids }) => deps.vms.shortList(ids as string[]),
    },
    {
      name: 'Host.dumpxmls',
      description: "libvirt's live domain XML per VM (the XML the engine sent, for a VM libvirt no longer runs).",
      params: [vmList],
      result: s.map(s.string()),
      resultDescription: 'vmId -> domain XML.',
      handler: ({ vmList: ids }) => deps.vms.liveXmls(ids as string[]),
    },
    {
      name: 'Host.setMOMPolicyParameters',
      description: 'Ballooning and KSM policy for MOM. No MOM runs on this host, so, as vdsm does without MOM, the values are logged and accepted.',
      params: [{ name: 'key_value_store', type: s.map(s.any()), description: 'balloonEnabled, ksmEnabled, ksmMergeAcrossNodes ...' }],
      result: s.bool(),
      handler: ({ key_value_store }) => {
        deps.log.info({ policy: key_value_store }, 'MOM policy parameters received; MOM is not running');
        return true;
      },
    },
    {
      name: 'Host.hostdevListByCaps',
      description: 'Host devices (PCI, USB, SCSI ...) that can be passed through, by capability.',
      params: [{ name: 'caps', type: s.array(s.string()), default: [], description: 'Capabilities to list; all when empty.' }],
      result: s.map(s.any()),
      resultDescription: 'device name -> `{params: {capability, ...}}`.',
      handler: ({ caps }) => deps.host.hostDevices(caps as string[]),
    },
  ];
  return methods;
};
