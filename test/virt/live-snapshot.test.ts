// VM.snapshot's pure pieces (src/virt/live-snapshot.ts): snapDrives checked, the plan (which drives
// switch, freeze or not, libvirt's flags), the <domainsnapshot> document (client-controlled values
// escaped), and the ovirt-vm metadata of a drive moved onto its new volume.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SnapshotFlag } from '../../src/libvirt/constants.js';
import { attr, child, children, parseXmlTree, text } from '../../src/libvirt/xml-tree.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import {
  metadataFragment, ovirtVmElement, parseSnapDrives, planSnapshot, runningDrives, snapshotXml, SnapshotRequestError, withDriveVolume,
} from '../../src/virt/live-snapshot.js';

const SD = '11111111-1111-4111-8111-111111111111';
const IMG = '22222222-2222-4222-8222-222222222222';
const BASE = '33333333-3333-4333-8333-333333333333';
const TOP = '44444444-4444-4444-8444-444444444444';
const IMG2 = '55555555-5555-4555-8555-555555555555';
const VOL2 = '66666666-6666-4666-8666-666666666666';
const POOL = '77777777-7777-4777-8777-777777777777';

const device = (name: string, img: string, vol: string, extra = ''): string => `
      <ovirt-vm:device name="${name}" devtype="disk">
        <ovirt-vm:poolID>${POOL}</ovirt-vm:poolID>
        <ovirt-vm:domainID>${SD}</ovirt-vm:domainID>
        <ovirt-vm:imageID>${img}</ovirt-vm:imageID>
        <ovirt-vm:volumeID>${vol}</ovirt-vm:volumeID>${extra}
      </ovirt-vm:device>`;
const CHAIN = `
        <ovirt-vm:volumeChain>
          <ovirt-vm:volumeChainNode>
            <ovirt-vm:domainID>${SD}</ovirt-vm:domainID>
            <ovirt-vm:imageID>${IMG}</ovirt-vm:imageID>
            <ovirt-vm:path>/sd/images/${IMG}/${BASE}</ovirt-vm:path>
            <ovirt-vm:volumeID>${BASE}</ovirt-vm:volumeID>
          </ovirt-vm:volumeChainNode>
        </ovirt-vm:volumeChain>`;

const domainXml = (devices: string, disks: string): string => `<domain type='qemu'>
  <name>g</name><uuid>aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa</uuid><memory>131072</memory>
  <metadata>
    <ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
      <ovirt-vm:minGuaranteedMemoryMb type="int">64</ovirt-vm:minGuaranteedMemoryMb>${devices}
    </ovirt-vm:vm>
  </metadata>
  <devices>${disks}</devices>
</domain>`;
const fileDisk = (dev: string, path: string): string => `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${path}'/><target dev='${dev}' bus='virtio'/></disk>`;

const req = (o: Record<string, unknown> = {}): Record<string, unknown> => ({ domainID: SD, imageID: IMG, volumeID: TOP, baseVolumeID: BASE, ...o });

void describe('VM.snapshot: snapDrives', () => {
  void it('takes the engine\'s entries (ids lower-cased, other keys ignored)', () => {
    const [d] = parseSnapDrives([req({ imageID: IMG.toUpperCase(), format: 'cow' })]);
    assert.deepEqual(d, { domainID: SD, imageID: IMG, volumeID: TOP, baseVolumeID: BASE });
  });

  void it('refuses what is not a list of four UUIDs, LUN drives, and a volume that is its own base', () => {
    for (const bad of [undefined, {}, [], [null], [req({ volumeID: 'x' })], [req({ baseVolumeID: undefined })], [req({ imageID: `${IMG}"/>` })], [req({ volumeID: BASE })], [{ GUID: 'a', baseGUID: 'b' }]]) {
      assert.throws(() => parseSnapDrives(bad), SnapshotRequestError, JSON.stringify(bad));
    }
  });
});

