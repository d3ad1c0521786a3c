// Host.getDeviceList: the host's multipath block devices (device-mapper devices whose uuid starts with
// "mpath-"), read from sysfs only: no command, no open of a device, nothing written. A host without
// device-mapper or multipath has none, and the list is empty. Asynchronous reads (fs/promises): nothing
// here blocks the main thread.
import { readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';

export interface DevicePath {
  /** The SCSI path's block device, e.g. `sdb`. */
  physdev: string;
  /** `active` when the SCSI device is running, `failed` otherwise (vdsm's multipath path state). */
  state: string;
  /** Bytes, as a string. */
  capacity: string;
  /** SCSI LUN number, '' when unknown. */
  lun: string;
  /** `iSCSI`, `FCP` or '' (another transport). */
  type: string;
}

export interface BlockDeviceInfo {
  GUID: string;
  pvUUID: string;
  pvsize: string;
  vgUUID: string;
  vendorID: string;
  productID: string;
  fwrev: string;
  serial: string;
  /** Bytes, as a string. */
  capacity: string;
  /** `iSCSI`, `FCP`, `MIXED` or '' from the paths' transports. */
  devtype: string;
  pathstatus: DevicePath[];
  pathlist: Record<string, string>[];
  logicalblocksize: string;
  physicalblocksize: string;
  discard_max_bytes: number;
  discard_zeroes_data: number;
  /** With checkStatus: `unknown` (this agent does not inspect the device's contents). */
  status?: string;
}

export interface MultipathListOptions {
  /** sysfs mount point (default /sys); tests point it at a tree they built. */
  sysRoot?: string;
}

async function readText(path: string): Promise<string> {
  return (await readFile(path, 'utf8').catch(() => '')).trim();
}

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** The SCSI unit serial number (VPD page 0x80: a 4-byte header, then the serial), '' when unreadable. */
async function unitSerial(scsiDevice: string): Promise<string> {
  const page = await readFile(join(scsiDevice, 'vpd_pg80')).catch(() => undefined);
  if (page === undefined || page.length < 4) return '';
  return page.subarray(4, 4 + page.readUInt16BE(2)).toString('latin1').trim();
}

/** The transport of a SCSI block device from its sysfs device path: iSCSI sessions and FC remote ports show in it. */
async function transportOf(sys: string, physdev: string): Promise<string> {
  const target = await realpath(join(sys, 'block', physdev, 'device')).catch(() => '');
  if (/\/session\d+\//.test(target)) return 'iSCSI';
  if (/\/rport-\d+:\d+-\d+\//.test(target)) return 'FCP';
  return '';
}

async function pathInfo(sys: string, physdev: string): Promise<DevicePath> {
  const dev = join(sys, 'block', physdev);
  const [state, sectors, type] = await Promise.all([readText(join(dev, 'device', 'state')), readText(join(dev, 'size')), transportOf(sys, physdev)]);
  // The SCSI address h:c:t:l is the name of the device's scsi_device entry.
  const address = (await list(join(dev, 'device', 'scsi_device')))[0] ?? '';
  return {
    physdev,
    state: state === 'running' ? 'active' : 'failed',
    capacity: String(Number(sectors || 0) * 512),
    lun: address.split(':')[3] ?? '',
    type,
  };
}

/**
 * The multipath devices, those named in `guids` only when it is not empty (vdsm's filter), each with its
 * paths. `checkStatus` adds `status`.
 */
export async function multipathDevices(guids: readonly string[], checkStatus: boolean, opts: MultipathListOptions = {}): Promise<BlockDeviceInfo[]> {
  const sys = opts.sysRoot ?? '/sys';
  const out: BlockDeviceInfo[] = [];
  for (const dm of (await list(join(sys, 'block'))).filter((n) => n.startsWith('dm-')).sort()) {
    const dir = join(sys, 'block', dm);
    if (!(await readText(join(dir, 'dm', 'uuid'))).startsWith('mpath-')) continue;
    const guid = await readText(join(dir, 'dm', 'name'));
    if (guid === '' || (guids.length > 0 && !guids.includes(guid))) continue;
    const slaves = (await list(join(dir, 'slaves'))).sort();
    const paths = await Promise.all(slaves.map((s) => pathInfo(sys, s)));
    const first = slaves[0] === undefined ? undefined : join(sys, 'block', slaves[0], 'device');
    const [vendor, model, rev, sectors, logical, physical, discardMax, discardZeroes] = await Promise.all([
      first ? readText(join(first, 'vendor')) : '', first ? readText(join(first, 'model')) : '', first ? readText(join(first, 'rev')) : '',
      readText(join(dir, 'size')), readText(join(dir, 'queue', 'logical_block_size')), readText(join(dir, 'queue', 'physical_block_size')),
      readText(join(dir, 'queue', 'discard_max_bytes')), readText(join(dir, 'queue', 'discard_zeroes_data')),
    ]);
    const types = new Set(paths.map((p) => p.type).filter((t) => t !== ''));
    out.push({
      GUID: guid, pvUUID: '', pvsize: '', vgUUID: '',
      vendorID: vendor, productID: model, fwrev: rev,
      serial: first ? await unitSerial(first) : '',
      capacity: String(Number(sectors || 0) * 512),
      devtype: types.size > 1 ? 'MIXED' : ([...types][0] ?? ''),
      pathstatus: paths,
      pathlist: [],
      logicalblocksize: logical || '512', physicalblocksize: physical || '512',
      discard_max_bytes: Number(discardMax || 0), discard_zeroes_data: Number(discardZeroes || 0),
      ...(checkStatus ? { status: 'unknown' } : {}),
    });
  }
  return out;
}
