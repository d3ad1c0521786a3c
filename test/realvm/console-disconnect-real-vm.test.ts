// The console disconnect action on a real hypervisor: vdsmd on qemu:///session (TCG) runs the tiny guest
// with a VNC display and the guest's small ovirt-guest-agent (scripts/realvm/guest-init.sh), which
// writes every command it gets to the serial console log. A VNC viewer (this test: the RFB handshake up to
// ServerInit) logs in with the ticket and goes away; QEMU reports the client, libvirt's graphics events
// reach vdsmd, and 2 s later the guest receives what the engine chose: log-off (VM.updateDevice
// disconnectAction LOGOUT), lock-screen (VM.setTicket: always LOCK_SCREEN, as vdsm), nothing for NONE, a
// reboot through the oVirt agent for REBOOT. Also the fips checks of a VNC ticket (errors 11 and 100).
// Skipped unless scripts/realvm/setup.sh has run; VDSM_REALVM=1 makes missing pieces a failure.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureRealVmAssets, realVmSkip, startSessionLibvirtd, tinyGuestXml, Virsh, waitFor, type SessionLibvirtd } from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { vncLogin } from '../support/vnc-client.js';

const check = await ensureRealVmAssets();
const skip = realVmSkip(check);
const CALL_TIMEOUT_MS = 60_000;
const BOOT_DEADLINE_MS = 90_000;

