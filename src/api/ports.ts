// What the API verbs need from the services, and nothing more: narrow ports in the wire's own types
// (src/contracts/api-types.ts, generated from the method table). The composition root (src/app/agent.ts)
// passes the services, which satisfy these structurally; api/ never imports a service class.
import type { ApiMethodName, ApiMethods } from '../contracts/api-types.js';

/** The result type of API verb `M`, as the method table declares it. */
export type ApiResult<M extends ApiMethodName> = ApiMethods[M]['result'];

/** Host inventory and monitoring (HostService). */
export interface HostPort {
  /** `localAddress`: our end of the caller's connection (lastClientIface). */
  capabilities(call?: { localAddress?: string }): Promise<ApiResult<'Host.getCapabilities'>>;
  hardwareInfo(): Promise<ApiResult<'Host.getHardwareInfo'>>;
  stats(): ApiResult<'Host.getStats'>;
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
  create(vmParams: { xml?: unknown; vmId?: unknown }): ApiResult<'VM.create'>;
  destroy(vmId: string): Promise<ApiResult<'VM.destroy'>>;
  shutdown(vmId: string, req: ShutdownRequest): Promise<ApiResult<'VM.shutdown'>>;
  pause(vmId: string): Promise<ApiResult<'VM.pause'>>;
  cont(vmId: string): Promise<ApiResult<'VM.cont'>>;
  /** Stats objects of these VMs (every VM when empty), from the stats cache. */
  reports(vmIds?: readonly string[]): ApiResult<'Host.getAllVmStats'>;
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
