// The native `virt` addon's interface (native/virt/*.cc) and its loader. Every call is synchronous and
// may block on libvirt: call it from Executor workers or the libvirt control thread, never from the
// main thread after start-up. Importable from workers (no main-thread state).
import { Errors } from '../errors.js';
import { loadNativeAddon } from '../native.js';
import type { NativeCallRow, NativeCallStats } from '../native-calls.js';
import type {
  BindingEvent, BlockInfo, BlockStats, ConnectionClosedEvent, ConnectionInfo, DomainControlInfo, DomainListEntry, DomainStateInfo,
  DomainStatsRecord, DomainSummary, FlatStats, InterfaceStats, MemoryStats, NodeInfo, OpenOptions, SecretEntry, VcpuInfo,
} from '../contracts/libvirt-types.js';
import type { JobStats, MigrateParams } from '../contracts/migration-ops.js';

type Nullable = string | null | undefined;

export interface VirtBinding {
  // connections
  open(uri: string, opts?: OpenOptions): number;
  close(conn: number): boolean;
  connectionInfo(conn: number): ConnectionInfo;
  connections(): Omit<ConnectionInfo, 'alive'>[];
  // domains
  listAllDomains(conn: number, flags?: number, withState?: boolean): DomainListEntry[];
  lookupByUUID(conn: number, uuid: string): DomainSummary;
  lookupByName(conn: number, name: string): DomainSummary;
  createXML(conn: number, xml: string, flags?: number): DomainSummary;
  defineXML(conn: number, xml: string, flags?: number): DomainSummary;
  create(conn: number, uuid: string, flags?: number): void;
  suspend(conn: number, uuid: string): void;
  resume(conn: number, uuid: string): void;
  reboot(conn: number, uuid: string, flags?: number): void;
  reset(conn: number, uuid: string, flags?: number): void;
  destroy(conn: number, uuid: string, flags?: number): void;
  shutdown(conn: number, uuid: string, flags?: number): void;
  undefine(conn: number, uuid: string, flags?: number): void;
  attachDeviceFlags(conn: number, uuid: string, xml: string, flags?: number): void;
  detachDeviceFlags(conn: number, uuid: string, xml: string, flags?: number): void;
  updateDeviceFlags(conn: number, uuid: string, xml: string, flags?: number): void;
  setMemoryFlags(conn: number, uuid: string, memoryKiB: number, flags?: number): void;
  setVcpusFlags(conn: number, uuid: string, count: number, flags?: number): void;
  setBlockThreshold(conn: number, uuid: string, dev: string, threshold: number, flags?: number): void;
  /** virDomainSetBlockIoTune: each value an unsigned long long (total_bytes_sec, read_iops_sec, ...). */
  setBlockIoTune(conn: number, uuid: string, disk: string, params: Record<string, number>, flags?: number): void;
  /** virDomainSetSchedulerParametersFlags: *_quota values long long, the others unsigned long long. */
  setSchedulerParameters(conn: number, uuid: string, params: Record<string, number>, flags?: number): void;
  /** virDomainGetSchedulerParametersFlags: libvirt's values by name (vcpu_quota, vcpu_period, ... ; the test driver: weight). */
  schedulerParameters(conn: number, uuid: string, flags?: number): Record<string, number>;
  xmlDesc(conn: number, uuid: string, flags?: number): string;
  state(conn: number, uuid: string): DomainStateInfo;
  controlInfo(conn: number, uuid: string): DomainControlInfo;
  getMetadata(conn: number, uuid: string, type: number, uri?: Nullable, flags?: number): string | null;
  setMetadata(conn: number, uuid: string, type: number, metadata: Nullable, key: Nullable, uri: Nullable, flags?: number): void;
  // file-system freeze and disk snapshots (native/virt/snapshot.cc)
  fsFreeze(conn: number, uuid: string, flags?: number): number;
  fsThaw(conn: number, uuid: string, flags?: number): number;
  snapshotCreateXML(conn: number, uuid: string, xml: string, flags?: number): string;
  // stats
  getAllDomainStats(conn: number, stats: number, flags?: number): DomainStatsRecord[];
  domainListGetStats(conn: number, uuids: string[], stats: number, flags?: number): DomainStatsRecord[];
  blockInfo(conn: number, uuid: string, disk: string, flags?: number): BlockInfo;
  memoryStats(conn: number, uuid: string, flags?: number): MemoryStats;
  blockStats(conn: number, uuid: string, disk: string): BlockStats;
  interfaceStats(conn: number, uuid: string, device: string): InterfaceStats;
  vcpus(conn: number, uuid: string): VcpuInfo[];
  // host
  getCapabilities(conn: number): string;
  getDomainCapabilities(conn: number, emulatorbin?: Nullable, arch?: Nullable, machine?: Nullable, virttype?: Nullable, flags?: number): string;
  nodeGetInfo(conn: number): NodeInfo;
  nodeGetCPUStats(conn: number, cpu?: number, flags?: number): Record<string, number>;
  nodeGetMemoryStats(conn: number, cell?: number, flags?: number): Record<string, number>;
  getHostname(conn: number): string;
  getLibVersion(conn: number): number;
  getVersion(conn: number): number;
  libVersion(): number;
  // secrets (native/virt/secret.cc)
  secretDefineXML(conn: number, xml: string, flags?: number): string;
  secretSetValue(conn: number, uuid: string, value: Uint8Array, flags?: number): void;
  secretUndefine(conn: number, uuid: string): void;
  listAllSecrets(conn: number, flags?: number): SecretEntry[];
  // guest agent
  qemuAgentCommand(conn: number, uuid: string, command: string, timeout: number, flags?: number): string;
  getGuestInfo(conn: number, uuid: string, types?: number, flags?: number): FlatStats;
  agentSetResponseTimeout(conn: number, uuid: string, timeout: number, flags?: number): void;
  getGuestVcpus(conn: number, uuid: string, flags?: number): FlatStats;
  /** virDomainSetTime: the guest's clock through the QEMU guest agent (seconds since the epoch, nanoseconds). */
  setTime(conn: number, uuid: string, seconds: number, nseconds: number, flags?: number): void;
  // migration (native/virt/migration.cc); migrateToURI3 blocks for the whole migration
  migrateToURI3(conn: number, uuid: string, dconnuri: string, params: MigrateParams, flags?: number): void;
  jobStats(conn: number, uuid: string, flags?: number): JobStats;
  abortJob(conn: number, uuid: string): void;
  migrateSetMaxDowntime(conn: number, uuid: string, downtimeMs: number, flags?: number): void;
  migrateSetMaxSpeed(conn: number, uuid: string, bandwidthMiBs: number, flags?: number): void;
  migrateGetMaxSpeed(conn: number, uuid: string, flags?: number): number;
  migrateStartPostCopy(conn: number, uuid: string, flags?: number): void;
  /** virDomainSaveFlags: hibernation; blocks while the memory is written (unbounded on a hung storage). */
  save(conn: number, uuid: string, path: string, dxml?: string | null, flags?: number): void;
  /** virDomainRestoreFlags: the domain back from what save wrote (as long as save). */
  restore(conn: number, path: string, dxml?: string | null, flags?: number): void;
  /** virDomainSaveImageGetXMLDesc: the domain XML a save file carries. */
  saveImageXml(conn: number, path: string, flags?: number): string;
  // events (delivered to the JS environment that registered them)
  domainEventsRegister(conn: number, eventIds: readonly number[], cb: (e: BindingEvent) => void, opts?: { ref?: boolean }): number;
  domainEventsDeregister(subscription: number): boolean;
  eventSubscriptions(): { id: number; conn: number; events: number }[];
  /**
   * Hear of every connection loss (close callback, or a call that found the connection closed) in this
   * JS environment. Registers no libvirt callback and makes no libvirt call: the main thread may use it.
   * Undo with domainEventsDeregister(id).
   */
  watchConnections(cb: (e: ConnectionClosedEvent) => void, opts?: { ref?: boolean }): number;
  // diagnostics
  eventLoopInfo(): { running: boolean; threadId: number; iterations: number; errors: number; initError: number };
  errorNames(): Record<string, string>;
  threadId(): number;
  holdConnection(conn: number, ms: number, fail?: boolean): void;
  /** Calls on this addon's call threads (virt/call) now: see src/native-calls.ts. */
  nativeCalls(): NativeCallRow[];
  nativeCallStats(): NativeCallStats;
  /** Let JS thread `tid` go from its libvirt call (main thread, Executor discards): see src/native-calls.ts. */
  abandonNativeCall(tid: number, onDone?: (id: number) => void): number;
  /** Let pending asynchronous call `id` go (a parked task timed out): see src/native-calls.ts. */
  abandonCall(id: number, onDone?: (id: number) => void): boolean;
  /** The asynchronous entry (workers/offloaded-call.ts; native/offload/offload.h). */
  offloadChain(): object;
  offloadEnter(chain: object): void;
  offloadLeave(): void;
  offloadRelease(chain: object): void;
}

