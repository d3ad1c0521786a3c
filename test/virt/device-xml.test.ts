// Hot-plug device XML (src/virt/device-xml.ts): the <interface> and <disk> elements built from the
// engine's dictionaries or taken from its device XML, the live elements found for unplug and changeCD.
// Every value a client controls is read back through an XML parser: it must come back exactly as sent,
// never as markup of its own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attr, child, children, parseXmlTree, text } from '../../src/libvirt/xml-tree.js';
import {
  changedMedium, DeviceSpecError, deviceAlias, deviceCustom, diskIdentity, driveXmlFromParams, engineDevice, liveDisk, liveInterface, macOf,
  nicXmlFromParams, targetName, volumeOf, withSource,
} from '../../src/virt/device-xml.js';

/** Characters that would end an attribute or open markup, in both quote styles. */
const HOSTILE = `a'b"c<d>e&f`;

const el = (xml: string, tag: string): Record<string, unknown> => {
  const n = child(parseXmlTree(xml), tag);
  assert.ok(n !== undefined, `<${tag}> in ${xml}`);
  return n;
};

const VOL = { poolID: '11111111-1111-1111-1111-111111111111', domainID: '22222222-2222-2222-2222-222222222222', imageID: '33333333-3333-3333-3333-333333333333', volumeID: '44444444-4444-4444-4444-444444444444' };

void describe('NIC XML from the engine\'s dictionary', () => {
  void it('a bridge interface with the MAC, model, bridge, link, filter, boot order and user alias', () => {
    const { xml, mac } = nicXmlFromParams({ macAddr: '00:1A:4A:16:01:51', network: 'ovirtmgmt', nicModel: 'pv', linkActive: 'false', filter: 'vdsm-no-mac-spoofing', bootOrder: 2, alias: 'ua-1234' });
    assert.equal(mac, '00:1a:4a:16:01:51');
    const i = el(xml, 'interface');
    assert.equal(attr(i, 'type'), 'bridge');
    assert.equal(attr(child(i, 'mac'), 'address'), '00:1a:4a:16:01:51');
    assert.equal(attr(child(i, 'model'), 'type'), 'virtio');
    assert.equal(attr(child(i, 'source'), 'bridge'), 'ovirtmgmt');
    assert.equal(attr(child(i, 'link'), 'state'), 'down');
    assert.equal(attr(child(i, 'filterref'), 'filter'), 'vdsm-no-mac-spoofing');
    assert.equal(attr(child(i, 'boot'), 'order'), '2');
    assert.equal(attr(child(i, 'alias'), 'name'), 'ua-1234');
    assert.equal(macOf(xml), '00:1a:4a:16:01:51');
  });

  void it('every client value stays inside its attribute', () => {
    const { xml } = nicXmlFromParams({ macAddr: '00:1a:4a:16:01:51', network: HOSTILE, filter: HOSTILE, alias: `ua-${HOSTILE}` });
    const i = el(xml, 'interface');
    assert.equal(attr(child(i, 'source'), 'bridge'), HOSTILE);
    assert.equal(attr(child(i, 'filterref'), 'filter'), HOSTILE);
    assert.equal(attr(child(i, 'alias'), 'name'), `ua-${HOSTILE}`);
    assert.equal(children(i, 'source').length, 1);
    assert.equal(Object.keys(i).filter((k) => !k.startsWith('@_')).sort().join(','), 'alias,filterref,link,mac,model,source');
  });

  void it('refuses what it cannot build: no or bad MAC, no network, a model or boot order that is not one', () => {
    for (const nic of [
      { network: 'br' }, { macAddr: 'zz:1a:4a:16:01:51', network: 'br' }, { macAddr: `00:1a:4a:16:01:51"/><x a="`, network: 'br' },
      { macAddr: '00:1a:4a:16:01:51' }, { macAddr: '00:1a:4a:16:01:51', network: '' },
      { macAddr: '00:1a:4a:16:01:51', network: 'br', nicModel: 'virtio"/>' }, { macAddr: '00:1a:4a:16:01:51', network: 'br', bootOrder: '1"' },
    ]) assert.throws(() => nicXmlFromParams(nic), DeviceSpecError, JSON.stringify(nic));
  });
});

