// Lifecycle calls on a private test-driver hypervisor: create, suspend, resume, shutdown, destroy,
// define, undefine, XML, state, metadata, and the error codes libvirt failures carry.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { DomainState, Impact, MetadataType } from '../../src/libvirt/constants.js';
import { toTransferableLibvirtError } from '../../src/libvirt/binding.js';
import { isNoDomain, libvirtErrorInfo, mapLibvirtError } from '../../src/libvirt/errors.js';
import { fixtureUuid, generateDomainXml } from '../../src/libvirt/fixture.js';
import { Errors, isError } from '../../src/errors.js';
import { nodeFixture, type NodeFixture } from './helpers/node-fixture.js';

const virt = loadVirtBinding();
const UNKNOWN = 'deadbeef-0000-4000-8000-000000000000';

void describe('libvirt binding: lifecycle on the test driver', () => {
  let fx: NodeFixture;
  let conn: number;

  before(async () => {
    fx = await nodeFixture({ domains: 3, paused: 1 });
    conn = virt.open(fx.uri);
  });
  after(async () => {
    virt.close(conn);
    await fx.remove();
  });

  void it('lists the fixture domains with their states', () => {
    const list = virt.listAllDomains(conn).sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(list.map((d) => [d.uuid, d.name, d.state]), fx.domains.map((d) => [d.uuid, d.name, d.state]));
    assert.ok(list.every((d) => d.id > 0), 'running and paused domains have ids');
  });

  void it('creates, suspends, resumes and destroys a transient domain', () => {
    const uuid = fixtureUuid(1, 0xc0ffee);
    const created = virt.createXML(conn, generateDomainXml({ name: 'created-1', uuid }));
    assert.equal(created.uuid, uuid);
    assert.equal(created.name, 'created-1');
    assert.equal(virt.state(conn, uuid).state, DomainState.RUNNING);
    virt.suspend(conn, uuid);
    assert.equal(virt.state(conn, uuid).state, DomainState.PAUSED);
    virt.resume(conn, uuid);
    assert.equal(virt.state(conn, uuid).state, DomainState.RUNNING);
    assert.deepEqual(virt.controlInfo(conn, uuid), { state: 0, details: 0, stateTime: 0 });
    virt.destroy(conn, uuid);
    assert.throws(() => virt.state(conn, uuid), (err: unknown) => isNoDomain(err));
  });

  void it('defines, starts, shuts down and undefines a persistent domain', () => {
    const uuid = fixtureUuid(2, 0xc0ffee);
    virt.defineXML(conn, generateDomainXml({ name: 'defined-2', uuid }));
    assert.equal(virt.state(conn, uuid).state, DomainState.SHUTOFF);
    virt.create(conn, uuid);
    assert.equal(virt.state(conn, uuid).state, DomainState.RUNNING);
    virt.reboot(conn, uuid);
    virt.reset(conn, uuid);
    virt.shutdown(conn, uuid);
    assert.equal(virt.state(conn, uuid).state, DomainState.SHUTOFF);
    assert.match(virt.xmlDesc(conn, uuid), /<name>defined-2<\/name>/);
    virt.undefine(conn, uuid);
    assert.throws(() => virt.lookupByUUID(conn, uuid), { code: 'ERR_LIBVIRT_NO_DOMAIN' });
  });

  void it('changes live memory and vCPUs; hotplug and block threshold are not in the test driver (code 3)', () => {
    const uuid = fx.domains[0]!.uuid;
    virt.setMemoryFlags(conn, uuid, 524288, Impact.LIVE);
    assert.match(virt.xmlDesc(conn, uuid), /<currentMemory unit='KiB'>524288<\/currentMemory>/);
    virt.setVcpusFlags(conn, uuid, 1, Impact.LIVE);
    assert.equal(virt.vcpus(conn, uuid).length, 1);
    const noSupport = (err: any): boolean => err.code === 'ERR_LIBVIRT_NO_SUPPORT' && err.virCode === 3;
    const disk = '<disk type="file" device="disk"><source file="/tmp/x.img"/><target dev="vdc" bus="virtio"/></disk>';
    assert.throws(() => virt.attachDeviceFlags(conn, uuid, disk, Impact.LIVE), noSupport);
    assert.throws(() => virt.detachDeviceFlags(conn, uuid, disk, Impact.LIVE), noSupport);
    assert.throws(() => virt.updateDeviceFlags(conn, uuid, disk, Impact.LIVE), noSupport);
    assert.throws(() => virt.setBlockThreshold(conn, uuid, 'vda', 2 ** 30), noSupport);
  });

  void it('reads the scheduler parameters (the test driver keeps only weight: no vcpu_quota / vcpu_period); an unknown UUID is NO_DOMAIN', () => {
    const uuid = fx.domains[0]!.uuid;
    const p = virt.schedulerParameters(conn, uuid);
    assert.deepEqual(Object.keys(p), ['weight']);
    assert.equal(typeof p['weight'], 'number');
    assert.throws(() => virt.schedulerParameters(conn, 'deadbeef-0000-4000-8000-00000000beef'), (err: any) => err.virCode === 42);
  });

  void it('sets and reads element metadata (unprefixed XML) and gives null when absent', () => {
    const uuid = fx.domains[0]!.uuid;
    const ns = 'http://ovirt.org/vm/1.0';
    assert.equal(virt.getMetadata(conn, uuid, MetadataType.ELEMENT, ns), null);
    virt.setMetadata(conn, uuid, MetadataType.ELEMENT, '<vm><launchPaused>false</launchPaused></vm>', 'ovirt-vm', ns);
    assert.match(virt.getMetadata(conn, uuid, MetadataType.ELEMENT, ns) ?? '', /<launchPaused>false<\/launchPaused>/);
  });

  void it('reports an unknown UUID as ERR_LIBVIRT_NO_DOMAIN with libvirt code 42, mapped to NO_VM', () => {
    let caught: unknown;
    try {
      virt.lookupByUUID(conn, UNKNOWN);
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof Error);
    assert.equal((caught as Error & { code: string }).code, 'ERR_LIBVIRT_NO_DOMAIN');
    assert.equal((caught as Error & { virCode: number }).virCode, 42);
    assert.match(caught.message, /Domain not found/);
    const info = libvirtErrorInfo(toTransferableLibvirtError(caught));
    assert.equal(info?.virCode, 42);
    const mapped = mapLibvirtError(caught, { vmId: UNKNOWN });
    assert.ok(isError(mapped, Errors.NO_VM));
    assert.deepEqual((mapped as { context: unknown }).context, { vmId: UNKNOWN });
  });

  void it('keeps libvirt codes for other failures and rejects bad arguments before calling libvirt', () => {
    assert.throws(() => virt.blockInfo(conn, fx.domains[0]!.uuid, 'sdz'), (err: any) => err.virCode === 8 && err.code === 'ERR_LIBVIRT_INVALID_ARG');
    assert.throws(() => virt.suspend(conn, 42 as unknown as string), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => virt.state(999_999, UNKNOWN), { code: 'ERR_LIBVIRT_NO_CONNECTION' });
    const mapped = mapLibvirtError(Object.assign(new Error('x'), { code: 'ERR_LIBVIRT_NO_SUPPORT', virCode: 3, virDomain: 10, virMessage: 'nope' }));
    assert.equal((mapped as { code: string }).code, 'ERR_LIBVIRT_NO_SUPPORT');
  });

  void it('gives each open of a node-XML URI a private hypervisor', () => {
    const other = virt.open(fx.uri);
    try {
      const uuid = fx.domains[1]!.uuid;
      virt.suspend(other, uuid);
      assert.equal(virt.state(other, uuid).state, DomainState.PAUSED);
      assert.equal(virt.state(conn, uuid).state, DomainState.RUNNING);
    } finally {
      virt.close(other);
    }
  });
});
