// Host device facts for Host.hostdevListByCaps as workers/ops/hostdev.ts reads them from sysfs (and
// udev's database for device names): plain data with real sysfs paths. src/host/hostdev.ts turns them
// into vdsm's result. Types only.

export interface HostDevicesArgs {
  /** Filesystem root holding sys/ and run/udev/ (tests pass a canned tree); default '/'. */
  root?: string;
}

/** A name or an id from udev's hardware database (what libvirt reports as vendor/product text). */
export interface Names { vendorName?: string; productName?: string }

export interface RawPciDevice extends Names {
  /** '0000:00:1f.2' */
  address: string;
  /** Real sysfs path below the root, e.g. '/sys/devices/pci0000:00/0000:00:1f.2'. */
  path: string;
  /** '0x8086' as sysfs writes them. */
  vendor: string;
  device: string;
  class: string;
  driver?: string;
  iommuGroup?: string;
  numaNode?: number;
  /** Address of the physical function, for an SR-IOV virtual function. */
  physfn?: string;
  /** sriov_totalvfs, for an SR-IOV capable device. */
  totalvfs?: number;
  /** Configuration-space header type (offset 0x0e, without the multi-function bit); absent when unreadable. */
  headerType?: number;
  mdevTypes?: { id: string; name?: string; availableInstances?: string }[];
}

export interface RawUsbDevice extends Names {
  /** sysfs name: '1-1', '1-1.2', 'usb1' (a root hub). */
  sysname: string;
  path: string;
  busnum: string;
  devnum: string;
  idVendor: string;
  idProduct: string;
  manufacturer?: string;
  product?: string;
  driver?: string;
}

export interface RawNetDevice { name: string; path: string; mac?: string }
export interface RawScsiHost { host: number; path: string }
export interface RawScsiTarget { sysname: string; path: string }
export interface RawScsiDevice { hctl: string; path: string; driver?: string; vendor?: string; model?: string }
export interface RawBlockDevice { name: string; path: string; serial?: string; vendor?: string; model?: string }
export interface RawScsiGeneric { name: string; path: string }

export interface HostDeviceFacts {
  /** DMI product name: the product of the root device, 'computer'. */
  systemProduct?: string;
  pci: RawPciDevice[];
  usb: RawUsbDevice[];
  net: RawNetDevice[];
  scsiHosts: RawScsiHost[];
  scsiTargets: RawScsiTarget[];
  scsiDevices: RawScsiDevice[];
  block: RawBlockDevice[];
  scsiGeneric: RawScsiGeneric[];
}

/** Operation name -> { args, result } of workers/ops/hostdev.ts. */
export interface HostdevOps {
  'host.devices': { args: HostDevicesArgs | undefined; result: HostDeviceFacts };
}
