// A real guest hibernated and brought back: vdsmd on qemu:///session (an unprivileged libvirtd, TCG)
// with a local data center made by the engine's calls, the guest's disk on a volume; its oVirt agent
// confirms before_hibernation; the tiny guest's second vCPU is taken offline
// through qemu-ga (a state that lives only in the guest's memory: a fresh boot brings both up), then
// VM.hibernate writes its memory state into a volume (QEMU's save image), the VM is Down (5), and
// VM.create with the same handle restores it: Up, qemu-ga answers, and the vCPU is still offline. Skipped unless scripts/realvm/setup.sh has run; VDSM_REALVM=1 makes missing pieces a failure.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chown, lstat, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureRealVmAssets, realVmSkip, startStorageHost, tinyGuestXml, waitFor, withStorageDisk, type RealVmAssets, type SessionLibvirtd, type StorageHost, type Virsh } from '../support/realvm/index.js';
import { isVmStatus, type EngineClient } from '../helpers/engine-client.js';
import { createVolume, waitTaskByAllStatuses, type LocalDc } from '../helpers/storage-engine.js';

type Obj = Record<string, unknown>;

const check = await ensureRealVmAssets();
const skip = realVmSkip(check);

const DAY_MS = 86_400_000;
/** How far a synced guest clock may be from the host's (the set, a TCG guest's pace, virsh's round trips). */
const CLOSE_MS = 10_000;
const BOOT_DEADLINE_MS = 90_000;
const CALL_TIMEOUT_MS = 60_000;

const statusOf = (e: Obj, vmId: string): Obj => (e['params'] as Record<string, Obj>)[vmId]!;

