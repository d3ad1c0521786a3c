// Guest time sync on a real guest: vdsmd on qemu:///session (TCG) with [vars] time_sync_cont_enable, the
// tiny guest's real qemu-ga setting its clock. The guest's clock is set a day wrong through qemu-ga
// (guest-set-time, as virsh does it: an independent client), the VM paused and continued with the
// engine's verbs, and the guest's clock read back (guest-get-time): the host's time again.
// Skipped unless scripts/realvm/setup.sh has run; VDSM_REALVM=1 makes missing pieces a failure.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureRealVmAssets, realVmSkip, startSessionLibvirtd, tinyGuestXml, Virsh, waitFor, type SessionLibvirtd } from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';

const check = await ensureRealVmAssets();
const skip = realVmSkip(check);

const BOOT_DEADLINE_MS = 90_000;
const CALL_TIMEOUT_MS = 60_000;
const DAY_MS = 86_400_000;
/** How far the synced guest clock may be from the host's: the set itself, a TCG guest's pace, virsh's round trips. */
const CLOSE_MS = 10_000;

void describe('guest time sync through qemu-ga on a real guest', { skip, timeout: 240_000 }, () => {
  let lv: SessionLibvirtd;
  let virsh: Virsh;
  let stateDir: string;
  let agent: AgentProcess;
  let engine: EngineClient;
  const vmId = randomUUID();
  const name = `ts-${vmId.slice(0, 4)}`;

  /** The guest's clock, ms since the epoch, as qemu-ga reads it. */
  const guestTime = async (): Promise<number> => Number(await virsh.agentCommand(name, 'guest-get-time', undefined, 30)) / 1e6;
  const setGuestTime = (ms: number): Promise<unknown> => virsh.agentCommand(name, 'guest-set-time', { time: Math.round(ms) * 1_000_000 }, 30);

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    const assets = check.assets;
    lv = await startSessionLibvirtd();
    virsh = new Virsh(lv.uri('qemu'), { binary: assets.tools.virsh });
    stateDir = await mkdtemp(join(tmpdir(), 'vdsm-realvm-ts-'));
    agent = await AgentProcess.start({ stateDir, args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', 'vars.time_sync_cont_enable=true'] });
    engine = await EngineClient.connect({ port: agent.port });
    await agent.whenReady(CALL_TIMEOUT_MS);
    const xml = tinyGuestXml({ uuid: vmId, name, kernel: assets.kernel, initrd: assets.initrd, consoleLog: join(lv.runDir, `${name}.log`) });
    await engine.call('VM.create', { vmID: vmId, vmParams: { xml } });
    await engine.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
    await waitFor(() => virsh.agentCommand(name, 'guest-ping', undefined, 10).then(() => true, () => undefined), { timeoutMs: BOOT_DEADLINE_MS, intervalMs: 500, what: 'qemu-ga in the guest' });
  });

  after(async () => {
    engine?.close();
    await agent?.kill();
    await lv?.stop();
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  void it('VM.cont sets the clock of a guest that went a day wrong back to the host\'s (time_sync_cont_enable)', async (t) => {
    // qemu-ga refuses guest-set-time without /sbin/hwclock (assets built before build-initrd.sh linked it).
    await setGuestTime(Date.now() - DAY_MS).catch((err: unknown) => {
      throw new Error(`the guest cannot set its clock: rebuild the real-VM assets with bash scripts/realvm/setup.sh (${String((err as Error).message)})`);
    });
    const wrong = await guestTime();
    assert.ok(Math.abs(Date.now() - DAY_MS - wrong) < CLOSE_MS, `the guest's clock is a day behind (${new Date(wrong).toISOString()})`);

    assert.deepEqual(await engine.call('VM.pause', { vmID: vmId }, CALL_TIMEOUT_MS), { vmList: {} });
    assert.equal((await engine.call<Record<string, unknown>>('VM.getInfo', { vmID: vmId }))['status'], 'Paused');
    const t0 = performance.now();
    assert.deepEqual(await engine.call('VM.cont', { vmID: vmId }, CALL_TIMEOUT_MS), { vmList: {} });
    // The sync runs on the guest-agent executor after VM.cont answered: the clock comes right soon after.
    const synced = await waitFor(async () => {
      const g = await guestTime();
      return Math.abs(g - Date.now()) < CLOSE_MS ? g : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250, what: 'the guest\'s clock at the host\'s time' });
    t.diagnostic(`VM.cont to a synced guest clock: ${((performance.now() - t0) / 1000).toFixed(2)} s, guest ${new Date(synced).toISOString()}, off by ${Math.round(synced - Date.now())} ms`);
    const failed = agent.lines.filter((l) => l['vmId'] === vmId && l['msg'] === 'Failed to set the guest time');
    assert.deepEqual(failed, [], 'libvirt\'s virDomainSetTime answered');
  });
});