void describe('the engine\'s device XML', () => {
  const HOTPLUG_NIC = `<?xml version="1.0" encoding="UTF-8"?><hotplug><devices><interface type="bridge"><model type="virtio"/><link state="up"/><source bridge="ovirtmgmt"/><mac address="00:1a:4a:16:01:52"/><alias name="ua-9"/><filterref filter="vdsm-no-mac-spoofing"/></interface></devices><metadata xmlns:ovirt-vm="http://ovirt.org/vm/1.0"><ovirt-vm:vm><ovirt-vm:device mac_address="00:1a:4a:16:01:52"><ovirt-vm:custom/></ovirt-vm:device></ovirt-vm:vm></metadata></hotplug>`;
  const HOTPLUG_DISK = `<hotplug><devices><disk snapshot="no" type="file" device="disk"><target dev="vdb" bus="virtio"/><source file="/rhev/x"/><driver name="qemu" type="qcow2" cache="none"/><alias name="ua-d"/><serial>s1</serial></disk></devices><metadata xmlns:ovirt-vm="http://ovirt.org/vm/1.0"><ovirt-vm:vm><ovirt-vm:device devtype="disk" name="vdb"><ovirt-vm:poolID>${VOL.poolID}</ovirt-vm:poolID><ovirt-vm:domainID>${VOL.domainID}</ovirt-vm:domainID><ovirt-vm:imageID>${VOL.imageID}</ovirt-vm:imageID><ovirt-vm:volumeID>${VOL.volumeID}</ovirt-vm:volumeID></ovirt-vm:device></ovirt-vm:vm></metadata></hotplug>`;

  void it('takes the one <interface> as sent, and its metadata entry', () => {
    const d = engineDevice(HOTPLUG_NIC, 'interface');
    const i = el(d.xml, 'interface');
    assert.equal(attr(child(i, 'mac'), 'address'), '00:1a:4a:16:01:52');
    assert.equal(attr(child(i, 'filterref'), 'filter'), 'vdsm-no-mac-spoofing');
    assert.equal(deviceAlias(d.xml), 'ua-9');
    assert.equal(d.metadata?.['mac_address'], '00:1a:4a:16:01:52');
  });

  void it("the device's custom properties (its metadata's <ovirt-vm:custom>, or the dictionary's) as environment strings", () => {
    const withCustom = HOTPLUG_NIC.replace('<ovirt-vm:custom/>', '<ovirt-vm:custom><ovirt-vm:queues>4</ovirt-vm:queues><ovirt-vm:vnic_id>ab&amp;c</ovirt-vm:vnic_id></ovirt-vm:custom>');
    assert.deepEqual(engineDevice(withCustom, 'interface').custom, { queues: '4', vnic_id: 'ab&c' });
    assert.equal(engineDevice(HOTPLUG_NIC, 'interface').custom, undefined);
    assert.deepEqual(deviceCustom({ ok: 'v', n: 3, 'bad-name': 'x', nul: 'a\0b', obj: {} }), { ok: 'v', n: '3' });
    assert.deepEqual(deviceCustom('nope'), {});
  });

  void it('a disk with its volume in the metadata; withSource points it at the prepared path (escaped)', () => {
    const d = engineDevice(HOTPLUG_DISK, 'disk');
    assert.deepEqual(volumeOf(d.metadata!), VOL);
    assert.deepEqual(diskIdentity(d.xml), { alias: 'ua-d', target: 'vdb', path: '/rhev/x', serial: 's1' });
    const moved = el(withSource(d.xml, `/p/${HOSTILE}`), 'disk');
    assert.equal(attr(moved, 'type'), 'file');
    assert.equal(children(moved, 'source').length, 1);
    assert.equal(attr(child(moved, 'source'), 'file'), `/p/${HOSTILE}`);
    assert.equal(attr(child(moved, 'target'), 'dev'), 'vdb');
    assert.equal(text(child(moved, 'serial')), 's1');
  });

  void it('refuses an empty document, bad XML, none or two devices, a half-named volume', () => {
    assert.throws(() => engineDevice('', 'interface'), DeviceSpecError);
    assert.throws(() => engineDevice('<hotplug><devices><interface>', 'interface'), DeviceSpecError);
    assert.throws(() => engineDevice('<hotplug><devices/></hotplug>', 'interface'), DeviceSpecError);
    assert.throws(() => engineDevice('<hotplug><devices><interface/><interface/></devices></hotplug>', 'interface'), DeviceSpecError);
    assert.throws(() => engineDevice(HOTPLUG_NIC, 'disk'), DeviceSpecError);
    assert.throws(() => volumeOf({ domainID: VOL.domainID, imageID: VOL.imageID }), DeviceSpecError);
    assert.throws(() => volumeOf({ ...VOL, volumeID: `${VOL.volumeID}"` }), DeviceSpecError);
  });
});

