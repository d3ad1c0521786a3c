// Host device facts for Host.hostdevListByCaps, read from sysfs (and udev's database for device names)
// in a worker: PCI, USB, network, SCSI and block devices with their real sysfs paths, returned as plain
// data. src/host/hostdev.ts turns them into vdsm's result; nothing here interprets them.
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type {
  HostDeviceFacts, HostDevicesArgs, Names, RawBlockDevice, RawNetDevice, RawPciDevice, RawScsiDevice, RawScsiGeneric, RawUsbDevice,
} from '../../src/contracts/hostdev-facts.js';
import type { AreaOps } from '../../src/contracts/operations.js';

const PCI_HEADER_TYPE_OFFSET = 0x0e;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function linkName(path: string): string | undefined {
  try {
    return basename(readlinkSync(path));
  } catch {
    return undefined;
  }
}

/** Real path of a sysfs entry, relative to root (so '/sys/devices/...' whatever the root). */
function sysPath(root: string, entry: string): string | undefined {
  try {
    const real = realpathSync(entry);
    const base = realpathSync(root);
    return base === '/' ? real : real.startsWith(base) ? real.slice(base.length) : undefined;
  } catch {
    return undefined;
  }
}

function headerType(configFile: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(configFile, 'r');
    const buf = Buffer.alloc(1);
    return readSync(fd, buf, 0, 1, PCI_HEADER_TYPE_OFFSET) === 1 ? (buf[0] as number) & 0x7f : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** ID_VENDOR_FROM_DATABASE / ID_MODEL_FROM_DATABASE from udev's record of a device. */
function udevNames(root: string, id: string | undefined): Names {
  if (id === undefined) return {};
  const text = read(join(root, 'run/udev/data', id));
  if (text === undefined) return {};
  const out: Names = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('E:ID_VENDOR_FROM_DATABASE=')) out.vendorName = line.slice(26);
    else if (line.startsWith('E:ID_MODEL_FROM_DATABASE=')) out.productName = line.slice(25);
  }
  return out;
}

function readPci(root: string): RawPciDevice[] {
  const dir = join(root, 'sys/bus/pci/devices');
  const out: RawPciDevice[] = [];
  for (const address of list(dir)) {
    const d = join(dir, address);
    const path = sysPath(root, d);
    if (path === undefined) continue;
    const dev: RawPciDevice = {
      address, path,
      vendor: read(join(d, 'vendor')) ?? '', device: read(join(d, 'device')) ?? '', class: read(join(d, 'class')) ?? '',
      ...udevNames(root, `+pci:${address}`),
    };
    const driver = linkName(join(d, 'driver'));
    if (driver !== undefined) dev.driver = driver;
    const group = linkName(join(d, 'iommu_group'));
    if (group !== undefined) dev.iommuGroup = group;
    const numa = Number(read(join(d, 'numa_node')));
    if (Number.isInteger(numa)) dev.numaNode = numa;
    const physfn = linkName(join(d, 'physfn'));
    if (physfn !== undefined) dev.physfn = physfn;
    const totalvfs = read(join(d, 'sriov_totalvfs'));
    if (totalvfs !== undefined && Number.isInteger(Number(totalvfs))) dev.totalvfs = Number(totalvfs);
    const header = headerType(join(d, 'config'));
    if (header !== undefined) dev.headerType = header;
    const mdevDir = join(d, 'mdev_supported_types');
    const types = list(mdevDir).map((id) => {
      const name = read(join(mdevDir, id, 'name'));
      const avail = read(join(mdevDir, id, 'available_instances'));
      return { id, ...(name !== undefined ? { name } : {}), ...(avail !== undefined ? { availableInstances: avail } : {}) };
    });
    if (types.length > 0) dev.mdevTypes = types;
    out.push(dev);
  }
  return out;
}

