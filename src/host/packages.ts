// packages2 and the version facts derived from it: vdsm compatibility version, libvirt and qemu
// versions, the cluster levels they allow.

export interface PackageVersion {
  version: string;
  release: string;
}

/** vdsm-node speaks vdsm 4.50's API; the engine accepts 4.20/4.30/4.40/4.50. */
export const DEFAULT_VDSM_VERSION: PackageVersion = Object.freeze({ version: '4.50.7', release: '1' });

export const SUPPORTED_ENGINES: readonly string[] = Object.freeze(['4.2', '4.3', '4.4', '4.5']);

/** libvirt encodes versions as major * 1_000_000 + minor * 1000 + micro. */
export function formatLibvirtVersion(v: number | string): string {
  if (typeof v === 'string') return v;
  return `${Math.floor(v / 1_000_000)}.${Math.floor((v % 1_000_000) / 1000)}.${v % 1000}`;
}

/** "9.0.0" -> {version: "9.0.0", release: ""}; "8.0.0-22.el9" -> {version: "8.0.0", release: "22.el9"}. */
export function splitVersion(v: string): PackageVersion {
  const i = v.indexOf('-');
  return i < 0 ? { version: v, release: '' } : { version: v.slice(0, i), release: v.slice(i + 1) };
}

function majorMinor(v: string): [number, number] {
  const [a = '0', b = '0'] = v.split('.');
  return [Number(a) || 0, Number(b) || 0];
}

function atLeast(v: string, major: number, minor: number): boolean {
  const [a, b] = majorMinor(v);
  return a > major || (a === major && b >= minor);
}

/** 4.2-4.6 always; 4.7 with libvirt >= 8.0; 4.8 with libvirt >= 10.10 and qemu >= 9.1. */
export function clusterLevels(libvirtVersion: string, qemuVersion: string | undefined): string[] {
  const levels = ['4.2', '4.3', '4.4', '4.5', '4.6'];
  if (atLeast(libvirtVersion, 8, 0)) levels.push('4.7');
  if (atLeast(libvirtVersion, 10, 10) && qemuVersion !== undefined && atLeast(qemuVersion, 9, 1)) levels.push('4.8');
  return levels;
}

export interface PackagesInput {
  kernel: PackageVersion;
  vdsm?: PackageVersion;
  libvirt: string;
  qemu?: string;
  spiceServer?: string;
}

/** The packages the engine looks at; qemu-img tracks qemu (one build). Absent packages are left out. */
export function packages2(input: PackagesInput): Record<string, PackageVersion> {
  const out: Record<string, PackageVersion> = {
    kernel: input.kernel,
    vdsm: input.vdsm ?? DEFAULT_VDSM_VERSION,
    libvirt: splitVersion(input.libvirt),
  };
  if (input.qemu !== undefined) {
    out['qemu-kvm'] = splitVersion(input.qemu);
    out['qemu-img'] = splitVersion(input.qemu);
  }
  if (input.spiceServer !== undefined) out['spice-server'] = splitVersion(input.spiceServer);
  return out;
}
