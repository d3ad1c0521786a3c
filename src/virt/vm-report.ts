// The per-VM object of Host.getAllVmStats / VM.getStats and the |virt|VM_status| event, in the engine's
// types: fractional values as strings ("1.50"), statusTime a numeric string, integer codes as integers.
import type { VmStats } from '../contracts/api-types.js';
import type { GuestStats } from '../contracts/guest-ops.js';
import { eventTime, type Clock } from '../runtime/clock.js';
import type { DomainInfo } from './domain-xml.js';
import type { StatsSample } from './stats-cache.js';
import { memUsageFromBalloon, produceVmStats, translateVmStats, type BalloonTarget, type StatsLog, type VmStatsSubject } from './stats-compute.js';
import { VmStatus, type VmStatusChange, type VmStateSnapshot } from './vm-state.js';

/** vdsm's [vars] vm_command_timeout: a monitorable VM without fresh stats this long is NotResponding. */
export const VM_COMMAND_TIMEOUT_S = 60;

/** What the guest agents know, merged (src/guest/guest-info.ts); every key optional, vdsm's defaults fill the gaps. */
export type GuestInfo = Partial<GuestStats>;

/** Guest keys reported only when an agent gave them (memoryStats replaces the balloon's figures, as in vdsm). */
const OPTIONAL_GUEST_KEYS = [
  'guestOs', 'guestOsInfo', 'guestTimezone', 'netIfaces', 'disksUsage', 'guestName', 'guestContainers', 'pci_devices', 'memoryStats',
  'lastLogin', 'lastUser', 'lastLogout',
] as const;

export interface VmReportInput {
  state: VmStateSnapshot;
  /** Parsed domain XML (absent while a VM is still being created). */
  domain?: DomainInfo | undefined;
  /** From StatsCache.get(vmId). */
  sample?: StatsSample | undefined;
  /** Balloon target/minimum for balloonInfo (KiB), when known. */
  subject?: Partial<Pick<VmStatsSubject, 'balloon' | 'drives'>>;
  guest?: GuestInfo | undefined;
  /** The host address shown in displayInfo when graphics listen on every address. */
  displayIp?: string;
  clientIp?: string;
  /** false for incoming migrations: no stats are expected from them. */
  monitorable?: boolean;
  /** The QEMU process id, when known (0 is reported otherwise, e.g. on libvirt's test driver). */
  pid?: number | undefined;
  /**
   * libvirt's scheduler values as last read (virDomainGetSchedulerParameters at start, recovery and after
   * VM.setCpuTuneQuota / setCpuTunePeriod); replaced, never modified. Absent where they cannot be read.
   */
  vcpuTune?: VcpuTune | undefined;
  /** Monotonic clock; statusTime and elapsedTime are taken from it at report time, as vdsm does. */
  clock: Clock;
  log?: StatsLog | undefined;
  vmCommandTimeoutS?: number;
  /**
   * False when the VM's monitor cannot be reached right now (libvirt connection lost, or the VM did
   * not answer the last sampling): reported as monitorResponse -1, as vdsm does after a libvirt timeout.
   */
  monitorReachable?: boolean;
}

/** The scheduler values vdsm reports (libvirt's vcpu_quota and vcpu_period, in µs; 0 or absent: none). */
export interface VcpuTune {
  readonly vcpu_quota?: number;
  readonly vcpu_period?: number;
}

/**
 * vdsm's vcpuQuota (a string) and vcpuPeriod (a number), each only when libvirt gave it and it is not 0
 * ("no value" in libvirt's API): a host whose QEMU has cgroups reports -1 and 100000 for a VM without a
 * limit; libvirt's test driver and an unprivileged libvirtd give neither.
 */
export function vcpuTuneStats(t: VcpuTune | undefined): { vcpuQuota?: string; vcpuPeriod?: number } {
  const out: { vcpuQuota?: string; vcpuPeriod?: number } = {};
  if (t?.vcpu_quota !== undefined && t.vcpu_quota !== 0) out.vcpuQuota = String(t.vcpu_quota);
  if (t?.vcpu_period !== undefined && t.vcpu_period !== 0) out.vcpuPeriod = t.vcpu_period;
  return out;
}

/** The engine's VM stats object: the keys the method table declares, and the rest vdsm sends. */
export type VmStatsReport = VmStats & Record<string, unknown>;

