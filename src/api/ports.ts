// What the API verbs need from the services, and nothing more: narrow ports in the wire's own types
// (src/contracts/api-types.ts, generated from the method table). The composition root (src/app/agent.ts)
// passes the services, which satisfy these structurally; api/ never imports a service class.
import type { ApiMethodName, ApiMethods } from '../contracts/api-types.js';
import type { RawJson } from '../runtime/raw-json.js';
import type { ConsoleOptions, GraphicsTicket } from '../virt/graphics-ticket.js';

/** The result type of API verb `M`, as the method table declares it. */
export type ApiResult<M extends ApiMethodName> = ApiMethods[M]['result'];

/** Host inventory and monitoring (HostService). */
export interface HostPort {
  /** `localAddress`: our end of the caller's connection (lastClientIface). */
  capabilities(call?: { localAddress?: string }): Promise<ApiResult<'Host.getCapabilities'>>;
  hardwareInfo(): Promise<ApiResult<'Host.getHardwareInfo'>>;
  stats(): ApiResult<'Host.getStats'>;
  /** The same as JSON text, serialised once per host sample (what Host.getStats sends). */
  statsJson(): RawJson;
  /** Host devices by capability (all when `caps` is empty). */
  hostDevices(caps: readonly string[]): Promise<ApiResult<'Host.hostdevListByCaps'>>;
}

/** VM.shutdown's request, after parameter checks. */
export interface ShutdownRequest {
  /** Seconds the oVirt guest agent gives logged-in users ([vars] user_shutdown_timeout when absent). */
  delayS?: number;
  message?: string;
  reboot?: boolean;
  timeoutS?: number;
  force?: boolean;
}

/** The VMs of this host (VmManager). Unknown ids are NO_VM errors. */
export interface VmPort {
  /** Resolves once the VM is recorded in the state directory (ERR_STATE_WRITE when it cannot be). */
  create(vmParams: { xml?: unknown; vmId?: unknown }): Promise<ApiResult<'VM.create'>>;
  destroy(vmId: string): Promise<ApiResult<'VM.destroy'>>;
  shutdown(vmId: string, req: ShutdownRequest): Promise<ApiResult<'VM.shutdown'>>;
  pause(vmId: string): Promise<ApiResult<'VM.pause'>>;
  cont(vmId: string): Promise<ApiResult<'VM.cont'>>;
  /** The console password on the VM's first graphics device (TICKET when it has none). */
  /** `hookParams`: the engine's console options, for the set_ticket hook scripts' environment. */
  /** `console`: VNC's fips / vncUsername (QEMU's SASL database) and the disconnect action. */
  setTicket(vmId: string, ticket: GraphicsTicket, graphicsType?: string, hookParams?: Record<string, string>, console?: ConsoleOptions): Promise<ApiResult<'VM.setTicket'>>;
  reset(vmId: string): Promise<ApiResult<'VM.reset'>>;
  /** The guest's file systems frozen / thawed through its agent (19, 75, 76 / 77 on failure). */
  freeze(vmId: string): Promise<true>;
  thaw(vmId: string): Promise<true>;
  /** A live snapshot into the engine's new volumes, run as a virt job: `true` once it is started (48 when it cannot be). */
  snapshot(vmId: string, req: { snapDrives: unknown; snapMemory?: unknown; frozen?: unknown; jobUUID?: unknown; timeout?: unknown; freeze_timeout?: unknown }): true;
  /** The snapshot jobs, as Host.getJobs reports virt jobs (every one when `ids` is empty). */
  snapshotJobs(ids?: readonly string[]): Record<string, unknown>;
  /** Per running VM: its I/O tune policy and each disk's current limits. */
  ioTunePolicies(): Promise<ApiResult<'Host.getAllVmIoTunePolicies'>>;
  /** Stats objects of these VMs (every VM when empty), from the stats cache. */
  reports(vmIds?: readonly string[]): ApiResult<'Host.getAllVmStats'>;
  /** The same as JSON text, from reports serialised once per change (what Host.getAllVmStats sends); a long list is read in slices. */
  reportsJson(vmIds?: readonly string[]): RawJson | Promise<RawJson>;
  /** The stats object of one VM. */
  reportOf(vmId: string): ApiResult<'Host.getAllVmStats'>[number];
  /** `{vmId, status, statusTime}` of one VM, statusTime when the status last changed. */
  info(vmId: string): ApiResult<'VM.getInfo'>;
  /** `{vmId, status, statusTime}` of these VMs (every VM when empty), statusTime taken now as vdsm does. */
  shortList(vmIds?: readonly string[]): ApiResult<'Host.getVMFullList'>;
  /** libvirt's live domain XML per VM. */
  liveXmls(vmIds?: readonly string[]): Promise<ApiResult<'Host.dumpxmls'>>;
}

/** The guest-agent actions (GuestAgents): true when the oVirt agent is responsive, GUEST_AGENT_NONRESPONSIVE otherwise. */
export interface GuestActionsPort {
  desktopLock(vmId: string): Promise<true>;
  desktopLogin(vmId: string, domain: string, username: string, password: string): Promise<true>;
  desktopLogoff(vmId: string): Promise<true>;
  desktopSendHcCommand(vmId: string, message: string): Promise<true>;
}

/** Live migration, both ends (MigrationService). Unknown ids are NO_VM errors. */
export interface MigrationPort {
  migrate(vmId: string, params: Record<string, unknown>): ApiResult<'VM.migrate'>;
  hibernate(vmId: string, hibernationVolHandle: unknown): ApiResult<'VM.hibernate'>;
  cancel(vmId: string): Promise<ApiResult<'VM.migrateCancel'>>;
  changeParams(vmId: string, params: { maxBandwidth?: number }): Promise<ApiResult<'VM.migrateChangeParams'>>;
  status(vmId: string): ApiResult<'VM.getMigrationStatus'>;
  migrationCreate(vmId: string, params: Record<string, unknown>, incomingLimit: number | undefined): ApiResult<'VM.migrationCreate'>;
  /** before_vm_migrate_destination hook scripts, run before migrationCreate (rejects with 78 when one fails). */
  beforeIncoming?(vmId: string, params: Record<string, unknown>): Promise<void>;
}

/** Host networking (NetworkService and the host monitor's interface counters). */
export interface NetworkPort {
  setupNetworks(networks: Record<string, unknown>, bondings: Record<string, unknown>, options: Record<string, unknown>): Promise<void>;
  setSafeNetworkConfig(): Promise<void>;
  caps(): Promise<ApiResult<'Host.getNetworkCapabilities'>>;
  statistics(): ApiResult<'Host.getNetworkStatistics'>;
}