void describe('disk XML from the engine\'s drive dictionary', () => {
  void it('a file disk on the first free target of its bus, qcow2 for cow, serial and readonly', () => {
    const d = driveXmlFromParams({ path: '/images/a.qcow2', format: 'cow', serial: 'ser', readonly: true }, new Set(['vda', 'hdc']));
    assert.equal(d.target, 'vdb');
    const k = el(d.xml, 'disk');
    assert.equal(attr(k, 'type'), 'file');
    assert.equal(attr(k, 'device'), 'disk');
    assert.equal(attr(child(k, 'source'), 'file'), '/images/a.qcow2');
    assert.equal(attr(child(k, 'target'), 'dev'), 'vdb');
    assert.equal(attr(child(k, 'target'), 'bus'), 'virtio');
    assert.equal(attr(child(k, 'driver'), 'type'), 'qcow2');
    assert.equal(text(child(k, 'serial')), 'ser');
    assert.ok(child(k, 'readonly') !== undefined);
  });

  void it('a block device, a SCSI index, a storage volume\'s prepared path', () => {
    const b = driveXmlFromParams({ path: '/dev/mapper/x', iface: 'scsi', index: 27 }, new Set());
    assert.equal(b.target, 'sdab');
    assert.equal(attr(el(b.xml, 'disk'), 'type'), 'block');
    assert.equal(attr(child(el(b.xml, 'disk'), 'source'), 'dev'), '/dev/mapper/x');
    const v = driveXmlFromParams({ ...VOL, iface: 'virtio' }, new Set(['vda']), '/rhev/data-center/vol');
    assert.deepEqual(v.volume, VOL);
    assert.equal(attr(child(el(v.xml, 'disk'), 'source'), 'file'), '/rhev/data-center/vol');
  });

  void it('path, serial and alias stay inside their attribute or text', () => {
    const d = driveXmlFromParams({ path: `/i/${HOSTILE}`, serial: HOSTILE, alias: `ua-${HOSTILE}` }, new Set());
    const k = el(d.xml, 'disk');
    assert.equal(attr(child(k, 'source'), 'file'), `/i/${HOSTILE}`);
    assert.equal(text(child(k, 'serial')), HOSTILE);
    assert.equal(attr(child(k, 'alias'), 'name'), `ua-${HOSTILE}`);
    assert.equal(Object.keys(k).filter((x) => !x.startsWith('@_')).sort().join(','), 'alias,driver,serial,source,target');
  });

  void it('refuses: no path, a taken or malformed target, an unknown bus, device or format', () => {
    for (const [drive, used] of [
      [{}, []], [{ path: '/a', name: 'vda' }, ['vda']], [{ path: '/a', name: 'vd"a' }, []], [{ path: '/a', iface: 'nvme"' }, []],
      [{ path: '/a', device: 'tape' }, []], [{ path: '/a', format: 'vmdk' }, []], [{ path: '/a', index: '1"' }, []], [{ path: 'a\0b' }, []],
    ] as const) assert.throws(() => driveXmlFromParams(drive as Record<string, unknown>, new Set(used)), DeviceSpecError, JSON.stringify(drive));
  });

  void it('targets are named as libvirt names them', () => {
    assert.deepEqual([0, 1, 25, 26, 27, 701, 702].map((i) => targetName('vd', i)), ['vda', 'vdb', 'vdz', 'vdaa', 'vdab', 'vdzz', 'vdaaa']);
  });
});

