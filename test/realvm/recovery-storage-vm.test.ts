// A real guest on storage volumes survives an agent crash with its drives: VM.create on a LOCALFS
// volume (vda) and two more volumes hot-plugged as the engine sends them (vdb, vdc) are prepared (each
// image's run link appears) and each hot-plugged one is recorded in the domain's <ovirt-vm:device>
// metadata. vdsmd is SIGKILLed and started again on the same state directory: recovery re-adopts the
// VM, rebuilds its drive records from the live XML's metadata and, once the engine connected the
// storage pool again, prepares the images again; then VM.hotunplugDisk of vdc tears its image down,
// and VM.destroy tears down vda's and vdb's, as they do without a restart (agent-storage-vm.test.ts,
// hotplug-storage-vm.test.ts). A VM on a volume that is stopped while the agent is down is reported
// Down after the restart, and its VM.destroy tears its image down. Skipped unless
// scripts/realvm/setup.sh has run.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chown, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureRealVmAssets, realVmSkip, startStorageHost, tinyGuestXml, withStorageDisk, type StorageHost } from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { connectPool, connectStorage, createVolume, waitTaskByAllStatuses } from '../helpers/storage-engine.js';

type Obj = Record<string, unknown>;
const check = await ensureRealVmAssets();
const skip = realVmSkip(check);
const BOOT_DEADLINE_MS = 90_000;
const CALL_TIMEOUT_MS = 60_000;
const AGENT_ARGS = ['--set', 'vars.fake_kvm_support=false'];

/** The storage host, and the agent and engine connection of its current life. */
interface Life { host: StorageHost; agent: AgentProcess; engine: EngineClient }

/** A new 8 MiB qcow2 volume in its own image, QEMU's to open; `runLink` exists while it is prepared. */
async function newVolume(life: Life): Promise<{ img: string; vol: string; runLink: string }> {
  const { dc, lv, root } = life.host;
  const img = randomUUID();
  const vol = randomUUID();
  const made = await createVolume(life.engine, dc, { imgUUID: img, volUUID: vol, size: 8 << 20, volFormat: 4, preallocate: 2 });
  assert.equal((await waitTaskByAllStatuses(life.engine, made)).taskResult, 'success');
  assert.equal(await life.engine.call('Task.clear', { taskID: made }), true);
  await chown(join(dc.path, dc.sdUUID, 'images', img, vol), lv.owner.uid, lv.owner.gid);
  return { img, vol, runLink: join(root, 'state', 'run', 'storage', dc.sdUUID, img) };
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

const isPrepared = async (runLink: string): Promise<boolean> => lstat(runLink).then((st) => st.isSymbolicLink(), (err: NodeJS.ErrnoException) => {
  if (err.code === 'ENOENT') return false;
  throw err;
});

void describe('storage drives of a real guest across an agent crash', { skip, timeout: 400_000 }, () => {
  let life: Life | undefined;
  /** The second case's volume, made while the first agent is the SPM (after a restart it is not). */
  let downVolume: Awaited<ReturnType<typeof newVolume>> | undefined;

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    const host = await startStorageHost(check.assets, { prefix: '/tmp/vdsm-rv-rs-', callTimeoutMs: CALL_TIMEOUT_MS, args: AGENT_ARGS });
    life = { host, agent: host.agent, engine: host.engine };
    downVolume = await newVolume(life);
  });
  after(async () => {
    life?.engine.close();
    await life?.agent.kill();
    await life?.host.stop();
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
        const plug = `<?xml version="1.0" encoding="UTF-8"?><hotplug><devices><disk snapshot="no" type="file" device="disk"><target dev="${dev}" bus="virtio"/><source file="/rhev/data-center/${dc.spUUID}/${dc.sdUUID}/images/${v.img}/${v.vol}"/><driver name="qemu" io="threads" type="qcow2" error_policy="stop" cache="none"/><alias name="ua-${v.img}"/><serial>${v.img}</serial></disk></devices>`
          + `<metadata xmlns:ovirt-vm="http://ovirt.org/vm/1.0"><ovirt-vm:vm><ovirt-vm:device devtype="disk" name="${dev}"><ovirt-vm:poolID>${dc.spUUID}</ovirt-vm:poolID><ovirt-vm:volumeID>${v.vol}</ovirt-vm:volumeID><ovirt-vm:imageID>${v.img}</ovirt-vm:imageID><ovirt-vm:domainID>${dc.sdUUID}</ovirt-vm:domainID></ovirt-vm:device></ovirt-vm:vm></metadata></hotplug>`;
        await l.engine.call('VM.hotplugDisk', { vmID: vmId, params: { vmId, xml: plug } }, CALL_TIMEOUT_MS);
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

  void it('a VM stopped while the agent is down is reported Down after the restart, and VM.destroy tears its image down', async () => {
    if (!check.ok || life === undefined || downVolume === undefined) throw new Error('no host');
    const l = life;
    const v = downVolume;
    const { vmId, name } = await startVm(l, v, 'rd');
    assert.ok(await isPrepared(v.runLink), 'the image is prepared while the VM runs');
    await crashAndRestart(l, () => l.host.virsh.destroy(name));
    assert.equal((await l.engine.call<Obj[]>('VM.getStats', { vmID: vmId }))[0]?.['status'], 'Down', 'the VM is reported Down');
    assert.ok(await isPrepared(v.runLink), 'its image is still prepared');
    assert.equal(await l.engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS), true);
    assert.equal(await isPrepared(v.runLink), false, 'VM.destroy of the Down VM tears its image down after the restart');
  });
});
