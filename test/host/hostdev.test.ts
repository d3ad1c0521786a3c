// Host.hostdevListByCaps: the `host.devices` operation on canned sysfs trees (symlinks laid out as the
// kernel does), vdsm's names and params built from them, the caps filter, and this machine's real /sys
// read through a real Executor worker by HostService.
import { LibvirtClient } from '../../src/libvirt/client.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostService } from '../../src/services/host-service.js';
import { supervdsmOf } from '../../src/supervdsm/privileged.js';
import { buildHostDevices, listByCaps, pciDeviceName, usbDeviceName, type HostDevices } from '../../src/host/hostdev.js';
import { readHostDeviceFacts } from '../../workers/ops/hostdev.js';
import { captureLog } from '../runtime/capture-log.js';
import { harness } from '../runtime/executor-harness.js';

/** A file in the tree (parents created). */
async function put(root: string, path: string, text: string | Buffer): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), text);
}

/** A relative symlink `from` -> `to` (both root-relative), as sysfs lays them out. */
async function link(root: string, from: string, to: string): Promise<void> {
  await mkdir(dirname(join(root, from)), { recursive: true });
  await symlink(relative(dirname(join(root, from)), join(root, to)), join(root, from));
}

/** 64 bytes of PCI configuration space with the given header type at 0x0e. */
const config = (headerType: number): Buffer => {
  const b = Buffer.alloc(64);
  b[0x0e] = headerType;
  return b;
};

interface PciSpec { addr: string; dir: string; vendor: string; device: string; cls: string; header: number; driver?: string; group?: number; numa?: number }

async function pci(root: string, s: PciSpec): Promise<string> {
  const dev = `sys/devices/${s.dir}`;
  await put(root, `${dev}/vendor`, `${s.vendor}\n`);
  await put(root, `${dev}/device`, `${s.device}\n`);
  await put(root, `${dev}/class`, `${s.cls}\n`);
  await put(root, `${dev}/config`, config(s.header));
  await put(root, `${dev}/numa_node`, `${s.numa ?? -1}\n`);
  if (s.driver !== undefined) await link(root, `${dev}/driver`, `sys/bus/pci/drivers/${s.driver}`);
  if (s.group !== undefined) await link(root, `${dev}/iommu_group`, `sys/kernel/iommu_groups/${s.group}`);
  await link(root, `sys/bus/pci/devices/${s.addr}`, dev);
  return dev;
}

/**
 * A small server: host bridge; a PCIe root port with an SR-IOV NIC (PF + one VF) and its netdev;
 * an xHCI controller with its root hub and a USB stick (plus an interface, not a device); an AHCI
 * controller with one SATA disk (SCSI host/target/device, sda with a partition, sg0); loopback.
 */
