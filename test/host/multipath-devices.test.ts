// Host.getDeviceList's reader (src/host/multipath-devices.ts) on a sysfs tree this test builds in a
// temporary directory, laid out as the kernel lays out /sys for a dm-multipath device over two SCSI paths
// (one iSCSI, one Fibre Channel). A fake sysfs because no real one can exist here: this machine's kernel
// has no device-mapper (`dmsetup targets` fails), and the test must not touch the host's disks. The real
// /sys is read by the e2e test (test/e2e/engine-verbs.test.ts), where the answer is [].
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { multipathDevices } from '../../src/host/multipath-devices.js';

const GUID = '36001405abcdef0123456789abcdef012';

async function put(path: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

async function scsiDisk(sys: string, name: string, hostPath: string, hctl: string, state: string): Promise<void> {
  const devdir = join(sys, 'devices', hostPath, hctl);
  await put(join(devdir, 'state'), `${state}\n`);
  await put(join(devdir, 'vendor'), 'LIO-ORG \n');
  await put(join(devdir, 'model'), 'disk01          \n');
  await put(join(devdir, 'rev'), '4.0 \n');
  const serial = Buffer.from('abcdef0123456789', 'latin1');
  await put(join(devdir, 'vpd_pg80'), Buffer.concat([Buffer.from([0, 0x80, 0, serial.length]), serial]));
  await mkdir(join(devdir, 'scsi_device', hctl), { recursive: true });
  await put(join(sys, 'block', name, 'size'), '2097152\n');
  await symlink(devdir, join(sys, 'block', name, 'device'));
}

void describe('multipath devices from sysfs', () => {
  let sys: string;
  before(async () => {
    sys = await mkdtemp(join(tmpdir(), 'vdsm-sysfs-'));
    await scsiDisk(sys, 'sdb', 'platform/host3/session1/target3:0:0', '3:0:0:1', 'running');
    await scsiDisk(sys, 'sdc', 'pci0000:00/host4/rport-4:0-0/target4:0:0', '4:0:0:1', 'offline');
    const dm0 = join(sys, 'block', 'dm-0');
    await put(join(dm0, 'dm', 'uuid'), `mpath-${GUID}\n`);
    await put(join(dm0, 'dm', 'name'), `${GUID}\n`);
    await put(join(dm0, 'size'), '2097152\n');
    await put(join(dm0, 'queue', 'logical_block_size'), '512\n');
    await put(join(dm0, 'queue', 'physical_block_size'), '4096\n');
    await put(join(dm0, 'queue', 'discard_max_bytes'), '1073741824\n');
    await put(join(dm0, 'queue', 'discard_zeroes_data'), '0\n');
    await mkdir(join(dm0, 'slaves'), { recursive: true });
    for (const s of ['sdb', 'sdc']) await symlink(join(sys, 'block', s), join(dm0, 'slaves', s));
    // An LVM logical volume is a device-mapper device too, but not a multipath one.
    await put(join(sys, 'block', 'dm-1', 'dm', 'uuid'), 'LVM-abc\n');
    await put(join(sys, 'block', 'dm-1', 'dm', 'name'), 'vg-lv\n');
  });
  after(async () => {
    await rm(sys, { recursive: true, force: true });
  });

  void it('lists the multipath device with its paths, their transports and states, in vdsm devList fields', async () => {
    const [dev, ...rest] = await multipathDevices([], true, { sysRoot: sys });
    assert.equal(rest.length, 0, 'the LVM device is not listed');
    assert.deepEqual(dev, {
      GUID, pvUUID: '', pvsize: '', vgUUID: '',
      vendorID: 'LIO-ORG', productID: 'disk01', fwrev: '4.0', serial: 'abcdef0123456789',
      capacity: String(2097152 * 512), devtype: 'MIXED',
      pathstatus: [
        { physdev: 'sdb', state: 'active', capacity: String(2097152 * 512), lun: '1', type: 'iSCSI' },
        { physdev: 'sdc', state: 'failed', capacity: String(2097152 * 512), lun: '1', type: 'FCP' },
      ],
      pathlist: [], logicalblocksize: '512', physicalblocksize: '4096', discard_max_bytes: 1073741824, discard_zeroes_data: 0,
      status: 'unknown',
    });
  });

  void it('guids filter; checkStatus false leaves status out; a missing sysfs is an empty list', async () => {
    assert.deepEqual(await multipathDevices(['36001405000000000000000000000000'], true, { sysRoot: sys }), []);
    const [dev] = await multipathDevices([GUID], false, { sysRoot: sys });
    assert.equal(dev?.GUID, GUID);
    assert.equal('status' in dev!, false);
    assert.deepEqual(await multipathDevices([], true, { sysRoot: join(sys, 'nowhere') }), []);
  });
});
