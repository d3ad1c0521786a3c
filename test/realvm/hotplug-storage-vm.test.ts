// VM.hotplugDisk of a disk on a storage domain, as the engine sends it (its device XML with the
// <ovirt-vm:device> naming poolID, domainID, imageID, volumeID), into a running TCG guest: the volume,
// made with Volume.create on a local data center, is prepared (the run link appears) and the disk's
// source points at the repository's mount of it; the guest kernel sees the disk; VM stats give its image.
// VM.hotunplugDisk (the engine's XML naming the disk by alias) detaches it, answers once the guest let it
// go, and tears the image down (the run link goes). Skipped unless scripts/realvm/setup.sh has run.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chown, lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureRealVmAssets, realVmSkip, startStorageHost, tinyGuestXml, waitFor, type StorageHost } from '../support/realvm/index.js';
import { isVmStatus } from '../helpers/engine-client.js';
import { createVolume, waitTaskByAllStatuses } from '../helpers/storage-engine.js';

type Obj = Record<string, unknown>;
const check = await ensureRealVmAssets();
const skip = realVmSkip(check);
const BOOT_DEADLINE_MS = 90_000;
const CALL_TIMEOUT_MS = 60_000;
const GUEST_DEADLINE_MS = 60_000;

void describe('VM.hotplugDisk of a storage volume into a real guest, and its unplug', { skip, timeout: 300_000 }, () => {
  let host: StorageHost | undefined;

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    host = await startStorageHost(check.assets, { prefix: '/tmp/vdsm-rv-hp-', callTimeoutMs: CALL_TIMEOUT_MS, args: ['--set', 'vars.fake_kvm_support=false'] });
  });
  after(async () => {
    await host?.stop();
  });

  void it('the engine\'s disk XML on {poolID, domainID, imageID, volumeID}: prepared, plugged, seen, unplugged, torn down', async () => {
    if (!check.ok || host === undefined) throw new Error('no host');
    const { engine, dc, lv, virsh, root, repo } = host;
    const img = randomUUID();
    const vol = randomUUID();
    const made = await createVolume(engine, dc, { imgUUID: img, volUUID: vol, size: 8 << 20, volFormat: 4, preallocate: 2 });
    assert.equal((await waitTaskByAllStatuses(engine, made)).taskResult, 'success');
    assert.equal(await engine.call('Task.clear', { taskID: made }), true);
    const volPath = join(dc.path, dc.sdUUID, 'images', img, vol);
    await chown(volPath, lv.owner.uid, lv.owner.gid);

    const vmId = randomUUID();
    const name = `hs-${vmId.slice(0, 4)}`;
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml: tinyGuestXml({ uuid: vmId, name, kernel: check.assets.kernel, initrd: check.assets.initrd }) } }, CALL_TIMEOUT_MS);
    try {
      await engine.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
      await waitFor(() => virsh.agentCommand(name, 'guest-ping', undefined, 10).then(() => true, () => undefined), { timeoutMs: BOOT_DEADLINE_MS, intervalMs: 500, what: 'qemu-ga in the guest' });
      const guestDisks = async (): Promise<string[]> => ((await virsh.agentCommand(name, 'guest-get-diskstats', undefined, 10)) as { name: string }[]).map((d) => d.name);
      assert.ok(!(await guestDisks()).includes('vda'));

      const alias = `ua-${img}`;
      const xml = `<?xml version="1.0" encoding="UTF-8"?><hotplug><devices><disk snapshot="no" type="file" device="disk"><target dev="vda" bus="virtio"/><source file="/rhev/data-center/${dc.spUUID}/${dc.sdUUID}/images/${img}/${vol}"/><driver name="qemu" io="threads" type="qcow2" error_policy="stop" cache="none"/><alias name="${alias}"/><serial>${img}</serial></disk></devices>`
        + `<metadata xmlns:ovirt-vm="http://ovirt.org/vm/1.0"><ovirt-vm:vm><ovirt-vm:device devtype="disk" name="vda"><ovirt-vm:poolID>${dc.spUUID}</ovirt-vm:poolID><ovirt-vm:volumeID>${vol}</ovirt-vm:volumeID><ovirt-vm:imageID>${img}</ovirt-vm:imageID><ovirt-vm:domainID>${dc.sdUUID}</ovirt-vm:domainID></ovirt-vm:device></ovirt-vm:vm></metadata></hotplug>`;
      const r = await engine.call<Obj>('VM.hotplugDisk', { vmID: vmId, params: { vmId, xml } }, CALL_TIMEOUT_MS);
      const disk = (r['devices'] as Obj[]).find((d) => d['name'] === 'vda');
      assert.equal(disk?.['imageID'], img, 'the answer names the image');
      assert.equal(disk?.['volumeID'], vol);
      const runLink = join(root, 'state', 'run', 'storage', dc.sdUUID, img);
      assert.ok((await lstat(runLink)).isSymbolicLink(), 'the image is prepared: its run link exists');
      const source = /<disk[^>]*device='disk'[\s\S]*?<source file='([^']+)'/.exec(await virsh.dumpxml(name))?.[1];
      assert.ok(source?.startsWith(join(repo, 'mnt') + '/'), `the disk is on the repository's mount of the domain: ${source}`);
      assert.equal((await stat(source!)).ino, (await stat(volPath)).ino, 'the plugged disk is the volume file');
      await waitFor(async () => ((await guestDisks()).includes('vda') ? true : undefined), { timeoutMs: GUEST_DEADLINE_MS, intervalMs: 500, what: 'the guest seeing the disk' });
      await waitFor(async () => {
        const d = (((await engine.call<Obj[]>('VM.getStats', { vmID: vmId }))[0]!['disks'] ?? {}) as Record<string, Obj>)['vda'];
        return d?.['imageID'] === img ? true : undefined;
      }, { timeoutMs: GUEST_DEADLINE_MS, intervalMs: 500, what: 'VM stats giving the disk\'s image' });

      const u = await engine.call<Obj>('VM.hotunplugDisk', { vmID: vmId, params: { vmId, xml: `<hotunplug><devices><disk><alias name="${alias}"/></disk></devices></hotunplug>` } }, CALL_TIMEOUT_MS);
      assert.ok(!(u['devices'] as Obj[]).some((d) => d['name'] === 'vda'));
      assert.doesNotMatch(await virsh.dumpxml(name), new RegExp(vol));
      await assert.rejects(lstat(runLink), { code: 'ENOENT' }, 'the image is torn down after the unplug');
      await waitFor(async () => (!(await guestDisks()).includes('vda') ? true : undefined), { timeoutMs: GUEST_DEADLINE_MS, intervalMs: 500, what: 'the guest losing the disk' });
    } finally {
      await engine.call('VM.destroy', { vmID: vmId }, CALL_TIMEOUT_MS).catch(() => undefined);
    }
  });
});
