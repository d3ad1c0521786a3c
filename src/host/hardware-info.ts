// Host.getHardwareInfo from the DMI files the host.hardwareInfo worker operation read: all strings,
// a key left out when its file is missing (no DMI at all, e.g. in a VM or container, gives {}).
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

export function buildHardwareInfo(raw: HardwareRawFacts): HardwareInfo {
  const out: HardwareInfo = {};
  for (const [file, key] of Object.entries(DMI_KEYS)) {
    const v = raw[file];
    if (v !== undefined) out[key] = v.trim();
  }
  return out;
}