function readUsb(root: string): RawUsbDevice[] {
  const dir = join(root, 'sys/bus/usb/devices');
  const out: RawUsbDevice[] = [];
  for (const sysname of list(dir)) {
    if (sysname.includes(':')) continue; // an interface ('1-1:1.0'), not a device
    const d = join(dir, sysname);
    const path = sysPath(root, d);
    const busnum = read(join(d, 'busnum'));
    const devnum = read(join(d, 'devnum'));
    if (path === undefined || busnum === undefined || devnum === undefined) continue;
    const dev: RawUsbDevice = {
      sysname, path, busnum, devnum,
      idVendor: read(join(d, 'idVendor')) ?? '', idProduct: read(join(d, 'idProduct')) ?? '',
      ...udevNames(root, ((n) => (n !== undefined ? `c${n}` : undefined))(read(join(d, 'dev')))),
    };
    const manufacturer = read(join(d, 'manufacturer'));
    if (manufacturer !== undefined) dev.manufacturer = manufacturer;
    const product = read(join(d, 'product'));
    if (product !== undefined) dev.product = product;
    const driver = linkName(join(d, 'driver'));
    if (driver !== undefined) dev.driver = driver;
    out.push(dev);
  }
  return out;
}

function readNet(root: string): RawNetDevice[] {
  const dir = join(root, 'sys/class/net');
  return list(dir).flatMap((name) => {
    const path = sysPath(root, join(dir, name));
    if (path === undefined) return [];
    const mac = read(join(dir, name, 'address'));
    return [{ name, path, ...(mac !== undefined ? { mac } : {}) }];
  });
}

function readScsi(root: string): Pick<HostDeviceFacts, 'scsiHosts' | 'scsiTargets' | 'scsiDevices'> {
  const dir = join(root, 'sys/bus/scsi/devices');
  const out: Pick<HostDeviceFacts, 'scsiHosts' | 'scsiTargets' | 'scsiDevices'> = { scsiHosts: [], scsiTargets: [], scsiDevices: [] };
  for (const name of list(dir)) {
    const d = join(dir, name);
    const path = sysPath(root, d);
    if (path === undefined) continue;
    const host = /^host(\d+)$/.exec(name);
    if (host) out.scsiHosts.push({ host: Number(host[1]), path });
    else if (/^target\d+:\d+:\d+$/.test(name)) out.scsiTargets.push({ sysname: name, path });
    else if (/^\d+:\d+:\d+:\d+$/.test(name)) {
      const dev: RawScsiDevice = { hctl: name, path };
      const driver = linkName(join(d, 'driver'));
      if (driver !== undefined) dev.driver = driver;
      const vendor = read(join(d, 'vendor'));
      if (vendor !== undefined) dev.vendor = vendor;
      const model = read(join(d, 'model'));
      if (model !== undefined) dev.model = model;
      out.scsiDevices.push(dev);
    }
  }
  return out;
}

function readBlock(root: string): RawBlockDevice[] {
  const dir = join(root, 'sys/class/block');
  return list(dir).flatMap((name) => {
    const d = join(dir, name);
    // Whole disks with a backing device only: partitions, loop and ram devices are not host devices.
    if (existsSync(join(d, 'partition')) || !existsSync(join(d, 'device'))) return [];
    const path = sysPath(root, d);
    if (path === undefined) return [];
    const dev: RawBlockDevice = { name, path };
    const serial = read(join(d, 'device', 'serial')) ?? read(join(d, 'serial'));
    if (serial !== undefined && serial !== '') dev.serial = serial;
    const model = read(join(d, 'device', 'model'));
    if (model !== undefined) dev.model = model;
    // A SCSI disk's vendor is a name ('ATA'); a virtio disk's device/vendor is a PCI id, not reported.
    if (existsSync(join(d, 'device', 'scsi_level'))) {
      const vendor = read(join(d, 'device', 'vendor'));
      if (vendor !== undefined) dev.vendor = vendor;
    }
    return [dev];
  });
}

function readScsiGeneric(root: string): RawScsiGeneric[] {
  const dir = join(root, 'sys/class/scsi_generic');
  return list(dir).flatMap((name) => {
    const path = sysPath(root, join(dir, name));
    return path === undefined ? [] : [{ name, path }];
  });
}

export function readHostDeviceFacts(args: HostDevicesArgs = {}): HostDeviceFacts {
  const root = args.root ?? '/';
  const product = read(join(root, 'sys/class/dmi/id/product_name'));
  return {
    ...(product !== undefined && product !== '' ? { systemProduct: product } : {}),
    pci: readPci(root),
    usb: readUsb(root),
    net: readNet(root),
    ...readScsi(root),
    block: readBlock(root),
    scsiGeneric: readScsiGeneric(root),
  };
}

export const ops: AreaOps<'hostdev'> = {
  'host.devices': (args) => readHostDeviceFacts(args ?? {}),
};
