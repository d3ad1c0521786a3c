// Host.getHardwareInfo, unprivileged half: the DMI files the kernel lets anyone read under /sys/class/dmi/id
// and the device tree (ARM, POWER), as host.hardwareInfo read them in a worker. vdsm reads the same keys with
// dmidecode through supervdsm (root); that half plugs in as `privileged` and wins where both have a key.
// When nothing at all is known the caller answers error 57 with unreadableStatement() instead of {}.
import type { HardwareInfo } from '../contracts/api-types.js';
import type { HardwareRawFacts } from '../contracts/host-facts.js';

const DMI_KEYS: Readonly<Record<string, keyof HardwareInfo>> = Object.freeze({
  sys_vendor: 'systemManufacturer',
  product_name: 'systemProductName',
  product_version: 'systemVersion',
  product_serial: 'systemSerialNumber',
  product_uuid: 'systemUUID',
  product_family: 'systemFamily',
});

/** What the unprivileged reads give: every key a trimmed string, a key left out when its source is missing. */
export function buildHardwareInfo(raw: HardwareRawFacts): HardwareInfo {
  const out: HardwareInfo = {};
  for (const [file, key] of Object.entries(DMI_KEYS)) {
    const v = raw.dmi[file];
    if (v !== undefined) out[key] = v.trim();
  }
  if (out.systemProductName === undefined && raw.deviceTree.model !== undefined) out.systemProductName = raw.deviceTree.model;
  if (out.systemSerialNumber === undefined && raw.deviceTree.serialNumber !== undefined) out.systemSerialNumber = raw.deviceTree.serialNumber;
  return out;
}

/** The privileged helper's values (DMI tables through dmidecode) over the unprivileged ones. */
export function mergeHardwareInfo(unprivileged: HardwareInfo, privileged: HardwareInfo | undefined): HardwareInfo {
  const out: HardwareInfo = { ...unprivileged };
  for (const [k, v] of Object.entries(privileged ?? {})) if (typeof v === 'string') out[k as keyof HardwareInfo] = v;
  return out;
}

/** Why nothing could be reported, in words an operator can act on. */
export function unreadableStatement(raw: HardwareRawFacts, helper: 'absent' | 'failed' | 'empty'): string {
  const where = raw.dmiPresent
    ? `/sys/class/dmi/id has no readable system entries${raw.unreadable.length > 0 ? ` (${raw.unreadable.join(', ')} need root)` : ''}`
    : 'this machine exposes no SMBIOS/DMI tables (/sys/class/dmi/id is absent: a container, or a VM whose firmware provides none) and no device tree';
  const privileged = helper === 'absent'
    ? 'no privileged helper (supervdsm) is configured to read them with dmidecode'
    : helper === 'failed' ? 'the privileged helper (supervdsm) failed to read them' : 'the privileged helper (supervdsm) found none either';
  return `no hardware information readable: ${where}; ${privileged}`;
}
