// A FIPS console ticket on a real hypervisor: vdsmd (qemu:///session, TCG guest with VNC) with the real
// supervdsmd beside it, whose QEMU SASL database for VNC ([supervdsm] sasl_vnc_db) is a file in the
// test's directory. VM.setTicket with fips "true" sets the ticket for vncUsername there (saslpasswd2 -a
// qemu, as vdsm's saslpasswd2_set_vnc_password), on top of the VNC password on the live device; a
// ticket without fips removes that user again (vdsm's saslpasswd2_remove_vnc_password). The database is
// read with the real sasldblistusers2. Not shown: a viewer logging in with SASL, which needs QEMU's VNC
// started with SASL (qemu.conf vnc_sasl, a host setting this session libvirtd does not have).
// Skipped unless scripts/realvm/setup.sh has run; VDSM_REALVM=1 makes missing pieces a failure.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { ensureRealVmAssets, realVmSkip, startSessionLibvirtd, tinyGuestXml, Virsh, type SessionLibvirtd } from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { SupervdsmProcess } from '../helpers/supervdsm-process.js';
import { vncLogin } from '../support/vnc-client.js';

const check = await ensureRealVmAssets();
const skip = realVmSkip(check) || (process.getuid?.() !== 0 ? 'supervdsmd needs root' : false);
const CALL_TIMEOUT_MS = 60_000;
const BOOT_DEADLINE_MS = 90_000;

void describe('VM.setTicket with fips on a real hypervisor: the ticket in QEMU\'s SASL database through supervdsmd', { skip, timeout: 240_000 }, () => {
  let lv: SessionLibvirtd;
  let virsh: Virsh;
  let dir: string;
  let db: string;
  let helper: SupervdsmProcess;
  let agent: AgentProcess;
  let engine: EngineClient;
  const vmId = randomUUID();
  const name = `fs-${vmId.slice(0, 4)}`;

  const users = async (): Promise<string> => (await promisify(execFile)('sasldblistusers2', ['-f', db])).stdout;

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    lv = await startSessionLibvirtd();
    virsh = new Virsh(lv.uri('qemu'), { binary: check.assets.tools.virsh });
    dir = await mkdtemp(join(tmpdir(), 'vdsm-realvm-sasl-'));
    await chmod(dir, 0o755);
    const run = join(dir, 'run');
    await mkdir(run, { mode: 0o755 });
    db = join(dir, 'sasl', 'vnc_passwd.db');
    await mkdir(join(dir, 'sasl'));
    // vdsmd runs as root here, so the helper's peer is root.
    const shared = ['--set', `vars.run_dir=${run}`, '--set', 'supervdsm.user=root', '--set', 'supervdsm.group=root'];
    helper = await SupervdsmProcess.start([...shared, '--set', `supervdsm.sasl_vnc_db=${db}`, '--set', `supervdsm.sasl_libvirt_db=${join(dir, 'sasl', 'passwd.db')}`, '--set', `supervdsm.channel_dirs=${join(dir, 'channels')}`]);
    agent = await AgentProcess.start({ stateDir: join(dir, 'state'), runDir: run, args: [...shared, '--set', 'supervdsm.enable=true', '--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', 'vars.fake_kvm_support=false'] });
    await agent.whenReady(CALL_TIMEOUT_MS);
    await agent.waitForLog((l) => l['msg'] === 'connected to supervdsm', 30_000);
    engine = await EngineClient.connect({ port: agent.port });
    const xml = tinyGuestXml({ uuid: vmId, name, kernel: check.assets.kernel, initrd: check.assets.initrd, consoleLog: join(lv.runDir, `${name}.log`) })
      .replace('<graphics type="vnc" ', '<graphics type="vnc" passwd="*****" passwdValidTo="1970-01-01T00:00:01" ');
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml } }, CALL_TIMEOUT_MS);
    await engine.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
  });

  after(async () => {
    engine?.close();
    await agent?.kill();
    await helper?.stop();
    await lv?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  void it('fips "true": the ticket is vncUsername\'s SASL password and the device\'s password; a ticket without fips removes the user', async () => {
    const port = Number(/<graphics type='vnc' port='(\d+)'/.exec(await virsh.run(['dumpxml', name]))?.[1]);
    const password = `fp${randomUUID().slice(0, 6)}`;
    assert.equal(await engine.call('VM.setTicket', { vmID: vmId, password, ttl: 120, existingConnAction: 'keep', params: { vncUsername: 'vnc-console', fips: 'true' } }, CALL_TIMEOUT_MS), true);
    assert.match(await users(), /^vnc-console@\S+: userPassword$/m);
    // sasldb keeps the secret as it was given (what QEMU's SASL checks a viewer against).
    assert.ok((await readFile(db)).includes(Buffer.from(password)), 'the ticket is the SASL password');
    assert.equal(await vncLogin(port, password), 'ok', 'and the VNC password on the live device');
    await agent.waitForLog((l) => l['msg'] === 'VNC SASL password set' && l['vmId'] === vmId && l['vncUsername'] === 'vnc-console', 5_000);
    assert.ok(!agent.lines.some((l) => JSON.stringify(l).includes(password)), 'the password is not logged');

    // The engine's next ticket without fips: the SASL user goes, the device gets the new password.
    const r = await engine.call<Record<string, unknown>>('VM.updateDevice', { vmID: vmId, params: { deviceType: 'graphics', graphicsType: 'vnc', password: 'plain', ttl: 60, params: { vncUsername: 'vnc-console', fips: 'false' } } }, CALL_TIMEOUT_MS);
    assert.equal(r['vmId'], vmId);
    assert.doesNotMatch(await users(), /vnc-console/);
    assert.equal(await vncLogin(port, 'plain'), 'ok');
  });

  void it('a user name the helper refuses is error 100 and the device keeps its ticket', async () => {
    const port = Number(/<graphics type='vnc' port='(\d+)'/.exec(await virsh.run(['dumpxml', name]))?.[1]);
    const e = await engine.callError('VM.setTicket', { vmID: vmId, password: 'other', ttl: 60, existingConnAction: 'keep', params: { vncUsername: '-bad user', fips: 'true' } });
    assert.equal(e.code, 100);
    assert.match(String(e.message), /VNC SASL password not set for -bad user/);
    assert.equal(await vncLogin(port, 'plain'), 'ok', 'the previous ticket still holds');
  });
});