void describe('live devices for unplug and changeCD', () => {
  const LIVE = `<domain type='qemu' id='1'><name>g</name><devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/a.qcow2' index='2'/><backingStore/><target dev='vda' bus='virtio'/><serial>one</serial><alias name='virtio-disk0'/></disk>
    <disk type='file' device='disk'><source file='/b.img'/><target dev='vdb' bus='virtio'/><alias name='ua-b'/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/old.iso'/><target dev='hdc' bus='ide'/><readonly/><alias name='ide0-1-0'/></disk>
    <interface type='bridge'><mac address='52:54:00:aa:bb:cc'/><source bridge='br0'/><target dev='vnet0'/><model type='virtio'/><alias name='net0'/></interface>
  </devices></domain>`;

  void it('finds a NIC by MAC (any case) and a disk by alias, target, path or serial', () => {
    const nic = liveInterface(LIVE, '52:54:00:AA:BB:CC');
    assert.equal(deviceAlias(nic!), 'net0');
    assert.equal(liveInterface(LIVE, '52:54:00:aa:bb:cd'), undefined);
    assert.equal(liveDisk(LIVE, { alias: 'ua-b' })?.target, 'vdb');
    assert.equal(liveDisk(LIVE, { target: 'vda' })?.path, '/a.qcow2');
    assert.equal(liveDisk(LIVE, { path: '/b.img' })?.target, 'vdb');
    assert.equal(liveDisk(LIVE, { serial: 'one' })?.target, 'vda');
    // The alias decides when given: a wrong alias finds nothing even with a right target.
    assert.equal(liveDisk(LIVE, { alias: 'nope', target: 'vda' }), undefined);
    assert.equal(liveDisk(LIVE, {}), undefined);
  });

  void it('changeCD: the CD-ROM with a new medium (escaped), or with none to eject; the rest kept', () => {
    const cd = changedMedium(LIVE, 'cdrom', `/iso/${HOSTILE}.iso`)!;
    assert.equal(cd.target, 'hdc');
    const k = el(cd.xml, 'disk');
    assert.equal(children(k, 'source').length, 1);
    assert.equal(attr(child(k, 'source'), 'file'), `/iso/${HOSTILE}.iso`);
    assert.equal(attr(child(k, 'target'), 'dev'), 'hdc');
    assert.equal(attr(child(k, 'alias'), 'name'), 'ide0-1-0');
    assert.ok(child(k, 'readonly') !== undefined);
    const ejected = el(changedMedium(LIVE, 'cdrom', '')!.xml, 'disk');
    assert.equal(child(ejected, 'source'), undefined);
    assert.equal(attr(child(ejected, 'target'), 'dev'), 'hdc');
    assert.equal(changedMedium(LIVE, 'cdrom', '/x.iso', 'hdd'), undefined);
    assert.equal(changedMedium(LIVE.replace("device='cdrom'", "device='disk'"), 'cdrom', '/x.iso'), undefined);
  });

  void it('changeFloppy: the floppy drive with a new medium or none, never the CD-ROM', () => {
    const floppy = "<disk type='file' device='floppy'><source file='/old.vfd'/><target dev='fda' bus='fdc'/><alias name='fdc0-0-0'/></disk>";
    const live = LIVE.replace('</devices>', `${floppy}</devices>`);
    const f = changedMedium(live, 'floppy', '/new.vfd')!;
    assert.equal(f.target, 'fda');
    const k = el(f.xml, 'disk');
    assert.equal(attr(k, 'device'), 'floppy');
    assert.equal(attr(child(k, 'source'), 'file'), '/new.vfd');
    assert.equal(attr(child(k, 'alias'), 'name'), 'fdc0-0-0');
    assert.equal(child(el(changedMedium(live, 'floppy', '')!.xml, 'disk'), 'source'), undefined);
    assert.equal(changedMedium(LIVE, 'floppy', '/new.vfd'), undefined, 'a VM with a CD-ROM but no floppy');
  });
});
