// Host.getAllVmIoTunePolicies' per-disk values (src/virt/disk-iotune.ts) from a domain XML's <iotune>.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diskIoTunes } from '../../src/virt/disk-iotune.js';

const ZERO = { total_bytes_sec: 0, read_bytes_sec: 0, write_bytes_sec: 0, total_iops_sec: 0, read_iops_sec: 0, write_iops_sec: 0 };

void describe('disk I/O tune values', () => {
  void it('hard disks only, with every limit (0 when unset), the burst values left out; the source of each disk type', () => {
    const xml = `<domain type='kvm'><devices>
      <disk type='file' device='disk'><source file='/a.img'/><target dev='vda' bus='virtio'/>
        <iotune><total_bytes_sec>1000</total_bytes_sec><read_iops_sec>30</read_iops_sec><total_bytes_sec_max>5000</total_bytes_sec_max><group_name>g</group_name></iotune></disk>
      <disk type='block' device='disk'><source dev='/dev/mapper/36001'/><target dev='sda' bus='scsi'/></disk>
      <disk type='network' device='disk'><source protocol='gluster' name='vol/img'/><target dev='vdc'/></disk>
      <disk type='file' device='cdrom'><target dev='hdc'/></disk>
      <disk type='block' device='lun'><source dev='/dev/sdz'/><target dev='sdb'/></disk>
    </devices></domain>`;
    assert.deepEqual(diskIoTunes(xml), [
      { name: 'vda', path: '/a.img', ioTune: { ...ZERO, total_bytes_sec: 1000, read_iops_sec: 30 } },
      { name: 'sda', path: '/dev/mapper/36001', ioTune: ZERO },
      { name: 'vdc', path: 'vol/img', ioTune: ZERO },
    ]);
  });

  void it('no devices, no disks: an empty list; a garbled value reads as no limit', () => {
    assert.deepEqual(diskIoTunes("<domain type='test'><name>x</name></domain>"), []);
    const odd = diskIoTunes("<domain><devices><disk device='disk'><target dev='vda'/><iotune><read_bytes_sec>lots</read_bytes_sec><write_bytes_sec>-1</write_bytes_sec></iotune></disk></devices></domain>");
    assert.deepEqual(odd, [{ name: 'vda', path: '', ioTune: ZERO }]);
  });
});
