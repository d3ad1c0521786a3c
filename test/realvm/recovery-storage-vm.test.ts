// A real guest on storage volumes survives an agent crash with its drives: VM.create on a LOCALFS
// volume (vda) and two more volumes hot-plugged as the engine sends them (vdb, vdc) are prepared (each
// image's run link appears) and each hot-plugged one is recorded in the domain's <ovirt-vm:device>
// metadata. vdsmd is SIGKILLed and started again on the same state directory: recovery re-adopts the
// VM, rebuilds its drive records from the live XML's metadata and, once the engine connected the
// storage pool again, prepares the images again; then VM.hotunplugDisk of vdc tears its image down,
// and VM.destroy tears down vda's and vdb's, as they do without a restart (agent-storage-vm.test.ts,
// hotplug-storage-vm.test.ts). A VM on a volume that is stopped while the agent is down is reported
// Down after the restart, with its image torn down (the release of a VM whose domain stopped). A
// recovered VM whose re-preparation hangs (a drive's metadata file replaced by a FIFO nobody writes, a
// real block in open()) still answers VM.hotunplugDisk of that drive and VM.destroy within their
// bounds; its QEMU killed, it reads Powering down (no event) while its images are torn down and then
// the after_vm_destroy hook runs (held on a FIFO the test writes), and only then is it reported Down (as
// vdsm's _onQemuDeath -> releaseVm); VM.destroy neither tears the images down again (an image the engine
// prepared again stays prepared) nor runs the hook again, and the hung prepare, once it returns, tears
// its image down. Skipped unless
// scripts/realvm/setup.sh has run.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chown, mkdtemp, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureRealVmAssets, realVmSkip, startStorageHost, tinyGuestXml, withStorageDisk, type StorageHost } from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { connectPool, connectStorage, createVolume, isPrepared, waitTaskByAllStatuses } from '../helpers/storage-engine.js';
import { blockedOnFifo } from '../support/fifo-wait.js';
import { fileAppears, writeHookScript } from '../support/hook-scripts.js';

type Obj = Record<string, unknown>;
const check = await ensureRealVmAssets();
const skip = realVmSkip(check);
const BOOT_DEADLINE_MS = 90_000;
const CALL_TIMEOUT_MS = 60_000;
// The hung prepare stays hung for the whole case (the storage timeout would end it after 60 s).
const AGENT_ARGS = ['--set', 'vars.fake_kvm_support=false', '--set', 'irs.process_pool_timeout=600'];
/** What a hot-unplug or destroy may take while a prepare of the VM's image hangs. */
const HANG_BOUND_MS = 20_000;
const run = promisify(execFile);

/** The storage host, and the agent and engine connection of its current life. */
interface Life { host: StorageHost; agent: AgentProcess; engine: EngineClient }

/** A new 8 MiB qcow2 volume in its own image, QEMU's to open; `runLink` exists while it is prepared. */
async function newVolume(life: Life): Promise<{ img: string; vol: string; path: string; runLink: string }> {
  const { dc, lv, root } = life.host;
  const img = randomUUID();
  const vol = randomUUID();
  const made = await createVolume(life.engine, dc, { imgUUID: img, volUUID: vol, size: 8 << 20, volFormat: 4, preallocate: 2 });
  assert.equal((await waitTaskByAllStatuses(life.engine, made)).taskResult, 'success');
  assert.equal(await life.engine.call('Task.clear', { taskID: made }), true);
  await chown(join(dc.path, dc.sdUUID, 'images', img, vol), lv.owner.uid, lv.owner.gid);
  return { img, vol, path: join(dc.path, dc.sdUUID, 'images', img, vol), runLink: join(root, 'state', 'run', 'storage', dc.sdUUID, img) };
}

/** VM.create of the tiny guest on volume `v` (its vda), Up. */
async function startVm(life: Life, v: { img: string; vol: string }, prefix: string): Promise<{ vmId: string; name: string }> {
  if (!check.ok) throw new Error('the real-VM tier is not set up');
  const vmId = randomUUID();
  const name = `${prefix}-${vmId.slice(0, 4)}`;
  const xml = withStorageDisk(tinyGuestXml({ uuid: vmId, name, kernel: check.assets.kernel, initrd: check.assets.initrd, disk: { path: 'ENGINE_PATH', format: 'qcow2' } }), life.host.dc, v.img, v.vol);
  await life.engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml } }, CALL_TIMEOUT_MS);
  await life.engine.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
  return { vmId, name };
}

