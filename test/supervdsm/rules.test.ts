// The pure rules functions live by: canonical paths under roots, names, and the udev rules built from
// validated identifiers only (names and lines exactly as written, and every way to smuggle text refused).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errors, isError } from '../../src/errors.js';
import { canonicalProblem, isPlainName, isUnder, requireUnder } from '../../src/supervdsm/path-rules.js';
import { isManagedRuleName, isRuleDevicePath, ruleFileName, ruleText, targetDevice, targetProblem } from '../../src/supervdsm/functions/udev-rules.js';

const SD = '2f1e5e0a-9b7c-4c3d-8e1f-0a1b2c3d4e5f';
const VOL = '7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d';
const VM = 'a9f1c0de-0000-4000-8000-00000000e2e1';

void describe('paths', () => {
  void it('only canonical absolute paths pass', () => {
    assert.equal(canonicalProblem('/var/lib/libvirt/qemu/channels/x.sock'), undefined);
    for (const bad of ['', 'relative', '/a//b', '/a/./b', '/a/../b', '/a/b/', '/a\0b', 42, '/' + 'x'.repeat(4096)]) {
      assert.notEqual(canonicalProblem(bad), undefined, JSON.stringify(bad));
    }
  });
  void it('under a root means strictly inside it, never a sibling with the same prefix', () => {
    assert.equal(isUnder('/run/vdsm/x', '/run/vdsm'), true);
    assert.equal(isUnder('/run/vdsm-evil/x', '/run/vdsm'), false);
    const roots = ['/var/lib/libvirt/qemu/channels'];
    assert.equal(requireUnder('p', '/var/lib/libvirt/qemu/channels/vm.org.qemu.guest_agent.0', roots), '/var/lib/libvirt/qemu/channels/vm.org.qemu.guest_agent.0');
    for (const bad of ['/var/lib/libvirt/qemu/channels', '/var/lib/libvirt/qemu/channels/../../../../etc/shadow', '/etc/shadow', '/var/lib/libvirt/qemu/channels-x/a']) {
      assert.throws(() => requireUnder('p', bad, roots), (e) => isError(e, Errors.SVDSM_PATH_NOT_ALLOWED), bad);
    }
  });
  void it('plain names are single components', () => {
    assert.equal(isPlainName('99-vdsm-x.rules'), true);
    for (const bad of ['', '.', '..', 'a/b', 'a b', 'a\nb', 'x'.repeat(256)]) assert.equal(isPlainName(bad), false, JSON.stringify(bad));
  });
});

void describe('udev rules', () => {
  void it('each kind takes exactly its identifiers', () => {
    assert.equal(targetProblem({ kind: 'managed', storageDomain: SD, volume: VOL }), undefined);
    assert.equal(targetProblem({ kind: 'iommu_group', iommuGroup: 12 }), undefined);
    assert.equal(targetProblem({ kind: 'usb', bus: 1, usbDevice: 4 }), undefined);
    assert.equal(targetProblem({ kind: 'hwrng', vmId: VM }), undefined);
    assert.deepEqual(targetProblem({ kind: 'managed', storageDomain: SD }), { field: 'volume', reason: 'required for kind managed' });
    assert.deepEqual(targetProblem({ kind: 'usb', bus: 1, usbDevice: 4, vmId: VM }), { field: 'vmId', reason: 'not used by kind usb' });
    assert.equal(targetProblem({ kind: 'managed', storageDomain: 'x"; RUN+="/bin/sh', volume: VOL })?.field, 'storageDomain');
    assert.equal(targetProblem({ kind: 'managed', storageDomain: SD.toUpperCase(), volume: VOL })?.field, 'storageDomain');
    assert.equal(targetProblem({ kind: 'iommu_group', iommuGroup: -1 })?.field, 'iommuGroup');
    assert.equal(targetProblem({ kind: 'usb', bus: 0, usbDevice: 4 })?.field, 'bus');
  });
  void it('file names and lines are built from the identifiers', () => {
    const owners = { volumeOwner: 'vdsm', qemuUser: 'qemu', qemuGroup: 'qemu' };
    const managed = { kind: 'managed', storageDomain: SD, volume: VOL, device: '/dev/mapper/20024f4005854000b' } as const;
    assert.equal(ruleFileName(managed), `99-vdsm-managed_${SD}_${VOL}.rules`);
    assert.equal(ruleText(managed, owners, true), 'SYMLINK=="mapper/20024f4005854000b", RUN+="/usr/bin/chown vdsm:qemu $env{DEVNAME}"\n');
    assert.equal(ruleText({ ...managed, device: '/dev/nvme0n3' }, owners, false), 'KERNEL=="nvme0n3", RUN+="/usr/bin/chown vdsm:qemu $env{DEVNAME}"\n');
    assert.equal(ruleFileName({ kind: 'iommu_group', iommuGroup: 12 }), '99-vdsm-iommu_group_12.rules');
    assert.equal(ruleText({ kind: 'iommu_group', iommuGroup: 12 }, owners, false), 'SUBSYSTEM=="vfio", KERNEL=="12", RUN+="/usr/bin/chown qemu:qemu /dev/vfio/12"\n');
    assert.equal(targetDevice({ kind: 'usb', bus: 1, usbDevice: 4 }), '/dev/bus/usb/001/004');
    assert.equal(ruleFileName({ kind: 'hwrng', vmId: VM }), `99-vdsm-hwrng_${VM}.rules`);
    for (const t of [managed, { kind: 'iommu_group', iommuGroup: 65535 }, { kind: 'usb', bus: 255, usbDevice: 1 }, { kind: 'hwrng', vmId: VM }] as const) {
      assert.equal(isManagedRuleName(ruleFileName(t)), true);
    }
    for (const other of ['70-persistent-net.rules', '99-vdsm-evil.rules', '99-vdsm-managed_x_y.rules']) assert.equal(isManagedRuleName(other), false);
  });
  void it('device paths that could break out of the quoted rule are refused', () => {
    assert.equal(isRuleDevicePath('/dev/rbd/volumes/volume-d1530bb1-8b92-40e8-9d5b-1adbcbc4eedc'), true);
    for (const bad of ['/dev/a"b', '/dev/a b', '/dev/../etc/shadow', '/dev/x$y', '/dev/a\nb', '/etc/x']) assert.equal(isRuleDevicePath(bad), false, bad);
  });
});
