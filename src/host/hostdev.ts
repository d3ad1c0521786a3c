// Host.hostdevListByCaps: the host's devices as vdsm reports them (libvirt node-device names and the
// params vdsm derives from each device), built from the sysfs facts of the `host.devices` operation.
// Names follow libvirt: 'computer' is the root, pci_0000_00_1f_2, usb_1_1, usb_usb1, net_eth0_<mac>,
// scsi_host0, scsi_target0_0_0, scsi_0_0_0_0, block_sda_<serial>, scsi_generic_sg0.
// Not listed (libvirt would): USB interfaces ('usb'), mdev instances, DRM, FC hosts and vports.
import type { HostDeviceFacts, RawPciDevice, RawUsbDevice } from '../contracts/hostdev-facts.js';

export type HostDeviceParams = Record<string, unknown> & { capability: string; is_assignable: 'true' | 'false'; parent?: string };

/** One entry of the result: vdsm wraps the params (a VM id is added by vdsm only for devices in use). */
export interface HostDevice {
  params: HostDeviceParams;
}

export type HostDevices = Record<string, HostDevice>;

export const ROOT_DEVICE = 'computer';

/** PCI header types (configuration space offset 0x0e). Only endpoints can be assigned to a VM. */
const PCI_HEADER_ENDPOINT = 0;

/**
 * Capabilities a caller may ask for (libvirt's node-device capability names). vdsm turns each into a
 * libvirt listing flag and maps any name it does not know to 'system', which lists only the root.
 */
export const KNOWN_CAPS = new Set(['system', 'pci', 'usb_device', 'usb', 'net', 'scsi_host', 'scsi_target', 'scsi', 'storage', 'fc_host', 'vports', 'scsi_generic']);

/** libvirt replaces every character outside [A-Za-z0-9] in a generated name by '_'. */
const sanitize = (s: string): string => s.replace(/[^A-Za-z0-9]/g, '_');

/** '0000:00:1f.2' -> 'pci_0000_00_1f_2' (libvirt's pci_%04x_%02x_%02x_%x). */
export function pciDeviceName(address: string): string {
  const a = parsePciAddress(address);
  if (a === undefined) return `pci_${sanitize(address)}`;
  const hex = (n: number, w: number): string => n.toString(16).padStart(w, '0');
  return `pci_${hex(a.domain, 4)}_${hex(a.bus, 2)}_${hex(a.slot, 2)}_${a.function.toString(16)}`;
}

