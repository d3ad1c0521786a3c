// VM.setTicket and VM.reset on a real hypervisor: vdsmd on qemu:///session (an unprivileged libvirtd,
// TCG) runs the tiny guest with a VNC display that, as the engine creates it, has an expired password.
// libvirt's test driver refuses graphics updates (virDomainUpdateDeviceFlags is not supported there), so
// the ticket is shown here: the password reaches the live domain (virsh dumpxml --security-info, an
// independent client), a VNC login (RFB 3.8 VNC authentication, done by this test) fails before the
// ticket and succeeds with it, and the password never appears in the agent's log, even at DEBUG. VM.reset is shown by the guest booting a second time
// (its /init writes "init started" to the serial console log at each boot) while the VM stays Up.
// Skipped unless scripts/realvm/setup.sh has run; VDSM_REALVM=1 makes missing pieces a failure.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureRealVmAssets, realVmSkip, startSessionLibvirtd, tinyGuestXml, Virsh, waitFor, type SessionLibvirtd } from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { vncLogin } from '../support/vnc-client.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';

const check = await ensureRealVmAssets();
const skip = realVmSkip(check);
const CALL_TIMEOUT_MS = 60_000;
const BOOT_DEADLINE_MS = 90_000;

void describe('VM.setTicket and VM.reset on a real hypervisor (qemu:///session, TCG, VNC)', { skip, timeout: 240_000 }, () => {
  let lv: SessionLibvirtd;
  let virsh: Virsh;
  let stateDir: string;
  let agent: AgentProcess;
  let engine: EngineClient;
  const vmId = randomUUID();
  const name = `tk-${vmId.slice(0, 4)}`;
  let consoleLog: string;
  let hooksDir: string;

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    lv = await startSessionLibvirtd();
    virsh = new Virsh(lv.uri('qemu'), { binary: check.assets.tools.virsh });
    stateDir = await mkdtemp(join(tmpdir(), 'vdsm-realvm-ticket-'));
    // set_ticket hook scripts that keep what they were given: the XML and the engine's console options.
    hooksDir = join(stateDir, 'hooks');
    for (const point of ['before_vm_set_ticket', 'after_vm_set_ticket']) {
      await mkdir(join(hooksDir, point), { recursive: true });
      await writeFile(join(hooksDir, point, '50_keep'), `#!/bin/sh\ncp "$_hook_domxml" "${hooksDir}/${point}.xml"\necho "$vmId fips=$fips disconnectAction=$disconnectAction" >> "${hooksDir}/${point}.log"\n`, { mode: 0o755 });
    }
    agent = await AgentProcess.start({ stateDir, args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', 'vars.fake_kvm_support=false', '--set', `vars.hooks_dir=${hooksDir}`] });
    await agent.whenReady(CALL_TIMEOUT_MS);
    engine = await EngineClient.connect({ port: agent.port });
    consoleLog = join(lv.runDir, `${name}.log`);
    // As the engine sends it: a VNC password that expired long ago, so QEMU starts with password
    // authentication on (set_password needs it) and nobody can log in until VM.setTicket.
    const xml = tinyGuestXml({ uuid: vmId, name, kernel: check.assets.kernel, initrd: check.assets.initrd, consoleLog })
      .replace('<graphics type="vnc" ', '<graphics type="vnc" passwd="*****" passwdValidTo="1970-01-01T00:00:01" ');
    assert.match(xml, /passwdValidTo/);
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml } }, CALL_TIMEOUT_MS);
    await engine.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
  });

  after(async () => {
    engine?.close();
    await agent?.kill();
    await lv?.stop();
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  void it('VM.setTicket puts the password and its expiry on the live VNC device; a VNC viewer logs in with it, not before; never logged', async () => {
    const live = await virsh.run(['dumpxml', '--security-info', name]);
    const port = Number(/<graphics type='vnc' port='(\d+)'/.exec(live)?.[1]);
    assert.ok(port > 0, 'the guest has a VNC port');
    assert.match(live, /passwd='\*{5}'/, "the engine's placeholder before the ticket");

    // Everything the agent logs, at its most verbose, must not carry the password.
    assert.equal(await engine.call('Host.setLogLevel', { level: 'DEBUG' }), true);
    // Characters XML must escape: the device XML is built, not pasted. (libvirt allows VNC 8 characters.)
    const password = `p&<'"${randomBytes(2).toString('hex').slice(0, 3)}`;
    assert.equal(await vncLogin(port, password), 'failed', 'no login before the ticket');
    const before = Date.now();
    assert.equal(await engine.call('VM.setTicket', { vmID: vmId, password, ttl: 120, existingConnAction: 'disconnect', params: { vncUsername: '', fips: 'false', disconnectAction: 'LOCK_SCREEN' } }, CALL_TIMEOUT_MS), true);
    const after = Date.now();

    const ticketed = await virsh.run(['dumpxml', '--security-info', name]);
    const g = /<graphics type='vnc'[^>]*>/.exec(ticketed)?.[0] ?? '';
    const passwd = /passwd='([^']*)'/.exec(g)?.[1]?.replaceAll('&apos;', "'").replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&amp;', '&');
    assert.equal(passwd, password, `the live device: ${g.replace(/passwd='[^']*'/, "passwd='…'")}`);
    assert.match(g, new RegExp(`port='${port}'`), 'the port is unchanged');
    const validTo = Date.parse(`${/passwdValidTo='([^']+)'/.exec(g)?.[1] ?? ''}Z`);
    assert.ok(validTo >= Math.floor(before / 1000) * 1000 + 120_000 && validTo <= after + 120_000, `passwdValidTo ${new Date(validTo).toISOString()} is 120 s after the call`);
    assert.equal(await vncLogin(port, password), 'ok', 'a VNC viewer logs in with the ticket');
    assert.equal(await vncLogin(port, 'wrong'), 'failed', 'and not with another password');

    // A second ticket without expiry removes passwdValidTo.
    assert.equal(await engine.call('VM.setTicket', { vmID: vmId, password: 'second', ttl: 0, existingConnAction: 'keep', params: {} }, CALL_TIMEOUT_MS), true);
    const again = /<graphics type='vnc'[^>]*>/.exec(await virsh.run(['dumpxml', '--security-info', name]))?.[0] ?? '';
    assert.match(again, /passwd='second'/);
    assert.doesNotMatch(again, /passwdValidTo/);
    assert.equal(await vncLogin(port, 'second'), 'ok');
    assert.equal(await vncLogin(port, password), 'failed', 'the first ticket is replaced');

    await agent.waitForLog((l) => l['msg'] === 'console ticket set' && l['vmId'] === vmId && l['validTo'] === undefined, 5_000);
    // The hook scripts ran for both tickets with the engine's options, and their XML has no password.
    for (const point of ['before_vm_set_ticket', 'after_vm_set_ticket']) {
      assert.deepEqual((await readFile(join(hooksDir, `${point}.log`), 'utf8')).trim().split('\n'), [`${vmId} fips=false disconnectAction=LOCK_SCREEN`, `${vmId} fips= disconnectAction=`], point);
      const xml = await readFile(join(hooksDir, `${point}.xml`), 'utf8');
      assert.match(xml, new RegExp(`<uuid>${vmId}</uuid>`));
      assert.ok(!xml.includes(password) && !xml.includes("passwd='second'") && !xml.includes('passwd="second"'), `${point}: no ticket in the hook XML`);
    }
    const text = agent.lines.map((l) => JSON.stringify(l)).join('\n');
    for (const secret of [password, JSON.stringify(password).slice(1, -1), 'second']) assert.ok(!text.includes(secret), 'the password is not in the agent log');
  });

  void it("VM.updateDevice with deviceType graphics (the engine's other way) sets the ticket on the VNC device; no SPICE device is 56", async () => {
    const live = await virsh.run(['dumpxml', '--security-info', name]);
    const port = Number(/<graphics type='vnc' port='(\d+)'/.exec(live)?.[1]);
    const graphics = (graphicsType: string, password: string): Record<string, unknown> => ({ deviceType: 'graphics', graphicsType, password, ttl: '60', existingConnAction: 'disconnect', params: {} });
    const r = await engine.call<Record<string, unknown>>('VM.updateDevice', { vmID: vmId, params: graphics('vnc', 'third') }, CALL_TIMEOUT_MS);
    assert.equal(r['vmId'], vmId);
    assert.equal(r['status'], 'Up');
    assert.equal(await vncLogin(port, 'third'), 'ok');
    assert.match(/<graphics type='vnc'[^>]*>/.exec(await virsh.run(['dumpxml', '--security-info', name]))?.[0] ?? '', /passwdValidTo='/);
    assert.equal((await engine.callError('VM.updateDevice', { vmID: vmId, params: graphics('spice', 'x') })).code, 56);
    assert.equal(await vncLogin(port, 'third'), 'ok', 'the failed SPICE update changed nothing');
  });

  void it('VM.reset reboots the guest in place: a second boot on the serial console, RebootInProgress, then Up again', async () => {
    const boots = async (): Promise<number> => (await readFile(consoleLog, 'utf8')).split('tinyguest: init started').length - 1;
    assert.equal(await boots(), 1);
    assert.equal(await engine.call('VM.reset', { vmID: vmId }, CALL_TIMEOUT_MS), true);
    await waitFor(async () => ((await boots()) === 2 ? true : undefined), { timeoutMs: BOOT_DEADLINE_MS, intervalMs: 250, what: 'the guest booting again after VM.reset' });
    assert.equal(await virsh.domstate(name), 'running');
    // libvirt reports the reset as a reboot: RebootInProgress (as vdsm) until the guest agent is back.
    await engine.waitForEvent(isVmStatus(vmId, 'RebootInProgress'), CALL_TIMEOUT_MS);
    await waitFor(async () => ((await engine.call<{ status: string }>('VM.getInfo', { vmID: vmId })).status === 'Up' ? true : undefined), { timeoutMs: BOOT_DEADLINE_MS, intervalMs: 250, what: 'Up again after the reset' });
  });
});
