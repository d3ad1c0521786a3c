// VM.snapshot as a virt job through the real vdsmd on libvirt's test driver and a LOCALFS storage domain
// in a temporary directory: a test-driver VM whose disk is a qcow2 volume named by PDIV, a new layer made
// with Volume.create, then VM.snapshot with the engine's jobUUID. The call answers `true` at once and the
// engine follows the job (Host.getJobs and vdsm's `|jobs|status|<id>` event). The test driver takes no
// external disk-only snapshot (libvirt's "unsupported flags"), so the job fails with 48 and libvirt's
// reason, and the VM runs on, on its old volume; the real-VM tier (test/realvm/snapshot-real-vm.test.ts)
// shows a job that succeeds. A job id still listed is refused (100); a call without one gets an id of
// the agent's own.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isVmStatus, type EngineClient } from '../helpers/engine-client.js';
import { startLocalDcHost, type LocalDcHost } from '../helpers/local-dc-host.js';
import { createVolume, waitTaskByAllStatuses, type LocalDc } from '../helpers/storage-engine.js';

type Obj = Record<string, unknown>;

const domainXml = (uuid: string, dc: LocalDc, img: string, vol: string): string => `<domain type="test">
  <name>snapjob-${uuid.slice(0, 8)}</name>
  <uuid>${uuid}</uuid>
  <memory unit="KiB">131072</memory>
  <vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os>
  <metadata>
    <ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
      <ovirt-vm:device name="vda" devtype="disk">
        <ovirt-vm:poolID>${dc.spUUID}</ovirt-vm:poolID>
        <ovirt-vm:domainID>${dc.sdUUID}</ovirt-vm:domainID>
        <ovirt-vm:imageID>${img}</ovirt-vm:imageID>
        <ovirt-vm:volumeID>${vol}</ovirt-vm:volumeID>
      </ovirt-vm:device>
    </ovirt-vm:vm>
  </metadata>
  <devices>
    <disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="/rhev/data-center/${dc.spUUID}/${dc.sdUUID}/images/${img}/${vol}"/><target dev="vda" bus="virtio"/></disk>
  </devices>
</domain>`;

const isJobStatus = (id: string, status: string) => (e: Obj): boolean => e['method'] === `|jobs|status|${id}` && (e['params'] as Obj)['status'] === status;

void describe('VM.snapshot as a virt job (test driver, LOCALFS domain, api_strict_mode on)', () => {
  let host: LocalDcHost | undefined;
  let engine: EngineClient;
  let dc: LocalDc;

  async function volume(img: string, vol: string, srcVolUUID?: string): Promise<void> {
    const task = await createVolume(engine, dc, { imgUUID: img, volUUID: vol, size: 4 << 20, volFormat: 4, preallocate: 2, ...(srcVolUUID !== undefined ? { srcVolUUID } : {}) });
    assert.equal((await waitTaskByAllStatuses(engine, task)).taskResult, 'success');
    assert.equal(await engine.call('Task.clear', { taskID: task }), true);
  }

  before(async () => {
    host = await startLocalDcHost('vdsm-e2e-snapjob-', ['--set', 'devel.api_strict_mode=true']);
    ({ engine, dc } = host);
  });

  after(async () => {
    await host?.stop();
  });

  void it('answers true at once; the engine follows the job until it fails with 48 and libvirt\'s reason; the VM runs on its old volume', async () => {
    const vmId = randomUUID();
    const img = randomUUID();
    const base = randomUUID();
    await volume(img, base);
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml: domainXml(vmId, dc, img, base) } });
    await engine.waitForEvent(isVmStatus(vmId, 'Up'));
    const top = randomUUID();
    await volume(img, top, base);
    const snapDrives = [{ domainID: dc.sdUUID, imageID: img, volumeID: top, baseVolumeID: base }];

    const jobUUID = randomUUID();
    assert.equal(await engine.call('VM.snapshot', { vmID: vmId, snapDrives, frozen: false, jobUUID, timeout: 30, freeze_timeout: 8 }), true);
    // Listed at once (the job may already have failed: the test driver refuses quickly).
    assert.ok(jobUUID in await engine.call<Record<string, Obj>>('Host.getJobs', { job_type: 'virt', job_ids: [jobUUID] }));
    // vdsm's event when the job finished, and Host.getJobs: the engine's two ways to follow it.
    const failed = await engine.waitForEvent(isJobStatus(jobUUID, 'failed'));
    const jobs = await engine.call<Record<string, Obj>>('Host.getJobs', { job_type: 'virt', job_ids: [jobUUID] });
    const { notify_time: _t, ...event } = failed['params'] as Obj;
    assert.deepEqual(jobs[jobUUID], event, 'the event carries the job\'s info (and notify_time)');
    const job = jobs[jobUUID]!;
    assert.equal(job['id'], jobUUID);
    assert.equal(job['description'], 'snapshot_vm');
    assert.equal(job['job_type'], 'virt');
    const error = job['error'] as Obj;
    assert.equal(error['code'], 48);
    assert.match(String(error['message']), /^Snapshot failed: .*unsupported flags/);
    assert.deepEqual(await engine.call('Host.getJobs', { job_type: 'storage', job_ids: [jobUUID] }), {});

    assert.equal((await engine.call<Obj>('VM.getInfo', { vmID: vmId }))['status'], 'Up');
    const dumped = (await engine.call<Record<string, string>>('Host.dumpxmls', { vmList: [vmId] }))[vmId]!;
    assert.match(dumped, new RegExp(`<ovirt-vm:volumeID>${base}</ovirt-vm:volumeID>`), 'the records still name the old volume');

    // The same job id while it is listed: vdsm's JobExistsError (a general error).
    const dup = await engine.callError('VM.snapshot', { vmID: vmId, snapDrives, jobUUID });
    assert.equal(dup.code, 100);
    assert.match(String(dup.message), new RegExp(`Job '${jobUUID}' exists`));
    // Without a jobUUID the agent makes one: still answered at once, listed as a virt job.
    const before = Object.keys(await engine.call<Record<string, Obj>>('Host.getJobs', { job_type: 'virt' }));
    assert.equal(await engine.call('VM.snapshot', { vmID: vmId, snapDrives }), true);
    const own = await engine.waitForEvent((e) => String(e['method']).startsWith('|jobs|status|') && !before.includes(String((e['params'] as Obj)['id'])) && (e['params'] as Obj)['status'] === 'failed');
    assert.match(String((own['params'] as Obj)['id']), /^[0-9a-f-]{36}$/);
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }), true);
  });
});
