// A live snapshot job survives an agent crash, on real guests: vdsmd on qemu:///session (TCG) with a
// local data center, SIGKILLed mid-job and started again on the same state directory (as the engine
// does after a vdsm restart, it connects the storage again). The job's state is in the domain's
// metadata (<ovirt-vm:snapshot_job>, written by the first agent: read before the restart), so the next
// agent lists the job in Host.getJobs and ends it as vdsm does, judged from the domain's disks, and
// removes the record:
// - with the memory, killed while libvirt writes the memory state (libvirt's domain job active): the job
//   is listed running until libvirt is done, then done; the disk runs on the new layer, Host.dumpxmls'
//   metadata names the new volume, the guest runs, thawed. The memory snapshot takes a fraction of a
//   second here: an attempt whose kill lands after the first agent already ended the job (its record
//   gone from the metadata) shows nothing about a restart and is made again on a further layer.
// - disk-only with qemu-ga stopped in the guest, killed while the job waits for the guest's freeze
//   (deterministic: qemu-ga cannot answer): libvirt never took the snapshot, so the next agent fails
//   the job with 48 (judged from the disk, still on its volume) and asks libvirt to thaw the guest on
//   the job's behalf (its log line; qemu-ga, still stopped, cannot answer that either: after this
//   restart libvirt never heard from it again, even once the guest was told to resume it, so the
//   guest's own freeze state is not read back here; test/services/vm-snapshot.test.ts has the thaw).
// - the same wait for the freeze, but vdsmd stopped (SIGTERM): the stopping agent does not end the job
//   its calls were cut short (no `snapshot job failed`), the record stays, and the next agent ends the
//   job as the disk says (done on the new volume, else failed 48).
// Volumes are made before any restart (a restarted agent is no longer the SPM). Skipped unless
// scripts/realvm/setup.sh has run.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chown, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureRealVmAssets, realVmSkip, startStorageHost, tinyGuestXml, waitFor, withStorageDisk, type StorageHost } from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { connectPool, connectStorage, createVolume, waitTaskByAllStatuses } from '../helpers/storage-engine.js';

type Obj = Record<string, unknown>;
const check = await ensureRealVmAssets();
const skip = realVmSkip(check);
const BOOT_DEADLINE_MS = 90_000;
const CALL_TIMEOUT_MS = 60_000;
/** Memory snapshots tried before giving up on landing a kill inside one. */
const ATTEMPTS = 8;
const OVIRT_VM_NS = 'http://ovirt.org/vm/1.0';

/** The source file of the domain's first disk. */
const diskSource = (xml: string): string | undefined => /<disk\b[^>]*device='disk'[^>]*>[\s\S]*?<source file='([^']+)'/.exec(xml)?.[1];
const sameFile = async (a: string, b: string): Promise<boolean> => (await stat(a)).ino === (await stat(b)).ino;

