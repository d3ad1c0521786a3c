// The contract between main-thread callers and workers/ops/libvirt.ts: operation names and their plain
// argument and result types. Pure data and types (no runtime state); both sides import it.
import type {
  BlockInfo, BlockStats, ConnectionInfo, DomainControlInfo, DomainListEntry, DomainStateInfo, DomainStatsRecord,
  DomainSummary, FlatStats, InterfaceStats, MemoryStats, NodeInfo, OpenOptions, VcpuInfo,
} from './libvirt-types.js';

export interface ConnArgs { conn: number }
export interface DomainArgs extends ConnArgs { uuid: string }
interface Flags { flags?: number }

/** Operation name -> [arguments, result]. Results that libvirt leaves empty are null. */
export interface LibvirtOpMap {
  'libvirt.open': [{ uri: string } & OpenOptions, number];
  'libvirt.close': [ConnArgs, boolean];
  'libvirt.connectionInfo': [ConnArgs, ConnectionInfo];
  'libvirt.listAllDomains': [ConnArgs & Flags & { withState?: boolean }, DomainListEntry[]];
  'libvirt.lookupByUUID': [DomainArgs, DomainSummary];
  'libvirt.lookupByName': [ConnArgs & { name: string }, DomainSummary];
  'libvirt.createXML': [ConnArgs & Flags & { xml: string }, DomainSummary];
  'libvirt.defineXML': [ConnArgs & Flags & { xml: string }, DomainSummary];
  'libvirt.create': [DomainArgs & Flags, null];
  'libvirt.suspend': [DomainArgs, null];
  'libvirt.resume': [DomainArgs, null];
  'libvirt.reboot': [DomainArgs & Flags, null];
  'libvirt.reset': [DomainArgs & Flags, null];
  'libvirt.destroy': [DomainArgs & Flags, null];
  'libvirt.shutdown': [DomainArgs & Flags, null];
  'libvirt.undefine': [DomainArgs & Flags, null];
  'libvirt.attachDeviceFlags': [DomainArgs & Flags & { xml: string }, null];
  'libvirt.detachDeviceFlags': [DomainArgs & Flags & { xml: string }, null];
  'libvirt.updateDeviceFlags': [DomainArgs & Flags & { xml: string }, null];
  'libvirt.setMemoryFlags': [DomainArgs & Flags & { memoryKiB: number }, null];
  'libvirt.setVcpusFlags': [DomainArgs & Flags & { count: number }, null];
  'libvirt.setBlockThreshold': [DomainArgs & Flags & { dev: string; threshold: number }, null];
  'libvirt.xmlDesc': [DomainArgs & Flags, string];
  'libvirt.state': [DomainArgs, DomainStateInfo];
  'libvirt.controlInfo': [DomainArgs, DomainControlInfo];
  'libvirt.getMetadata': [DomainArgs & Flags & { type: number; uri?: string | null }, string | null];
  'libvirt.setMetadata': [DomainArgs & Flags & { type: number; metadata: string | null; key?: string | null; uri?: string | null }, null];
  'libvirt.getAllDomainStats': [ConnArgs & Flags & { stats: number }, DomainStatsRecord[]];
  'libvirt.domainListGetStats': [ConnArgs & Flags & { uuids: string[]; stats: number }, DomainStatsRecord[]];
  'libvirt.blockInfo': [DomainArgs & Flags & { disk: string }, BlockInfo];
  'libvirt.memoryStats': [DomainArgs & Flags, MemoryStats];
  'libvirt.blockStats': [DomainArgs & { disk: string }, BlockStats];
  'libvirt.interfaceStats': [DomainArgs & { device: string }, InterfaceStats];
  'libvirt.vcpus': [DomainArgs, VcpuInfo[]];
  'libvirt.getCapabilities': [ConnArgs, string];
  'libvirt.getDomainCapabilities': [ConnArgs & Flags & { emulatorbin?: string | null; arch?: string | null; machine?: string | null; virttype?: string | null }, string];
  'libvirt.nodeGetInfo': [ConnArgs, NodeInfo];
  'libvirt.nodeGetCPUStats': [ConnArgs & Flags & { cpu?: number }, Record<string, number>];
  'libvirt.nodeGetMemoryStats': [ConnArgs & Flags & { cell?: number }, Record<string, number>];
  'libvirt.getHostname': [ConnArgs, string];
  'libvirt.getLibVersion': [ConnArgs, number];
  'libvirt.getVersion': [ConnArgs, number];
  'libvirt.qemuAgentCommand': [DomainArgs & Flags & { command: string; timeout: number }, string];
  'libvirt.getGuestInfo': [DomainArgs & Flags & { types?: number }, FlatStats];
  'libvirt.agentSetResponseTimeout': [DomainArgs & Flags & { timeout: number }, null];
  'libvirt.threadId': [Record<string, never> | undefined, number];
  'libvirt.holdConnection': [ConnArgs & { ms: number }, null];
}

export type LibvirtOpName = keyof LibvirtOpMap;
export type LibvirtOpArgs<K extends LibvirtOpName> = LibvirtOpMap[K][0];
export type LibvirtOpResult<K extends LibvirtOpName> = LibvirtOpMap[K][1];

/** Operations that belong on the guest-agent connection (a stuck agent must not stall the others). */
export const AGENT_OPS: ReadonlySet<LibvirtOpName> = new Set<LibvirtOpName>([
  'libvirt.qemuAgentCommand', 'libvirt.getGuestInfo', 'libvirt.agentSetResponseTimeout',
]);