/** SIGKILL the agent (a crash), `meanwhile` runs while it is down, and a new one starts on the same state directory. */
async function crashAndRestart(life: Life, meanwhile: () => Promise<void> = async () => undefined): Promise<void> {
  const { lv, root, repo } = life.host;
  life.engine.close();
  await life.agent.kill();
  await meanwhile();
  life.agent = await AgentProcess.start({ stateDir: join(root, 'state'), args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', `irs.repository=${repo}`, ...AGENT_ARGS] });
  await life.agent.whenReady(CALL_TIMEOUT_MS);
  life.engine = await EngineClient.connect({ port: life.agent.port });
}


/** The hot-plug request of volume `v` as vdsm's engine sends it (XML with the drive's metadata). */
function plugXml(dc: StorageHost['dc'], dev: string, v: { img: string; vol: string }): string {
  return `<?xml version="1.0" encoding="UTF-8"?><hotplug><devices><disk snapshot="no" type="file" device="disk"><target dev="${dev}" bus="virtio"/><source file="/rhev/data-center/${dc.spUUID}/${dc.sdUUID}/images/${v.img}/${v.vol}"/><driver name="qemu" io="threads" type="qcow2" error_policy="stop" cache="none"/><alias name="ua-${v.img}"/><serial>${v.img}</serial></disk></devices>`
    + `<metadata xmlns:ovirt-vm="http://ovirt.org/vm/1.0"><ovirt-vm:vm><ovirt-vm:device devtype="disk" name="${dev}"><ovirt-vm:poolID>${dc.spUUID}</ovirt-vm:poolID><ovirt-vm:volumeID>${v.vol}</ovirt-vm:volumeID><ovirt-vm:imageID>${v.img}</ovirt-vm:imageID><ovirt-vm:domainID>${dc.sdUUID}</ovirt-vm:domainID></ovirt-vm:device></ovirt-vm:vm></metadata></hotplug>`;
}

void describe('storage drives of a real guest across an agent crash', { skip, timeout: 400_000 }, () => {
  let life: Life | undefined;
  /** The later cases' volumes, made while the first agent is the SPM (after a restart it is not). */
  let downVolume: Awaited<ReturnType<typeof newVolume>> | undefined;
  let hangVolumes: Awaited<ReturnType<typeof newVolume>>[] = [];
  /** The hook scripts' directory (every life of the agent runs them) and their marks. */
  let hooksRoot: string | undefined;

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    hooksRoot = await mkdtemp(join(tmpdir(), 'vdsm-rv-rs-hooks-'));
    AGENT_ARGS.push('--set', `vars.hooks_dir=${join(hooksRoot, 'hooks')}`);
    const host = await startStorageHost(check.assets, { prefix: '/tmp/vdsm-rv-rs-', callTimeoutMs: CALL_TIMEOUT_MS, args: AGENT_ARGS });
    life = { host, agent: host.agent, engine: host.engine };
    downVolume = await newVolume(life);
    hangVolumes = [await newVolume(life), await newVolume(life)];
  });
  after(async () => {
    life?.engine.close();
    await life?.agent.kill();
    await life?.host.stop();
    if (hooksRoot !== undefined) await rm(hooksRoot, { recursive: true, force: true });
  });

  void it('after SIGKILL and a restart, hot-unplug and VM.destroy tear down the volumes prepared before it', async () => {
    if (!check.ok || life === undefined) throw new Error('no host');
    const l = life;
    const { dc, virsh } = l.host;
    const [a, b, c] = [await newVolume(l), await newVolume(l), await newVolume(l)];
    const { vmId, name } = await startVm(l, a, 'rs');
    let destroyed = false;
    try {
      for (const [dev, v] of [['vdb', b], ['vdc', c]] as const) {
        await l.engine.call('VM.hotplugDisk', { vmID: vmId, params: { vmId, xml: plugXml(dc, dev, v) } }, CALL_TIMEOUT_MS);
      }
      for (const v of [a, b, c]) assert.ok(await isPrepared(v.runLink), 'every image is prepared while the VM runs');
      // The hot-plugged drives are in the domain's own metadata now (libvirt keeps it across our restart).
      const dumped = await virsh.dumpxml(name);
      for (const [dev, v] of [['vdb', b], ['vdc', c]] as const) {
        assert.match(dumped, new RegExp(`<ovirt-vm:device devtype="disk" name="${dev}">[\\s\\S]*?<ovirt-vm:imageID>${v.img}</ovirt-vm:imageID>[\\s\\S]*?<ovirt-vm:volumeID>${v.vol}</ovirt-vm:volumeID>`));
      }

      // The agent crashes and comes back on the same state directory; the guest keeps running.
      await crashAndRestart(l);
      const stats = await l.engine.call<Obj[]>('VM.getStats', { vmID: vmId });
      assert.equal(stats[0]?.['status'], 'Up', 'the VM is recovered');
      // As after a vdsm restart, the engine connects the storage again; then the images are prepared again.
      await connectStorage(l.engine, dc);
      await connectPool(l.engine, dc);
      for (const dev of ['vda', 'vdb', 'vdc']) {
        const line: Record<string, unknown> = await l.agent.waitForLog((ln) => ln['vmId'] === vmId && ln['drive'] === dev && String(ln['msg']).startsWith('storage volume of the recovered VM'), CALL_TIMEOUT_MS);
        assert.equal(line['msg'], 'storage volume of the recovered VM prepared again', JSON.stringify(line));
      }

      // Hot-unplug of a drive plugged before the restart: its image is torn down, its metadata removed.
      await l.engine.call('VM.hotunplugDisk', { vmID: vmId, params: { vmId, xml: `<hotunplug><devices><disk><alias name="ua-${c.img}"/></disk></devices></hotunplug>` } }, CALL_TIMEOUT_MS);
      assert.equal(await isPrepared(c.runLink), false, 'the unplugged image is torn down after the restart');
      assert.doesNotMatch(await virsh.dumpxml(name), new RegExp(c.img), 'the unplugged drive is gone from the domain and its metadata');
      assert.ok(await isPrepared(a.runLink) && await isPrepared(b.runLink), 'the other images stay prepared');

      // VM.destroy: the VM.create drive and the drive hot-plugged before the restart are torn down.
      assert.equal(await l.engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS), true);
      destroyed = true;
      assert.equal(await isPrepared(a.runLink), false, 'the VM.create drive is torn down at destroy after the restart');
      assert.equal(await isPrepared(b.runLink), false, 'the hot-plugged drive is torn down at destroy after the restart');
    } finally {
      if (!destroyed) await l.engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS).catch(() => undefined);
    }
  });

  void it('a VM stopped while the agent is down is reported Down after the restart with its image torn down; VM.destroy answers', async () => {
    if (!check.ok || life === undefined || downVolume === undefined) throw new Error('no host');
    const l = life;
    const v = downVolume;
    const { vmId, name } = await startVm(l, v, 'rd');
    assert.ok(await isPrepared(v.runLink), 'the image is prepared while the VM runs');
    await crashAndRestart(l, () => l.host.virsh.destroy(name));
    assert.equal((await l.engine.call<Obj[]>('VM.getStats', { vmID: vmId }))[0]?.['status'], 'Down', 'the VM is reported Down');
    // Released as any VM whose domain stopped, in the background of recovery (no pool needed for it).
    await l.agent.waitForLog((ln) => ln['vmId'] === vmId && ln['msg'] === 'storage volume of the VM torn down', CALL_TIMEOUT_MS);
    assert.equal(await isPrepared(v.runLink), false, 'the Down VM\'s image is torn down after the restart');
    assert.equal(await l.engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS), true);
  });

  void it('a recovered VM whose re-preparation hangs: hot-unplug and destroy answer; its QEMU killed, images torn down before Down, once; the hung prepare\'s image torn down when it returns', async () => {
    if (!check.ok || life === undefined) throw new Error('no host');
    const l = life;
    const { dc } = l.host;
    const [a, b] = hangVolumes;
    if (a === undefined || b === undefined) throw new Error('no volumes');
    // The previous case restarted the agent: the engine connects the storage again before VM.create.
    await connectStorage(l.engine, dc);
    await connectPool(l.engine, dc);
    const { vmId } = await startVm(l, a, 'rh');
    const meta = `${b.path}.meta`;
    let fifo = false;
    let destroyed = false;
    try {
      await l.engine.call('VM.hotplugDisk', { vmID: vmId, params: { vmId, xml: plugXml(dc, 'vdb', b) } }, CALL_TIMEOUT_MS);
      assert.ok(await isPrepared(a.runLink) && await isPrepared(b.runLink));
      // While the agent is down, vdb's volume metadata becomes a FIFO nobody writes: preparing it again hangs.
      const content = await readFile(meta);
      await crashAndRestart(l, async () => {
        await rename(meta, `${meta}.real`);
        await run('mkfifo', [meta]);
        fifo = true;
      });
      await connectStorage(l.engine, dc);
      await connectPool(l.engine, dc);
      await blockedOnFifo(l.agent.pid, CALL_TIMEOUT_MS);

      // Hot-unplug of the drive whose prepare hangs: answered, its image torn down.
      let t0 = Date.now();
      await l.engine.call('VM.hotunplugDisk', { vmID: vmId, params: { vmId, xml: `<hotunplug><devices><disk><alias name="ua-${b.img}"/></disk></devices></hotunplug>` } }, HANG_BOUND_MS);
      assert.ok(Date.now() - t0 < HANG_BOUND_MS, 'VM.hotunplugDisk does not wait for the hung prepare');
      assert.equal(await isPrepared(b.runLink), false, 'the unplugged image is torn down');

      // QEMU dies: Powering down (no event) while the images are torn down and after_vm_destroy runs
      // (held on a FIFO until the test writes it), then Down.
      const marks = join(hooksRoot!, 'after-destroy');
      const go = join(hooksRoot!, 'go');
      await run('mkfifo', [go]);
      await writeHookScript(join(hooksRoot!, 'hooks'), 'after_vm_destroy', '10_mark', [
        `[ "$vmId" = "${vmId}" ] || exit 0`,
        `if [ -L "${a.runLink}" ]; then image=prepared; else image=released; fi`,
        `echo "$vmId $image" >> ${marks}`,
        // Made once the line is written: the test reads the marks only then.
        `touch ${marks}.held`,
        `read go < ${go}`,
      ].join('\n'));
      const pid = Number((await l.engine.call<Obj[]>('VM.getStats', { vmID: vmId }))[0]?.['pid']);
      assert.ok(pid > 0, 'the recovered VM\'s QEMU pid is known');
      const from = l.engine.events().length;
      process.kill(pid, 'SIGKILL');
      await Promise.race([
        fileAppears(`${marks}.held`),
        l.engine.waitForEvent(isVmStatus(vmId, 'Down'), CALL_TIMEOUT_MS, from).then(() => { throw new Error('reported Down before after_vm_destroy ran'); }),
      ]);
      assert.deepEqual((await readFile(marks, 'utf8')).trim().split('\n'), [`${vmId} released`], 'after_vm_destroy runs once the image is torn down');
      assert.equal((await l.engine.call<Obj[]>('VM.getStats', { vmID: vmId }))[0]?.['status'], 'Powering down', 'the VM reads Powering down while it is released');
      const statuses = l.engine.events().slice(from).map((e) => (e['params'] as Record<string, Obj> | undefined)?.[vmId]?.['status']).filter((st) => st !== undefined);
      assert.deepEqual(statuses, [], 'no VM_status event while the hook runs: neither Powering down nor Down');
      const writer = await open(go, 'w');
      await writer.write('go\n');
      await writer.close();
      await l.engine.waitForEvent(isVmStatus(vmId, 'Down'), CALL_TIMEOUT_MS, from);
      assert.equal(await isPrepared(a.runLink), false, 'the image is torn down before the VM is reported Down');

      // The engine prepares the image again; VM.destroy of the Down VM leaves it (no second teardown),
      // and answers while vdb's prepare still hangs.
      const image = { storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: a.img, volumeID: a.vol };
      await l.engine.call('Image.prepare', image, CALL_TIMEOUT_MS);
      t0 = Date.now();
      assert.equal(await l.engine.call('VM.destroy', { vmID: vmId }, HANG_BOUND_MS), true);
      destroyed = true;
      assert.ok(Date.now() - t0 < HANG_BOUND_MS, 'VM.destroy does not wait for the hung prepare');
      assert.ok(await isPrepared(a.runLink), 'VM.destroy does not tear the Down VM\'s image down a second time');
      assert.deepEqual((await readFile(marks, 'utf8')).trim().split('\n'), [`${vmId} released`], 'VM.destroy does not run after_vm_destroy again');
      await l.engine.call('Image.teardown', image, CALL_TIMEOUT_MS);

      // The storage answers at last: the prepare that hung makes its run link, and tears it down again.
      const fh = await open(meta, 'w');
      await fh.write(content);
      await fh.close();
      await l.agent.waitForLog((ln) => ln['vmId'] === vmId && ln['msg'] === 'storage volume prepared after its drive was released: torn down', CALL_TIMEOUT_MS);
      assert.equal(await isPrepared(b.runLink), false, 'the image the hung prepare made is torn down');
    } finally {
      if (fifo) {
        await unlink(meta).catch(() => undefined);
        await rename(`${meta}.real`, meta);
      }
      if (!destroyed) await l.engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS).catch(() => undefined);
    }
  });
});