function displayInfo(domain: DomainInfo | undefined, displayIp: string | undefined): Record<string, string>[] {
  if (domain === undefined) return [];
  return domain.graphics
    .filter((g) => g.type === 'vnc' || g.type === 'spice')
    .map((g) => {
      const listen = g.listen;
      const ip = listen === undefined || listen === '' || listen === '0.0.0.0' || listen === '::' ? (displayIp ?? listen ?? '') : listen;
      return { type: g.type, port: String(g.port ?? -1), tlsPort: String(g.tlsPort ?? -1), ipAddress: ip };
    });
}

/**
 * The balloon target of a VM with a balloon device, as the domain XML states it: libvirt's currentMemory
 * is the target, the engine's minGuaranteedMemoryMb the minimum. Without it balloonInfo would stay {}.
 */
function balloonFromDomain(domain: DomainInfo): BalloonTarget | undefined {
  if (!domain.balloon) return undefined;
  const values = domain.ovirt?.values ?? {};
  const minMiB = Number(values['minGuaranteedMemoryMb'] ?? 0);
  const enabled = values['ballooningEnabled'];
  return {
    target: domain.currentMemoryKiB,
    minimum: Number.isFinite(minMiB) ? Math.trunc(minMiB) * 1024 : 0,
    enabled: enabled === undefined ? true : enabled === true || String(enabled).toLowerCase() === 'true',
  };
}

function subjectOf(input: VmReportInput, domain: DomainInfo): VmStatsSubject {
  return {
    vmId: input.state.vmId,
    memSizeMiB: Math.floor(domain.memoryKiB / 1024),
    // libvirt names a running NIC (target dev vnetN); a hypervisor that does not (the test driver) leaves
    // the engine's alias as its only name.
    nics: domain.nics.filter((n) => (n.target ?? n.alias) !== undefined && n.type !== 'hostdev').map((n) => ({ name: (n.target ?? n.alias) as string, macAddr: n.mac, model: n.model })),
    drives: input.subject?.drives ?? domain.disks.filter((d) => d.target !== '').map((d) => ({ name: d.target, truesize: 0, apparentsize: 0 })),
    balloon: input.subject?.balloon ?? balloonFromDomain(domain),
    monitorable: input.monitorable ?? true,
  };
}

/** The object a Down VM reports until VM.destroy removes it. */
export function downReport(state: VmStateSnapshot, statusTime: number, timeOffset?: string): VmStatsReport {
  const exit = state.exitInfo;
  return {
    vmId: state.vmId,
    status: VmStatus.DOWN,
    statusTime: String(statusTime),
    exitCode: exit?.exitCode ?? 1,
    exitMessage: exit?.exitMessage ?? '',
    exitReason: exit?.exitReason ?? 1,
    ...(timeOffset !== undefined ? { timeOffset } : {}),
  };
}

/**
 * The report's fields that change with every read, as JSON values: statusTime and elapsedTime taken from
 * the clock at report time (as vdsm does), monitorResponse from the sample's age, and the NICs'
 * sampleTime (monotonic seconds). A report built once per change (vm-report-cache.ts) fills these in.
 */
export interface ReportTimes {
  nowMs: number;
  statusTime: string;
  elapsedTime: string;
  monitorResponse: string;
  sampleTime: string;
}

export type ReportTimesInput = Pick<VmReportInput, 'state' | 'clock' | 'monitorable' | 'monitorReachable' | 'vmCommandTimeoutS'> & {
  /** Only the sample's age matters here (a read takes it from StatsCache.age without the records). */
  sample?: Pick<StatsSample, 'statsAge'> | undefined;
};

export function reportTimes(input: ReportTimesInput): ReportTimes {
  const { nowMs, statusTime, sampleTime } = clockTimes(input.clock);
  return {
    nowMs,
    statusTime,
    elapsedTime: elapsedTime(nowMs, input.state.startedAt),
    monitorResponse: monitorResponse(input.monitorable ?? true, input.sample?.statsAge, input.monitorReachable, input.vmCommandTimeoutS),
    sampleTime,
  };
}

/** The read-time fields that are the same for every VM at one moment. */
export function clockTimes(clock: Clock): Pick<ReportTimes, 'nowMs' | 'statusTime' | 'sampleTime'> {
  const nowMs = clock.now();
  return { nowMs, statusTime: String(eventTime(clock)), sampleTime: (nowMs / 1000).toFixed(6) };
}

export function elapsedTime(nowMs: number, startedAt: number): string {
  return String(Math.max(0, Math.floor((nowMs - startedAt) / 1000)));
}