void describe('live snapshot jobs across an agent crash (real guests)', { skip, timeout: 600_000 }, () => {
  let host: StorageHost | undefined;
  let agent: AgentProcess | undefined;
  let engine: EngineClient | undefined;
  /** Case 1: an image with a chain of layers made up front, and the memory snapshot's volumes. */
  const mem = { img: randomUUID(), layers: [] as { vol: string; path: string }[], memImg: randomUUID(), memVol: randomUUID(), confImg: randomUUID(), confVol: randomUUID() };
  /** Case 2: an image with its base and the new layer. */
  const disk = { img: randomUUID(), base: { vol: '', path: '' }, top: { vol: '', path: '' } };
  /** Case 3: the same for the stop. */
  const stopped = { img: randomUUID(), base: { vol: '', path: '' }, top: { vol: '', path: '' } };

  /** A new volume made through the API (qcow2 over `src`, or raw MEMORY of `rawSize` bytes), handed to QEMU's user. */
  async function volume(img: string, o: { src?: string; rawSize?: number; vol?: string } = {}): Promise<{ vol: string; path: string }> {
    const { dc, lv } = host!;
    const vol = o.vol ?? randomUUID();
    const task = await createVolume(engine!, dc, o.rawSize !== undefined
      ? { imgUUID: img, volUUID: vol, size: o.rawSize, volFormat: 5, preallocate: 2, diskType: 'MEMORY' }
      : { imgUUID: img, volUUID: vol, size: 4 << 20, volFormat: 4, preallocate: 2, ...(o.src !== undefined ? { srcVolUUID: o.src } : {}) });
    assert.equal((await waitTaskByAllStatuses(engine!, task)).taskResult, 'success');
    assert.equal(await engine!.call('Task.clear', { taskID: task }), true);
    const path = join(dc.path, dc.sdUUID, 'images', img, vol);
    await chown(path, lv.owner.uid, lv.owner.gid);
    return { vol, path };
  }

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    host = await startStorageHost(check.assets, { prefix: '/tmp/vdsm-rv-snaprs-', callTimeoutMs: CALL_TIMEOUT_MS });
    agent = host.agent;
    engine = host.engine;
    mem.layers.push(await volume(mem.img));
    for (let i = 0; i < ATTEMPTS; i++) mem.layers.push(await volume(mem.img, { src: mem.layers.at(-1)!.vol }));
    await volume(mem.memImg, { rawSize: 256 << 20, vol: mem.memVol });
    await volume(mem.confImg, { rawSize: 1 << 20, vol: mem.confVol });
    disk.base = await volume(disk.img);
    disk.top = await volume(disk.img, { src: disk.base.vol });
    stopped.base = await volume(stopped.img);
    stopped.top = await volume(stopped.img, { src: stopped.base.vol });
  });
  after(async () => {
    engine?.close();
    await agent?.kill();
    await host?.stop();
  });

  /** SIGKILL the agent (a crash), or SIGTERM (a stop); a new one on the same state directory, the storage connected again as the engine does. */
  async function crashAndRestart(how: 'kill' | 'stop' = 'kill'): Promise<void> {
    const { lv, root, repo, dc } = host!;
    if (how === 'kill') await agent!.kill();
    else await agent!.stop();
    engine!.close();
    agent = await AgentProcess.start({ stateDir: join(root, 'state'), args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', `irs.repository=${repo}`] });
    await agent.whenReady(CALL_TIMEOUT_MS);
    engine = await EngineClient.connect({ port: agent.port });
    await connectStorage(engine, host!.dc);
    await connectPool(engine, dc);
  }

  /** VM.create of the tiny guest on `vol` of `img`, Up, its qemu-ga answering. */
  async function bootGuest(prefix: string, img: string, vol: string): Promise<{ vmId: string; name: string }> {
    if (!check.ok) throw new Error('no assets');
    const vmId = randomUUID();
    const name = `${prefix}-${vmId.slice(0, 4)}`;
    const xml = withStorageDisk(tinyGuestXml({ uuid: vmId, name, kernel: check.assets.kernel, initrd: check.assets.initrd, disk: { path: 'ENGINE_PATH', format: 'qcow2' } }), host!.dc, img, vol);
    await engine!.call('VM.create', { vmID: vmId, vmParams: { vmId, xml } }, CALL_TIMEOUT_MS);
    await engine!.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
    await waitFor(() => host!.virsh.agentCommand(name, 'guest-ping', undefined, 10).then(() => true, () => undefined), { timeoutMs: BOOT_DEADLINE_MS, intervalMs: 500, what: 'qemu-ga in the guest' });
    return { vmId, name };
  }

  /** The job as the restarted agent reports it once it ended: Host.getJobs, and its `|jobs|status|` event when it was still running. */
  async function endedJob(jobUUID: string): Promise<{ first: string; job: Obj }> {
    const first = (await engine!.call<Record<string, Obj>>('Host.getJobs', { job_type: 'virt', job_ids: [jobUUID] }))[jobUUID];
    assert.ok(first !== undefined, 'the restarted agent lists the job');
    const ended = first['status'] === 'running'
      ? (await engine!.waitForEvent((e) => e['method'] === `|jobs|status|${jobUUID}`, 4 * CALL_TIMEOUT_MS))['params'] as Obj
      : first;
    const { notify_time: _n, ...job } = ended;
    assert.deepEqual((await engine!.call<Record<string, Obj>>('Host.getJobs', { job_type: 'virt', job_ids: [jobUUID] }))[jobUUID], job);
    return { first: String(first['status']), job };
  }

  void it('SIGKILL while libvirt writes a memory snapshot: the restarted agent lists the job and ends it done on the new layer', async (t) => {
    const { dc, virsh } = host!;
    const { vmId, name } = await bootGuest('snaprs', mem.img, mem.layers[0]!.vol);
    let landed = false;
    for (let i = 1; i <= ATTEMPTS && !landed; i++) {
      const [from, to] = [mem.layers[i - 1]!, mem.layers[i]!];
      const jobUUID = randomUUID();
      assert.equal(await engine!.call('VM.snapshot', {
        vmID: vmId, jobUUID, snapDrives: [{ domainID: dc.sdUUID, imageID: mem.img, volumeID: to.vol, baseVolumeID: from.vol }],
        snapMemory: [dc.sdUUID, dc.spUUID, mem.memImg, mem.memVol, mem.confImg, mem.confVol].join(','),
      }, CALL_TIMEOUT_MS), true);
      // libvirt runs the snapshot: its domain job is active (or it already moved the disk).
      const seen = await waitFor(async () => {
        const info = await virsh.run(['domjobinfo', name]).catch(() => '');
        if (/Job type:\s+(Unbounded|Bounded)/.test(info)) return 'libvirt\'s job running';
        const src = diskSource(await virsh.dumpxml(name));
        return src !== undefined && await sameFile(src, to.path) ? 'the disk already switched' : undefined;
      }, { timeoutMs: CALL_TIMEOUT_MS, intervalMs: 10, what: 'libvirt taking the snapshot' });
      await agent!.kill();
      // What the killed agent left for its successor.
      const recorded = await virsh.run(['metadata', name, OVIRT_VM_NS]);
      const kept = recorded.includes(jobUUID);
      t.diagnostic(`attempt ${i}: killed with ${seen}; the job's record ${kept ? 'is in the metadata' : 'was already removed (the job had ended)'}`);
      await crashAndRestart();
      if (!kept) {
        assert.equal((await engine!.call<Record<string, Obj>>('Host.getJobs', { job_type: 'virt', job_ids: [jobUUID] }))[jobUUID], undefined);
        continue;
      }
      landed = true;
      assert.match(recorded, new RegExp(`<snapshot_job>.*"newDrives".*${to.vol}`), 'the volumes it moves are recorded');
      const { first, job } = await endedJob(jobUUID);
      t.diagnostic(`the job after the restart: first ${first}`);
      assert.deepEqual(job, { id: jobUUID, status: 'done', description: 'snapshot_vm', job_type: 'virt' });
      const src = diskSource(await virsh.dumpxml(name));
      assert.ok(src !== undefined && await sameFile(src, to.path), 'the disk runs on the new layer');
      const dumped = (await engine!.call<Record<string, string>>('Host.dumpxmls', { vmList: [vmId] }))[vmId]!;
      assert.match(dumped, new RegExp(`<ovirt-vm:volumeID>${to.vol}</ovirt-vm:volumeID>`), 'the metadata names the new volume');
      assert.doesNotMatch(await virsh.run(['metadata', name, OVIRT_VM_NS]), /snapshot_job/, 'the job\'s record is removed');
    }
    assert.ok(landed, `no kill landed inside a memory snapshot in ${ATTEMPTS} attempts`);
    await waitFor(async () => ((await virsh.domstate(name)) === 'running' ? true : undefined), { timeoutMs: CALL_TIMEOUT_MS, intervalMs: 200, what: 'the guest resumed' });
    assert.equal(await virsh.agentCommand(name, 'guest-fsfreeze-status', undefined, 30), 'thawed', 'the guest is not left frozen');
    await waitFor(async () => ((await engine!.call<Obj>('VM.getInfo', { vmID: vmId }))['status'] === 'Up' ? true : undefined), { timeoutMs: CALL_TIMEOUT_MS, intervalMs: 200, what: 'the VM Up' });
    assert.equal(await engine!.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS), true);
  });

  void it('SIGKILL while the job waits for the guest\'s freeze: the restarted agent asks for the guest\'s thaw and fails the job (48), the disk on its volume', async () => {
    const { dc, virsh } = host!;
    const { vmId, name } = await bootGuest('snaprf', disk.img, disk.base.vol);
    const hc = (message: string): Promise<unknown> => engine!.call('VM.desktopSendHcCommand', { vmID: vmId, message });
    await waitFor(() => hc('refresh').then(() => true, () => undefined), { timeoutMs: BOOT_DEADLINE_MS, intervalMs: 500, what: 'the guest\'s oVirt agent' });
    await hc('qga-stop');
    await waitFor(() => virsh.agentCommand(name, 'guest-ping', undefined, 2).then(() => undefined, () => true), { timeoutMs: CALL_TIMEOUT_MS, intervalMs: 200, what: 'qemu-ga stopped in the guest' });
    const jobUUID = randomUUID();
    assert.equal(await engine!.call('VM.snapshot', { vmID: vmId, jobUUID, frozen: false, snapDrives: [{ domainID: dc.sdUUID, imageID: disk.img, volumeID: disk.top.vol, baseVolumeID: disk.base.vol }] }, CALL_TIMEOUT_MS), true);
    // The volumes are recorded just before the freeze, which qemu-ga cannot answer: the job waits there.
    const recorded = await waitFor(async () => {
      const md = await virsh.run(['metadata', name, OVIRT_VM_NS]);
      return md.includes('newDrives') ? md : undefined;
    }, { timeoutMs: CALL_TIMEOUT_MS, intervalMs: 20, what: 'the job\'s volumes in the metadata' });
    assert.match(recorded, new RegExp(`<snapshot_job>.*${jobUUID}.*"freeze":true`));
    await crashAndRestart();
    const { job } = await endedJob(jobUUID);
    assert.equal(job['status'], 'failed');
    assert.deepEqual(job['error'], { code: 48, message: 'Snapshot failed: after the agent\'s restart, disk vda does not run on its new volume' });
    // The new agent asked for the thaw on the job's behalf (qemu-ga, still stopped, cannot answer it).
    const thaw = await agent!.waitForLog((l) => l['jobUUID'] === jobUUID && /thawed after the snapshot/.test(String(l['msg'])), CALL_TIMEOUT_MS);
    assert.match(String(thaw['msg']), /^guest filesystems (could not be )?thawed after the snapshot/);
    const src = diskSource(await virsh.dumpxml(name));
    assert.ok(src !== undefined && await sameFile(src, disk.base.path), 'the disk stays on its volume');
    assert.doesNotMatch(await virsh.run(['metadata', name, OVIRT_VM_NS]), /snapshot_job/, 'the job\'s record is removed');
    assert.equal(await engine!.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS), true);
  });

  void it('vdsmd stopped (SIGTERM) while the job waits for the guest\'s freeze: the job, cut short, stays recorded; the next agent lists it and ends it as the disk says', async (t) => {
    const { dc, virsh } = host!;
    const { vmId, name } = await bootGuest('snaprt', stopped.img, stopped.base.vol);
    const hc = (message: string): Promise<unknown> => engine!.call('VM.desktopSendHcCommand', { vmID: vmId, message });
    await waitFor(() => hc('refresh').then(() => true, () => undefined), { timeoutMs: BOOT_DEADLINE_MS, intervalMs: 500, what: 'the guest\'s oVirt agent' });
    await hc('qga-stop');
    await waitFor(() => virsh.agentCommand(name, 'guest-ping', undefined, 2).then(() => undefined, () => true), { timeoutMs: CALL_TIMEOUT_MS, intervalMs: 200, what: 'qemu-ga stopped in the guest' });
    const jobUUID = randomUUID();
    assert.equal(await engine!.call('VM.snapshot', { vmID: vmId, jobUUID, frozen: false, snapDrives: [{ domainID: dc.sdUUID, imageID: stopped.img, volumeID: stopped.top.vol, baseVolumeID: stopped.base.vol }] }, CALL_TIMEOUT_MS), true);
    await waitFor(async () => ((await virsh.run(['metadata', name, OVIRT_VM_NS])).includes('newDrives') ? true : undefined), { timeoutMs: CALL_TIMEOUT_MS, intervalMs: 20, what: 'the job\'s volumes in the metadata' });
    const previous = agent!;
    await crashAndRestart('stop');
    t.diagnostic(`the stopping agent: ${previous.lines.filter((l) => l['jobUUID'] === jobUUID).map((l) => String(l['msg'])).slice(-3).join(' / ')}`);
    assert.ok(!previous.lines.some((l) => l['jobUUID'] === jobUUID && /^snapshot job (done|failed)$/.test(String(l['msg']))), 'the stopping agent did not end the job');
    const { job } = await endedJob(jobUUID);
    // Whether libvirt took the snapshot before the stop cut the job short depends on when the stop came;
    // the job says what the disk says.
    const src = diskSource(await virsh.dumpxml(name));
    const onTop = src !== undefined && await sameFile(src, stopped.top.path);
    t.diagnostic(`after the stop the disk runs on the ${onTop ? 'new' : 'old'} volume; the job ${String(job['status'])}`);
    if (onTop) assert.deepEqual(job, { id: jobUUID, status: 'done', description: 'snapshot_vm', job_type: 'virt' });
    else assert.deepEqual(job['error'], { code: 48, message: 'Snapshot failed: after the agent\'s restart, disk vda does not run on its new volume' });
    assert.doesNotMatch(await virsh.run(['metadata', name, OVIRT_VM_NS]), /snapshot_job/, 'the job\'s record is removed');
    assert.equal(await engine!.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS), true);
  });
});
