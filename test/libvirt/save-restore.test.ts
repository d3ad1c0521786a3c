// The binding's save and restore (hibernation) on a private test-driver hypervisor: a running domain
// saved to a file is gone from libvirt, restored it is back with the same UUID and name; the flags pick
// reach libvirt; argument errors before libvirt, libvirt's own errors mapped.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { DomainState } from '../../src/libvirt/constants.js';
import { isNoDomain, libvirtErrorInfo } from '../../src/libvirt/errors.js';
import { SaveFlag } from '../../src/contracts/migration-ops.js';
import { fixtureUuid, generateDomainXml } from '../../src/libvirt/fixture.js';
import { nodeFixture, type NodeFixture } from './helpers/node-fixture.js';

const virt = loadVirtBinding();

void describe('libvirt binding: save and restore on the test driver', () => {
  let fx: NodeFixture;
  let conn: number;
  let dir: string;

  before(async () => {
    fx = await nodeFixture({ domains: 1 });
    conn = virt.open(fx.uri);
    dir = await mkdtemp(join(tmpdir(), 'vdsm-save-'));
  });
  after(async () => {
    virt.close(conn);
    await fx.remove();
    await rm(dir, { recursive: true, force: true });
  });

  void it('save stops the domain and writes its state; restore brings the same domain back (running, or paused when asked)', async () => {
    const uuid = fixtureUuid(1, 0x5a7e);
    virt.createXML(conn, generateDomainXml({ name: 'saved-1', uuid }));
    const file = join(dir, 'saved-1.img');
    virt.save(conn, uuid, file);
    assert.throws(() => virt.state(conn, uuid), (e: unknown) => isNoDomain(e), 'the transient domain is gone after the save');
    assert.ok((await readFile(file)).includes(Buffer.from(uuid)), 'the file holds the domain');
    assert.match(virt.saveImageXml(conn, file), new RegExp(`<uuid>${uuid}</uuid>`), 'the XML in the file names it, read without restoring');
    virt.restore(conn, file);
    assert.equal(virt.lookupByUUID(conn, uuid).name, 'saved-1');
    assert.equal(virt.state(conn, uuid).state, DomainState.RUNNING);
    // Twice over the same file (the agent writes a memory volume in place), with explicit null XML and flags.
    virt.save(conn, uuid, file, null, 0);
    virt.restore(conn, file, null, 0);
    assert.equal(virt.state(conn, uuid).state, DomainState.RUNNING);
    // The test driver implements no flags: they reach libvirt, whose refusal comes back as its error.
    virt.save(conn, uuid, file);
    assert.throws(() => virt.restore(conn, file, null, SaveFlag.PAUSED), (e: unknown) => /unsupported flags/.test(String(libvirtErrorInfo(e)?.virMessage ?? e)));
    virt.restore(conn, file);
    virt.destroy(conn, uuid);
  });

  void it('bad arguments are TypeErrors before libvirt; a file that is no saved domain is libvirt\'s error', async () => {
    const uuid = fixtureUuid(1, 0x5a7f);
    virt.createXML(conn, generateDomainXml({ name: 'saved-2', uuid }));
    assert.throws(() => (virt.save as (...a: unknown[]) => void)(conn, uuid), TypeError);
    assert.throws(() => (virt.save as (...a: unknown[]) => void)(conn, uuid, '/tmp/x', 42), TypeError);
    assert.throws(() => (virt.restore as (...a: unknown[]) => void)(conn), TypeError);
    const junk = join(dir, 'junk.img');
    await writeFile(junk, Buffer.alloc(4096));
    assert.throws(() => virt.restore(conn, junk), (e: unknown) => libvirtErrorInfo(e) !== undefined);
    assert.throws(() => virt.saveImageXml(conn, junk), (e: unknown) => libvirtErrorInfo(e) !== undefined);
    virt.destroy(conn, uuid);
    assert.throws(() => virt.save(conn, uuid, join(dir, 'nope.img')), (e: unknown) => isNoDomain(e), 'an unknown domain');
  });
});
