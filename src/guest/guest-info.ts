// One view of the guest from both agents, with vdsm's rules (GuestAgent.getGuestInfo and
// Vm._getGuestStats): defaults when no agent answers, the oVirt agent's data while it is responsive
// (and a few last-known values after), the QEMU agent's data on top (it wins), the QEMU agent's implied
// appsList only when the oVirt agent gave none, and memUsage as percent used of the VM's memory.
import type { GuestStats, QgaFields } from '../contracts/guest-ops.js';
import type { OvirtGuestInfo } from './ovirt-messages.js';

export type { GuestStats };

export interface MergeInput {
  /** The oVirt agent's view, when the VM has its channel. */
  ovirt?: { info: OvirtGuestInfo; responsive: boolean };
  /** The QEMU agent's fields while they are fresh enough to report (see QgaSchedule.fields). */
  qga?: QgaFields;
  /** qemu-ga's version, for the entry the oVirt agent's application list lacks. */
  qgaVersion?: string | null;
  memSizeMiB: number;
}

/** vdsm's _qga_re: an application entry that names the QEMU guest agent. */
const QGA_APP = /\bqemu[ -](guest[ -]agent|ga)\b/i;

function defaults(): GuestStats {
  return { username: 'Unknown', session: 'Unknown', guestCPUCount: -1, appsList: [], guestIPs: '', guestFQDN: '' };
}

/** Free MiB -> percent used, as vdsm's _getGuestStats ("%d" of 100 - free/size*100). */
export function memUsagePercent(freeMiB: number, memSizeMiB: number): string | undefined {
  if (freeMiB === 0 || !(memSizeMiB > 0)) return undefined;
  return String(Math.trunc(100 - (freeMiB / memSizeMiB) * 100));
}

function fromOvirt(out: GuestStats, info: OvirtGuestInfo, memSizeMiB: number): void {
  out.username = info.username;
  out.session = info.session;
  out.guestCPUCount = info.guestCPUCount;
  out.appsList = info.appsList;
  out.guestIPs = info.guestIPs;
  out.guestFQDN = info.guestFQDN;
  out.netIfaces = info.netIfaces;
  out.disksUsage = info.disksUsage;
  const mem = memUsagePercent(info.memUsage, memSizeMiB);
  if (mem !== undefined) out.memUsage = mem;
  if (Object.keys(info.memoryStats).length > 0) out.memoryStats = info.memoryStats;
  if (info.guestName !== undefined) out.guestName = info.guestName;
  if (info.guestOs !== undefined) out.guestOs = info.guestOs;
  if (info.guestOsInfo !== undefined) out.guestOsInfo = info.guestOsInfo;
  if (info.guestTimezone !== undefined) out.guestTimezone = info.guestTimezone;
  if (info.guestContainers !== undefined) out.guestContainers = info.guestContainers;
  if (info.lastLogin !== undefined) out.lastLogin = Math.trunc(info.lastLogin);
  if (info.lastUser !== undefined) out.lastUser = info.lastUser;
  if (info.lastLogout !== undefined) out.lastLogout = Math.trunc(info.lastLogout);
}

export function mergeGuestInfo(input: MergeInput): GuestStats {
  const out = defaults();
  const o = input.ovirt;
  if (o !== undefined) {
    if (o.responsive) {
      fromOvirt(out, o.info, input.memSizeMiB);
    } else {
      // An unresponsive agent's last word on these is still worth showing.
      if (o.info.appsList.length > 0) out.appsList = o.info.appsList;
      if (o.info.guestIPs.length > 0) out.guestIPs = o.info.guestIPs;
      if (o.info.guestFQDN.length > 0) out.guestFQDN = o.info.guestFQDN;
    }
    // The oVirt agent's list lacks qemu-guest-agent: add the version the QEMU agent told (vdsm does it on receipt).
    const version = input.qgaVersion;
    if (out.appsList.length > 0 && version !== undefined && version !== null && !out.appsList.some((a) => QGA_APP.test(a))) {
      out.appsList = [...out.appsList, `qemu-guest-agent-${version}`];
    }
  }
  const q = input.qga;
  if (q !== undefined) {
    const { appsList, diskMapping: _mapping, ...rest } = q;
    // The QEMU agent's appsList is made up (kernel, qemu-ga): the oVirt agent's real list wins.
    if (appsList !== undefined && out.appsList.length === 0) out.appsList = appsList;
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}