void describe('VM.snapshot: the plan', () => {
  const dom = parseDomainXml(domainXml(device('vda', IMG, BASE) + device('vdb', IMG2, VOL2), fileDisk('vda', `/sd/images/${IMG}/${BASE}`) + fileDisk('vdb', `/sd/images/${IMG2}/${VOL2}`)));
  const drives = runningDrives(dom);

  void it('reads each volume drive with the path the domain runs it on', () => {
    assert.deepEqual(drives.map((d) => [d.name, d.volumeID, d.path, d.type, d.poolID]), [
      ['vda', BASE, `/sd/images/${IMG}/${BASE}`, 'file', POOL],
      ['vdb', VOL2, `/sd/images/${IMG2}/${VOL2}`, 'file', POOL],
    ]);
  });

  void it('switches the named drive; disk-only, external into the engine\'s volume, no libvirt metadata; freezes unless frozen', () => {
    const p = planSnapshot(parseSnapDrives([req()]), drives, { frozen: false });
    assert.deepEqual(p.switches.map((s) => [s.drive.name, s.newVolumeID]), [['vda', TOP]]);
    assert.equal(p.flags, SnapshotFlag.DISK_ONLY | SnapshotFlag.REUSE_EXT | SnapshotFlag.NO_METADATA);
    assert.equal(p.flags & SnapshotFlag.QUIESCE, 0, 'the guest is frozen by a call of its own, not by libvirt\'s QUIESCE');
    assert.equal(p.freeze, true);
    assert.equal(planSnapshot(parseSnapDrives([req()]), drives, { frozen: true }).freeze, false);
  });

  void it('with the memory: not disk-only, and no freeze (libvirt pauses the guest)', () => {
    const p = planSnapshot(parseSnapDrives([req()]), drives, { frozen: false, memory: true });
    assert.equal(p.flags, SnapshotFlag.REUSE_EXT | SnapshotFlag.NO_METADATA);
    assert.equal(p.freeze, false);
  });

  void it('skips a drive already on its new volume, refuses a base volume the VM does not run on', () => {
    const moved = runningDrives(parseDomainXml(domainXml(device('vda', IMG, TOP), fileDisk('vda', `/sd/images/${IMG}/${TOP}`))));
    assert.deepEqual(planSnapshot(parseSnapDrives([req()]), moved, { frozen: false }).switches, []);
    assert.throws(() => planSnapshot(parseSnapDrives([req({ baseVolumeID: VOL2 })]), drives, { frozen: false }), /does not run on volume/);
    assert.throws(() => planSnapshot(parseSnapDrives([req({ domainID: POOL })]), drives, { frozen: false }), /does not run on volume/);
    assert.throws(() => planSnapshot(parseSnapDrives([req(), req()]), drives, { frozen: false }), /named twice/);
  });

  void it('refuses a block disk (only file volumes here)', () => {
    const block = runningDrives(parseDomainXml(domainXml(device('vda', IMG, BASE), `<disk type='block' device='disk'><source dev='/dev/vg/${BASE}'/><target dev='vda'/></disk>`)));
    assert.throws(() => planSnapshot(parseSnapDrives([req()]), block, { frozen: false }), /block disk/);
  });
});

void describe('VM.snapshot: <domainsnapshot>', () => {
  void it('one external qcow2 disk per switching drive, the others snapshot="no"', () => {
    const doc = child(parseXmlTree(snapshotXml([{ name: 'vda', path: '/sd/images/i/v' }], ['vdb'])), 'domainsnapshot')!;
    const disks = children(child(doc, 'disks'), 'disk');
    assert.equal(disks.length, 2);
    assert.deepEqual([attr(disks[0], 'name'), attr(disks[0], 'snapshot'), attr(disks[0], 'type')], ['vda', 'external', 'file']);
    assert.equal(attr(child(disks[0], 'driver'), 'type'), 'qcow2');
    assert.equal(attr(child(disks[0], 'source'), 'file'), '/sd/images/i/v');
    assert.deepEqual([attr(disks[1], 'name'), attr(disks[1], 'snapshot'), child(disks[1], 'source')], ['vdb', 'no', undefined]);
    assert.equal(child(doc, 'memory'), undefined);
  });

  void it('with a memory file: an external <memory> element naming it (escaped like the rest)', () => {
    const doc = child(parseXmlTree(snapshotXml([{ name: 'vda', path: '/a' }], [], `/m/'"><disk name="x"/>`)), 'domainsnapshot')!;
    assert.equal(attr(child(doc, 'memory'), 'snapshot'), 'external');
    assert.equal(attr(child(doc, 'memory'), 'file'), `/m/'"><disk name="x"/>`);
    assert.equal(children(child(doc, 'disks'), 'disk').length, 1);
  });

  void it('escapes values it did not choose: a path cannot add elements or attributes', () => {
    const evil = `/x/'"><memory snapshot="external" file="/etc/passwd"/><a b='&amp;`;
    const xml = snapshotXml([{ name: 'vd"a', path: evil }]);
    const doc = child(parseXmlTree(xml), 'domainsnapshot')!;
    assert.equal(child(doc, 'memory'), undefined);
    const disk = children(child(doc, 'disks'), 'disk');
    assert.equal(disk.length, 1);
    assert.equal(attr(disk[0], 'name'), 'vd"a');
    assert.equal(attr(child(disk[0], 'source'), 'file'), evil, 'read back, the attribute is the path exactly');
  });
});

