// Parsing engine-style libvirt domain XML: identity, memory, devices, agent channels, metadata, hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentSockets, parseDomainXml } from '../../src/virt/domain-xml.js';
import { domainXml, VM_UUID } from './domain-fixtures.js';

void test('identity, memory units, vCPUs, features and clock offset', () => {
  const d = parseDomainXml(domainXml());
  assert.equal(d.uuid, VM_UUID);
  assert.equal(d.name, 'web-01');
  assert.equal(d.domainType, 'kvm');
  assert.equal(d.memoryKiB, 4096 * 1024);
  assert.equal(d.currentMemoryKiB, 4096 * 1024);
  assert.equal(d.vcpus, 16);
  assert.equal(d.vcpusCurrent, 2);
  assert.equal(d.machine, 'pc-q35-rhel8.6.0');
  assert.equal(d.acpi, true);
  assert.equal(d.timeOffset, '3600');
  assert.equal(d.balloon, true);
  assert.equal(parseDomainXml(domainXml({ acpi: false })).acpi, false);
});

void test('disks: target, path from file or dev, serial, readonly, format', () => {
  const d = parseDomainXml(domainXml());
  assert.deepEqual(d.disks, [
    { device: 'cdrom', type: 'file', target: 'sdc', bus: 'sata', readonly: true, path: '/rhev/data-center/mnt/iso/debian.iso', format: 'raw', alias: 'ua-cdrom' },
    {
      device: 'disk', type: 'block', target: 'vda', bus: 'virtio', readonly: false, path: '/rhev/data-center/mnt/blockSD/1fbe2a4c/images/5e2a7c1d/9b8a7c6d',
      serial: '5e2a7c1d-0b1a-4c3d-8e9f-a0b1c2d3e4f5', format: 'qcow2', alias: 'ua-5e2a7c1d',
    },
  ]);
});

void test('NICs: mac, model, target device, source bridge', () => {
  const d = parseDomainXml(domainXml({ extraNic: true }));
  assert.deepEqual(d.nics, [
    { mac: '56:6f:2a:5b:00:01', model: 'virtio', type: 'bridge', target: 'vnet0', source: 'ovirtmgmt', alias: 'ua-2b1c' },
    { mac: '56:6f:2a:5b:00:02', model: 'e1000', type: 'bridge', target: 'vnet7', source: 'br-data', alias: 'ua-3c2d' },
  ]);
});

void test('graphics: VNC and SPICE ports, TLS port, listen address from attribute or <listen>', () => {
  const d = parseDomainXml(domainXml({ graphics: 'both' }));
  assert.deepEqual(d.graphics, [
    { type: 'vnc', port: 5900, listen: '0.0.0.0', autoport: true },
    { type: 'spice', port: 5901, tlsPort: 5902, listen: '192.0.2.10', autoport: true },
  ]);
  assert.deepEqual(parseDomainXml(domainXml({ graphics: 'none' })).graphics, []);
});

void test('channels give the guest-agent socket paths', () => {
  const d = parseDomainXml(domainXml());
  assert.equal(d.channels.length, 3);
  assert.deepEqual(agentSockets(d), {
    qemuGa: `/var/lib/libvirt/qemu/channels/${VM_UUID}.org.qemu.guest_agent.0`,
    ovirtGa: `/var/lib/libvirt/qemu/channels/${VM_UUID}.ovirt-guest-agent.0`,
  });
});

void test('ovirt-vm metadata: typed values and devices; absent metadata is undefined', () => {
  const d = parseDomainXml(domainXml());
  assert.equal(d.ovirt?.values['minGuaranteedMemoryMb'], 1024);
  assert.equal(d.ovirt?.values['destroy_on_reboot'], false);
  assert.equal(d.ovirt?.values['clusterVersion'], '4.7');
  assert.equal(d.ovirt?.values['startTime'], 1764063000.42);
  assert.equal(d.ovirt?.devices.length, 2);
  assert.equal(d.ovirt?.devices[0]?.['mac_address'], '56:6f:2a:5b:00:01');
  assert.equal(d.ovirt?.devices[1]?.['imageID'], '5e2a7c1d-0b1a-4c3d-8e9f-a0b1c2d3e4f5');
  assert.equal(parseDomainXml(domainXml({ metadata: false })).ovirt, undefined);
});

void test('the device hash is stable and changes when a device changes, not when the name does', () => {
  const a = parseDomainXml(domainXml()).deviceHash;
  assert.equal(parseDomainXml(domainXml()).deviceHash, a);
  assert.equal(parseDomainXml(domainXml({ name: 'renamed' })).deviceHash, a);
  assert.notEqual(parseDomainXml(domainXml({ extraNic: true })).deviceHash, a);
  assert.notEqual(parseDomainXml(domainXml({ graphics: 'vnc' })).deviceHash, a);
  assert.match(a, /^-?\d+$/);
});

void test('not a domain, or no uuid, is an error', () => {
  assert.throws(() => parseDomainXml('<capabilities/>'), /no <domain>/);
  assert.throws(() => parseDomainXml('<domain><name>x</name></domain>'), /no <uuid>/);
});
