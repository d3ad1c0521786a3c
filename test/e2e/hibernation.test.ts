// Hibernation as the engine drives it, against the real vdsmd program on libvirt's test driver (which
// implements save and restore) and a LOCALFS storage domain in a temporary directory: VM.hibernate with
// the engine's six-UUID handle, then VM.destroy of the Down VM and VM.create with the same handle,
// through the independent npm stompit STOMP client. A save blocked on its storage is a real block: the
// memory volume is replaced by a FIFO nobody reads, so libvirt's save hangs in open() until the test
// reads it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { startLocalDcHost, type LocalDcHost } from '../helpers/local-dc-host.js';
import { createVolume, waitTaskByAllStatuses, type LocalDc } from '../helpers/storage-engine.js';

const run = promisify(execFile);
type Obj = Record<string, unknown>;

const domainXml = (uuid: string, name: string): string => `<domain type="test">
  <name>${name}</name>
  <uuid>${uuid}</uuid>
  <memory unit="KiB">131072</memory>
  <currentMemory unit="KiB">131072</currentMemory>
  <vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os>
  <devices/>
</domain>`;

const statusOf = (e: Obj, vmId: string): Obj => (e['params'] as Record<string, Obj>)[vmId]!;

/** GET /health on the management port. */
function health(port: number): Promise<Obj> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/health' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(JSON.parse(body) as Obj));
    }).on('error', reject);
  });
}