/** Load the addon (once per JS environment; node caches it per thread). */
export function loadVirtBinding(): VirtBinding {
  return loadNativeAddon<VirtBinding>('virt');
}

/**
 * In a worker: make a binding error survive the trip to the main thread. The Executor's wire format
 * keeps name, message, code, vdsmCode and context, so libvirt's numbers (virCode, virDomain, virMessage,
 * call) go into context, where src/libvirt/errors.ts reads them. Other values are returned unchanged.
 */
export function toTransferableLibvirtError(err: unknown): unknown {
  if (typeof err !== 'object' || err === null) return err;
  const e = err as Error & { code?: unknown; virCode?: unknown; virDomain?: unknown; virMessage?: unknown; call?: unknown; context?: Record<string, unknown>; vdsmCode?: number };
  if (typeof e.virCode !== 'number') return err;
  e.context = {
    code: typeof e.code === 'string' ? e.code : `ERR_LIBVIRT_${e.virCode}`,
    virCode: e.virCode,
    virDomain: typeof e.virDomain === 'number' ? e.virDomain : 0,
    virMessage: typeof e.virMessage === 'string' ? e.virMessage : e.message,
    ...(typeof e.call === 'string' ? { call: e.call } : {}),
  };
  e.vdsmCode = Errors.LIBVIRT.vdsmCode;
  return e;
}
