// Operating-system facts for getCapabilities: OS name and version (vdsm's detection order), kernel
// version and flags, kernel command line, kdump, SELinux, FIPS and nested virtualization.
import type { CapabilitiesRawFacts, MaybeText } from '../contracts/host-facts.js';

export const OSName = {
  UNKNOWN: 'unknown', OVIRT: 'oVirt Node', RHEL: 'RHEL', FEDORA: 'Fedora', RHEVH: 'RHEV Hypervisor', DEBIAN: 'Debian', POWERKVM: 'PowerKVM',
} as const;

/** KEY=value lines, values unquoted. */
export function parseOsRelease(text: MaybeText): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (text ?? '').split('\n')) {
    const i = line.indexOf('=');
    if (i < 0 || line.trimStart().startsWith('#')) continue;
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim().replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return out;
}

export function osName(files: CapabilitiesRawFacts['releaseFiles']): string {
  if (files.rhevh) return OSName.RHEVH;
  if (files.ovirtNode) return OSName.OVIRT;
  if (files.fedora) return OSName.FEDORA;
  if (files.redhat) return OSName.RHEL;
  if (files.debian) return OSName.DEBIAN;
  if (files.powerkvm) return OSName.POWERKVM;
  return OSName.UNKNOWN;
}

export interface OperatingSystem {
  name: string;
  version: string;
  release: string;
  pretty_name: string;
}

export function operatingSystem(raw: Pick<CapabilitiesRawFacts, 'osRelease' | 'releaseFiles' | 'debianVersion' | 'redhatRelease'>): OperatingSystem {
  const rel = parseOsRelease(raw.osRelease);
  const name = osName(raw.releaseFiles);
  let version = '';
  let release = '';
  if (name === OSName.DEBIAN) {
    version = raw.debianVersion ?? '';
  } else if (name !== OSName.UNKNOWN) {
    // vdsm asks rpm for the release package; without rpm, os-release and the release file say the same.
    version = rel['VERSION_ID'] ?? '';
    release = /release\s+\S+\s+\(([^)]*)\)/.exec(raw.redhatRelease ?? '')?.[1] ?? '';
  }
  return { name, version, release, pretty_name: rel['PRETTY_NAME'] ?? '' };
}

/** "6.1.0-13-amd64" -> {version: "6.1.0", release: "13-amd64"}; realtime when the version says RT. */
export function kernelFlags(kernelRelease: string, kernelVersion: string): { version: { version: string; release: string }; realtime: boolean } {
  const i = kernelRelease.indexOf('-');
  const version = i < 0 ? { version: '0', release: '0' } : { version: kernelRelease.slice(0, i), release: kernelRelease.slice(i + 1) };
  return { version, realtime: kernelVersion.includes('RT') };
}

export function kernelArgs(cmdline: MaybeText): string {
  return (cmdline ?? '').split('\n')[0]?.trim() ?? '';
}

/** -1 unknown, 0 disabled, 1 enabled (kdump loaded and fence_kdump configured). */
export function kdumpStatus(kexecCrashLoaded: MaybeText, kdumpConf: MaybeText): -1 | 0 | 1 {
  if (kexecCrashLoaded === null) return -1;
  const loaded = Number.parseInt(kexecCrashLoaded.trim(), 10);
  if (!Number.isInteger(loaded)) return -1;
  if (loaded !== 1) return 0;
  if (kdumpConf === null) return -1;
  return kdumpConf.split('\n').some((l) => l.startsWith('fence_kdump_nodes')) ? 1 : 0;
}

/** {"mode": "1"|"0"|"-1"}: -1 when SELinux is absent or disabled, as vdsm assumes. */
export function selinuxStatus(enforce: MaybeText): { mode: string } {
  const n = Number.parseInt((enforce ?? '').trim(), 10);
  return { mode: String(Number.isInteger(n) ? n : -1) };
}

export function fipsEnabled(text: MaybeText): boolean {
  return (text ?? '').trim() === '1';
}

export function nestedVirtualization(nested: CapabilitiesRawFacts['nested']): boolean {
  return [nested.kvmIntel, nested.kvmAmd].some((v) => v !== null && (v.trim() === 'Y' || v.trim() === '1'));
}

/** vdsm reads these from debugfs; -1 when unknown. */
export function kernelFeatures(k: CapabilitiesRawFacts['kernelFeatures']): { pti: number; ibpb: number; ibrs: number } {
  const n = (v: MaybeText): number => {
    const x = Number.parseInt((v ?? '').trim(), 10);
    return Number.isInteger(x) ? x : -1;
  };
  return { pti: n(k.pti), ibpb: n(k.ibpb), ibrs: n(k.ibrs) };
}
