// What the QEMU guest agent answers, in the engine's terms (vdsm's qemuguestagent.py and
// guestagenthelpers.py): capabilities from `guest-info`, guest info from libvirt's virDomainGetGuestInfo
// typed parameters ("user.0.name", "fs.1.disk.0.serial", "if.0.addr.1.addr" ...), the online vCPU count
// from virDomainGetGuestVcpus, PCI driver info from `guest-get-devices`. Pure functions on plain data,
// run in the poller's workers (workers/guest/qga-runner.ts).
import type { DiskUsage, NetIface, PciDevice, QgaCapabilities, QgaFields } from '../../src/contracts/guest-ops.js';

export class QgaReplyError extends Error {}

type Flat = Readonly<Record<string, unknown>>;

const WINDOWS = 'mswindows';

/** The `return` member of a raw agent reply; QgaReplyError for an error reply or a malformed one. */
export function agentReturn(reply: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply);
  } catch {
    throw new QgaReplyError(`Failed to parse string returned by QEMU-GA: ${reply.slice(0, 200)}`);
  }
  if (parsed === null || typeof parsed !== 'object') throw new QgaReplyError(`Invalid response from QEMU-GA: ${reply.slice(0, 200)}`);
  if ('error' in parsed) throw new QgaReplyError(`Error received from QEMU-GA: ${reply.slice(0, 200)}`);
  if (!('return' in parsed)) throw new QgaReplyError(`Invalid response from QEMU-GA: ${reply.slice(0, 200)}`);
  return (parsed as { return: unknown }).return;
}

/** `guest-info` -> version and the enabled commands. */
export function capabilitiesFrom(reply: string): QgaCapabilities {
  const r = agentReturn(reply) as { version?: unknown; supported_commands?: unknown };
  if (typeof r?.version !== 'string' || !Array.isArray(r.supported_commands)) throw new QgaReplyError('guest-info reply without version or supported_commands');
  const commands = new Set<string>();
  for (const c of r.supported_commands as { name?: unknown; enabled?: unknown }[]) {
    if (c !== null && typeof c === 'object' && typeof c.name === 'string' && c.enabled === true) commands.add(c.name);
  }
  return { version: r.version, commands: [...commands].sort() };
}

