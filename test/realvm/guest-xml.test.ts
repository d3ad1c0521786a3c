// The tiny guest's domain XML: the devices the real-VM tier relies on are there and values are escaped.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { tinyGuestXml } from '../support/realvm/guest-xml.js';

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (name) => ['channel', 'disk'].includes(name) });
const base = { uuid: '6d1f3a52-0c7e-4c43-9a3e-1d2f9a0b7c11', name: 'tiny', kernel: '/k/vmlinuz', initrd: '/k/initrd.img' };

function parse(xml: string): any {
  return parser.parse(xml).domain;
}

void describe('tinyGuestXml', () => {
  void test('a TCG domain booting the given kernel and initramfs with 128 MiB by default', () => {
    const d = parse(tinyGuestXml(base));
    assert.equal(d['@type'], 'qemu');
    assert.equal(d.uuid, base.uuid);
    assert.equal(d.name, 'tiny');
    assert.equal(d.memory['#text'], 128);
    assert.equal(d.memory['@unit'], 'MiB');
    assert.equal(d.os.kernel, '/k/vmlinuz');
    assert.equal(d.os.initrd, '/k/initrd.img');
    assert.match(d.os.cmdline, /console=ttyS0/);
  });

  void test('both guest agent channels, a balloon with a stats period, VNC on loopback, a user NIC', () => {
    const dev = parse(tinyGuestXml(base)).devices;
    assert.deepEqual(dev.channel.map((c: any) => [c['@type'], c.source['@mode'], c.target['@type'], c.target['@name']]), [
      ['unix', 'bind', 'virtio', 'org.qemu.guest_agent.0'],
      ['unix', 'bind', 'virtio', 'ovirt-guest-agent.0'],
    ]);
    assert.equal(dev.memballoon['@model'], 'virtio');
    assert.equal(dev.memballoon.stats['@period'], '2');
    assert.equal(dev.graphics['@type'], 'vnc');
    assert.equal(dev.graphics['@autoport'], 'yes');
    assert.equal(dev.graphics.listen['@address'], '127.0.0.1');
    assert.equal(dev.interface['@type'], 'user');
    assert.equal(dev.interface.model['@type'], 'virtio');
    assert.equal(dev.disk, undefined, 'no disk unless asked for');
    assert.equal(dev.serial['@type'], 'pty');
  });

  void test('optional disk, console log, explicit channel paths and sizes', () => {
    const d = parse(
      tinyGuestXml({
        ...base,
        memoryMiB: 256,
        vcpus: 2,
        disk: { path: '/r/d.qcow2' },
        consoleLog: '/r/console.log',
        channels: [{ name: 'org.qemu.guest_agent.0', path: '/r/qga.sock' }],
        graphics: false,
        nic: false,
        machine: 'q35',
      }),
    );
    assert.equal(d.memory['#text'], 256);
    assert.equal(d.vcpu['#text'], 2);
    assert.equal(d.os.type['@machine'], 'q35');
    assert.deepEqual(d.devices.disk.map((x: any) => [x.source['@file'], x.target['@dev'], x.target['@bus'], x.driver['@type']]), [
      ['/r/d.qcow2', 'vda', 'virtio', 'qcow2'],
    ]);
    assert.equal(d.devices.serial['@type'], 'file');
    assert.equal(d.devices.serial.source['@path'], '/r/console.log');
    assert.equal(d.devices.channel.length, 1);
    assert.equal(d.devices.channel[0].source['@path'], '/r/qga.sock');
    assert.equal(d.devices.graphics, undefined);
    assert.equal(d.devices.interface, undefined);
  });

  void test("the engine's ovirt-vm metadata, unless turned off", () => {
    const vm = parse(tinyGuestXml(base)).metadata['ovirt-vm:vm'];
    assert.equal(vm['ovirt-vm:clusterVersion'], 4.7);
    assert.equal(vm['ovirt-vm:minGuaranteedMemoryMb']['#text'], 128);
    assert.equal(vm['ovirt-vm:resumeBehavior'], 'auto_resume');
    assert.equal(parse(tinyGuestXml({ ...base, ovirtMetadata: false })).metadata, undefined);
  });

  void test('values are XML-escaped', () => {
    const xml = tinyGuestXml({ ...base, name: 'a&b<c>', kernel: '/k/"v"' });
    const d = parse(xml);
    assert.ok(xml.includes('a&amp;b&lt;c&gt;'));
    assert.equal(d.name, 'a&b<c>');
    assert.equal(d.os.kernel, '/k/"v"');
  });

  void test('rejects a malformed UUID', () => {
    assert.throws(() => tinyGuestXml({ ...base, uuid: 'not-a-uuid' }), /not a UUID/);
  });
});