export function parsePciAddress(address: string): { domain: number; bus: number; slot: number; function: number } | undefined {
  const m = /^([0-9a-fA-F]{4,}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/.exec(address);
  if (!m) return undefined;
  return { domain: parseInt(m[1]!, 16), bus: parseInt(m[2]!, 16), slot: parseInt(m[3]!, 16), function: Number(m[4]) };
}

/** '1-1.2' -> 'usb_1_1_2'; a root hub 'usb1' -> 'usb_usb1'. */
export function usbDeviceName(sysname: string): string {
  return `usb_${sanitize(sysname)}`;
}

/** 'eth0' with MAC 52:54:00:12:34:56 -> 'net_eth0_52_54_00_12_34_56'. */
export function netDeviceName(ifname: string, mac: string | undefined): string {
  return sanitize(`net_${ifname}_${mac ?? '00:00:00:00:00:00'}`);
}

function pciParams(d: RawPciDevice): Record<string, unknown> {
  const a = parsePciAddress(d.address);
  const p: Record<string, unknown> = {};
  // libvirt writes the address numbers in decimal in node-device XML; vdsm passes that text on.
  if (a !== undefined) p['address'] = { domain: String(a.domain), bus: String(a.bus), slot: String(a.slot), function: String(a.function) };
  if (d.productName !== undefined && d.productName !== '') p['product'] = d.productName;
  p['product_id'] = d.device;
  if (d.vendorName !== undefined && d.vendorName !== '') p['vendor'] = d.vendorName;
  p['vendor_id'] = d.vendor;
  if (d.driver !== undefined) p['driver'] = d.driver;
  if (d.iommuGroup !== undefined) p['iommu_group'] = d.iommuGroup;
  // libvirt omits the NUMA node when the kernel says -1 (no affinity).
  if (d.numaNode !== undefined && d.numaNode >= 0) p['numa_node'] = String(d.numaNode);
  if (d.physfn !== undefined) p['physfn'] = pciDeviceName(d.physfn);
  if (d.totalvfs !== undefined) p['totalvfs'] = d.totalvfs;
  // Bridges (and an unreadable header) are not assignable: passing a bridge through takes its bus with it.
  p['is_assignable'] = d.headerType === PCI_HEADER_ENDPOINT ? 'true' : 'false';
  const mdev: Record<string, Record<string, string>> = {};
  for (const t of d.mdevTypes ?? []) {
    // vdsm leaves out a type whose available instances it cannot read.
    if (t.availableInstances !== undefined) mdev[t.id] = { ...(t.name !== undefined ? { name: t.name } : {}), available_instances: t.availableInstances };
  }
  if (Object.keys(mdev).length > 0) p['mdev'] = mdev;
  return p;
}

function usbParams(d: RawUsbDevice): Record<string, unknown> {
  const p: Record<string, unknown> = { address: { bus: String(Number(d.busnum)), device: String(Number(d.devnum)) } };
  const product = d.productName ?? d.product;
  if (product !== undefined && product !== '') p['product'] = product;
  p['product_id'] = `0x${d.idProduct}`;
  const vendor = d.vendorName ?? d.manufacturer;
  if (vendor !== undefined && vendor !== '') p['vendor'] = vendor;
  p['vendor_id'] = `0x${d.idVendor}`;
  if (d.driver !== undefined) p['driver'] = d.driver;
  return p;
}

interface Node {
  name: string;
  path: string | undefined;
  params: Record<string, unknown> & { capability: string };
}

/** The nearest ancestor (by sysfs path) that is itself a listed device, else the root. */
function parentOf(path: string | undefined, byPath: ReadonlyMap<string, string>): string {
  if (path === undefined) return ROOT_DEVICE;
  for (let p = path.slice(0, path.lastIndexOf('/')); p.length > '/sys/devices'.length; p = p.slice(0, p.lastIndexOf('/'))) {
    const hit = byPath.get(p);
    if (hit !== undefined) return hit;
  }
  return ROOT_DEVICE;
}

/** Every device of the host, keyed by its libvirt name, with vdsm's params. */
export function buildHostDevices(facts: HostDeviceFacts): HostDevices {
  const nodes: Node[] = [];
  nodes.push({ name: ROOT_DEVICE, path: undefined, params: { capability: 'system', ...(facts.systemProduct !== undefined ? { product: facts.systemProduct } : {}) } });
  for (const d of facts.pci) nodes.push({ name: pciDeviceName(d.address), path: d.path, params: { capability: 'pci', ...pciParams(d) } });
  for (const d of facts.usb) nodes.push({ name: usbDeviceName(d.sysname), path: d.path, params: { capability: 'usb_device', ...usbParams(d) } });
  for (const d of facts.net) nodes.push({ name: netDeviceName(d.name, d.mac), path: d.path, params: { capability: 'net', interface: d.name } });
  for (const d of facts.scsiHosts) nodes.push({ name: `scsi_host${d.host}`, path: d.path, params: { capability: 'scsi_host' } });
  for (const d of facts.scsiTargets) nodes.push({ name: `scsi_${sanitize(d.sysname)}`, path: d.path, params: { capability: 'scsi_target' } });
  for (const d of facts.scsiDevices) {
    const [host = '', bus = '', target = '', lun = ''] = d.hctl.split(':');
    nodes.push({ name: `scsi_${sanitize(d.hctl)}`, path: d.path, params: { capability: 'scsi', address: { host, bus, target, lun }, ...(d.driver !== undefined ? { driver: d.driver } : {}) } });
  }
  for (const d of facts.block) {
    const params: Node['params'] = { capability: 'storage' };
    if (d.vendor !== undefined && d.vendor !== '') params['vendor'] = d.vendor;
    if (d.model !== undefined && d.model !== '') params['product'] = d.model;
    nodes.push({ name: sanitize(`block_${d.name}${d.serial !== undefined ? `_${d.serial}` : ''}`), path: d.path, params });
  }
  for (const d of facts.scsiGeneric) nodes.push({ name: `scsi_generic_${sanitize(d.name)}`, path: d.path, params: { capability: 'scsi_generic', udev_path: `/dev/${d.name}` } });

  const byPath = new Map<string, string>();
  for (const n of nodes) if (n.path !== undefined && !byPath.has(n.path)) byPath.set(n.path, n.name);
  const out: HostDevices = {};
  const byName = new Map<string, HostDeviceParams>();
  for (const n of nodes) {
    if (Object.hasOwn(out, n.name)) continue;
    const { capability, ...rest } = n.params;
    const params = { capability, is_assignable: 'true', ...rest } as HostDeviceParams;
    if (n.name !== ROOT_DEVICE) params.parent = parentOf(n.path, byPath);
    out[n.name] = { params };
    byName.set(n.name, params);
  }
  // A SCSI device shows its disk's vendor and model and its generic (sg) node, as vdsm merges them.
  for (const params of byName.values()) {
    if (params.capability !== 'storage' && params.capability !== 'scsi_generic') continue;
    const parent = params.parent === undefined ? undefined : byName.get(params.parent);
    if (parent?.capability !== 'scsi') continue;
    if (params.capability === 'storage') {
      for (const key of ['vendor', 'product'] as const) if (params[key] !== undefined) parent[key] = params[key];
    } else {
      parent['udev_path'] = params['udev_path'];
    }
  }
  return out;
}

/**
 * The devices with any of `caps` (all when empty), as vdsm lists them through libvirt's capability
 * filter; a capability name libvirt does not know selects 'system' (the root), as in vdsm. A SCSI
 * device keeps the vendor/product/udev_path merged from its children even when only 'scsi' is asked
 * for (vdsm merges only children that are in the same listing, so it would leave them out).
 */
export function listByCaps(devices: HostDevices, caps: readonly string[]): HostDevices {
  if (caps.length === 0) return devices;
  const wanted = new Set(caps.map((c) => (KNOWN_CAPS.has(c) ? c : 'system')));
  const out: HostDevices = {};
  for (const [name, dev] of Object.entries(devices)) if (wanted.has(dev.params.capability)) out[name] = dev;
  return out;
}
