// The engine's live snapshot flow on a real guest: vdsmd on qemu:///session (an unprivileged libvirtd,
// TCG) with a local data center made by the engine's calls, the guest's disk a qcow2 volume named by
// PDIV (the guest mounts an ext4 file system on it). VM.freeze freezes that file system through the
// guest's qemu-ga (guest-fsfreeze-status says so) and VM.thaw thaws it; then, as the engine does,
// Volume.create makes a new qcow2 layer over the current top and VM.snapshot (answered at once, its job
// followed with Host.getJobs until done) moves the running disk onto it: libvirt's live XML has the new
// file with the old one as its backing store, qemu-img agrees, the guest keeps running, Host.dumpxmls'
// metadata names the new volume. A snapshot into a volume that does not exist is a job failed with 48
// and the disk stays where it was. Skipped unless scripts/realvm/setup.sh has run; VDSM_REALVM=1 makes
// missing pieces a failure.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chown, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { ensureRealVmAssets, realVmSkip, startStorageHost, tinyGuestXml, waitFor, withStorageDisk, type RealVmAssets, type SessionLibvirtd, type StorageHost, type Virsh } from '../support/realvm/index.js';
import { isVmStatus, type EngineClient } from '../helpers/engine-client.js';
import { createVolume, waitTaskByAllStatuses, type LocalDc } from '../helpers/storage-engine.js';

type Obj = Record<string, unknown>;

const check = await ensureRealVmAssets();
const skip = realVmSkip(check);

const BOOT_DEADLINE_MS = 90_000;
const CALL_TIMEOUT_MS = 60_000;
const run = promisify(execFile);

/** The first disk of a domain XML: its source file and its backing store's (when it has one). */
function diskChain(xml: string): { source?: string; backing?: string } {
  const disk = /<disk\b[^>]*device='disk'[^>]*>([\s\S]*?)<\/disk>/.exec(xml)?.[1] ?? '';
  const source = /<source file='([^']+)'/.exec(disk)?.[1];
  const backing = /<backingStore\b[^>]*>[\s\S]*?<source file='([^']+)'/.exec(disk)?.[1];
  return { ...(source !== undefined ? { source } : {}), ...(backing !== undefined ? { backing } : {}) };
}

const sameFile = async (a: string, b: string): Promise<boolean> => (await stat(a)).ino === (await stat(b)).ino;

