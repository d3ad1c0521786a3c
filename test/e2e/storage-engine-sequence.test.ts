// The engine's local-storage data center sequence (issue 18) against the real vdsmd program, over the
// independent npm stompit STOMP client, with the engine's own argument types; then what it left on
// disk, checked against vdsm's formats with independent tools (qemu-img, python3 for the checksum).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readlink, readdir, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient } from '../helpers/engine-client.js';
import {
  BLANK, bringUpLocalDc, connectStorage, createVolume, localConnection, newDc, waitTaskByAllStatuses, type LocalDc,
} from '../helpers/storage-engine.js';

const run = promisify(execFile);
type Obj = Record<string, unknown>;

/** vdsm's metadata checksum recomputed by python3 (persistent.py's algorithm, written independently). */
async function pythonChecksum(metadataFile: string): Promise<{ declared: string; computed: string }> {
  const script = [
    'import hashlib,sys',
    'lines=[l.rstrip("\\n") for l in open(sys.argv[1], encoding="utf-8")]',
    'md={}; declared=None',
    'for l in lines:',
    '  k,v=l.split("=",1)',
    '  if k=="_SHA_CKSUM": declared=v',
    '  else: md[k]=v.strip()',
    'h=hashlib.sha1()',
    'for k in sorted(md): h.update(("%s=%s"%(k,md[k])).encode("ascii","xmlcharrefreplace"))',
    'print(declared, h.hexdigest())',
  ].join('\n');
  const { stdout } = await run('python3', ['-c', script, metadataFile]);
  const [declared, computed] = stdout.trim().split(' ');
  return { declared: declared!, computed: computed! };
}