/** '-1' for a monitorable VM whose stats are older than the command timeout or whose monitor is unreachable. */
export function monitorResponse(monitorable: boolean, statsAge: number | undefined, reachable: boolean | undefined, timeoutS = VM_COMMAND_TIMEOUT_S): string {
  return monitorable && ((statsAge !== undefined && statsAge >= timeoutS) || reachable === false) ? '-1' : '0';
}

export function buildVmStatsReport(input: VmReportInput): VmStatsReport {
  const { state, domain } = input;
  const times = reportTimes(input);
  const nowMs = times.nowMs;
  const statusTime = Number(times.statusTime);
  if (state.status === VmStatus.DOWN) return downReport(state, statusTime, domain?.timeOffset);

  const report: VmStatsReport = {
    vmId: state.vmId,
    vmName: domain?.name ?? '',
    vmType: 'kvm',
    kvmEnable: 'true',
    acpiEnable: domain === undefined || domain.acpi ? 'true' : 'false',
    status: state.status,
    statusTime: String(statusTime),
    elapsedTime: times.elapsedTime,
    clientIp: input.clientIp ?? '',
    timeOffset: domain?.timeOffset ?? '0',
    pid: String(input.pid ?? 0),
    // Every running VM carries its pause code, NOERR unless paused by an error (vdsm's schema requires it).
    pauseCode: state.pauseCode ?? 'NOERR',
  };

  const sample = input.sample;
  report['monitorResponse'] = times.monitorResponse;

  let memUsage = '0';
  if (domain !== undefined) {
    const produced = produceVmStats(subjectOf(input, domain), sample?.first, sample?.last, sample?.interval, { sampleTimeS: nowMs / 1000, log: input.log });
    Object.assign(report, translateVmStats(produced));
    memUsage = memUsageFromBalloon(produced, Math.floor(domain.memoryKiB / 1024));
    const display = displayInfo(domain, input.displayIp);
    report['displayInfo'] = display;
    // The legacy single-display keys vdsm's schema still lists (strings; -1 without graphics).
    report['displayPort'] = display[0]?.['port'] ?? '-1';
    report['displaySecurePort'] = display[0]?.['tlsPort'] ?? '-1';
    report['hash'] = domain.deviceHash;
  } else {
    Object.assign(report, { cpuUser: '0.00', cpuSys: '0.00', cpuUsage: '0.00', cpuActual: false, network: {}, displayInfo: [], displayPort: '-1', displaySecurePort: '-1', hash: '0' });
  }

  Object.assign(report, vcpuTuneStats(input.vcpuTune));

  const g = input.guest ?? {};
  Object.assign(report, {
    username: g.username ?? 'Unknown',
    session: g.session ?? 'Unknown',
    // The agent's free-memory figure when it gives one, else the balloon's.
    memUsage: g.memUsage ?? memUsage,
    guestCPUCount: g.guestCPUCount ?? -1,
    appsList: g.appsList ?? [],
    guestIPs: g.guestIPs ?? '',
    guestFQDN: g.guestFQDN ?? '',
  });
  for (const key of OPTIONAL_GUEST_KEYS) {
    if (g[key] !== undefined) report[key] = g[key];
  }
  return report;
}

/** Status details for a VM_status event: exit info on Down, otherwise the VM's current report. */
export function statusEventDetails(change: VmStatusChange, report?: VmStatsReport): VmStatsReport {
  if (change.to === VmStatus.DOWN) {
    const exit = change.exitInfo;
    const details: VmStatsReport = {
      vmId: change.vmId,
      status: VmStatus.DOWN,
      statusTime: String(change.statusTime),
      exitCode: exit?.exitCode ?? 1,
      exitMessage: exit?.exitMessage ?? '',
      exitReason: exit?.exitReason ?? 1,
    };
    if (report?.['timeOffset'] !== undefined) details['timeOffset'] = report['timeOffset'];
    return details;
  }
  const details: VmStatsReport = { ...(report ?? { vmId: change.vmId }), status: change.to, statusTime: String(change.statusTime) };
  details['pauseCode'] = change.pauseCode ?? 'NOERR';
  return details;
}

export interface VmStatusNotification {
  jsonrpc: '2.0';
  method: string;
  params: Record<string, unknown>;
}

/** `|virt|VM_status|<vmId>` with params `{<vmId>: details, notify_time: <int ms>}` and no other keys. */
export function buildVmStatusNotification(vmId: string, details: VmStatsReport, notifyTime: number): VmStatusNotification {
  return { jsonrpc: '2.0', method: `|virt|VM_status|${vmId}`, params: { [vmId]: details, notify_time: Math.trunc(notifyTime) } };
}
