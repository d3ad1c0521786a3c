// libvirtd crashes under the agent while a real VM is paused, and the VM is resumed during the outage
// (through QEMU's own monitor, which a dead libvirtd no longer holds). QEMU outlives the daemon; the
// daemon started again reconnects to it and sees it running. After the agent's libvirt connection is
// back, without restarting the agent, the VM's status and the engine's last VM_status event say Up,
// as virsh does. Skipped unless scripts/realvm/setup.sh has run; VDSM_REALVM=1 makes that a failure.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ensureRealVmAssets, realVmSkip, startSessionLibvirtd, tinyGuestXml, Virsh, waitFor, type SessionLibvirtd,
} from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';

type Obj = Record<string, unknown>;
const check = await ensureRealVmAssets();
const skip = realVmSkip(check);
const DEADLINE_MS = 60_000;

/** Send QMP commands to QEMU's monitor socket; resolves with the reply to each, in order. */
async function qmp(socket: string, commands: string[]): Promise<Obj[]> {
  const sock = connect({ path: socket });
  const replies: Obj[] = [];
  let buf = '';
  let greeted = false;
  return new Promise<Obj[]>((resolve, reject) => {
    sock.once('error', reject);
    sock.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as Obj;
        buf = buf.slice(nl + 1);
        if (!greeted) { greeted = 'QMP' in msg; if (greeted) sock.write(`${JSON.stringify({ execute: 'qmp_capabilities' })}\n`); continue; }
        if (!('return' in msg) && !('error' in msg)) continue; // asynchronous events
        replies.push(msg);
        if (replies.length === commands.length + 1) { sock.end(); resolve(replies.slice(1)); return; }
        sock.write(`${JSON.stringify({ execute: commands[replies.length - 1] })}\n`);
      }
    });
  });
}

void describe('libvirtd restarts while a real VM is paused; resumed during the outage', { skip, timeout: 180_000 }, () => {
  let runDir: string;
  let lv: SessionLibvirtd;
  let agent: AgentProcess;
  let engine: EngineClient;

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    runDir = await mkdtemp(join(tmpdir(), 'vr-'));  // short: QEMU's sockets live below it
    lv = await startSessionLibvirtd({ dir: runDir });
    agent = await AgentProcess.start({
      args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', 'libvirt.reconnect_max_delay=0.5', '--set', 'vars.guest_wait_timeout=0'],
    });
    engine = await EngineClient.connect({ port: agent.port });
    await agent.whenReady(DEADLINE_MS);
  });
  after(async () => {
    engine?.close();
    await agent?.cleanup();
    await lv?.stop();  // the last daemon: stops it and kills the QEMU that outlived the first
    if (runDir !== undefined) await rm(runDir, { recursive: true, force: true });
  });

  void it('after the reconnect the VM is Up in the agent, in the engine events and in libvirt', async () => {
    if (!check.ok) return;
    const vmId = randomUUID();
    const name = `rr-${vmId.slice(0, 4)}`;
    const xml = tinyGuestXml({ uuid: vmId, name, kernel: check.assets.kernel, initrd: check.assets.initrd, consoleLog: join(runDir, `${name}.log`) });
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml } });
    await engine.waitForEvent(isVmStatus(vmId, 'Up'), DEADLINE_MS);
    await engine.call('VM.pause', { vmID: vmId });
    await engine.waitForEvent(isVmStatus(vmId, 'Paused'));
    const virsh = new Virsh(lv.uri('qemu'), { binary: check.assets.tools.virsh });
    assert.equal(await virsh.domstate(name), 'paused');

    const seenBefore = engine.events().length;
    await lv.crash();
    await agent.waitForLog((l) => l['msg'] === 'libvirt connection lost');
    // QEMU's monitor: the one socket under the domain's private directory that QMP answers on.
    const libDir = join(runDir, 'cfg/libvirt/qemu/lib');
    const domainDir = (await readdir(libDir)).find((d) => d.endsWith(`-${name}`));
    assert.ok(domainDir, `QEMU's private directory for ${name} under ${libDir}`);
    const [status, cont, after] = await qmp(join(libDir, domainDir, 'monitor.sock'), ['query-status', 'cont', 'query-status']);
    assert.equal((status!['return'] as Obj)['status'], 'paused', 'QEMU is paused while libvirtd is down');
    assert.deepEqual(cont!['return'], {});
    assert.equal((after!['return'] as Obj)['status'], 'running', 'resumed behind libvirt\'s back');

    lv = await startSessionLibvirtd({ dir: runDir });
    await waitFor(async () => (await virsh.domstate(name)) === 'running', { timeoutMs: DEADLINE_MS, intervalMs: 200, what: 'libvirt to see the VM running' });
    try {
      // An Up event after the outage began (the engine last heard Paused).
      await waitFor(async () => engine.events().slice(seenBefore).some(isVmStatus(vmId, 'Up')), { timeoutMs: DEADLINE_MS, intervalMs: 100, what: 'an Up event after the reconnect' });
    } catch (err) {
      const log = agent.lines.filter((l) => l['vmId'] === vmId || /libvirt|resync/i.test(String(l['msg'])) || (l['level'] as number) >= 40);
      throw new Error(`no Up after the reconnect; agent log:\n${log.slice(-20).map((l) => JSON.stringify(l)).join('\n')}`, { cause: err });
    }
    await agent.waitForLog((l) => l['msg'] === 'VM states resynced after the libvirt reconnect', DEADLINE_MS);
    const stats = (await engine.call<Obj[]>('VM.getStats', { vmID: vmId }))[0]!;
    assert.equal(stats['status'], 'Up');
    const mine = engine.events().filter((e) => e['method'] === `|virt|VM_status|${vmId}`);
    assert.equal(((mine.at(-1)!['params'] as Record<string, Obj>)[vmId]!)['status'], 'Up', 'the last event the engine got');
    assert.equal(agent.lines.filter((l) => l['msg'] === 'vdsm-node serving the management port').length, 1, 'the agent was not restarted');
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }), true);
  });
});