/** "0-3,5,7-8" -> number of CPUs listed. */
export function cpulistCount(list: string): number {
  let n = 0;
  for (const part of list.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (m === null) throw new QgaReplyError(`not a CPU list: ${list}`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new QgaReplyError(`not a CPU list: ${list}`);
    n += b - a + 1;
  }
  return n;
}

/** virDomainGetGuestVcpus' params ({vcpus, online, offlinable}) -> guestCPUCount (-1 when not reported). */
export function guestCpuCount(params: Flat): number {
  const online = params['online'];
  return typeof online === 'string' ? cpulistCount(online) : -1;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

/** qemu-ga reports the driver date as ns since the epoch (newer) or a string (older): the engine wants YYYY-MM-DD. */
function driverDate(v: unknown): string {
  if (typeof v === 'number' && Number.isFinite(v)) return new Date(Math.trunc(v / 1e6)).toISOString().slice(0, 10);
  return str(v);
}

/** `guest-get-devices` (Windows guests) -> the PCI devices with their drivers, each listed once. */
export function pciDevicesFrom(reply: string): PciDevice[] {
  const r = agentReturn(reply);
  if (!Array.isArray(r)) throw new QgaReplyError('guest-get-devices reply is not a list');
  const out: PciDevice[] = [];
  const seen = new Set<string>();
  for (const d of r as Record<string, unknown>[]) {
    if (d === null || typeof d !== 'object') continue;
    const id = (d['id'] ?? {}) as Record<string, unknown>;
    const address = (d['address'] ?? {}) as Record<string, unknown>;
    const data = (id['type'] === 'pci' ? id : address['type'] === 'pci' ? (address['data'] ?? {}) : undefined) as Record<string, unknown> | undefined;
    if (data === undefined) continue;
    const dev: PciDevice = {
      device_id: Number(data['device-id'] ?? 0),
      vendor_id: Number(data['vendor-id'] ?? 0),
      driver_name: str(d['driver-name']),
      driver_version: str(d['driver-version']),
      driver_date: driverDate(d['driver-date']),
    };
    const key = JSON.stringify(dev);
    if (seen.has(key)) continue; // storage controllers and the like appear once per instance
    seen.add(key);
    out.push(dev);
  }
  return out;
}

const ARCHES: Readonly<Record<string, string>> = {
  ppc: 'ppc', ppcle: 'ppcle', ppc64: 'ppc64', ppc64le: 'ppc64le', x86: 'x86', x86_64: 'x86_64', i686: 'x86', i586: 'x86', i386: 'x86',
};

/** The engine knows a handful of architectures; everything else is "unknown". */
export function translateArch(machine: string): string {
  return ARCHES[machine] ?? 'unknown';
}

function osFields(info: Flat): Pick<QgaFields, 'guestOs' | 'guestOsInfo'> {
  const os = (k: string): string => str(info[`os.${k}`]);
  if (os('id') === WINDOWS) {
    return {
      guestOs: os('pretty-name'),
      guestOsInfo: { type: 'windows', arch: translateArch(os('machine')), kernel: '', distribution: '', version: os('kernel-version'), codename: os('pretty-name') },
    };
  }
  return {
    guestOs: os('kernel-release'),
    guestOsInfo: { type: 'linux', arch: translateArch(os('machine')), kernel: os('kernel-release'), distribution: os('name'), version: os('version-id'), codename: os('variant') },
  };
}

const PARTITION = /^(\/dev\/[hsv]d[a-z]+)[0-9]+$/;

function count(info: Flat, key: string): number {
  const n = info[key];
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? Math.min(n, 10_000) : 0;
}

function filesystems(info: Flat, storeMapping: boolean): Pick<QgaFields, 'disksUsage' | 'diskMapping'> {
  const disks: DiskUsage[] = [];
  const mapping: Record<string, { name: string }> = {};
  for (let i = 0; i < count(info, 'fs.count'); i++) {
    const p = `fs.${i}.`;
    const total = info[`${p}total-bytes`];
    const used = info[`${p}used-bytes`];
    // Volumes without sizes (Windows' System Reserved, pseudo file systems) are not reported.
    if (total !== undefined && used !== undefined) {
      disks.push({ path: str(info[`${p}mountpoint`]), total: str(total), used: str(used), fs: str(info[`${p}fstype`]) });
    }
    if (!storeMapping) continue;
    for (let d = 0; d < count(info, `${p}disk.count`); d++) {
      const serial = info[`${p}disk.${d}.serial`];
      const device = info[`${p}disk.${d}.device`];
      if (typeof serial !== 'string' || typeof device !== 'string') continue;
      mapping[serial] = { name: PARTITION.exec(device)?.[1] ?? device };
    }
  }
  return storeMapping ? { disksUsage: disks, diskMapping: mapping } : { disksUsage: disks };
}

function diskMapping(info: Flat): Record<string, { name: string }> {
  const mapping: Record<string, { name: string }> = {};
  for (let i = 0; i < count(info, 'disk.count'); i++) {
    const name = info[`disk.${i}.name`];
    const serial = info[`disk.${i}.serial`];
    if (typeof name === 'string' && typeof serial === 'string') mapping[serial] = { name };
  }
  return mapping;
}

/**
 * libvirt's interface params -> netIfaces, and guestIPs as the oVirt agent fills it (every IPv4 address).
 * vdsm leaves guestIPs "" here (the engine reads netIfaces since 4.2), which blanked the oVirt agent's value.
 */
function interfaces(info: Flat): Pick<QgaFields, 'netIfaces' | 'guestIPs'> {
  const out: NetIface[] = [];
  for (let i = 0; i < count(info, 'if.count'); i++) {
    const p = `if.${i}.`;
    const iface: NetIface = { name: str(info[`${p}name`]), hw: str(info[`${p}hwaddr`]), inet: [], inet6: [] };
    for (let a = 0; a < count(info, `${p}addr.count`); a++) {
      const addr = info[`${p}addr.${a}.addr`];
      if (typeof addr !== 'string') continue;
      const type = info[`${p}addr.${a}.type`];
      if (type === 'ipv4') iface.inet.push(addr);
      else if (type === 'ipv6') iface.inet6.push(addr);
    }
    out.push(iface);
  }
  return { netIfaces: out, guestIPs: out.flatMap((i) => i.inet).join(' ') };
}

/**
 * virDomainGetGuestInfo's flat params -> guest info. The disk mapping comes from the disks type, or from
 * the file systems when the agent lacks guest-get-disks (`fsMapping`).
 */
export function translateGuestInfo(info: Flat, fsMapping: boolean): QgaFields {
  const out: QgaFields = {};
  if ('disk.count' in info) out.diskMapping = diskMapping(info);
  if ('fs.count' in info) Object.assign(out, filesystems(info, fsMapping));
  if ('hostname' in info) {
    out.guestName = str(info['hostname']);
    out.guestFQDN = str(info['hostname']);
  }
  if ('os.id' in info || 'os.kernel-release' in info) Object.assign(out, osFields(info));
  if ('timezone.offset' in info) {
    out.guestTimezone = { offset: Math.trunc(Number(info['timezone.offset']) / 60), zone: 'timezone.name' in info ? str(info['timezone.name']) : 'unknown' };
  }
  if ('user.count' in info) {
    const users: string[] = [];
    for (let i = 0; i < count(info, 'user.count'); i++) {
      const name = str(info[`user.${i}.name`]);
      const domain = str(info[`user.${i}.domain`]);
      users.push(domain !== '' ? `${name}@${domain}` : name);
    }
    out.username = users.join(', ');
  }
  if ('if.count' in info) Object.assign(out, interfaces(info));
  return out;
}

/** The appsList the QEMU agent implies: the kernel (non-Windows) and qemu-guest-agent itself. */
export function fakeAppsList(caps: QgaCapabilities, osId?: string, kernelRelease?: string): string[] {
  const apps: string[] = [];
  if (osId !== undefined && osId !== WINDOWS) apps.push(`kernel-${kernelRelease ?? ''}`);
  if (caps.version !== null) apps.push(`qemu-guest-agent-${caps.version}`);
  return apps;
}
