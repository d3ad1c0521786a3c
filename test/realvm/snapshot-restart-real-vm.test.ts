// A live snapshot job survives an agent crash, on a real guest: vdsmd on qemu:///session (TCG) with a
// local data center; VM.snapshot with the memory (libvirt pauses the guest and writes its memory into the
// memory volume, then switches the disk onto the new layer). As soon as libvirt runs the snapshot (its
// domain job is active, or it already switched the disk), vdsmd is SIGKILLed, and a new vdsmd starts on
// the same state directory. The job's state was in the domain's metadata (<ovirt-vm:snapshot_job>,
// written by the first agent: checked before the kill), so the new agent lists the job in Host.getJobs
// (running while libvirt still works, then done), judged from the domain's disks: the disk runs on the
// new layer, Host.dumpxmls' metadata names the new volume, the job's record is gone from the metadata,
// the guest runs and is not left frozen. Skipped unless scripts/realvm/setup.sh has run.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chown, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureRealVmAssets, realVmSkip, startStorageHost, tinyGuestXml, waitFor, withStorageDisk, type StorageHost } from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { createVolume, waitTaskByAllStatuses } from '../helpers/storage-engine.js';

type Obj = Record<string, unknown>;
const check = await ensureRealVmAssets();
const skip = realVmSkip(check);
const BOOT_DEADLINE_MS = 90_000;
const CALL_TIMEOUT_MS = 60_000;

/** The source file of the domain's first disk. */
const diskSource = (xml: string): string | undefined => /<disk\b[^>]*device='disk'[^>]*>[\s\S]*?<source file='([^']+)'/.exec(xml)?.[1];

