// Host.registerSecrets / unregisterSecrets through vdsmd on an unprivileged libvirtd (qemu:///session:
// libvirt's test driver has no secret driver), checked with virsh, an independent client: the secret's
// XML (ephemeral, private: libvirt refuses to show the value), replacement on a changed usage id,
// `clear`, unregister of a missing secret, the oVirt secrets cleared when the agent starts again and when it stops. That the value itself reaches libvirt is shown by a LUKS disk
// (qemu-img made, this test's passphrase): QEMU starts with it behind the registered secret, and refuses
// to start once the secret was registered again with another value. Skipped unless scripts/realvm/setup.sh has run; VDSM_REALVM=1 makes it a failure.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureRealVmAssets, realVmSkip, startSessionLibvirtd, tinyGuestXml, Virsh, type SessionLibvirtd } from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient } from '../helpers/engine-client.js';

const check = await ensureRealVmAssets();
const skip = realVmSkip(check);
const assets = check.ok ? check.assets : undefined;
const A = '3e0c2f5a-1b1d-4c7e-9a55-0d5e6f7a8b91';
const B = '8a1f0c22-7d3e-4b6a-8f40-2c9d1e0b7a64';
const C = 'c4d2e0f1-5a6b-4c7d-8e9f-a0b1c2d3e4f5';
const D = '5b7e9c1d-2f3a-4b5c-8d6e-7f8091a2b3c4';
const PASSPHRASE = 'luks-pass-4e1a';
const VALUE = Buffer.from('AQBc3vVfsecretCephKey==', 'latin1').toString('base64');