async function cannedTree(root: string): Promise<void> {
  await put(root, 'sys/class/dmi/id/product_name', 'PowerEdge R640\n');
  await pci(root, { addr: '0000:00:00.0', dir: 'pci0000:00/0000:00:00.0', vendor: '0x8086', device: '0x2020', cls: '0x060000', header: 0x00, group: 0 });
  await pci(root, { addr: '0000:00:1c.0', dir: 'pci0000:00/0000:00:1c.0', vendor: '0x8086', device: '0xa190', cls: '0x060400', header: 0x81, driver: 'pcieport', group: 8 });
  const pf = await pci(root, { addr: '0000:02:00.0', dir: 'pci0000:00/0000:00:1c.0/0000:02:00.0', vendor: '0x8086', device: '0x10c9', cls: '0x020000', header: 0x80, driver: 'igb', group: 15, numa: 0 });
  await put(root, `${pf}/sriov_totalvfs`, '7\n');
  const vf = await pci(root, { addr: '0000:02:10.0', dir: 'pci0000:00/0000:00:1c.0/0000:02:10.0', vendor: '0x8086', device: '0x10ca', cls: '0x020000', header: 0x00, driver: 'igbvf', group: 16 });
  await link(root, `${vf}/physfn`, pf);
  await link(root, `${pf}/virtfn0`, vf);
  await put(root, 'run/udev/data/+pci:0000:02:00.0', 'I:123\nE:ID_VENDOR_FROM_DATABASE=Intel Corporation\nE:ID_MODEL_FROM_DATABASE=82576 Gigabit Network Connection\n');
  await put(root, `${pf}/net/enp2s0f0/address`, 'a0:36:9f:12:34:56\n');
  await link(root, 'sys/class/net/enp2s0f0', `${pf}/net/enp2s0f0`);
  await put(root, 'sys/devices/virtual/net/lo/address', '00:00:00:00:00:00\n');
  await link(root, 'sys/class/net/lo', 'sys/devices/virtual/net/lo');

  const xhci = await pci(root, { addr: '0000:00:14.0', dir: 'pci0000:00/0000:00:14.0', vendor: '0x8086', device: '0xa12f', cls: '0x0c0330', header: 0x00, driver: 'xhci_hcd', group: 4 });
  const usb = async (path: string, sysname: string, f: Record<string, string>): Promise<void> => {
    for (const [k, v] of Object.entries(f)) await put(root, `${path}/${k}`, `${v}\n`);
    await link(root, `${path}/driver`, 'sys/bus/usb/drivers/usb');
    await link(root, `sys/bus/usb/devices/${sysname}`, path);
  };
  await usb(`${xhci}/usb1`, 'usb1', { busnum: '1', devnum: '1', idVendor: '1d6b', idProduct: '0002', manufacturer: 'Linux 6.1.0-18-amd64 xhci-hcd', product: 'xHCI Host Controller', dev: '189:0' });
  await usb(`${xhci}/usb1/1-1`, '1-1', { busnum: '1', devnum: '3', idVendor: '0781', idProduct: '5567', manufacturer: 'SanDisk', product: 'Cruzer Blade', dev: '189:2' });
  await put(root, 'run/udev/data/c189:2', 'E:ID_VENDOR_FROM_DATABASE=SanDisk Corp.\nE:ID_MODEL_FROM_DATABASE=Cruzer Blade\n');
  await put(root, `${xhci}/usb1/1-1/1-1:1.0/bInterfaceClass`, '08\n');
  await link(root, 'sys/bus/usb/devices/1-1:1.0', `${xhci}/usb1/1-1/1-1:1.0`);

  const ahci = await pci(root, { addr: '0000:00:1f.2', dir: 'pci0000:00/0000:00:1f.2', vendor: '0x8086', device: '0xa102', cls: '0x010601', header: 0x00, driver: 'ahci', group: 12 });
  const host = `${ahci}/ata1/host0`;
  await put(root, `${host}/uevent`, 'DEVTYPE=scsi_host\n');
  await link(root, 'sys/bus/scsi/devices/host0', host);
  await put(root, `${host}/target0:0:0/uevent`, 'DEVTYPE=scsi_target\n');
  await link(root, 'sys/bus/scsi/devices/target0:0:0', `${host}/target0:0:0`);
  const disk = `${host}/target0:0:0/0:0:0:0`;
  await put(root, `${disk}/vendor`, 'ATA     \n');
  await put(root, `${disk}/model`, 'Samsung SSD 860 \n');
  await put(root, `${disk}/scsi_level`, '6\n');
  await link(root, `${disk}/driver`, 'sys/bus/scsi/drivers/sd');
  await link(root, 'sys/bus/scsi/devices/0:0:0:0', disk);
  await put(root, `${disk}/block/sda/size`, '1000215216\n');
  await link(root, `${disk}/block/sda/device`, disk);
  await link(root, 'sys/class/block/sda', `${disk}/block/sda`);
  await put(root, `${disk}/block/sda/sda1/partition`, '1\n');
  await link(root, 'sys/class/block/sda1', `${disk}/block/sda/sda1`);
  await put(root, `${disk}/scsi_generic/sg0/dev`, '21:0\n');
  await link(root, 'sys/class/scsi_generic/sg0', `${disk}/scsi_generic/sg0`);
  await put(root, 'sys/devices/virtual/block/loop0/size', '0\n');
  await link(root, 'sys/class/block/loop0', 'sys/devices/virtual/block/loop0');
}