void describe('vdsmd freezes, thaws and live-snapshots a real guest', { skip, timeout: 300_000 }, () => {
  let assets: RealVmAssets;
  let lv: SessionLibvirtd;
  let virsh: Virsh;
  let engine: EngineClient;
  let dc: LocalDc;
  let host: StorageHost | undefined;

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    assets = check.assets;
    host = await startStorageHost(assets, { prefix: '/tmp/vdsm-rv-snap-', callTimeoutMs: CALL_TIMEOUT_MS });
    ({ lv, virsh, engine, dc } = host);
  });

  after(async () => {
    await host?.stop();
  });

  /** A qcow2 volume made through the API (over `srcVolUUID` when given; a raw one of `raw` bytes), handed to QEMU's user. */
  async function volume(img: string, vol: string, srcVolUUID?: string, raw?: { size: number; diskType: string }): Promise<string> {
    const task = await createVolume(engine, dc, raw !== undefined
      ? { imgUUID: img, volUUID: vol, size: raw.size, volFormat: 5, preallocate: 2, diskType: raw.diskType }
      : { imgUUID: img, volUUID: vol, size: 4 << 20, volFormat: 4, preallocate: 2, ...(srcVolUUID !== undefined ? { srcVolUUID } : {}) });
    assert.equal((await waitTaskByAllStatuses(engine, task)).taskResult, 'success');
    assert.equal(await engine.call('Task.clear', { taskID: task }), true);
    const path = join(dc.path, dc.sdUUID, 'images', img, vol);
    await chown(path, lv.owner.uid, lv.owner.gid);
    return path;
  }

  /** A guest on a new qcow2 volume named by PDIV, Up and its qemu-ga answering. */
  async function bootGuest(prefix: string): Promise<{ vmId: string; name: string; img: string; base: string; basePath: string }> {
    const vmId = randomUUID();
    const name = `${prefix}-${vmId.slice(0, 4)}`;
    const img = randomUUID();
    const base = randomUUID();
    const basePath = await volume(img, base);
    const xml = withStorageDisk(tinyGuestXml({
      uuid: vmId, name, kernel: assets.kernel, initrd: assets.initrd, consoleLog: join(lv.runDir, `${name}.log`), disk: { path: 'ENGINE_PATH', format: 'qcow2' },
    }), dc, img, base);
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml } });
    await engine.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
    await waitFor(() => virsh.agentCommand(name, 'guest-ping', undefined, 10).then(() => true, () => undefined), { timeoutMs: BOOT_DEADLINE_MS, intervalMs: 500, what: 'qemu-ga in the guest' });
    return { vmId, name, img, base, basePath };
  }

  /**
   * VM.snapshot as the engine calls it: with a jobUUID, answered `true` at once, then Host.getJobs until
   * the job is no longer running (waiting on that condition). The finished job, and whether it froze the
   * guest (its log line: vdsm's answer no longer carries `quiesce`).
   */
  async function snapshotJob(params: Obj): Promise<{ job: Obj; quiesce: unknown }> {
    const jobUUID = randomUUID();
    assert.equal(await engine.call('VM.snapshot', { ...params, jobUUID }, CALL_TIMEOUT_MS), true);
    const job = await waitFor(async () => {
      const j = (await engine.call<Record<string, Obj>>('Host.getJobs', { job_type: 'virt', job_ids: [jobUUID] }))[jobUUID];
      assert.ok(j !== undefined, 'the job is listed from the answer on');
      return j['status'] !== 'running' ? j : undefined;
    }, { timeoutMs: 4 * CALL_TIMEOUT_MS, intervalMs: 100, what: `snapshot job ${jobUUID}` });
    const line = job['status'] === 'done' ? await host!.agent.waitForLog((l) => l['msg'] === 'snapshot job done' && l['jobUUID'] === jobUUID, CALL_TIMEOUT_MS) : undefined;
    return { job, quiesce: line?.['quiesce'] };
  }

  void it('VM.freeze / VM.thaw, then Volume.create and VM.snapshot move the running disk onto the new layer', async () => {
    const { vmId, name, img, base, basePath } = await bootGuest('snap');
    // The guest mounts its disk's ext4 file system before qemu-ga starts: there is something to freeze.
    const fsinfo = await virsh.agentCommand(name, 'guest-get-fsinfo', undefined, 30) as { mountpoint: string; type: string }[];
    assert.ok(fsinfo.some((f) => f.mountpoint === '/data' && f.type === 'ext4'), JSON.stringify(fsinfo));

    assert.equal(await engine.call('VM.freeze', { vmID: vmId }, CALL_TIMEOUT_MS), true);
    assert.equal(await virsh.agentCommand(name, 'guest-fsfreeze-status', undefined, 30), 'frozen');
    assert.equal(await engine.call('VM.thaw', { vmID: vmId }, CALL_TIMEOUT_MS), true);
    assert.equal(await virsh.agentCommand(name, 'guest-fsfreeze-status', undefined, 30), 'thawed');

    // The engine's flow: a new layer over the current top, then the snapshot.
    const top = randomUUID();
    const topPath = await volume(img, top, base);
    const first = await snapshotJob({ vmID: vmId, snapDrives: [{ domainID: dc.sdUUID, imageID: img, volumeID: top, baseVolumeID: base }], frozen: false });
    assert.deepEqual(first.job, { id: first.job['id'], status: 'done', description: 'snapshot_vm', job_type: 'virt' });
    assert.equal(first.quiesce, true, 'the job froze the guest around the snapshot');
    assert.equal(await virsh.agentCommand(name, 'guest-fsfreeze-status', undefined, 30), 'thawed', 'and thawed it after');
    const live = diskChain(await virsh.dumpxml(name));
    assert.ok(live.source !== undefined && await sameFile(live.source, topPath), `the disk runs on the new volume: ${String(live.source)}`);
    assert.ok(live.backing !== undefined && await sameFile(live.backing, basePath), `backed by the old one: ${String(live.backing)}`);
    const { stdout } = await run('qemu-img', ['info', '-U', '--backing-chain', '--output=json', topPath]);
    const chain = JSON.parse(stdout) as { filename: string; format: string }[];
    assert.equal(chain.length, 2);
    assert.equal(chain[0]!.format, 'qcow2');
    assert.ok(await sameFile(chain[1]!.filename, basePath), `qemu-img: ${chain[1]!.filename}`);
    // The guest runs on.
    assert.deepEqual(await virsh.agentCommand(name, 'guest-ping', undefined, 30), {});
    assert.equal((await engine.call<Obj>('VM.getInfo', { vmID: vmId }))['status'], 'Up');
    // What the engine reads back (Host.dumpxmls): the metadata names the new top, the disk its file.
    const dumped = (await engine.call<Record<string, string>>('Host.dumpxmls', { vmList: [vmId] }))[vmId]!;
    assert.match(dumped, new RegExp(`<ovirt-vm:volumeID>${top}</ovirt-vm:volumeID>`));
    assert.doesNotMatch(dumped, new RegExp(`<ovirt-vm:volumeID>${base}</ovirt-vm:volumeID>`));

    // A snapshot into a volume the engine never made: the job fails with 48, and the disk stays on its top.
    const missing = randomUUID();
    const lost = await snapshotJob({ vmID: vmId, snapDrives: [{ domainID: dc.sdUUID, imageID: img, volumeID: missing, baseVolumeID: top }], frozen: false });
    assert.equal(lost.job['status'], 'failed');
    assert.equal((lost.job['error'] as Obj)['code'], 48);
    const after = diskChain(await virsh.dumpxml(name));
    assert.ok(after.source !== undefined && await sameFile(after.source, topPath), 'still on the new volume');
    assert.match((await engine.call<Record<string, string>>('Host.dumpxmls', { vmList: [vmId] }))[vmId]!, new RegExp(`<ovirt-vm:volumeID>${top}</ovirt-vm:volumeID>`));
    // A base volume the VM no longer runs on: 48 as well.
    await assert.rejects(
      engine.call('VM.snapshot', { vmID: vmId, snapDrives: [{ domainID: dc.sdUUID, imageID: img, volumeID: randomUUID(), baseVolumeID: base }] }, CALL_TIMEOUT_MS),
      (err: { rpc?: { code?: unknown } }) => err.rpc?.code === 48,
    );

    // qemu-ga stopped inside the guest (SIGSTOP, through the guest's oVirt agent): VM.freeze is error 19
    // once libvirt gives up on the agent, and meanwhile the daemon answers other requests; a snapshot
    // goes on without the guest's help (quiesce false, as vdsm), onto a further layer.
    const hc = (message: string): Promise<unknown> => engine.call('VM.desktopSendHcCommand', { vmID: vmId, message });
    await waitFor(() => hc('refresh').then(() => true, () => undefined), { timeoutMs: BOOT_DEADLINE_MS, intervalMs: 500, what: 'the guest\'s oVirt agent' });
    await hc('qga-stop');
    // The guest acts on the command after answering it: wait until qemu-ga no longer answers.
    await waitFor(() => virsh.agentCommand(name, 'guest-ping', undefined, 2).then(() => undefined, () => true), { timeoutMs: CALL_TIMEOUT_MS, intervalMs: 200, what: 'qemu-ga stopped in the guest' });
    const order: string[] = [];
    const freezing = engine.call('VM.freeze', { vmID: vmId }, CALL_TIMEOUT_MS).then(() => order.push('freeze answered'), (err: { rpc?: { code?: unknown } }) => {
      order.push(`freeze failed ${String(err.rpc?.code)}`);
    });
    const listed = engine.call<unknown[]>('Host.getVMList', { onlyUUID: true }).then((ids) => order.push(`list ${ids.length}`));
    await Promise.all([freezing, listed]);
    assert.deepEqual(order, ['list 1', 'freeze failed 19'], 'the daemon answered while libvirt waited for the stopped agent');
    const top2 = randomUUID();
    const top2Path = await volume(img, top2, top);
    const third = await snapshotJob({ vmID: vmId, snapDrives: [{ domainID: dc.sdUUID, imageID: img, volumeID: top2, baseVolumeID: top }] });
    assert.equal(third.job['status'], 'done');
    assert.equal(third.quiesce, false, 'taken without the guest\'s help');
    const moved = diskChain(await virsh.dumpxml(name));
    assert.ok(moved.source !== undefined && await sameFile(moved.source, top2Path), 'on the third layer');
    await hc('qga-cont');
    // libvirt never sent the freeze to the stopped agent (its guest-sync went unanswered): the guest is thawed.
    assert.equal(await virsh.agentCommand(name, 'guest-fsfreeze-status', undefined, 30), 'thawed');
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS), true);
  });

  void it('VM.snapshot with snapMemory: the memory state in the memory volume, the parameters in the configuration volume, the guest resumed on the new layer', async (t) => {
    const { vmId, name, img, base } = await bootGuest('snapm');
    const ids = { memImg: randomUUID(), memVol: randomUUID(), confImg: randomUUID(), confVol: randomUUID() };
    const memPath = await volume(ids.memImg, ids.memVol, undefined, { size: 256 << 20, diskType: 'MEMORY' });
    const confPath = await volume(ids.confImg, ids.confVol, undefined, { size: 1 << 20, diskType: 'MEMORY' });
    const top = randomUUID();
    const topPath = await volume(img, top, base);
    const t0 = performance.now();
    const { job } = await snapshotJob({
      vmID: vmId, snapDrives: [{ domainID: dc.sdUUID, imageID: img, volumeID: top, baseVolumeID: base }],
      snapMemory: [dc.sdUUID, dc.spUUID, ids.memImg, ids.memVol, ids.confImg, ids.confVol].join(','),
    });
    t.diagnostic(`VM.snapshot job with the memory: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    assert.equal(job['status'], 'done', JSON.stringify(job));
    const head = async (path: string, n: number): Promise<Buffer> => {
      const fh = await open(path, 'r');
      try {
        const b = Buffer.alloc(n);
        await fh.read(b, 0, n, 0);
        return b;
      } finally {
        await fh.close();
      }
    };
    assert.match((await head(memPath, 16)).toString('latin1'), /^LibvirtQemudSave/, 'libvirt\'s save image in the memory volume');
    assert.equal((await head(confPath, 2)).toString('hex'), '8002', 'a pickled dict (protocol 2) in the configuration volume');
    const live = diskChain(await virsh.dumpxml(name));
    assert.ok(live.source !== undefined && await sameFile(live.source, topPath), 'the disk runs on the new layer');
    assert.equal((await virsh.run(['domstate', name])).trim(), 'running', 'resumed after the memory was written');
    assert.deepEqual(await virsh.agentCommand(name, 'guest-ping', undefined, 30), {});
    assert.equal((await engine.call<Obj>('VM.getInfo', { vmID: vmId }))['status'], 'Up');
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS), true);
  });
});
