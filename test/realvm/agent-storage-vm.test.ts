// A real guest on a volume made through the storage API: vdsmd on qemu:///session (an unprivileged
// libvirtd, TCG) brings up a local data center with the engine's calls and types, takes a guest disk
// through the OVF_STORE-style HTTP PUT into a raw volume, copies it with Volume.copy (qemu-img convert)
// into a new qcow2 image, and starts the tiny guest with VM.create whose disk names that volume only by
// {poolID, domainID, imageID, volumeID}. The guest kernel reads the volume; VM stats report its real
// truesize / apparentsize; VM.destroy tears the image down. Skipped unless scripts/realvm/setup.sh has
// run; VDSM_REALVM=1 makes missing pieces a failure.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chown, lstat, readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ensureRealVmAssets, realVmSkip, startStorageHost, tinyGuestXml, Virsh, waitFor, withStorageDisk, type RealVmAssets, type SessionLibvirtd, type StorageHost } from '../support/realvm/index.js';
import type { AgentProcess } from '../helpers/agent-process.js';
import { isVmStatus, type EngineClient } from '../helpers/engine-client.js';
import { checkVmStats } from '../helpers/engine-types.js';
import { createVolume, waitTaskByAllStatuses, type LocalDc } from '../helpers/storage-engine.js';

type Obj = Record<string, unknown>;
const execFileAsync = promisify(execFile);

const check = await ensureRealVmAssets();
const skip = realVmSkip(check);

const BOOT_DEADLINE_MS = 90_000;
const CALL_TIMEOUT_MS = 60_000;
const DISK_BYTES = 4 << 20;

/** A raw 4 MiB disk with an MBR (one Linux partition) and a marker, so the guest has something to read. */
function guestDiskImage(): Buffer {
  const b = Buffer.alloc(DISK_BYTES);
  // Partition 1: type 0x83, LBA 2048, 6144 sectors; boot signature 55 AA.
  b[446 + 4] = 0x83;
  b.writeUInt32LE(2048, 446 + 8);
  b.writeUInt32LE(DISK_BYTES / 512 - 2048, 446 + 12);
  b[510] = 0x55;
  b[511] = 0xaa;
  b.write('vdsm-node storage real-VM test disk', 1 << 20);
  return b;
}

