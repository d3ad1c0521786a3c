// The storage-drive lifetime of a VM, against the real vdsmd on libvirt's test driver and a LOCALFS data
// center in a temporary directory (file volumes made by Volume.create). As vdsm's _onQemuDeath ->
// releaseVm: a VM whose domain stops (here powered off by VM.shutdown with force: the test driver knows
// no ACPI button; a guest that shuts down or a killed QEMU is test/realvm/recovery-storage-vm's) has its
// images torn down before it is reported Down, and VM.destroy afterwards does not tear them down again (an image the engine prepared
// again meanwhile stays prepared). A prepare that hangs is a real block: the volume's metadata file is
// replaced by a FIFO nobody writes, so the storage thread waits in open() until the test writes it;
// VM.destroy answers meanwhile, and when the prepare returns its image is torn down and no domain starts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { startLocalDcHost, type LocalDcHost } from '../helpers/local-dc-host.js';
import { createVolume, isPrepared, waitTaskByAllStatuses } from '../helpers/storage-engine.js';
import { blockedOnFifo } from '../support/fifo-wait.js';

const run = promisify(execFile);
type Obj = Record<string, unknown>;
/** How long VM.destroy may take while a prepare of its image hangs (it answers in milliseconds). */
const DESTROY_BOUND_MS = 5_000;

void describe('storage drives of a VM that goes Down (test driver, LOCALFS domain)', { timeout: 120_000 }, () => {
  let host: LocalDcHost | undefined;
  let engine: EngineClient;

  before(async () => {
    // The hung prepare stays hung for the whole case (the storage timeout would end it after 60 s).
    host = await startLocalDcHost('vdsm-e2e-drel-', ['--set', 'irs.process_pool_timeout=600']);
    engine = host.engine;
  });
  after(async () => {
    await host?.stop();
  });

  /** A new raw file volume in its own image; `runLink` exists while the image is prepared. */
  async function newVolume(): Promise<{ img: string; vol: string; path: string; runLink: string }> {
    const { dc, agent } = host!;
    const img = randomUUID();
    const vol = randomUUID();
    const task = await createVolume(engine, dc, { imgUUID: img, volUUID: vol, size: 1 << 20, volFormat: 5, preallocate: 2 });
    assert.equal((await waitTaskByAllStatuses(engine, task)).taskResult, 'success');
    assert.equal(await engine.call('Task.clear', { taskID: task }), true);
    return { img, vol, path: join(dc.path, dc.sdUUID, 'images', img, vol), runLink: join(agent.stateDir, 'run', 'storage', dc.sdUUID, img) };
  }

  /** The engine's domain XML of a test-driver VM with ACPI and one disk on volume `v` (its vda). */
  function vmXml(vmId: string, v: { img: string; vol: string }): string {
    const { dc } = host!;
    return `<domain type="test" xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
  <name>drel-${vmId.slice(0, 8)}</name>
  <uuid>${vmId}</uuid>
  <memory unit="KiB">131072</memory>
  <vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os>
  <features><acpi/></features>
  <devices>
    <disk type="file" device="disk" snapshot="no">
      <driver name="qemu" type="raw" cache="none"/>
      <source file="/rhev/data-center/${dc.spUUID}/${dc.sdUUID}/images/${v.img}/${v.vol}"/>
      <target dev="vda" bus="virtio"/>
      <serial>${v.img}</serial>
    </disk>
  </devices>
  <metadata>
    <ovirt-vm:vm>
      <ovirt-vm:device devtype="disk" name="vda">
        <ovirt-vm:poolID>${dc.spUUID}</ovirt-vm:poolID>
        <ovirt-vm:domainID>${dc.sdUUID}</ovirt-vm:domainID>
        <ovirt-vm:imageID>${v.img}</ovirt-vm:imageID>
        <ovirt-vm:volumeID>${v.vol}</ovirt-vm:volumeID>
      </ovirt-vm:device>
    </ovirt-vm:vm>
  </metadata>
</domain>`;
  }

  void it('a VM powered off has its image torn down before it is reported Down; VM.destroy then leaves an image prepared again alone', async () => {
    const { dc } = host!;
    const v = await newVolume();
    const vmId = randomUUID();
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml: vmXml(vmId, v) } });
    await engine.waitForEvent(isVmStatus(vmId, 'Up'));
    assert.ok(await isPrepared(v.runLink), 'the image is prepared while the VM runs');

    const from = engine.events().length;
    assert.equal(await engine.call('VM.shutdown', { vmID: vmId, delay: '0', message: 'bye', timeout: '1', force: true }), true);
    await engine.waitForEvent(isVmStatus(vmId, 'Down'), 15_000, from);
    assert.equal(await isPrepared(v.runLink), false, 'the image is torn down by the time the VM is reported Down');

    // The engine prepares the image again (another VM, a storage flow): the Down VM's destroy leaves it.
    const image = { storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: v.img, volumeID: v.vol };
    await engine.call('Image.prepare', image);
    assert.ok(await isPrepared(v.runLink));
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }), true);
    assert.ok(await isPrepared(v.runLink), 'VM.destroy of the Down VM does not tear its image down a second time');
    await engine.call('Image.teardown', image);
  });

  void it('VM.destroy answers while the VM\'s image preparation hangs; the image is torn down when the prepare returns and no domain starts', async () => {
    const { agent } = host!;
    const v = await newVolume();
    const meta = `${v.path}.meta`;
    const content = await readFile(meta);
    await rename(meta, `${meta}.real`);
    await run('mkfifo', [meta]);
    const vmId = randomUUID();
    try {
      const created = await engine.call<Obj>('VM.create', { vmID: vmId, vmParams: { vmId, xml: vmXml(vmId, v) } });
      assert.equal(created['status'], 'WaitForLaunch');
      await blockedOnFifo(agent.pid, 15_000);

      const t0 = Date.now();
      assert.equal(await engine.call('VM.destroy', { vmID: vmId }, DESTROY_BOUND_MS), true);
      assert.ok(Date.now() - t0 < DESTROY_BOUND_MS, 'VM.destroy does not wait for the hung prepare');
      assert.equal(await isPrepared(v.runLink), false, 'nothing is prepared yet');

      // The storage answers at last: the prepare completes (its run link is made) after the VM is gone.
      const fh = await open(meta, fsc.O_WRONLY);
      await fh.write(content);
      await fh.close();
      const outcome = await agent.waitForLog((l) => l['vmId'] === vmId && (l['msg'] === 'VM launched' || l['msg'] === 'VM launch failed'));
      assert.equal(outcome['msg'], 'VM launch failed', 'the destroyed VM\'s domain is not started');
      assert.equal(await isPrepared(v.runLink), false, 'the image prepared after VM.destroy is torn down');
      assert.equal((await engine.call<Obj[]>('Host.getVMList', { onlyUUID: true })).some((x) => JSON.stringify(x).includes(vmId)), false);
    } finally {
      await unlink(meta).catch(() => undefined);
      await rename(`${meta}.real`, meta);
    }
  });
});
