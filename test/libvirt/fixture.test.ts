// The node-XML generator: deterministic output, the devices the brief asks for, run states the test
// driver honours, and a URI that opens.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { fixtureDomains, fixtureUuid, generateNodeXml } from '../../src/libvirt/fixture.js';
import { nodeFixture } from './helpers/node-fixture.js';

void describe('node-XML fixture generator', () => {
  void it('is deterministic and gives every domain 2 virtio disks, 2 NICs, both agent channels and a balloon', () => {
    const opts = { domains: 4, paused: 1, shutoff: 1, cpus: 6, memoryKiB: 4194304 };
    const xml = generateNodeXml(opts);
    assert.equal(generateNodeXml(opts), xml);
    const doc = new XMLParser({ ignoreAttributes: false, isArray: (name) => ['domain', 'disk', 'interface', 'channel'].includes(name) }).parse(xml);
    const node = doc.node;
    assert.equal(node.cpu.active, 6);
    assert.equal(node.cpu.cores * node.cpu.threads, 6);
    assert.equal(node.memory, 4194304);
    assert.equal(node.domain.length, 4);
    for (const d of node.domain) {
      assert.equal(d.devices.disk.length, 2);
      assert.ok(d.devices.disk.every((k: any) => k.target['@_bus'] === 'virtio'));
      assert.equal(d.devices.interface.length, 2);
      assert.deepEqual(d.devices.channel.map((c: any) => c.target['@_name']), ['org.qemu.guest_agent.0', 'ovirt-guest-agent.0']);
      assert.equal(d.devices.memballoon['@_model'], 'virtio');
    }
    const macs = node.domain.flatMap((d: any) => d.devices.interface.map((i: any) => i.mac['@_address']));
    assert.equal(new Set(macs).size, 8, 'MACs are unique');
    assert.deepEqual(fixtureDomains(opts).map((d) => d.state), [1, 1, 3, 5]);
    assert.equal(fixtureUuid(3, 0x10), '00000010-0000-4000-8000-000000000003');
    assert.throws(() => fixtureDomains({ domains: 1, paused: 1, shutoff: 1 }), RangeError);
    assert.throws(() => fixtureDomains({ domains: 3, running: 2, paused: 0, shutoff: 0 }), RangeError);
    assert.deepEqual(fixtureDomains({ domains: 4, running: 1, paused: 1 }).map((d) => d.state), [1, 3, 5, 5]);
  });

  void it('writes a file whose test:/// URI opens with the states and names it promises', async () => {
    const fx = await nodeFixture({ domains: 5, paused: 2, shutoff: 1, namePrefix: 'guest', seed: 7 });
    const virt = loadVirtBinding();
    const conn = virt.open(fx.uri);
    try {
      assert.match(fx.uri, /^test:\/\/\/.+\/node\.xml$/);
      const listed = virt.listAllDomains(conn).sort((a, b) => a.name.localeCompare(b.name));
      assert.deepEqual(listed.map((d) => [d.uuid, d.name, d.state]), fx.domains.map((d) => [d.uuid, d.name, d.state]));
      assert.equal(listed[0]!.name, 'guest-0001');
    } finally {
      virt.close(conn);
      await fx.remove();
    }
  });
});