function put(port: number, headers: Record<string, string>, body: Buffer): Promise<{ status: number; taskId: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: '/', headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, taskId: String(res.headers['task-id'] ?? ''), body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

void describe('vdsmd boots a real guest on a volume made through the storage API', { skip, timeout: 240_000 }, () => {
  let assets: RealVmAssets;
  let lv: SessionLibvirtd;
  let virsh: Virsh;
  let root: string;
  let agent: AgentProcess;
  let engine: EngineClient;
  let dc: LocalDc;
  let repo: string;

  let host: StorageHost | undefined;

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    assets = check.assets;
    host = await startStorageHost(assets, {
      prefix: '/tmp/vdsm-rv-sd-', callTimeoutMs: CALL_TIMEOUT_MS,
      args: ['--set', 'irs.vol_size_sample_interval=2', '--set', 'vars.vm_sample_interval=2', '--set', 'vars.host_sample_stats_interval=2'],
    });
    ({ lv, virsh, root, agent, engine, dc, repo } = host);
  });

  after(async () => {
    await host?.stop();
  });

  void it('PUT a guest disk, Volume.copy it to qcow2, VM.create on {poolID, domainID, imageID, volumeID}: Up, reads, real sizes, teardown', async (t) => {
    // 1. A raw volume, filled with the guest disk through the HTTP PUT the engine uses for OVF_STORE.
    const srcImg = randomUUID();
    const srcVol = randomUUID();
    const made = await createVolume(engine, dc, { imgUUID: srcImg, volUUID: srcVol, size: DISK_BYTES, volFormat: 5, preallocate: 2 });
    assert.equal((await waitTaskByAllStatuses(engine, made)).taskResult, 'success');
    assert.equal(await engine.call('Task.clear', { taskID: made }), true);
    const image = guestDiskImage();
    const up = await put(agent.port, { 'Storage-Pool-Id': dc.spUUID, 'Storage-Domain-Id': dc.sdUUID, 'Image-Id': srcImg, 'Volume-Id': srcVol }, image);
    assert.equal(up.status, 200, up.body);
    assert.equal((await engine.call<Obj>('Task.getStatus', { taskID: up.taskId }))['taskResult'], 'success');
    assert.equal(await engine.call('Task.clear', { taskID: up.taskId }), true);

    // 2. Volume.copy into a new image as qcow2 (qemu-img convert in a task), as the engine copies a template disk.
    const img = randomUUID();
    const vol = randomUUID();
    const copy = await engine.call<string>('Volume.copy', {
      volumeID: srcVol, storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: srcImg, dstSdUUID: dc.sdUUID, dstImgUUID: img, dstVolUUID: vol,
      desc: '', volType: 6, volFormat: 4, preallocate: 2, postZero: 'false', force: 'false',
    });
    assert.equal((await waitTaskByAllStatuses(engine, copy)).taskResult, 'success');
    const info = await engine.call<Obj>('Volume.getInfo', { storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: img, volumeID: vol });
    assert.equal(await engine.call('Task.clear', { taskID: copy }), true);
    assert.equal(info['format'], 'COW');
    assert.equal(info['status'], 'OK');
    const volPath = join(dc.path, dc.sdUUID, 'images', img, vol);
    const srcPath = join(dc.path, dc.sdUUID, 'images', srcImg, srcVol);
    // qemu-img itself agrees: the new qcow2 holds exactly the uploaded disk.
    await execFileAsync('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'qcow2', srcPath, volPath]);
    // Stand-in for vdsm's vdsm:kvm ownership: QEMU runs as the session daemon's user here.
    await chown(volPath, lv.owner.uid, lv.owner.gid);

    // 3. VM.create: the disk named only by PDIV in the metadata; its source is the engine's /rhev path.
    const vmId = randomUUID();
    const name = `sd-${vmId.slice(0, 4)}`;
    const consoleLog = join(lv.runDir, `${name}.log`);
    const xml = withStorageDisk(tinyGuestXml({ uuid: vmId, name, kernel: assets.kernel, initrd: assets.initrd, consoleLog, disk: { path: 'ENGINE_PATH', format: 'qcow2' } }), dc, img, vol);
    const t0 = performance.now();
    const created = await engine.call<Obj>('VM.create', { vmID: vmId, vmParams: { vmId, xml } });
    assert.equal(created['status'], 'WaitForLaunch');
    try {
      await engine.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
    } catch (err) {
      const console = await readFile(consoleLog, 'utf8').catch(() => '(no console log)');
      const log = agent.lines.filter((l) => l['vmId'] === vmId || (l['level'] as number) >= 40).slice(-15).map((l) => JSON.stringify(l)).join('\n');
      throw new Error(`no Up: agent:\n${log}\nconsole:\n${console.split('\n').slice(-15).join('\n')}`, { cause: err });
    }
    t.diagnostic(`VM.create to Up on the volume: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    // libvirt runs the guest on the volume file, not on the engine's path.
    const disk = /<disk[\s\S]*?<\/disk>/.exec(await virsh.dumpxml(name))?.[0] ?? '';
    const prepared = /<source file='([^']+)'/.exec(disk)?.[1];
    assert.ok(prepared?.startsWith(join(repo, 'mnt') + '/'), `the disk is on the repository's mount of the domain:\n${disk}`);
    assert.equal((await stat(prepared!)).ino, (await stat(volPath)).ino, 'the guest disk is the volume file');

    // 4. The guest kernel read the volume, and VM stats carry the volume's real sizes. The sizes are
    // sampled every vol_size_sample_interval (2 s here) and QEMU may still be allocating in the qcow2
    // file, so wait for a report whose sizes are the file's at that moment (a wrong source never matches).
    let st = await stat(volPath);
    const s = await waitFor(async () => {
      const v = (await engine.call<Obj[]>('VM.getStats', { vmID: vmId }))[0]!;
      const d = (v['disks'] as Record<string, Obj> | undefined)?.['vda'];
      if (d === undefined || !(Number(d['readOps']) > 0) || !(Number(d['truesize']) > 0)) return undefined;
      st = await stat(volPath);
      return d['apparentsize'] === String(st.size) && d['truesize'] === String(st.blocks * 512) ? v : undefined;
    }, { timeoutMs: 40_000, intervalMs: 500, what: 'disk reads and the volume file\'s sizes in VM stats' });
    assert.deepEqual(checkVmStats(s), []);
    const vda = (s['disks'] as Record<string, Obj>)['vda']!;
    assert.equal(vda['imageID'], img);
    // Volume.getSize reads the file when called: equal to a stat taken just after (retried while QEMU grows it).
    await waitFor(async () => {
      const size = await engine.call<Obj>('Volume.getSize', { storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: img, volumeID: vol });
      st = await stat(volPath);
      return size['apparentsize'] === String(st.size) && size['truesize'] === String(st.blocks * 512) ? size : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200, what: 'Volume.getSize equal to the volume file\'s sizes' });
    t.diagnostic(`vda: ${JSON.stringify(vda)}`);

    // 5. VM.destroy tears the image down: the run link goes.
    const runLink = join(root, 'state', 'run', 'storage', dc.sdUUID, img);
    assert.ok((await lstat(runLink)).isSymbolicLink(), 'prepared: the run link exists while the VM runs');
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS), true);
    await assert.rejects(lstat(runLink), { code: 'ENOENT' });
  });
});