void describe('a live snapshot job across an agent crash (real guest)', { skip, timeout: 400_000 }, () => {
  let host: StorageHost | undefined;
  let agent: AgentProcess | undefined;
  let engine: EngineClient | undefined;

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    host = await startStorageHost(check.assets, { prefix: '/tmp/vdsm-rv-snaprs-', callTimeoutMs: CALL_TIMEOUT_MS });
    agent = host.agent;
    engine = host.engine;
  });
  after(async () => {
    engine?.close();
    await agent?.kill();
    await host?.stop();
  });

  /** A new volume made through the API (qcow2 over `src`, or raw MEMORY of `rawSize` bytes), handed to QEMU's user. */
  async function volume(img: string, vol: string, o: { src?: string; rawSize?: number } = {}): Promise<string> {
    const { dc, lv } = host!;
    const task = await createVolume(engine!, dc, o.rawSize !== undefined
      ? { imgUUID: img, volUUID: vol, size: o.rawSize, volFormat: 5, preallocate: 2, diskType: 'MEMORY' }
      : { imgUUID: img, volUUID: vol, size: 4 << 20, volFormat: 4, preallocate: 2, ...(o.src !== undefined ? { srcVolUUID: o.src } : {}) });
    assert.equal((await waitTaskByAllStatuses(engine!, task)).taskResult, 'success');
    assert.equal(await engine!.call('Task.clear', { taskID: task }), true);
    const path = join(dc.path, dc.sdUUID, 'images', img, vol);
    await chown(path, lv.owner.uid, lv.owner.gid);
    return path;
  }

  void it('SIGKILL while libvirt takes a memory snapshot: the restarted agent lists the job and ends it done, the disk on the new layer', async (t) => {
    if (!check.ok || host === undefined) throw new Error('no host');
    const { dc, lv, virsh, root, repo } = host;
    const vmId = randomUUID();
    const name = `snaprs-${vmId.slice(0, 4)}`;
    const img = randomUUID();
    const base = randomUUID();
    await volume(img, base);
    const xml = withStorageDisk(tinyGuestXml({ uuid: vmId, name, kernel: check.assets.kernel, initrd: check.assets.initrd, disk: { path: 'ENGINE_PATH', format: 'qcow2' } }), dc, img, base);
    await engine!.call('VM.create', { vmID: vmId, vmParams: { vmId, xml } }, CALL_TIMEOUT_MS);
    await engine!.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
    await waitFor(() => virsh.agentCommand(name, 'guest-ping', undefined, 10).then(() => true, () => undefined), { timeoutMs: BOOT_DEADLINE_MS, intervalMs: 500, what: 'qemu-ga in the guest' });

    const ids = { memImg: randomUUID(), memVol: randomUUID(), confImg: randomUUID(), confVol: randomUUID() };
    await volume(ids.memImg, ids.memVol, { rawSize: 256 << 20 });
    await volume(ids.confImg, ids.confVol, { rawSize: 1 << 20 });
    const top = randomUUID();
    const topPath = await volume(img, top, { src: base });
    const jobUUID = randomUUID();
    assert.equal(await engine!.call('VM.snapshot', {
      vmID: vmId, jobUUID, snapDrives: [{ domainID: dc.sdUUID, imageID: img, volumeID: top, baseVolumeID: base }],
      snapMemory: [dc.sdUUID, dc.spUUID, ids.memImg, ids.memVol, ids.confImg, ids.confVol].join(','),
    }, CALL_TIMEOUT_MS), true);

    // libvirt runs the snapshot: its job is active, or it already moved the disk (a quick one).
    const switched = async (): Promise<boolean> => {
      const src = diskSource(await virsh.dumpxml(name));
      return src !== undefined && (await stat(src)).ino === (await stat(topPath)).ino;
    };
    const seen = await waitFor(async () => {
      const info = await virsh.run(['domjobinfo', name]).catch(() => '');
      if (/Job type:\s+(Unbounded|Bounded)/.test(info)) return 'libvirt\'s job running';
      return await switched() ? 'disk already switched' : undefined;
    }, { timeoutMs: CALL_TIMEOUT_MS, intervalMs: 20, what: 'libvirt taking the snapshot' });
    // What the first agent recorded for its successor (the job's id and the volumes it moves).
    const recorded = await virsh.run(['metadata', name, 'http://ovirt.org/vm/1.0']);
    assert.match(recorded, new RegExp(`<snapshot_job>.*${jobUUID}.*newDrives.*${top}`));
    await agent!.kill();
    engine!.close();
    t.diagnostic(`agent killed with ${seen}`);

    agent = await AgentProcess.start({ stateDir: join(root, 'state'), args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', `irs.repository=${repo}`] });
    await agent.whenReady(CALL_TIMEOUT_MS);
    engine = await EngineClient.connect({ port: agent.port });
    const first = (await engine.call<Record<string, Obj>>('Host.getJobs', { job_type: 'virt', job_ids: [jobUUID] }))[jobUUID];
    assert.ok(first !== undefined, 'the restarted agent lists the job');
    t.diagnostic(`the job after the restart: ${String(first['status'])}`);
    const finished = first['status'] === 'running'
      ? (await engine.waitForEvent((e) => e['method'] === `|jobs|status|${jobUUID}`, 4 * CALL_TIMEOUT_MS))['params'] as Obj
      : first;
    const { notify_time: _n, ...job } = finished;
    assert.deepEqual(job, { id: jobUUID, status: 'done', description: 'snapshot_vm', job_type: 'virt' });
    assert.deepEqual((await engine.call<Record<string, Obj>>('Host.getJobs', { job_type: 'virt', job_ids: [jobUUID] }))[jobUUID], job);

    assert.ok(await switched(), 'the disk runs on the new layer');
    const dumped = (await engine.call<Record<string, string>>('Host.dumpxmls', { vmList: [vmId] }))[vmId]!;
    assert.match(dumped, new RegExp(`<ovirt-vm:volumeID>${top}</ovirt-vm:volumeID>`), 'the metadata names the new volume');
    assert.doesNotMatch(await virsh.run(['metadata', name, 'http://ovirt.org/vm/1.0']), /snapshot_job/, 'the job\'s record is removed');
    await waitFor(async () => ((await virsh.domstate(name)) === 'running' ? true : undefined), { timeoutMs: CALL_TIMEOUT_MS, intervalMs: 200, what: 'the guest resumed' });
    assert.equal(await virsh.agentCommand(name, 'guest-fsfreeze-status', undefined, 30), 'thawed', 'the guest is not left frozen');
    await waitFor(async () => ((await engine!.call<Obj>('VM.getInfo', { vmID: vmId }))['status'] === 'Up' ? true : undefined), { timeoutMs: CALL_TIMEOUT_MS, intervalMs: 200, what: 'the VM Up' });
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS), true);
  });
});
