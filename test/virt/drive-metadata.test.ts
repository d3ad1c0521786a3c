// The storage drives' identity in the ovirt-vm domain metadata, round-tripped through libvirt's own
// metadata handling (the test driver, virDomainSetMetadata / virDomainGetXMLDesc): a drive recorded with
// withDriveDevice is what storageDrivesOf (and so a recovery) reads back from the domain XML, next to
// the devices and values the engine put there; withoutDriveDevice removes just that drive.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { Impact, MetadataType } from '../../src/libvirt/constants.js';
import { generateDomainXml } from '../../src/libvirt/fixture.js';
import { recordedDrives } from '../../src/services/recovered-drives.js';
import { driveDeviceXml, withDriveDevice, withoutDriveDevice } from '../../src/virt/drive-metadata.js';
import { OVIRT_VM_NS, parseDomainXml } from '../../src/virt/domain-xml.js';
import { storageDrivesOf, type StorageDrive } from '../../src/virt/storage-drives.js';
import { nodeFixture, type NodeFixture } from '../libvirt/helpers/node-fixture.js';

const virt = loadVirtBinding();

const drive = (name: string): StorageDrive => ({ name, poolID: randomUUID(), domainID: randomUUID(), imageID: randomUUID(), volumeID: randomUUID() });

void describe('storage drives in the ovirt-vm metadata, through libvirt', () => {
  let fx: NodeFixture;
  let conn: number;

  before(async () => {
    fx = await nodeFixture({ domains: 1 });
    conn = virt.open(fx.uri);
  });
  after(async () => {
    virt.close(conn);
    await fx.remove();
  });

  /** A running test-driver domain (disks vda and vdb), with `metadata` set as the engine's XML would have it. */
  const domainWith = (metadata: string | undefined): string => {
    const uuid = randomUUID();
    virt.createXML(conn, generateDomainXml({ name: `md-${uuid.slice(0, 8)}`, uuid }));
    if (metadata !== undefined) virt.setMetadata(conn, uuid, MetadataType.ELEMENT, metadata, 'ovirt-vm', OVIRT_VM_NS, Impact.LIVE);
    return uuid;
  };
  const apply = (uuid: string, fragment: string): string => {
    virt.setMetadata(conn, uuid, MetadataType.ELEMENT, fragment, 'ovirt-vm', OVIRT_VM_NS, Impact.LIVE);
    return virt.xmlDesc(conn, uuid);
  };

  void it('adds a hot-plugged drive beside the engine\'s devices and values, replaces it, and removes just it', () => {
    const vda = drive('vda');
    const uuid = domainWith(`<vm><clusterVersion>4.7</clusterVersion>${driveDeviceXml('', vda)}<device mac_address="00:1a:4a:16:01:51"><network>ovirtmgmt</network></device></vm>`);
    const vdb = drive('vdb');
    let xml = apply(uuid, withDriveDevice(virt.xmlDesc(conn, uuid), vdb));
    assert.deepEqual(storageDrivesOf(parseDomainXml(xml)), [vda, vdb]);
    assert.match(xml, /<ovirt-vm:clusterVersion>4\.7<\/ovirt-vm:clusterVersion>/, 'the engine\'s values are kept');
    assert.match(xml, /<ovirt-vm:network>ovirtmgmt<\/ovirt-vm:network>/, 'the engine\'s other devices are kept');

    // A snapshot or a second plug on the same target: still one device of that name, with the new identity.
    const vdb2 = { ...drive('vdb') };
    xml = apply(uuid, withDriveDevice(xml, vdb2));
    assert.deepEqual(storageDrivesOf(parseDomainXml(xml)), [vda, vdb2]);
    assert.equal(xml.match(/name="vdb"|name='vdb'/g)?.length, 1);

    // Each drive's record after a restart: its identity and the path its <disk> source names.
    const recorded = recordedDrives(parseDomainXml(xml));
    assert.deepEqual(recorded.map((d) => d.path), [`/rhev/data-center/mnt/${uuid}/disk0.qcow2`, `/rhev/data-center/mnt/${uuid}/disk1.qcow2`]);

    xml = apply(uuid, withoutDriveDevice(xml, 'vdb')!);
    assert.deepEqual(storageDrivesOf(parseDomainXml(xml)), [vda]);
    assert.match(xml, /<ovirt-vm:network>ovirtmgmt<\/ovirt-vm:network>/);
    assert.equal(withoutDriveDevice(xml, 'vdb'), undefined, 'nothing to remove: no call to make');
    virt.destroy(conn, uuid);
  });

  void it('gives a domain without ovirt-vm metadata an element holding the drive', () => {
    const uuid = domainWith(undefined);
    const before = virt.xmlDesc(conn, uuid);
    assert.equal(withoutDriveDevice(before, 'vdb'), undefined);
    const vdb = drive('vdb');
    const xml = apply(uuid, withDriveDevice(before, vdb));
    assert.deepEqual(storageDrivesOf(parseDomainXml(xml)), [vdb]);
    virt.destroy(conn, uuid);
  });

  void it('escapes what it writes: a value cannot add elements', () => {
    const uuid = domainWith('<vm/>');
    const odd = { ...drive('vdb'), imageID: 'a</imageID><x>' };
    const xml = apply(uuid, withDriveDevice(virt.xmlDesc(conn, uuid), odd));
    assert.deepEqual(storageDrivesOf(parseDomainXml(xml)), [odd]);
    virt.destroy(conn, uuid);
  });
});

void describe('storage drives in the ovirt-vm metadata, as text', () => {
  void it('works on an element in the default namespace (no prefix) and keeps its other content', () => {
    const domain = `<domain><metadata><vm xmlns="${OVIRT_VM_NS}"><launchPaused>false</launchPaused><device devtype="disk" name="vdb"><imageID>old</imageID></device></vm></metadata></domain>`;
    const d = drive('vdb');
    const frag = withDriveDevice(domain, d);
    assert.equal(frag, `<vm><launchPaused>false</launchPaused>${driveDeviceXml('', d)}</vm>`);
    assert.equal(withoutDriveDevice(domain, 'vdb'), '<vm><launchPaused>false</launchPaused></vm>');
    assert.equal(withoutDriveDevice(domain, 'vda'), undefined, 'another name is not touched');
  });
});