void describe('Host.registerSecrets / unregisterSecrets on qemu:///session', { skip, timeout: 120_000 }, () => {
  let lv: SessionLibvirtd;
  let virsh: Virsh;
  let stateDir: string;
  let agent: AgentProcess;
  let engine: EngineClient;
  const secretUuids = async (): Promise<string[]> => (await virsh.run(['secret-list'])).split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((u) => /^[0-9a-f-]{36}$/.test(u)).sort();
  const valueState = async (uuid: string): Promise<string> => virsh.run(['secret-get-value', uuid]).then(() => 'readable', (e: unknown) => String(e instanceof Error ? e.message : e));

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    lv = await startSessionLibvirtd();
    virsh = new Virsh(lv.uri('qemu'), { binary: check.assets.tools.virsh });
    stateDir = await mkdtemp(join(tmpdir(), 'vdsm-realvm-secrets-'));
    agent = await AgentProcess.start({ stateDir, args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', 'vars.fake_kvm_support=false', '--set', 'devel.api_strict_mode=true'] });
    await agent.whenReady(60_000);
    engine = await EngineClient.connect({ port: agent.port });
  });
  after(async () => {
    engine?.close();
    await agent?.kill();
    await lv?.stop();
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  void it('registers ephemeral private secrets with their values; the value is never logged', async () => {
    assert.equal(await engine.call('Host.registerSecrets', { secrets: [
      { uuid: A, usageType: 'ceph', usageID: `ovirt/${A}`, password: VALUE, description: 'ceph <client.admin>' },
      { uuid: B.toUpperCase(), usageType: 'iscsi', usageID: `ovirt/${B}`, password: VALUE },
    ] }), true);
    assert.deepEqual(await secretUuids(), [A, B].sort());
    const xml = await virsh.run(['secret-dumpxml', A]);
    assert.match(xml, /<secret ephemeral='yes' private='yes'>/);
    assert.match(xml, /<description>ceph &lt;client.admin&gt;<\/description>/);
    assert.match(xml, new RegExp(`<usage type='ceph'>\\s*<name>ovirt/${A}</name>`));
    assert.match(await virsh.run(['secret-dumpxml', B]), new RegExp(`<usage type='iscsi'>\\s*<target>ovirt/${B}</target>`));
    for (const u of [A, B]) assert.match(await valueState(u), /private/i, 'libvirt does not show the value');
    const text = agent.lines.map((l) => JSON.stringify(l)).join('\n');
    assert.ok(!text.includes(VALUE) && !text.includes('secretCephKey'), 'the value is not in the log');
  });

  void it('a changed usage id replaces the secret; clear removes the other oVirt secrets', async () => {
    assert.equal(await engine.call('Host.registerSecrets', { secrets: [{ uuid: A, usageType: 'ceph', usageID: `ovirt/${A}-2`, password: VALUE }], clear: true }), true);
    assert.deepEqual(await secretUuids(), [A]);
    assert.match(await virsh.run(['secret-dumpxml', A]), new RegExp(`<name>ovirt/${A}-2</name>`));
    assert.match(await valueState(A), /private/i);
  });

  void it('bad requests: error 72 and nothing registered; unknown usage type -32602 (strict)', async () => {
    assert.equal((await engine.callError('Host.registerSecrets', { secrets: [{ uuid: C, usageType: 'ceph', usageID: `ovirt/${C}`, password: VALUE }, { uuid: 'not-a-uuid', usageType: 'ceph', usageID: 'x', password: VALUE }] })).code, 72);
    assert.equal((await engine.callError('Host.registerSecrets', { secrets: [{ uuid: C, usageType: 'ceph', usageID: `ovirt/${C}`, password: 'not base64!' }] })).code, 72);
    assert.equal((await engine.callError('Host.registerSecrets', { secrets: [{ uuid: C, usageType: 'tls', usageID: `ovirt/${C}`, password: VALUE }] })).code, -32602);
    assert.deepEqual(await secretUuids(), [A]);
  });

  void it('unregisterSecrets removes a secret, skips a missing one, refuses a malformed uuid (72)', async () => {
    assert.equal(await engine.call('Host.unregisterSecrets', { uuids: [A, C] }), true);
    assert.deepEqual(await secretUuids(), []);
    assert.equal((await engine.callError('Host.unregisterSecrets', { uuids: ['nope'] })).code, 72);
  });

  void it('the value reaches libvirt: a LUKS disk opens with the registered passphrase, not after a re-register with another', async () => {
    const image = join(lv.runDir, 'luks.img');
    // qemu-img times its key derivation by the thread's CPU time and gives up ("Unable to get accurate CPU
    // usage") when that clock does not move during its first measurement (seen in CI, three times in a row
    // once): the same command again, up to 20 times (each failing try takes a few ms).
    for (let attempt = 1; ; attempt++) {
      try {
        await promisify(execFile)(assets!.tools['qemu-img'], ['create', '-q', '--object', `secret,id=sec0,data=${PASSPHRASE}`, '-f', 'luks', '-o', 'key-secret=sec0', image, '16M']);
        break;
      } catch (err) {
        if (attempt >= 20 || !/Unable to get accurate CPU usage/.test(String((err as { stderr?: unknown }).stderr))) throw err;
      }
    }
    await chown(image, lv.owner.uid, lv.owner.gid);
    const register = (passphrase: string): Promise<unknown> => engine.call('Host.registerSecrets', { secrets: [{ uuid: D, usageType: 'volume', usageID: image, password: Buffer.from(passphrase).toString('base64') }] });
    const name = `sec-${D.slice(0, 4)}`;
    const xml = tinyGuestXml({ uuid: D, name, kernel: assets!.kernel, initrd: assets!.initrd, disk: { path: image, format: 'raw' }, graphics: false, channels: [] })
      .replace('    </disk>', `      <encryption format="luks"><secret type="passphrase" uuid="${D}"/></encryption>\n    </disk>`);
    assert.match(xml, /<encryption format="luks">/);
    const xmlPath = join(lv.runDir, `${name}.xml`);
    await writeFile(xmlPath, xml);

    assert.equal(await register(PASSPHRASE), true);
    await virsh.run(['create', xmlPath]);
    assert.equal(await virsh.domstate(name), 'running');
    await virsh.run(['destroy', name]);

    assert.equal(await register('another-pass'), true);
    const refused = await virsh.run(['create', xmlPath]).then(() => 'started', (e: unknown) => String(e instanceof Error ? e.message : e));
    assert.match(refused, /password|passphrase|keyslot|unlock|decrypt/i, 'QEMU cannot open the image with the other value');
    assert.equal(await engine.call('Host.unregisterSecrets', { uuids: [D] }), true);
  });

  void it('a restarted agent clears the oVirt secrets left behind (as vdsm), not the others', async () => {
    assert.equal(await engine.call('Host.registerSecrets', { secrets: [{ uuid: A, usageType: 'ceph', usageID: `ovirt/${A}`, password: VALUE }] }), true);
    const other = join(lv.runDir, 'other-secret.xml');
    await writeFile(other, `<secret ephemeral="yes" private="no"><uuid>${C}</uuid><usage type="ceph"><name>someone-else</name></usage></secret>`);
    await virsh.run(['secret-define', other]);
    assert.deepEqual(await secretUuids(), [A, C].sort());
    engine.close();
    await agent.kill();
    agent = await AgentProcess.start({ stateDir, args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', 'vars.fake_kvm_support=false'] });
    await agent.whenReady(60_000);
    engine = await EngineClient.connect({ port: agent.port });
    assert.deepEqual(await secretUuids(), [C]);
    await virsh.run(['secret-undefine', C]);
  });

  void it('an agent stopped by SIGTERM removes its oVirt secrets on the way out (as vdsm), not the others', async () => {
    assert.equal(await engine.call('Host.registerSecrets', { secrets: [{ uuid: B, usageType: 'ceph', usageID: `ovirt/${B}`, password: VALUE }] }), true);
    const other = join(lv.runDir, 'other-secret-2.xml');
    await writeFile(other, `<secret ephemeral="yes" private="no"><uuid>${C}</uuid><usage type="ceph"><name>someone-else</name></usage></secret>`);
    await virsh.run(['secret-define', other]);
    assert.deepEqual(await secretUuids(), [B, C].sort());
    engine.close();
    assert.equal(await agent.stop(), 0, 'a clean stop');
    assert.deepEqual(await secretUuids(), [C], 'the session libvirtd still runs; only the oVirt secret is gone');
    await virsh.run(['secret-undefine', C]);
  });
});
