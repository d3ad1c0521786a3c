// Host.getAllVmIoTunePolicies' current values: each disk's I/O limits from a domain XML's `<iotune>`
// (what virDomainGetBlockIoTune reports for the live domain), in vdsm's shape. Pure.
import { attr, child, children, parseXmlTree, text } from '../libvirt/xml-tree.js';

/** The limits vdsm reports and MOM may set (the `_max` burst values and group names are left out, as in vdsm). */
export const IOTUNE_KEYS = ['total_bytes_sec', 'read_bytes_sec', 'write_bytes_sec', 'total_iops_sec', 'read_iops_sec', 'write_iops_sec'] as const;
export type IoTuneKey = (typeof IOTUNE_KEYS)[number];

export interface DiskIoTune {
  /** The disk's target device (`vda`), vdsm's drive name. */
  name: string;
  /** Its source: file, block device, volume or network name; '' when it has none (an empty CD-ROM). */
  path: string;
  /** Each limit, 0 when unset (no limit), as libvirt reports them. */
  ioTune: Record<IoTuneKey, number>;
}

/** The hard disks (device="disk"; no CD-ROMs, floppies or LUNs) of a domain XML with their I/O limits. */
export function diskIoTunes(domainXml: string): DiskIoTune[] {
  const devices = child(child(parseXmlTree(domainXml), 'domain'), 'devices');
  const out: DiskIoTune[] = [];
  for (const disk of children(devices, 'disk')) {
    if ((attr(disk, 'device') ?? 'disk') !== 'disk') continue;
    const name = attr(child(disk, 'target'), 'dev');
    if (name === undefined) continue;
    const source = child(disk, 'source');
    const path = attr(source, 'file') ?? attr(source, 'dev') ?? attr(source, 'volume') ?? attr(source, 'name') ?? '';
    const iotune = child(disk, 'iotune');
    const ioTune = {} as Record<IoTuneKey, number>;
    for (const key of IOTUNE_KEYS) {
      const n = Number(text(child(iotune, key)) ?? 0);
      ioTune[key] = Number.isSafeInteger(n) && n >= 0 ? n : 0;
    }
    out.push({ name, path, ioTune });
  }
  return out;
}
