// The release of a VM whose domain stops, as vdsm's releaseVm, through the real vdsmd on libvirt's test
// driver and a LOCALFS data center in a temporary directory: while the release runs the VM reads
// Powering down (in its stats, with no VM_status event for it), its image is torn down, then the
// after_vm_destroy hook runs (with the VM's id and custom properties, as at VM.destroy), and only then
// is the VM reported Down; VM.destroy afterwards does not run the hook again. The domain is powered off
// by VM.shutdown with force (the test driver has no guest to stop itself; a QEMU killed is
// test/realvm/recovery-storage-vm's). The hook is a real script that blocks reading a FIFO until the test
// writes it, so the release is caught in its middle without any timing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { startLocalDcHost, type LocalDcHost } from '../helpers/local-dc-host.js';
import { createVolume, isPrepared, waitTaskByAllStatuses } from '../helpers/storage-engine.js';
import { fileAppears, writeHookScript } from '../support/hook-scripts.js';

const run = promisify(execFile);
type Obj = Record<string, unknown>;

void describe('the release of a VM whose domain stops: Powering down, images, after_vm_destroy, then Down', { timeout: 120_000 }, () => {
  let host: LocalDcHost | undefined;
  let engine: EngineClient;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-e2e-relhook-'));
    await mkdir(join(dir, 'marks'));
    // The blocked hook must outlive the case (the default limit would kill it after 60 s).
    host = await startLocalDcHost('vdsm-e2e-relhook-dc-', ['--set', `vars.hooks_dir=${join(dir, 'hooks')}`, '--set', 'vars.hook_timeout=600']);
    engine = host.engine;
  });
  after(async () => {
    await host?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  void it('a VM powered off reads Powering down (no event) while its image is released and after_vm_destroy runs, then Down; VM.destroy runs no second hook', async () => {
    const { dc, agent } = host!;
    const img = randomUUID();
    const vol = randomUUID();
    const task = await createVolume(engine, dc, { imgUUID: img, volUUID: vol, size: 1 << 20, volFormat: 5, preallocate: 2 });
    assert.equal((await waitTaskByAllStatuses(engine, task)).taskResult, 'success');
    assert.equal(await engine.call('Task.clear', { taskID: task }), true);
    const runLink = join(agent.stateDir, 'run', 'storage', dc.sdUUID, img);

    const vmId = randomUUID();
    const marks = join(dir, 'marks', 'after-destroy');
    const fifo = join(dir, 'go');
    await run('mkfifo', [fifo]);
    // Records what it saw, then waits for the test: the release is held in the hook meanwhile.
    await writeHookScript(join(dir, 'hooks'), 'after_vm_destroy', '10_mark', [
      `[ "$vmId" = "${vmId}" ] || exit 0`,
      `if [ -L "${runLink}" ]; then image=prepared; else image=released; fi`,
      `echo "$vmId $macspoof $image" >> ${marks}`,
      // Made once the line is written: the test reads the marks only then.
      `touch ${marks}.held`,
      `read go < ${fifo}`,
    ].join('\n'));

    // No <acpi/>: the forced shutdown has no method to try and powers the domain off at once.
    const xml = `<domain type="test" xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
  <name>relhook-${vmId.slice(0, 8)}</name>
  <uuid>${vmId}</uuid>
  <memory unit="KiB">131072</memory>
  <vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os>
  <devices>
    <disk type="file" device="disk" snapshot="no">
      <driver name="qemu" type="raw" cache="none"/>
      <source file="/rhev/data-center/${dc.spUUID}/${dc.sdUUID}/images/${img}/${vol}"/>
      <target dev="vda" bus="virtio"/>
      <serial>${img}</serial>
    </disk>
  </devices>
  <metadata>
    <ovirt-vm:vm>
      <ovirt-vm:custom><ovirt-vm:macspoof>true</ovirt-vm:macspoof></ovirt-vm:custom>
      <ovirt-vm:device devtype="disk" name="vda">
        <ovirt-vm:poolID>${dc.spUUID}</ovirt-vm:poolID>
        <ovirt-vm:domainID>${dc.sdUUID}</ovirt-vm:domainID>
        <ovirt-vm:imageID>${img}</ovirt-vm:imageID>
        <ovirt-vm:volumeID>${vol}</ovirt-vm:volumeID>
      </ovirt-vm:device>
    </ovirt-vm:vm>
  </metadata>
</domain>`;
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml } });
    await engine.waitForEvent(isVmStatus(vmId, 'Up'));
    assert.ok(await isPrepared(runLink), 'the image is prepared while the VM runs');

    const from = engine.events().length;
    // Answered once the domain is off and released: not awaited while the hook holds the release.
    const shutdown = engine.request('VM.shutdown', { vmID: vmId, delay: '0', message: 'bye', timeout: '1', force: true });
    // The hook runs before Down: a Down first fails the case at once.
    await Promise.race([
      fileAppears(`${marks}.held`),
      engine.waitForEvent(isVmStatus(vmId, 'Down'), 60_000, from).then(() => { throw new Error('reported Down before after_vm_destroy ran'); }),
    ]);
    assert.deepEqual((await readFile(marks, 'utf8')).trim().split('\n'), [`${vmId} true released`], 'after_vm_destroy runs once the image is torn down, with vmId and the custom properties');
    const stats = await engine.call<Obj[]>('VM.getStats', { vmID: vmId });
    assert.equal(stats[0]?.['status'], 'Powering down', 'the VM reads Powering down while it is released');
    const statusEvents = engine.events().slice(from).filter((e) => JSON.stringify(e['params'] ?? {}).includes(vmId));
    assert.deepEqual(statusEvents, [], 'neither Powering down nor Down is sent while the hook runs (vdsm sends no event for Powering down)');

    const fh = await open(fifo, fsc.O_WRONLY);
    await fh.write('go\n');
    await fh.close();
    const down = await engine.waitForEvent(isVmStatus(vmId, 'Down'), 15_000, from);
    assert.equal((down['params'] as Record<string, Obj>)[vmId]!['exitReason'], 6, 'the Down that follows keeps the forced shutdown\'s reason (admin shut down)');
    assert.equal((await shutdown).error, undefined);

    assert.equal(await engine.call('VM.destroy', { vmID: vmId }), true);
    assert.deepEqual((await readFile(marks, 'utf8')).trim().split('\n'), [`${vmId} true released`], 'VM.destroy does not run after_vm_destroy a second time');
  });
});