void describe('vdsmd hibernates a real guest to storage and restores it', { skip, timeout: 300_000 }, () => {
  let assets: RealVmAssets;
  let lv: SessionLibvirtd;
  let virsh: Virsh;
  let engine: EngineClient;
  let dc: LocalDc;

  /** The memory and configuration volumes, given to QEMU's user (the session daemon runs QEMU as it). */
  async function hibernationVolumes(): Promise<{ handle: string; memPath: string }> {
    const ids = { memImg: randomUUID(), memVol: randomUUID(), confImg: randomUUID(), confVol: randomUUID() };
    for (const [img, vol, size] of [[ids.memImg, ids.memVol, 256 << 20], [ids.confImg, ids.confVol, 1 << 20]] as const) {
      const task = await createVolume(engine, dc, { imgUUID: img, volUUID: vol, size, volFormat: 5, preallocate: 2, diskType: 'MEMORY' });
      assert.equal((await waitTaskByAllStatuses(engine, task)).taskResult, 'success');
      assert.equal(await engine.call('Task.clear', { taskID: task }), true);
      await chown(join(dc.path, dc.sdUUID, 'images', img, vol), lv.owner.uid, lv.owner.gid);
    }
    return {
      handle: [dc.sdUUID, dc.spUUID, ids.memImg, ids.memVol, ids.confImg, ids.confVol].join(','),
      memPath: join(dc.path, dc.sdUUID, 'images', ids.memImg, ids.memVol),
    };
  }

  /** The guest's clock, ms since the epoch, as qemu-ga reads it. */
  async function guestTime(name: string): Promise<number> {
    return Number(await virsh.agentCommand(name, 'guest-get-time', undefined, 30)) / 1e6;
  }

  /** qemu-ga's view of the guest's vCPUs: online or not, by logical id. */
  async function onlineVcpus(name: string): Promise<boolean[]> {
    const vcpus = await virsh.agentCommand(name, 'guest-get-vcpus', undefined, 30) as { 'logical-id': number; online: boolean }[];
    return vcpus.sort((a, b) => a['logical-id'] - b['logical-id']).map((v) => v.online);
  }

  let host: StorageHost | undefined;

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    assets = check.assets;
    host = await startStorageHost(assets, { prefix: '/tmp/vdsm-rv-hib-', callTimeoutMs: CALL_TIMEOUT_MS, args: ['--set', 'vars.vm_sample_interval=2'] });
    ({ lv, virsh, engine, dc } = host);
  });

  after(async () => {
    await host?.stop();
  });

  void it('VM.hibernate then VM.create with the handle: the same guest, its memory intact', async (t) => {
    const vmId = randomUUID();
    const name = `hib-${vmId.slice(0, 4)}`;
    // Its disk is a qcow2 volume named only by PDIV, as the engine gives it: prepared again for the restore.
    const img = randomUUID();
    const vol = randomUUID();
    const made = await createVolume(engine, dc, { imgUUID: img, volUUID: vol, size: 4 << 20, volFormat: 4, preallocate: 2 });
    assert.equal((await waitTaskByAllStatuses(engine, made)).taskResult, 'success');
    assert.equal(await engine.call('Task.clear', { taskID: made }), true);
    const volPath = join(dc.path, dc.sdUUID, 'images', img, vol);
    await chown(volPath, lv.owner.uid, lv.owner.gid);
    const runLink = join(host!.root, 'state', 'run', 'storage', dc.sdUUID, img);
    const xml = withStorageDisk(tinyGuestXml({
      uuid: vmId, name, vcpus: 2, kernel: assets.kernel, initrd: assets.initrd, consoleLog: join(lv.runDir, `${name}.log`), disk: { path: 'ENGINE_PATH', format: 'qcow2' },
    }), dc, img, vol);
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml } });
    await engine.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
    await waitFor(() => virsh.agentCommand(name, 'guest-ping', undefined, 10).then(() => true, () => undefined), { timeoutMs: BOOT_DEADLINE_MS, intervalMs: 500, what: 'qemu-ga in the guest' });
    // A state only the guest's memory holds: its second vCPU taken offline by qemu-ga (a fresh boot brings both up).
    assert.equal(await virsh.agentCommand(name, 'guest-set-vcpus', { vcpus: [{ 'logical-id': 1, online: false }] }, 30), 1);
    assert.deepEqual(await onlineVcpus(name), [true, false]);
    // And a clock a day behind (qemu-ga's guest-set-time): the restore sets it to the host's.
    await virsh.agentCommand(name, 'guest-set-time', { time: (Date.now() - DAY_MS) * 1_000_000 }, 30).catch((err: unknown) => {
      throw new Error(`the guest cannot set its clock: rebuild the real-VM assets with bash scripts/realvm/setup.sh (${String((err as Error).message)})`);
    });
    assert.ok(Date.now() - await guestTime(name) > DAY_MS - CLOSE_MS, 'the guest\'s clock is a day behind');

    // The oVirt guest agent speaks API 3 (it can confirm lifecycle events): it must confirm before_hibernation.
    await host!.agent.waitForLog((l) => l['vmId'] === vmId && l['msg'] === 'Guest API version changed' && Number(l['apiVersion']) >= 3, BOOT_DEADLINE_MS);
    const vols = await hibernationVolumes();
    const from = engine.events().length;
    const t0 = performance.now();
    assert.equal(await engine.call('VM.hibernate', { vmID: vmId, hibernationVolHandle: vols.handle }, CALL_TIMEOUT_MS), true);
    await engine.waitForEvent(isVmStatus(vmId, 'Saving State'), CALL_TIMEOUT_MS, from);
    const down = statusOf(await engine.waitForEvent(isVmStatus(vmId, 'Down'), CALL_TIMEOUT_MS, from), vmId);
    t.diagnostic(`VM.hibernate to Down: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    assert.equal(down['exitReason'], 5);
    assert.equal(down['exitMessage'], 'SaveState succeeded');
    const told = host!.agent.lines.find((l) => l['vmId'] === vmId && l['msg'] === 'before_hibernation to the oVirt guest agent');
    assert.equal(told?.['confirmed'], true, 'the running guest confirmed before_hibernation (it is paused only after)');
    assert.ok(!(await virsh.run(['list', '--name'])).includes(name), 'the domain is gone from libvirt');
    // QEMU's save image (libvirt's header) in the memory volume.
    const fh = await open(vols.memPath, 'r');
    const head = Buffer.alloc(16);
    await fh.read(head, 0, 16, 0);
    await fh.close();
    assert.match(head.toString('latin1'), /^LibvirtQemudSave/);
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS), true);
    await assert.rejects(lstat(runLink), { code: 'ENOENT' }, 'the disk\'s image torn down with the Down VM');

    const from2 = engine.events().length;
    const t1 = performance.now();
    const created = await engine.call<Obj>('VM.create', { vmID: vmId, vmParams: { vmId, xml, hiberVolHandle: vols.handle } }, CALL_TIMEOUT_MS);
    assert.equal(created['status'], 'Restoring state');
    await engine.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS, from2);
    t.diagnostic(`VM.create (restore) to Up: ${((performance.now() - t1) / 1000).toFixed(2)} s`);
    assert.deepEqual(await virsh.agentCommand(name, 'guest-ping', undefined, 30), {});
    // Still one vCPU offline: the guest's memory came back, it did not boot again.
    assert.deepEqual(await onlineVcpus(name), [true, false]);
    // The agent set the guest's clock to the host's (virDomainSetTime through qemu-ga), as vdsm does after a restore.
    const synced = await waitFor(async () => {
      const g = await guestTime(name);
      return Math.abs(g - Date.now()) < CLOSE_MS ? g : undefined;
    }, { timeoutMs: CALL_TIMEOUT_MS, intervalMs: 250, what: 'the restored guest\'s clock at the host\'s time' });
    t.diagnostic(`restored guest's clock off the host's by ${Math.round(synced - Date.now())} ms`);
    assert.equal((await engine.call<Obj>('VM.getInfo', { vmID: vmId }))['status'], 'Up');
    // The disk is the volume again, through its image prepared anew.
    assert.ok((await lstat(runLink)).isSymbolicLink(), 'the disk\'s image prepared for the restore');
    const source = /<disk[\s\S]*?<source file='([^']+)'/.exec(await virsh.dumpxml(name))?.[1];
    assert.equal((await stat(source!)).ino, (await stat(volPath)).ino, 'the restored guest runs on the volume file');
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS), true);
  });
});