void describe('hostdevListByCaps on a canned sysfs tree', () => {
  let root: string;
  let devices: HostDevices;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vdsm-hostdev-'));
    await cannedTree(root);
    devices = buildHostDevices(readHostDeviceFacts({ root }));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  void it('names every device as libvirt does, with computer as the root', () => {
    assert.deepEqual(Object.keys(devices).sort(), [
      'block_sda', 'computer', 'net_enp2s0f0_a0_36_9f_12_34_56', 'net_lo_00_00_00_00_00_00',
      'pci_0000_00_00_0', 'pci_0000_00_14_0', 'pci_0000_00_1c_0', 'pci_0000_00_1f_2', 'pci_0000_02_00_0', 'pci_0000_02_10_0',
      'scsi_0_0_0_0', 'scsi_generic_sg0', 'scsi_host0', 'scsi_target0_0_0', 'usb_1_1', 'usb_usb1',
    ]);
    assert.deepEqual(devices['computer'], { params: { capability: 'system', is_assignable: 'true', product: 'PowerEdge R640' } });
  });

  void it('reports a PCI device with address, ids, names, driver, IOMMU group, NUMA node and SR-IOV facts', () => {
    assert.deepEqual(devices['pci_0000_02_00_0'], {
      params: {
        capability: 'pci', is_assignable: 'true', parent: 'pci_0000_00_1c_0',
        address: { domain: '0', bus: '2', slot: '0', function: '0' },
        product: '82576 Gigabit Network Connection', product_id: '0x10c9', vendor: 'Intel Corporation', vendor_id: '0x8086',
        driver: 'igb', iommu_group: '15', numa_node: '0', totalvfs: 7,
      },
    });
    // The VF: its physical function by name; numa_node -1 means no affinity and is left out; no udev names.
    assert.deepEqual(devices['pci_0000_02_10_0']?.params, {
      capability: 'pci', is_assignable: 'true', parent: 'pci_0000_00_1c_0',
      address: { domain: '0', bus: '2', slot: '16', function: '0' },
      product_id: '0x10ca', vendor_id: '0x8086', driver: 'igbvf', iommu_group: '16', physfn: 'pci_0000_02_00_0',
    });
  });

  void it('marks bridges (header type 1) unassignable and endpoints assignable; top-level devices hang off computer', () => {
    assert.equal(devices['pci_0000_00_1c_0']?.params.is_assignable, 'false');
    assert.equal(devices['pci_0000_00_1c_0']?.params.parent, 'computer');
    assert.equal(devices['pci_0000_00_1f_2']?.params.is_assignable, 'true');
    assert.equal(devices['pci_0000_00_00_0']?.params.parent, 'computer');
  });

  void it('reports USB devices with bus/device numbers, 0x-prefixed ids, udev names over sysfs strings, and no interfaces', () => {
    assert.deepEqual(devices['usb_1_1']?.params, {
      capability: 'usb_device', is_assignable: 'true', parent: 'usb_usb1',
      address: { bus: '1', device: '3' }, product: 'Cruzer Blade', product_id: '0x5567', vendor: 'SanDisk Corp.', vendor_id: '0x0781', driver: 'usb',
    });
    assert.equal(devices['usb_usb1']?.params.parent, 'pci_0000_00_14_0');
    assert.equal(devices['usb_usb1']?.params['vendor'], 'Linux 6.1.0-18-amd64 xhci-hcd', 'sysfs manufacturer when udev has no name');
  });

  void it('chains SCSI devices and merges the disk vendor/model and the sg node into the SCSI device', () => {
    assert.equal(devices['scsi_host0']?.params.parent, 'pci_0000_00_1f_2');
    assert.equal(devices['scsi_target0_0_0']?.params.parent, 'scsi_host0');
    assert.deepEqual(devices['scsi_0_0_0_0']?.params, {
      capability: 'scsi', is_assignable: 'true', parent: 'scsi_target0_0_0',
      address: { host: '0', bus: '0', target: '0', lun: '0' }, driver: 'sd', vendor: 'ATA', product: 'Samsung SSD 860', udev_path: '/dev/sg0',
    });
    assert.deepEqual(devices['block_sda']?.params, { capability: 'storage', is_assignable: 'true', parent: 'scsi_0_0_0_0', vendor: 'ATA', product: 'Samsung SSD 860' });
    assert.deepEqual(devices['scsi_generic_sg0']?.params, { capability: 'scsi_generic', is_assignable: 'true', parent: 'scsi_0_0_0_0', udev_path: '/dev/sg0' });
    assert.equal(devices['net_lo_00_00_00_00_00_00']?.params.parent, 'computer');
    assert.deepEqual(devices['net_enp2s0f0_a0_36_9f_12_34_56']?.params, { capability: 'net', is_assignable: 'true', parent: 'pci_0000_02_00_0', interface: 'enp2s0f0' });
  });

  void it('filters by capability; an unknown capability lists the root only, as vdsm does', () => {
    assert.deepEqual(Object.keys(listByCaps(devices, ['usb_device'])).sort(), ['usb_1_1', 'usb_usb1']);
    assert.deepEqual(Object.keys(listByCaps(devices, ['pci', 'scsi'])).length, 7);
    assert.deepEqual(Object.keys(listByCaps(devices, ['no_such_cap'])), ['computer']);
    assert.equal(listByCaps(devices, []), devices);
  });

  void it('reads an empty tree as a host with only its root device', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'vdsm-hostdev-empty-'));
    try {
      assert.deepEqual(buildHostDevices(readHostDeviceFacts({ root: empty })), { computer: { params: { capability: 'system', is_assignable: 'true' } } });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  void it('names PCI and USB devices', () => {
    assert.equal(pciDeviceName('0000:af:1f.7'), 'pci_0000_af_1f_7');
    assert.equal(pciDeviceName('10000:00:02.0'), 'pci_10000_00_02_0');
    assert.equal(usbDeviceName('2-1.4'), 'usb_2_1_4');
  });
});