// Both argument modes: by default (vdsm's: departures logged and converted) and with [devel]
// api_strict_mode, where any call the method table does not declare would answer -32602; the engine's
// exact calls must pass both.
for (const strict of [false, true]) void describe(`the engine's local storage sequence against vdsmd (api_strict_mode=${strict})`, () => {
  let root: string;
  let agent: AgentProcess;
  let engine: EngineClient;
  let dc: LocalDc;
  let repo: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vdsm-e2e-storage-'));
    repo = join(root, 'rhev', 'data-center');
    dc = newDc(join(root, 'local_images'));
    await run('mkdir', ['-p', dc.path]);
    agent = await AgentProcess.start({ args: ['--set', `devel.api_strict_mode=${strict}`, '--set', `irs.repository=${repo}`, '--set', 'irs.sd_health_check_delay=1', '--set', 'vars.host_sample_stats_interval=1'] });
    engine = await EngineClient.connect({ port: agent.port });
    await agent.whenReady();
  });

  after(async () => {
    engine?.close();
    await agent?.cleanup();
    await rm(root, { recursive: true, force: true });
  });

  void it('answers -32601-free: Host.getConnectedStoragePools is [] and task lists say Not SPM (654) before a pool', async () => {
    assert.deepEqual(await engine.call('Host.getConnectedStoragePools'), []);
    const r = await engine.request('Host.getAllTasksStatuses');
    assert.equal(r.error?.code, 654);
    assert.equal(r.error?.message, 'Not SPM: ()');
    const sp = await engine.request('StoragePool.getSpmStatus', { storagepoolID: dc.spUUID });
    assert.equal(sp.error?.code, 309);
  });

  void it('creates the domain, the pool, connects twice and becomes SPM; getInfo, getStats and getSpmStatus in the engine\'s shapes', async () => {
    for (let i = 0; i < 4; i++) assert.deepEqual(await connectStorage(engine, dc), [{ id: dc.connId, status: 0 }]);
    assert.equal(await engine.call('StorageDomain.create', {
      storagedomainID: dc.sdUUID, domainType: 4, typeArgs: dc.path, name: 'local-e2e', domainClass: 1, version: '5', blockSize: 0, maxHosts: 250,
    }), true);
    const stats = await engine.call<Obj>('StorageDomain.getStats', { storagedomainID: dc.sdUUID });
    assert.match(String(stats['disktotal']), /^\d+$/);
    assert.match(String(stats['diskfree']), /^\d+$/);
    assert.equal(typeof stats['disktotal'], 'string');
    const info = await engine.call<Obj>('StorageDomain.getInfo', { storagedomainID: dc.sdUUID });
    assert.equal(info['type'], 'LOCALFS');
    assert.equal(info['class'], 'Data');
    assert.equal(info['version'], '5');
    assert.equal(info['block_size'], 512);
    assert.equal(info['remotePath'], dc.path);
    assert.deepEqual(info['pool'], []);
    assert.equal(info['role'], 'Regular');

    assert.equal(await engine.call('StoragePool.create', {
      storagepoolID: dc.spUUID, name: 'dc-e2e', masterSdUUID: dc.sdUUID, masterVersion: 1, domainList: [dc.sdUUID],
      lockRenewalIntervalSec: 5, leaseTimeSec: 60, ioOpTimeoutSec: 10, leaseRetries: 3,
    }), true);
    const after = await engine.call<Obj>('StorageDomain.getInfo', { storagedomainID: dc.sdUUID });
    assert.deepEqual(after['pool'], [dc.spUUID]);
    assert.equal(after['role'], 'Master');

    for (let i = 0; i < 2; i++) {
      assert.equal(await engine.call('StoragePool.connect', { storagepoolID: dc.spUUID, hostID: 1, scsiKey: dc.spUUID, masterSdUUID: dc.sdUUID, masterVersion: 1, domainDict: { [dc.sdUUID]: 'active' } }), true);
    }
    assert.deepEqual(await engine.call('Host.getConnectedStoragePools'), [dc.spUUID]);
    assert.deepEqual(await engine.call('StoragePool.getSpmStatus', { storagepoolID: dc.spUUID }), { spmStatus: 'Free', spmLver: -1, spmId: -1 });

    const spmTask = await engine.call<string>('StoragePool.spmStart', {
      storagepoolID: dc.spUUID, prevID: -1, prevLver: '-1', enableScsiFencing: 'false', maxHostID: 250, domVersion: '5',
    });
    assert.match(spmTask, /^[0-9a-f-]{36}$/);
    let st: Obj;
    do st = await engine.call<Obj>('Task.getStatus', { taskID: spmTask });
    while (st['taskState'] !== 'finished');
    assert.deepEqual(st, { taskID: spmTask, taskState: 'finished', taskResult: 'success', code: 0, message: '1 jobs completed successfully' });
    assert.equal(await engine.call('Task.clear', { taskID: spmTask }), true);
    assert.deepEqual(await engine.call('StoragePool.getSpmStatus', { storagepoolID: dc.spUUID }), { spmStatus: 'SPM', spmLver: -1, spmId: 1 });
    // A second spmStart on the SPM is refused (vdsm's IsSpm).
    const again = await engine.request('StoragePool.spmStart', { storagepoolID: dc.spUUID, prevID: -1, prevLver: '-1', enableScsiFencing: 'false', maxHostID: 250, domVersion: '5' });
    assert.equal(again.error?.code, 656);

    assert.deepEqual(await engine.call('Host.getAllTasksInfo'), {});
    assert.deepEqual(await engine.call('StorageDomain.getImages', { storagedomainID: dc.sdUUID }), []);
    assert.equal(await engine.call('StorageDomain.activate', { storagedomainID: dc.sdUUID, storagepoolID: dc.spUUID }), true);
    const pool = await engine.call<{ info: Obj; dominfo: Record<string, Obj> }>('StoragePool.getInfo', { storagepoolID: dc.spUUID });
    assert.equal(pool.info['type'], 'LOCALFS');
    assert.equal(pool.info['master_uuid'], dc.sdUUID);
    assert.equal(pool.info['master_ver'], 1);
    assert.equal(pool.info['spm_id'], 1);
    assert.equal(pool.info['domains'], `${dc.sdUUID}:Active`);
    assert.equal(pool.dominfo[dc.sdUUID]!['status'], 'Active');
  });

  void it('reports the domain in Host.getStats storageDomains and Host.getStorageRepoStats once checked', async () => {
    let sd: Obj | undefined;
    do {
      const hs = await engine.call<Obj>('Host.getStats');
      sd = (hs['storageDomains'] as Record<string, Obj>)[dc.sdUUID];
    } while (sd === undefined || sd['actual'] !== true);
    assert.equal(sd['code'], 0);
    assert.equal(sd['valid'], true);
    assert.equal(sd['version'], 5);
    assert.equal(sd['acquired'], true);
    assert.match(String(sd['lastCheck']), /^\d+\.\d$/);
    assert.match(String(sd['delay']), /^[\d.e-]+$/);
    assert.equal(typeof sd['lastCheck'], 'string');
    const repo = await engine.call<Record<string, Obj>>('Host.getStorageRepoStats', { domains: [dc.sdUUID] });
    assert.equal(repo[dc.sdUUID]!['valid'], true);
    // The same on /metrics (vdsm's hosts.storage.<sd>.delay / last_check for statsd and Hawkular).
    const text = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: agent.port, path: '/metrics' }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body));
      }).on('error', reject);
    });
    for (const name of ['vdsm_storage_domain_delay_seconds', 'vdsm_storage_domain_last_check_seconds']) {
      assert.match(text, new RegExp(`^${name}\\{sd="${dc.sdUUID}"\\} [0-9.e+-]+$`, 'm'), name);
    }
    assert.match(text, new RegExp(`^vdsm_storage_domain_valid\\{sd="${dc.sdUUID}"\\} 1$`, 'm'));
  });

  void it('creates raw and qcow2 volumes as SPM tasks listed until Task.clear; Volume.getInfo before clear; files as vdsm lays them out', async () => {
    const rawImg = randomUUID();
    const rawVol = randomUUID();
    const t1 = await createVolume(engine, dc, { imgUUID: rawImg, volUUID: rawVol, size: 1 << 30, volFormat: 5, preallocate: 2 });
    const st1 = await waitTaskByAllStatuses(engine, t1);
    assert.deepEqual(st1, { taskID: t1, taskState: 'finished', taskResult: 'success', code: 0, message: '1 jobs completed successfully' });
    assert.deepEqual(await engine.call('Host.getAllTasksInfo'), { [t1]: { id: t1, verb: 'createVolume' } });
    const info = await engine.call<Obj>('Volume.getInfo', { volumeID: rawVol, storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: rawImg });
    assert.equal(info['status'], 'OK');
    assert.equal(info['format'], 'RAW');
    assert.equal(info['type'], 'SPARSE');
    assert.equal(info['voltype'], 'LEAF');
    assert.equal(info['capacity'], String(1 << 30));
    assert.equal(info['apparentsize'], String(1 << 30));
    assert.ok(Number(info['truesize']) < 1 << 20, `sparse: truesize ${String(info['truesize'])}`);
    assert.equal(info['parent'], BLANK);
    assert.equal(await engine.call('Task.clear', { taskID: t1 }), true);
    assert.deepEqual(await engine.call('Host.getAllTasksStatuses'), {});

    const cowImg = randomUUID();
    const cowVol = randomUUID();
    const t2 = await createVolume(engine, dc, { imgUUID: cowImg, volUUID: cowVol, size: 2 * 2 ** 30, volFormat: 4, preallocate: 2 });
    assert.equal((await waitTaskByAllStatuses(engine, t2)).taskResult, 'success');
    await engine.call('Task.clear', { taskID: t2 });
    // A snapshot on the qcow2 volume: the parent becomes INTERNAL.
    const snapVol = randomUUID();
    const t3 = await createVolume(engine, dc, { imgUUID: cowImg, volUUID: snapVol, size: 2 * 2 ** 30, volFormat: 4, preallocate: 2, srcVolUUID: cowVol });
    assert.equal((await waitTaskByAllStatuses(engine, t3)).taskResult, 'success');
    await engine.call('Task.clear', { taskID: t3 });
    const parentInfo = await engine.call<Obj>('Volume.getInfo', { volumeID: cowVol, storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: cowImg });
    assert.equal(parentInfo['voltype'], 'INTERNAL');
    const snapInfo = await engine.call<Obj>('Volume.getInfo', { volumeID: snapVol, storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: cowImg });
    assert.equal(snapInfo['parent'], cowVol);
    const size = await engine.call<Obj>('Volume.getSize', { volumeID: snapVol, storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: cowImg });
    assert.match(String(size['truesize']), /^\d+$/);

    // On disk, checked with qemu-img and by reading the files.
    const domDir = join(dc.path, dc.sdUUID);
    const { stdout } = await run('qemu-img', ['info', '--output=json', join(domDir, 'images', cowImg, snapVol)]);
    const qi = JSON.parse(stdout) as Obj;
    assert.equal(qi['format'], 'qcow2');
    assert.equal((qi['format-specific'] as { data: Obj }).data['compat'], '1.1');
    assert.equal(qi['backing-filename'], cowVol);
    assert.equal(qi['virtual-size'], 2 * 2 ** 30);
    const meta = await readFile(join(domDir, 'images', cowImg, `${snapVol}.meta`), 'utf8');
    const keys = meta.trim().split('\n').map((l) => l.split('=')[0]);
    assert.deepEqual(keys, ['CAP', 'CTIME', 'DESCRIPTION', 'DISKTYPE', 'DOMAIN', 'FORMAT', 'GEN', 'IMAGE', 'LEGALITY', 'PUUID', 'SEQ', 'TYPE', 'VOLTYPE', 'EOF']);
    assert.match(meta, /^CAP=2147483648$/m);
    assert.match(meta, /^FORMAT=COW$/m);
    assert.match(meta, /^PUUID=/m);
    assert.ok(Buffer.byteLength(meta) <= 512);
    const rawStat = await stat(join(domDir, 'images', rawImg, rawVol));
    assert.equal(rawStat.size, 1 << 30);
    assert.ok(rawStat.blocks * 512 < 1 << 20, 'raw sparse is a truncated file');
    assert.equal(rawStat.mode & 0o777, 0o660);
    assert.deepEqual((await engine.call<string[]>('StorageDomain.getImages', { storagedomainID: dc.sdUUID })).sort(), [cowImg, rawImg].sort());

    // Image.prepare / teardown as the engine calls them (teardown with leafVolID).
    const prep = await engine.call<Obj>('Image.prepare', { storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: rawImg, volumeID: rawVol, allowIllegal: true });
    assert.equal(prep['path'], join(repo, 'mnt', dc.path.replace(/_/g, '__').replace(/\//g, '_'), dc.sdUUID, 'images', rawImg, rawVol));
    assert.ok(existsSync(String(prep['path'])));
    assert.equal(await engine.call('Image.teardown', { storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: rawImg, leafVolID: rawVol }), true);

    // Image.delete: renamed to _remove_me_<img> at once, purged by the task.
    const del = await engine.call<string>('Image.delete', { imageID: rawImg, storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, postZero: 'false', force: 'false' });
    assert.ok(!existsSync(join(domDir, 'images', rawImg)), 'renamed away before the task runs');
    assert.equal((await waitTaskByAllStatuses(engine, del)).taskResult, 'success');
    assert.ok(!existsSync(join(domDir, 'images', `_remove_me_${rawImg}`)), 'purged');
    await engine.call('Task.clear', { taskID: del });
  });

  void it('a preallocated volume, Task.getInfo, Task.revert of a finished create, and Volume.delete of a snapshot', async () => {
    const volInfo = (img: string, vol: string): Promise<Obj> => engine.call<Obj>('Volume.getInfo', { volumeID: vol, storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: img });
    const domDir = join(dc.path, dc.sdUUID);
    // Preallocated raw: every block written (truesize is the capacity), the type says so.
    const preImg = randomUUID();
    const preVol = randomUUID();
    const t1 = await createVolume(engine, dc, { imgUUID: preImg, volUUID: preVol, size: 4 << 20, volFormat: 5, preallocate: 1 });
    assert.deepEqual(await engine.call('Task.getInfo', { taskID: t1 }), { id: t1, verb: 'createVolume' });
    assert.equal((await waitTaskByAllStatuses(engine, t1)).taskResult, 'success');
    const pre = await volInfo(preImg, preVol);
    assert.equal(pre['type'], 'PREALLOCATED');
    assert.ok(Number(pre['truesize']) >= 4 << 20, `preallocated: truesize ${String(pre['truesize'])}`);
    // Task.revert: the finished create's recoveries run, the volume and its image are gone.
    assert.equal(await engine.call('Task.revert', { taskID: t1 }), true);
    for (;;) {
      const st = await engine.call<Obj>('Task.getStatus', { taskID: t1 });
      if (st['taskResult'] === 'cleanSuccess') break;
      assert.notEqual(st['taskResult'], 'cleanFailure', JSON.stringify(st));
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(!existsSync(join(domDir, 'images', preImg)), 'a reverted create leaves no image directory');
    const gone = await engine.request('Volume.getInfo', { volumeID: preVol, storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: preImg });
    assert.equal(gone.error?.code, 254, JSON.stringify(gone.error)); // vdsm's ImagePathError: the image directory went with it
    await engine.call('Task.clear', { taskID: t1 });

    // Volume.delete: a parent with a child needs force (vdsm's 'Volume has children'); the leaf goes,
    // its parent is a LEAF again.
    const img = randomUUID();
    const base = randomUUID();
    const leaf = randomUUID();
    for (const [vol, src] of [[base, undefined], [leaf, base]] as const) {
      const t = await createVolume(engine, dc, { imgUUID: img, volUUID: vol, size: 64 << 20, volFormat: 4, preallocate: 2, ...(src ? { srcVolUUID: src } : {}) });
      assert.equal((await waitTaskByAllStatuses(engine, t)).taskResult, 'success');
      await engine.call('Task.clear', { taskID: t });
    }
    const refused = await engine.call<string>('Volume.delete', { volumeID: base, storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: img, postZero: 'false', force: 'false' });
    const refusedSt = await waitTaskByAllStatuses(engine, refused);
    assert.equal(refusedSt.taskResult, 'cleanSuccess');
    assert.equal(refusedSt.code, 204, JSON.stringify(refusedSt));
    assert.ok(existsSync(join(domDir, 'images', img, base)), 'a parent is kept');
    await engine.call('Task.clear', { taskID: refused });
    const del = await engine.call<string>('Volume.delete', { volumeID: leaf, storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: img, postZero: 'false', force: 'false' });
    assert.equal((await waitTaskByAllStatuses(engine, del)).taskResult, 'success');
    await engine.call('Task.clear', { taskID: del });
    for (const suffix of ['', '.meta', '.lease']) assert.ok(!existsSync(join(domDir, 'images', img, leaf + suffix)), `${leaf}${suffix} removed`);
    assert.equal((await volInfo(img, base))['voltype'], 'LEAF');
    const delBase = await engine.call<string>('Volume.delete', { volumeID: base, storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: img, postZero: 'false', force: 'false' });
    assert.equal((await waitTaskByAllStatuses(engine, delBase)).taskResult, 'success');
    await engine.call('Task.clear', { taskID: delBase });
    assert.ok(!existsSync(join(domDir, 'images', img)), 'the last volume takes its image directory with it');
    assert.deepEqual(await engine.call('Host.getAllTasksStatuses'), {});
  });

  void it('left vdsm\'s layout: dom_md files, checksummed metadata, master/{tasks,vms}, the mnt/ link and the pool links', async () => {
    const mnt = join(repo, 'mnt', dc.path.replace(/_/g, '__').replace(/\//g, '_'));
    assert.equal(await readlink(mnt), dc.path);
    assert.match(mnt, /_local__images$/);
    const domDir = join(dc.path, dc.sdUUID);
    assert.deepEqual((await readdir(join(domDir, 'dom_md'))).sort(), ['ids', 'inbox', 'leases', 'metadata', 'outbox', 'xleases']);
    assert.equal((await stat(join(domDir, 'dom_md', 'inbox'))).size, 16 << 20);
    const md = await readFile(join(domDir, 'dom_md', 'metadata'), 'utf8');
    const kv = Object.fromEntries(md.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    for (const [k, v] of Object.entries({ SDUUID: dc.sdUUID, TYPE: 'LOCALFS', CLASS: 'Data', VERSION: '5', REMOTE_PATH: dc.path, ROLE: 'Master', POOL_UUID: dc.spUUID, MASTER_VERSION: '1', POOL_DOMAINS: `${dc.sdUUID}:Active`, BLOCK_SIZE: '512', ALIGNMENT: '1048576' })) {
      assert.equal(kv[k], v, k);
    }
    const keys = md.trim().split('\n').map((l) => l.split('=')[0]!);
    assert.equal(keys.at(-1), '_SHA_CKSUM');
    assert.deepEqual(keys.slice(0, -1), [...keys.slice(0, -1)].sort());
    const ck = await pythonChecksum(join(domDir, 'dom_md', 'metadata'));
    assert.equal(ck.declared, ck.computed);
    assert.ok((await stat(join(domDir, 'master', 'tasks'))).isDirectory());
    assert.ok((await stat(join(domDir, 'master', 'vms'))).isDirectory());
    assert.equal(await readlink(join(repo, dc.spUUID, dc.sdUUID)), join(mnt, dc.sdUUID));
    assert.equal(await readlink(join(repo, dc.spUUID, 'mastersd')), join(mnt, dc.sdUUID));
  });

  void it('stops SPM, disconnects the pool and the storage as the engine does', async () => {
    assert.equal(await engine.call('StoragePool.spmStop', { storagepoolID: dc.spUUID }), true);
    assert.deepEqual(await engine.call('StoragePool.getSpmStatus', { storagepoolID: dc.spUUID }), { spmStatus: 'Free', spmLver: -1, spmId: -1 });
    assert.equal(await engine.call('StoragePool.disconnect', { storagepoolID: dc.spUUID, hostID: 1, scsiKey: dc.spUUID }), true);
    assert.deepEqual(await engine.call('Host.getConnectedStoragePools'), []);
    assert.deepEqual(await engine.call('StoragePool.disconnectStorageServer', { storagepoolID: dc.spUUID, domainType: 4, connectionParams: localConnection(dc) }), [{ id: dc.connId, status: 0 }]);
    assert.ok(!existsSync(join(repo, 'mnt', dc.path.replace(/_/g, '__').replace(/\//g, '_'))));
    // The domain itself stays: a later connect finds it again.
    await bringUpAgain();
  });

  async function bringUpAgain(): Promise<void> {
    assert.deepEqual(await connectStorage(engine, dc), [{ id: dc.connId, status: 0 }]);
    const info = await engine.call<Obj>('StorageDomain.getInfo', { storagedomainID: dc.sdUUID });
    assert.equal(info['role'], 'Master');
  }
});

export { bringUpLocalDc };