// Both argument modes: vdsm's (departures logged and converted) and [devel] api_strict_mode, where a
// call the method table does not declare answers -32602: the engine's exact calls must pass both.
for (const strict of [false, true]) void describe(`hibernation and restore through VM.hibernate / VM.create (test driver, LOCALFS domain, api_strict_mode=${strict})`, () => {
  let agent: AgentProcess;
  let engine: EngineClient;
  let dc: LocalDc;

  /** Two raw volumes, memory and configuration, as the engine makes them; the handle naming them. */
  async function hibernationVolumes(): Promise<{ handle: string; memPath: string; confPath: string }> {
    const ids = { memImg: randomUUID(), memVol: randomUUID(), confImg: randomUUID(), confVol: randomUUID() };
    for (const [img, vol] of [[ids.memImg, ids.memVol], [ids.confImg, ids.confVol]] as const) {
      const task = await createVolume(engine, dc, { imgUUID: img, volUUID: vol, size: 2 ** 20, volFormat: 5, preallocate: 1, diskType: 'MEMORY' });
      assert.equal((await waitTaskByAllStatuses(engine, task)).taskResult, 'success');
      assert.equal(await engine.call('Task.clear', { taskID: task }), true);
    }
    const images = join(dc.path, dc.sdUUID, 'images');
    return {
      handle: [dc.sdUUID, dc.spUUID, ids.memImg, ids.memVol, ids.confImg, ids.confVol].join(','),
      memPath: join(images, ids.memImg, ids.memVol),
      confPath: join(images, ids.confImg, ids.confVol),
    };
  }

  async function startVm(vmId: string, name: string): Promise<void> {
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml: domainXml(vmId, name) } });
    await engine.waitForEvent(isVmStatus(vmId, 'Up'));
  }

  let host: LocalDcHost | undefined;
  before(async () => {
    host = await startLocalDcHost('vdsm-e2e-hiber-', ['--set', `devel.api_strict_mode=${strict}`]);
    ({ agent, engine, dc } = host);
  });

  after(async () => {
    await host?.stop();
  });

  const VM1 = randomUUID();
  let saved: { handle: string; memPath: string; confPath: string };

  void it('refuses a handle that is not six UUIDs (91) and an unknown VM (1); the VM stays Up', async () => {
    await startVm(VM1, 'hiber-e2e-1');
    for (const bad of ['', 'a,b,c', `${dc.sdUUID},${dc.spUUID},x,y,z,w`]) {
      const r = await engine.request('VM.hibernate', { vmID: VM1, hibernationVolHandle: bad });
      assert.equal(r.error?.code, 91, `handle ${JSON.stringify(bad)}: ${JSON.stringify(r.error)}`);
      assert.match(String(r.error!.message), /hibernation volume handle/);
    }
    const unknown = await engine.request('VM.hibernate', { vmID: randomUUID(), hibernationVolHandle: (await hibernationVolumes()).handle });
    assert.equal(unknown.error?.code, 1);
    assert.equal((await engine.call<Obj>('VM.getInfo', { vmID: VM1 }))['status'], 'Up');
  });

  void it('VM.hibernate: Saving State, then Down with exitReason 5; the memory state and the parameters are on the volumes', async () => {
    saved = await hibernationVolumes();
    const from = engine.events().length;
    assert.equal(await engine.call('VM.hibernate', { vmID: VM1, hibernationVolHandle: saved.handle }), true);
    await engine.waitForEvent(isVmStatus(VM1, 'Saving State'), 15_000, from);
    const down = statusOf(await engine.waitForEvent(isVmStatus(VM1, 'Down'), 15_000, from), VM1);
    assert.equal(down['exitReason'], 5);
    assert.equal(down['exitCode'], 0);
    assert.equal(down['exitMessage'], 'SaveState succeeded');
    // Saving State came before Down and nothing else in between (no Paused for hibernation's own pause).
    const seq = engine.events().slice(from).filter((e) => e['method'] === `|virt|VM_status|${VM1}`).map((e) => statusOf(e, VM1)['status']);
    assert.deepEqual(seq, ['Saving State', 'Down']);
    // libvirt's save image (the test driver's magic, then the domain XML) in the memory volume ...
    const mem = await readFile(saved.memPath);
    assert.match(mem.subarray(0, 64).toString('latin1'), /TestGuestMagic/);
    assert.ok(mem.includes(Buffer.from(VM1)), 'the saved image names the domain');
    // ... and the VM's parameters in the configuration volume, written in place (not truncated), as the
    // pickled dict vdsm keeps there: Python's own pickle.load (vdsm's reader) reads them.
    const conf = await readFile(saved.confPath);
    assert.equal(conf.length, 2 ** 20, 'the preallocated volume keeps its size');
    const { stdout } = await run('python3', ['-c', 'import pickle,sys,json; print(json.dumps(pickle.load(open(sys.argv[1], "rb"))))', saved.confPath]);
    const params = JSON.parse(stdout) as Obj;
    assert.equal(params['vmId'], VM1);
    assert.match(String(params['_srcDomXML']), new RegExp(VM1));
    assert.equal(typeof params['elapsedTimeOffset'], 'number');
    const st = await engine.call<Obj>('VM.getMigrationStatus', { vmID: VM1 });
    assert.deepEqual((st as { status: Obj })['status'], { code: 0, message: 'SaveState done' });
    // The libvirt domain is gone; the engine forgets the Down VM.
    assert.equal(await engine.call('VM.destroy', { vmID: VM1 }), true);
    assert.ok(!(await engine.call<string[]>('Host.getVMList', { onlyUUID: true })).includes(VM1));
  });

  void it('VM.create with hiberVolHandle restores the same domain: Restoring state, then Up', async () => {
    const from = engine.events().length;
    const created = await engine.call<Obj>('VM.create', { vmID: VM1, vmParams: { vmId: VM1, xml: domainXml(VM1, 'hiber-e2e-1'), hiberVolHandle: saved.handle } });
    assert.equal(created['status'], 'Restoring state');
    await engine.waitForEvent(isVmStatus(VM1, 'Up'), 15_000, from);
    const seq = engine.events().slice(from).filter((e) => e['method'] === `|virt|VM_status|${VM1}`).map((e) => statusOf(e, VM1)['status']);
    assert.deepEqual(seq, ['Up']);
    const stats = (await engine.call<Obj[]>('VM.getStats', { vmID: VM1 }))[0]!;
    assert.equal(stats['status'], 'Up');
    // The domain libvirt runs now is the one that was saved.
    const xmls = await engine.call<Record<string, string>>('Host.dumpxmls', { vmList: [VM1] });
    assert.match(xmls[VM1]!, /<name>hiber-e2e-1<\/name>/);
    assert.equal(await engine.call('VM.destroy', { vmID: VM1 }), true);
  });

  void it('a handle whose memory volume holds another VM is refused before libvirt restores anything', async () => {
    const vmId = randomUUID();
    const from = engine.events().length;
    await engine.call<Obj>('VM.create', { vmID: vmId, vmParams: { vmId, xml: domainXml(vmId, 'hiber-e2e-other'), hiberVolHandle: saved.handle } });
    const down = statusOf(await engine.waitForEvent(isVmStatus(vmId, 'Down'), 15_000, from), vmId);
    assert.equal(down['exitReason'], 1);
    assert.equal(down['exitMessage'], `Wake up from hibernation failed:the memory volume holds the VM ${VM1}, not ${vmId}`);
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }), true);
    // VM1's saved state was not brought back behind the agent's back: it restores as VM1 still.
    const again = await engine.call<Obj>('VM.create', { vmID: VM1, vmParams: { vmId: VM1, xml: domainXml(VM1, 'hiber-e2e-1'), hiberVolHandle: saved.handle } });
    assert.equal(again['status'], 'Restoring state');
    await engine.waitForEvent(isVmStatus(VM1, 'Up'), 15_000, from);
    assert.equal(await engine.call('VM.destroy', { vmID: VM1 }), true);
  });

  void it('parameters vdsm saved (its pickle, written by Python) are taken on restore: elapsed time and guest information', async () => {
    const vmId = randomUUID();
    await startVm(vmId, 'hiber-e2e-vdsm');
    const vols = await hibernationVolumes();
    const from = engine.events().length;
    assert.equal(await engine.call('VM.hibernate', { vmID: vmId, hibernationVolHandle: vols.handle }), true);
    await engine.waitForEvent(isVmStatus(vmId, 'Down'), 15_000, from);
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }), true);
    // The configuration volume rewritten in place as vdsm's SourceThread does (pickle.dump, protocol 2, "r+b").
    const script = 'import pickle,sys; f=open(sys.argv[1], "r+b"); pickle.dump({"vmId": sys.argv[2], "elapsedTimeOffset": 7200.5, "guestFQDN": "from-vdsm.example", "status": "Up", "enableGuestEvents": False}, f, protocol=2); f.close()';
    await run('python3', ['-c', script, vols.confPath, vmId]);
    const from2 = engine.events().length;
    await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml: domainXml(vmId, 'hiber-e2e-vdsm'), hiberVolHandle: vols.handle } });
    await engine.waitForEvent(isVmStatus(vmId, 'Up'), 15_000, from2);
    const stats = (await engine.call<Obj[]>('VM.getStats', { vmID: vmId }))[0]!;
    assert.ok(Number(stats['elapsedTime']) >= 7200, `elapsedTime goes on from the saved offset: ${String(stats['elapsedTime'])}`);
    assert.equal(stats['guestFQDN'], 'from-vdsm.example');
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }), true);
  });

  void it('a restore from volumes that hold no saved VM leaves the VM Down with vdsm\'s "Wake up from hibernation failed"', async () => {
    const vmId = randomUUID();
    const empty = await hibernationVolumes();
    const from = engine.events().length;
    const created = await engine.call<Obj>('VM.create', { vmID: vmId, vmParams: { vmId, xml: domainXml(vmId, 'hiber-e2e-empty'), hiberVolHandle: empty.handle } });
    assert.equal(created['status'], 'Restoring state');
    const down = statusOf(await engine.waitForEvent(isVmStatus(vmId, 'Down'), 15_000, from), vmId);
    assert.equal(down['exitCode'], 1);
    assert.equal(down['exitReason'], 1);
    assert.match(String(down['exitMessage']), /^Wake up from hibernation failed:/);
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }), true);
  });

  void it('VM.migrate with mode "file" is the same hibernation (and needs hiberVolHandle)', async () => {
    const vmId = randomUUID();
    await startVm(vmId, 'hiber-e2e-migrate');
    const noHandle = await engine.request('VM.migrate', { vmID: vmId, params: { vmId, mode: 'file' } });
    assert.equal(noHandle.error?.code, 91);
    const vols = await hibernationVolumes();
    const from = engine.events().length;
    assert.equal(await engine.call('VM.migrate', { vmID: vmId, params: { vmId, mode: 'file', hiberVolHandle: vols.handle } }), true);
    const down = statusOf(await engine.waitForEvent(isVmStatus(vmId, 'Down'), 15_000, from), vmId);
    assert.equal(down['exitReason'], 5);
    assert.match((await readFile(vols.memPath)).subarray(0, 64).toString('latin1'), /TestGuestMagic/);
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }), true);
  });

  void it('a VM the user paused is hibernated as it is (libvirt is not asked to pause it again)', async () => {
    const vmId = randomUUID();
    await startVm(vmId, 'hiber-e2e-paused');
    await engine.call('VM.pause', { vmID: vmId });
    await engine.waitForEvent(isVmStatus(vmId, 'Paused'));
    const vols = await hibernationVolumes();
    const from = engine.events().length;
    assert.equal(await engine.call('VM.hibernate', { vmID: vmId, hibernationVolHandle: vols.handle }), true);
    const down = statusOf(await engine.waitForEvent(isVmStatus(vmId, 'Down'), 15_000, from), vmId);
    assert.equal(down['exitReason'], 5);
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }), true);
  });

  void it('a save blocked on its storage stalls nothing: ping2 and getAllVmStats answer, a second hibernate is 51, the save ends when the storage does', async () => {
    const vmId = randomUUID();
    await startVm(vmId, 'hiber-e2e-stuck');
    const vols = await hibernationVolumes();
    // The memory volume becomes a FIFO: libvirt's save blocks opening it until somebody reads.
    await unlink(vols.memPath);
    await run('mkfifo', [vols.memPath]);
    const from = engine.events().length;
    assert.equal(await engine.call('VM.hibernate', { vmID: vmId, hibernationVolHandle: vols.handle }), true);
    await engine.waitForEvent(isVmStatus(vmId, 'Saving State'), 15_000, from);
    // The save call is running (and blocked) in libvirt: /health shows it.
    for (;;) {
      const h0 = await health(agent.port) as { migrations: { hibernations: Obj[] } };
      const h = h0.migrations.hibernations.find((x) => x['vmId'] === vmId);
      if (h !== undefined && (h['call'] as Obj)['state'] === 'running') break;
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(await engine.call('Host.ping2'), true);
    const all = await engine.call<Obj[]>('Host.getAllVmStats');
    assert.equal(all.find((s) => s['vmId'] === vmId)?.['status'], 'Saving State');
    const again = await engine.request('VM.hibernate', { vmID: vmId, hibernationVolHandle: vols.handle });
    assert.equal(again.error?.code, 51);
    const migrate = await engine.request('VM.migrate', { vmID: vmId, params: { dst: '127.0.0.1', method: 'online' } });
    assert.equal(migrate.error?.code, 51);
    // The storage answers: the save completes and the VM goes Down (5).
    const drained = new Promise<number>((resolve, reject) => {
      let n = 0;
      createReadStream(vols.memPath).on('data', (c) => (n += c.length)).on('end', () => resolve(n)).on('error', reject);
    });
    const down = statusOf(await engine.waitForEvent(isVmStatus(vmId, 'Down'), 15_000, from), vmId);
    assert.equal(down['exitReason'], 5);
    assert.ok(await drained > 0, 'libvirt wrote the memory state into the FIFO');
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }), true);
  });
});
