// The udev rules supervdsm manages, built only from validated identifiers: the rule file's name and
// its one line both come from here, never from a caller's text. Kinds follow vdsm's rule families:
// managed volumes of storage domains, VFIO IOMMU groups and USB devices passed to VMs, the host RNG.
export const RULE_PREFIX = '99-vdsm-';
export const RULE_SUFFIX = '.rules';
export const CHOWN = '/usr/bin/chown';

export type RuleKind = 'managed' | 'iommu_group' | 'usb' | 'hwrng';
export const RULE_KINDS: readonly RuleKind[] = ['managed', 'iommu_group', 'usb', 'hwrng'];

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What a /dev path of a managed volume may contain (it is quoted inside the rule). */
const DEV_PATH_RE = /^\/dev\/[A-Za-z0-9._+:@-]+(\/[A-Za-z0-9._+:@-]+)*$/;

export interface RuleTarget {
  kind: RuleKind;
  storageDomain?: string;
  volume?: string;
  /** /dev path of a managed volume's device (a node or a udev symlink). */
  device?: string;
  iommuGroup?: number;
  bus?: number;
  usbDevice?: number;
  vmId?: string;
}

/** Which identifiers each kind takes (all required). */
export const KIND_FIELDS: Readonly<Record<RuleKind, readonly (keyof RuleTarget)[]>> = {
  managed: ['storageDomain', 'volume'],
  iommu_group: ['iommuGroup'],
  usb: ['bus', 'usbDevice'],
  hwrng: ['vmId'],
};

/** Why `t` is not a valid target (naming the field), or undefined. `device` is checked separately. */
export function targetProblem(t: RuleTarget): { field: string; reason: string } | undefined {
  const want = KIND_FIELDS[t.kind];
  for (const f of ['storageDomain', 'volume', 'iommuGroup', 'bus', 'usbDevice', 'vmId'] as const) {
    if (want.includes(f) && t[f] === undefined) return { field: f, reason: `required for kind ${t.kind}` };
    if (!want.includes(f) && t[f] !== undefined) return { field: f, reason: `not used by kind ${t.kind}` };
  }
  for (const f of ['storageDomain', 'volume', 'vmId'] as const) {
    if (t[f] !== undefined && !UUID_RE.test(t[f]!)) return { field: f, reason: 'must be a lower-case UUID' };
  }
  if (t.iommuGroup !== undefined && !(Number.isInteger(t.iommuGroup) && t.iommuGroup >= 0 && t.iommuGroup <= 65535)) return { field: 'iommuGroup', reason: 'must be an integer in 0..65535' };
  for (const f of ['bus', 'usbDevice'] as const) {
    if (t[f] !== undefined && !(Number.isInteger(t[f]) && t[f]! >= 1 && t[f]! <= 255)) return { field: f, reason: 'must be an integer in 1..255' };
  }
  return undefined;
}

/** True when `device` may appear in a managed-volume rule. */
export function isRuleDevicePath(device: string): boolean {
  return DEV_PATH_RE.test(device) && !device.split('/').includes('..');
}

/** The rule file name of a target. */
export function ruleFileName(t: RuleTarget): string {
  switch (t.kind) {
    case 'managed': return `${RULE_PREFIX}managed_${t.storageDomain}_${t.volume}${RULE_SUFFIX}`;
    case 'iommu_group': return `${RULE_PREFIX}iommu_group_${t.iommuGroup}${RULE_SUFFIX}`;
    case 'usb': return `${RULE_PREFIX}usb_${t.bus}_${t.usbDevice}${RULE_SUFFIX}`;
    case 'hwrng': return `${RULE_PREFIX}hwrng_${t.vmId}${RULE_SUFFIX}`;
  }
}

/** True for the names this module writes (so a listing or removal never touches another file). */
export function isManagedRuleName(name: string): boolean {
  return /^99-vdsm-(managed_[0-9a-f-]{36}_[0-9a-f-]{36}|iommu_group_\d{1,5}|usb_\d{1,3}_\d{1,3}|hwrng_[0-9a-f-]{36})\.rules$/.test(name);
}

/** The device node a target's rule is about (what a trigger acts on). */
export function targetDevice(t: RuleTarget): string | undefined {
  switch (t.kind) {
    case 'managed': return t.device;
    case 'iommu_group': return `/dev/vfio/${t.iommuGroup}`;
    case 'usb': return `/dev/bus/usb/${String(t.bus).padStart(3, '0')}/${String(t.usbDevice).padStart(3, '0')}`;
    case 'hwrng': return '/dev/hwrng';
  }
}

export interface Owners {
  /** Owner of managed volumes' devices (vdsm: the vdsm user) and their group. */
  volumeOwner: string;
  /** Owner of devices passed to QEMU (vdsm: qemu:qemu). */
  qemuUser: string;
  qemuGroup: string;
}

/**
 * The rule line. As vdsm, ownership is changed by RUN+=chown rather than OWNER=/GROUP= (those reset
 * the SELinux label on RHEL and pause VMs, BZ 1147910). A managed volume reached through a udev
 * symlink is matched by SYMLINK, a plain node by KERNEL.
 */
export function ruleText(t: RuleTarget, owners: Owners, deviceIsSymlink: boolean): string {
  const qemu = `${owners.qemuUser}:${owners.qemuGroup}`;
  switch (t.kind) {
    case 'managed': {
      const rel = t.device!.slice('/dev/'.length);
      return `${deviceIsSymlink ? 'SYMLINK' : 'KERNEL'}=="${rel}", RUN+="${CHOWN} ${owners.volumeOwner}:${owners.qemuGroup} $env{DEVNAME}"\n`;
    }
    case 'iommu_group':
      return `SUBSYSTEM=="vfio", KERNEL=="${t.iommuGroup}", RUN+="${CHOWN} ${qemu} /dev/vfio/${t.iommuGroup}"\n`;
    case 'usb':
      return `SUBSYSTEM=="usb", ATTR{busnum}=="${t.bus}", ATTR{devnum}=="${t.usbDevice}", RUN+="${CHOWN} ${qemu} $env{DEVNAME}"\n`;
    case 'hwrng':
      return `KERNEL=="hw_random", SUBSYSTEM=="misc", RUN+="${CHOWN} ${qemu} /dev/hwrng"\n`;
  }
}