void describe('VM.snapshot: the drive\'s metadata on its new volume', () => {
  void it('replaces the device\'s own volumeID and grows its volumeChain by the new volume', () => {
    const xml = domainXml(device('vda', IMG, BASE, CHAIN) + device('vdb', IMG2, VOL2), '');
    const el = ovirtVmElement(xml)!;
    assert.equal(el.prefix, 'ovirt-vm:');
    const md = withDriveVolume(el, 'vda', { domainID: SD, imageID: IMG, volumeID: TOP, path: `/sd/images/${IMG}/${TOP}` })!;
    const dom = parseDomainXml(xml.replace(el.xml, md));
    const byName = Object.fromEntries(dom.ovirt!.devices.map((d) => [d['name'], d]));
    assert.equal(byName['vda']!['volumeID'], TOP);
    assert.equal(byName['vdb']!['volumeID'], VOL2, 'the other drive is left alone');
    const vm = child(child(parseXmlTree(xml.replace(el.xml, md)), 'domain'), 'metadata');
    const vda = children(child(vm, 'ovirt-vm:vm'), 'ovirt-vm:device').find((d) => attr(d, 'name') === 'vda')!;
    const nodes = children(child(vda, 'ovirt-vm:volumeChain'), 'ovirt-vm:volumeChainNode');
    assert.deepEqual(nodes.map((n) => text(child(n, 'ovirt-vm:volumeID'))), [BASE, TOP], 'the chain keeps the base and gains the new top');
    assert.equal(text(child(nodes[1], 'ovirt-vm:path')), `/sd/images/${IMG}/${TOP}`);
    assert.equal(text(child(nodes[1], 'ovirt-vm:leasePath')), `/sd/images/${IMG}/${TOP}.lease`);
  });

  void it('without a chain only the volumeID changes; an unknown drive gives undefined', () => {
    const xml = domainXml(device('vda', IMG, BASE), '');
    const el = ovirtVmElement(xml)!;
    const md = withDriveVolume(el, 'vda', { domainID: SD, imageID: IMG, volumeID: TOP, path: '/p' })!;
    assert.equal(md, el.xml.replace(`<ovirt-vm:volumeID>${BASE}<`, `<ovirt-vm:volumeID>${TOP}<`));
    assert.equal(withDriveVolume(el, 'vdz', { domainID: SD, imageID: IMG, volumeID: TOP, path: '/p' }), undefined);
    assert.equal(ovirtVmElement('<domain><metadata><other:vm xmlns:other="urn:x"/></metadata></domain>'), undefined);
  });

  void it('hands libvirt the element without its namespace declaration and prefixes (libvirt adds them)', () => {
    const el = ovirtVmElement(domainXml(device('vda', IMG, BASE, CHAIN), ''))!;
    const frag = metadataFragment(el);
    assert.doesNotMatch(frag, /xmlns|ovirt-vm:/);
    assert.match(frag, /^<vm>/);
    const vm = child(parseXmlTree(frag), 'vm')!;
    const dev = child(vm, 'device')!;
    assert.equal(attr(dev, 'name'), 'vda');
    assert.equal(text(child(dev, 'volumeID')), BASE);
    assert.equal(text(child(child(child(dev, 'volumeChain'), 'volumeChainNode'), 'volumeID')), BASE);
    assert.equal(text(child(vm, 'minGuaranteedMemoryMb')), '64');
  });
});