void describe("hostdevListByCaps on this machine's /sys", () => {
  void it('HostService lists the real devices through a worker, each with the shapes the engine reads', async () => {
    const h = harness({ name: 'hostdev', opsModules: ['hostdev'] });
    h.ex.start();
    try {
      const host = new HostService({
        executor: h.ex, libvirt: new LibvirtClient({ dispatcher: h.ex, connections: new ConnectionsStub() }),
        scheduler: h.sched, clock: h.time, log: captureLog().log, vmCounts: () => ({ vmCount: 0, vmActive: 0, vmMigrating: 0, incomingVmMigrations: 0, outgoingVmMigrations: 0 }),
        sampleIntervalMs: 15_000, runDir: tmpdir(),
        capabilities: { reservedMemMiB: 0, guestOverheadMiB: 0, reportHostThreadsAsCores: false }, callTimeoutMs: 30_000,
        supervdsm: supervdsmOf(undefined),
      });
      const all = await host.hostDevices([]);
      assert.deepEqual(all['computer']?.params.capability, 'system');
      for (const [name, dev] of Object.entries(all)) {
        assert.equal(typeof dev.params.capability, 'string', name);
        assert.ok(dev.params.is_assignable === 'true' || dev.params.is_assignable === 'false', name);
        if (name !== 'computer') assert.ok(dev.params.parent !== undefined && Object.hasOwn(all, dev.params.parent), `${name}: parent ${String(dev.params.parent)} is listed`);
      }
      let sysPci: string[] = [];
      try { sysPci = await readdir('/sys/bus/pci/devices'); } catch { /* no PCI bus (some containers) */ }
      const pciDevs = await host.hostDevices(['pci']);
      assert.equal(Object.keys(pciDevs).length, sysPci.length);
      for (const [name, dev] of Object.entries(pciDevs)) {
        assert.match(name, /^pci_[0-9a-f]{4,}_[0-9a-f]{2}_[0-9a-f]{2}_[0-7]$/);
        assert.match(String(dev.params['vendor_id']), /^0x[0-9a-f]{4}$/);
        assert.match(String(dev.params['product_id']), /^0x[0-9a-f]{4}$/);
        const a = dev.params['address'] as Record<string, string>;
        for (const k of ['domain', 'bus', 'slot', 'function']) assert.match(a[k] ?? '', /^\d+$/, `${name} address.${k}`);
        if (dev.params['iommu_group'] !== undefined) assert.match(String(dev.params['iommu_group']), /^\d+$/);
        if (dev.params['numa_node'] !== undefined) assert.match(String(dev.params['numa_node']), /^\d+$/);
      }
    } finally {
      await h.close();
    }
  });
});