void describe('console disconnect actions on a real hypervisor (VNC client, libvirt graphics events, the guest\'s oVirt agent)', { skip, timeout: 300_000 }, () => {
  let lv: SessionLibvirtd;
  let virsh: Virsh;
  let stateDir: string;
  let agent: AgentProcess;
  let engine: EngineClient;
  const vmId = randomUUID();
  const name = `cd-${vmId.slice(0, 4)}`;
  let consoleLog: string;
  let port: number;

  const guestSaid = async (re: RegExp): Promise<number> => ((await readFile(consoleLog, 'utf8')).match(new RegExp(re.source, 'g')) ?? []).length;
  const vnc = (graphicsType: string, password: string, disconnectAction?: string): Record<string, unknown> => ({
    deviceType: 'graphics', graphicsType, password, ttl: '120', existingConnAction: 'disconnect', params: {},
    ...(disconnectAction !== undefined ? { disconnectAction } : {}),
  });
  /** A viewer session: log in with the ticket, set up, go away; then the agent's handling of its disconnect. */
  const viewerSession = async (password: string, action: string, whileConnected?: () => Promise<void>): Promise<void> => {
    const seen = agent.lines.length;
    let sock: Socket | undefined;
    assert.equal(await vncLogin(port, password, { init: true, ...(whileConnected !== undefined ? { keep: (s: Socket) => { sock = s; } } : {}) }), 'ok');
    if (whileConnected !== undefined) {
      try {
        await whileConnected();
      } finally {
        sock?.destroy();
      }
    }
    await agent.waitForLog((l) => l['msg'] === 'console disconnected: acting on it' && l['vmId'] === vmId && l['disconnectAction'] === action && agent.lines.indexOf(l) >= seen, 20_000);
  };

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    lv = await startSessionLibvirtd();
    virsh = new Virsh(lv.uri('qemu'), { binary: check.assets.tools.virsh });
    stateDir = await mkdtemp(join(tmpdir(), 'vdsm-realvm-console-'));
    agent = await AgentProcess.start({ stateDir, args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', 'vars.fake_kvm_support=false', '--set', 'vars.user_shutdown_timeout=1'] });
    await agent.whenReady(CALL_TIMEOUT_MS);
    engine = await EngineClient.connect({ port: agent.port });
    consoleLog = join(lv.runDir, `${name}.log`);
    const xml = tinyGuestXml({ uuid: vmId, name, kernel: check.assets.kernel, initrd: check.assets.initrd, consoleLog })
      .replace('<graphics type="vnc" ', '<graphics type="vnc" passwd="*****" passwdValidTo="1970-01-01T00:00:01" ');
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml } }, CALL_TIMEOUT_MS);
    await engine.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
    await waitFor(async () => /tinyguest: ovirt-guest-agent on /.test(await readFile(consoleLog, 'utf8').catch(() => '')), { timeoutMs: 30_000, what: "the guest's ovirt-guest-agent" });
    port = Number(/<graphics type='vnc' port='(\d+)'/.exec(await virsh.run(['dumpxml', name]))?.[1]);
    assert.ok(port > 0, 'the guest has a VNC port');
  });

  after(async () => {
    engine?.close();
    await agent?.kill();
    await lv?.stop();
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  void it('VM.updateDevice disconnectAction LOGOUT: the viewer leaves and the guest gets log-off', async () => {
    await engine.call('VM.updateDevice', { vmID: vmId, params: vnc('vnc', 'one', 'LOGOUT') }, CALL_TIMEOUT_MS);
    assert.equal(await guestSaid(/ovirt-guest-agent: log-off/), 0);
    await viewerSession('one', 'LOGOUT');
    await waitFor(async () => ((await guestSaid(/ovirt-guest-agent: log-off/)) === 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100, what: 'the guest receiving log-off' });
    assert.equal(await guestSaid(/ovirt-guest-agent: lock-screen/), 0, 'no lock-screen instead');
  });

  void it("VM.setTicket: the screen is locked when the viewer leaves (vdsm resets the action to LOCK_SCREEN); VM stats show the viewer's address while it is there", async () => {
    assert.equal(await engine.call('VM.setTicket', { vmID: vmId, password: 'two', ttl: 120, existingConnAction: 'keep', params: { vncUsername: 'vnc-console', fips: 'false' } }, CALL_TIMEOUT_MS), true);
    const clientIp = async (): Promise<unknown> => (await engine.call<Record<string, unknown>[]>('VM.getStats', { vmID: vmId }))[0]!['clientIp'];
    assert.equal(await clientIp(), '');
    await viewerSession('two', 'LOCK_SCREEN', async () => {
      await waitFor(async () => ((await clientIp()) === '127.0.0.1' ? true : undefined), { timeoutMs: 10_000, intervalMs: 100, what: 'clientIp of the connected viewer' });
    });
    assert.equal(await clientIp(), '', 'the viewer left');
    await waitFor(async () => ((await guestSaid(/ovirt-guest-agent: lock-screen/)) === 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100, what: 'the guest receiving lock-screen' });
  });

  void it('disconnectAction NONE: the viewer leaves and nothing is sent; a failed login is no console client', async () => {
    await engine.call('VM.updateDevice', { vmID: vmId, params: vnc('vnc', 'three', 'NONE') }, CALL_TIMEOUT_MS);
    const before = await readFile(consoleLog, 'utf8');
    assert.equal(await vncLogin(port, 'three', { init: true }), 'ok');
    assert.equal(await vncLogin(port, 'wrong'), 'failed');
    // The disconnect was handled (the agent logs graphics events at DEBUG: wait for a later, observable
    // step instead): a new ticket with LOCK_SCREEN and a viewer session lock the screen exactly once more.
    await engine.call('VM.updateDevice', { vmID: vmId, params: vnc('vnc', 'four', 'LOCK_SCREEN') }, CALL_TIMEOUT_MS);
    await viewerSession('four', 'LOCK_SCREEN');
    await waitFor(async () => ((await guestSaid(/ovirt-guest-agent: lock-screen/)) === 2 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100, what: 'the second lock-screen' });
    const added = (await readFile(consoleLog, 'utf8')).slice(before.length);
    assert.deepEqual(added.match(/ovirt-guest-agent: (lock-screen|log-off|shutdown[^\n]*)/g), ['ovirt-guest-agent: lock-screen'], 'NONE sent nothing');
  });

  void it('a VNC ticket with fips: "maybe" is error 11, fips without vncUsername 100 (vdsm); nothing is set', async () => {
    const bad = await engine.callError('VM.setTicket', { vmID: vmId, password: 'x', ttl: 60, existingConnAction: 'keep', params: { fips: 'maybe', vncUsername: 'u' } });
    assert.equal(bad.code, 11);
    assert.match(String(bad.message), /fips param should either be "true", "false" or non-existent/);
    const noUser = await engine.callError('VM.updateDevice', { vmID: vmId, params: { ...vnc('vnc', 'x'), params: { fips: 'true' } } });
    assert.equal(noUser.code, 100);
    assert.match(String(noUser.message), /FIPS mode requires vncUsername/);
    assert.equal(await vncLogin(port, 'x'), 'failed', 'the refused tickets were not set');
  });

  void it('disconnectAction REBOOT: the viewer leaves and the guest is asked to reboot through its oVirt agent (forced sequence)', async () => {
    await engine.call('VM.updateDevice', { vmID: vmId, params: vnc('vnc', 'five', 'REBOOT') }, CALL_TIMEOUT_MS);
    await viewerSession('five', 'REBOOT');
    const asked = await agent.waitForLog((l) => l['msg'] === 'Machine rebooting' && l['vmId'] === vmId, 20_000);
    assert.equal(asked['method'], 'ovirt-guest-agent');
    await waitFor(async () => ((await guestSaid(/ovirt-guest-agent: shutdown \(timeout 1, reboot True\)/)) === 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100, what: 'the guest receiving the reboot' });
  });
});
