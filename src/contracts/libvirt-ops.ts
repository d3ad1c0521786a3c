// The contract between main-thread callers and workers/ops/libvirt.ts: operation names and their plain
// argument and result types, one call of the binding each. Types and constants only.
import type {
  BlockInfo, BlockStats, ConnectionInfo, DomainControlInfo, DomainListEntry, DomainStateInfo, DomainStatsRecord,
  DomainSummary, FlatStats, InterfaceStats, MemoryStats, NodeInfo, OpenOptions, SecretEntry, VcpuInfo,
} from './libvirt-types.js';

export interface ConnArgs { conn: number }
export interface DomainArgs extends ConnArgs { uuid: string }
interface Flags { flags?: number }

/** Operation name -> { args, result } of workers/ops/libvirt.ts. Results that libvirt leaves empty are null. */
export interface LibvirtOpMap {
  'libvirt.open': { args: { uri: string } & OpenOptions; result: number };
  'libvirt.close': { args: ConnArgs; result: boolean };
  'libvirt.connectionInfo': { args: ConnArgs; result: ConnectionInfo };
  'libvirt.listAllDomains': { args: ConnArgs & Flags & { withState?: boolean }; result: DomainListEntry[] };
  'libvirt.lookupByUUID': { args: DomainArgs; result: DomainSummary };
  'libvirt.lookupByName': { args: ConnArgs & { name: string }; result: DomainSummary };
  'libvirt.createXML': { args: ConnArgs & Flags & { xml: string }; result: DomainSummary };
  'libvirt.defineXML': { args: ConnArgs & Flags & { xml: string }; result: DomainSummary };
  'libvirt.create': { args: DomainArgs & Flags; result: null };
  'libvirt.suspend': { args: DomainArgs; result: null };
  'libvirt.resume': { args: DomainArgs; result: null };
  'libvirt.reboot': { args: DomainArgs & Flags; result: null };
  'libvirt.reset': { args: DomainArgs & Flags; result: null };
  'libvirt.destroy': { args: DomainArgs & Flags; result: null };
  'libvirt.shutdown': { args: DomainArgs & Flags; result: null };
  'libvirt.undefine': { args: DomainArgs & Flags; result: null };
  'libvirt.attachDeviceFlags': { args: DomainArgs & Flags & { xml: string }; result: null };
  'libvirt.detachDeviceFlags': { args: DomainArgs & Flags & { xml: string }; result: null };
  'libvirt.updateDeviceFlags': { args: DomainArgs & Flags & { xml: string }; result: null };
  'libvirt.setMemoryFlags': { args: DomainArgs & Flags & { memoryKiB: number }; result: null };
  'libvirt.setVcpusFlags': { args: DomainArgs & Flags & { count: number }; result: null };
  'libvirt.setBlockThreshold': { args: DomainArgs & Flags & { dev: string; threshold: number }; result: null };
  'libvirt.setBlockIoTune': { args: DomainArgs & Flags & { disk: string; params: Record<string, number> }; result: null };
  'libvirt.setSchedulerParameters': { args: DomainArgs & Flags & { params: Record<string, number> }; result: null };
  'libvirt.schedulerParameters': { args: DomainArgs & Flags; result: Record<string, number> };
  'libvirt.xmlDesc': { args: DomainArgs & Flags; result: string };
  'libvirt.state': { args: DomainArgs; result: DomainStateInfo };
  'libvirt.controlInfo': { args: DomainArgs; result: DomainControlInfo };
  'libvirt.getMetadata': { args: DomainArgs & Flags & { type: number; uri?: string | null }; result: string | null };
  'libvirt.setMetadata': { args: DomainArgs & Flags & { type: number; metadata: string | null; key?: string | null; uri?: string | null }; result: null };
  'libvirt.fsFreeze': { args: DomainArgs & Flags; result: number };
  'libvirt.fsThaw': { args: DomainArgs & Flags; result: number };
  'libvirt.snapshotCreateXML': { args: DomainArgs & Flags & { xml: string }; result: string };
  'libvirt.getAllDomainStats': { args: ConnArgs & Flags & { stats: number }; result: DomainStatsRecord[] };
  'libvirt.domainListGetStats': { args: ConnArgs & Flags & { uuids: string[]; stats: number }; result: DomainStatsRecord[] };
  'libvirt.blockInfo': { args: DomainArgs & Flags & { disk: string }; result: BlockInfo };
  'libvirt.memoryStats': { args: DomainArgs & Flags; result: MemoryStats };
  'libvirt.blockStats': { args: DomainArgs & { disk: string }; result: BlockStats };
  'libvirt.interfaceStats': { args: DomainArgs & { device: string }; result: InterfaceStats };
  'libvirt.vcpus': { args: DomainArgs; result: VcpuInfo[] };
  'libvirt.getCapabilities': { args: ConnArgs; result: string };
  'libvirt.getDomainCapabilities': { args: ConnArgs & Flags & { emulatorbin?: string | null; arch?: string | null; machine?: string | null; virttype?: string | null }; result: string };
  'libvirt.nodeGetInfo': { args: ConnArgs; result: NodeInfo };
  'libvirt.nodeGetCPUStats': { args: ConnArgs & Flags & { cpu?: number }; result: Record<string, number> };
  'libvirt.nodeGetMemoryStats': { args: ConnArgs & Flags & { cell?: number }; result: Record<string, number> };
  'libvirt.getHostname': { args: ConnArgs; result: string };
  'libvirt.getLibVersion': { args: ConnArgs; result: number };
  'libvirt.getVersion': { args: ConnArgs; result: number };
  'libvirt.qemuAgentCommand': { args: DomainArgs & Flags & { command: string; timeout: number }; result: string };
  'libvirt.getGuestInfo': { args: DomainArgs & Flags & { types?: number }; result: FlatStats };
  'libvirt.agentSetResponseTimeout': { args: DomainArgs & Flags & { timeout: number }; result: null };
  'libvirt.getGuestVcpus': { args: DomainArgs & Flags; result: FlatStats };
  'libvirt.secretDefineXML': { args: ConnArgs & Flags & { xml: string }; result: string };
  'libvirt.secretSetValue': { args: ConnArgs & Flags & { uuid: string; value: Uint8Array }; result: null };
  'libvirt.secretUndefine': { args: ConnArgs & { uuid: string }; result: null };
  'libvirt.listAllSecrets': { args: ConnArgs & Flags; result: SecretEntry[] };
  'libvirt.threadId': { args: Record<string, never> | undefined; result: number };
  'libvirt.holdConnection': { args: ConnArgs & { ms: number }; result: null };
}

export type LibvirtOpName = keyof LibvirtOpMap;
export type LibvirtOpArgs<K extends LibvirtOpName> = LibvirtOpMap[K]['args'];
export type LibvirtOpResult<K extends LibvirtOpName> = LibvirtOpMap[K]['result'];

/** Operations that belong on the guest-agent connection (a stuck agent must not stall the others). */
export const AGENT_OPS: ReadonlySet<LibvirtOpName> = new Set<LibvirtOpName>([
  'libvirt.qemuAgentCommand', 'libvirt.getGuestInfo', 'libvirt.agentSetResponseTimeout', 'libvirt.getGuestVcpus',
  'libvirt.fsFreeze', 'libvirt.fsThaw',
]);
