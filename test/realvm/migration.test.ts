// Live migration of a real TCG guest between two vdsm-node hosts on one machine (test/support/migration/
// two-hosts.ts: one network namespace, two addresses, per host a session libvirtd and a vdsmd), driven
// as the engine drives it, through the npm stompit client: VM.migrate on the source with the engine's
// parameters, the engine's events on both agents (Migration Source, progress, the final downtime,
// source Down with exitReason 4, destination Up with stats), back again, VM.migrateCancel, and a guest
// that dirties memory too fast for the bandwidth cap walking the engine's convergence schedule to abort.
// Skipped unless the real-VM tier is set up and the test runs as root (namespaces).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isVmStatus } from '../helpers/engine-client.js';
import { ensureRealVmAssets, realVmSkip, type RealVmAssets } from '../support/realvm/index.js';
import {
  bootGuest, engineMigrateParams, eventAfter, eventsAfter, isMigrationStatus, libvirtDomains, virshOf, vmDetails, type Guest,
} from '../support/migration/scenario.js';
import { buildDirtyInitrd } from '../support/migration/dirty-initrd.js';
import { startTwoHosts, twoHostsAvailable, type MigrationHost, type Obj, type TwoHosts } from '../support/migration/two-hosts.js';

const check = await ensureRealVmAssets();
const tier = await twoHostsAvailable();
const skip = realVmSkip(check) || (!tier.ok && process.env['VDSM_REALVM'] !== '1' ? `two-host migration tier: ${tier.why}` : false);
// A TCG migration takes 2 to 4 s here; a loaded machine can take several times that.
const MIGRATION_DEADLINE_MS = 90_000;

void describe('live migration between two vdsm-node hosts (real QEMU, TCG)', { skip, timeout: 420_000 }, () => {
  let assets: RealVmAssets;
  let hosts: TwoHosts;
  let guest: Guest;

  before(async () => {
    if (!check.ok) throw new Error(`the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    if (!tier.ok) throw new Error(`VDSM_REALVM=1 but the two-host tier cannot run: ${tier.why}`);
    assets = check.assets;
    hosts = await startTwoHosts();
    guest = await bootGuest(hosts, hosts.a, assets, { tag: 'e' });
  });

  after(async () => {
    await hosts?.close();
  });

  /** One successful migration from -> to, checked as the engine checks it; the marks for more checks. */
  async function migrate(from: MigrationHost, to: MigrationHost, t: { diagnostic(m: string): void }): Promise<{ downtime: number; markFrom: number; markTo: number }> {
    const markFrom = from.engine.events().length;
    const markTo = to.engine.events().length;
    const elapsedBefore = Number((await from.engine.call<Obj[]>('VM.getStats', { vmID: guest.vmId }))[0]!['elapsedTime']);
    const t0 = performance.now();
    // maxBandwidth absent: [vars] migration_max_bandwidth (52 MiB/s), as with the engine's VDSM_CONFIG setting.
    assert.equal(await from.engine.call('VM.migrate', { vmID: guest.vmId, params: engineMigrateParams(guest.vmId, from, to) }), true);
    const src = await eventAfter(from.engine, markFrom, isVmStatus(guest.vmId, 'Migration Source'), 10_000);
    assert.equal(vmDetails(src, guest.vmId)['status'], 'Migration Source');
    const down = await eventAfter(from.engine, markFrom, isVmStatus(guest.vmId, 'Down'), MIGRATION_DEADLINE_MS);
    const tDown = performance.now() - t0;
    assert.deepEqual(
      { exitCode: vmDetails(down, guest.vmId)['exitCode'], exitReason: vmDetails(down, guest.vmId)['exitReason'], exitMessage: vmDetails(down, guest.vmId)['exitMessage'] },
      { exitCode: 0, exitReason: 4, exitMessage: 'Migration succeeded' },
    );
    const up = await eventAfter(to.engine, markTo, isVmStatus(guest.vmId, 'Up'), 30_000);
    const tUp = performance.now() - t0;
    const upDetails = vmDetails(up, guest.vmId);
    assert.equal(upDetails['vmName'], guest.name, 'the destination\'s Up carries the VM\'s stats');
    assert.ok(Array.isArray(upDetails['displayInfo']));

    // Progress events on the source; the last one has progress 100 and libvirt's downtime, an integer.
    const progress = eventsAfter(from.engine, markFrom, isMigrationStatus(guest.vmId)).map((e) => vmDetails(e, guest.vmId));
    assert.ok(progress.length >= 1, 'VM_migration_status events');
    const last = progress.at(-1)!;
    assert.equal(last['progress'], 100);
    assert.equal(last['postcopy'], false);
    assert.ok(Number.isInteger(last['downtime']) && (last['downtime'] as number) >= 0, `downtime ${String(last['downtime'])}`);
    const values = progress.map((p) => p['progress'] as number);
    assert.deepEqual(values, [...values].sort((a, b) => a - b), `progress never goes back: ${values.join(',')}`);
    // vdsm's order on the source: the downtime report, then Down. (libvirt reports the job complete only
    // after the source QEMU is torn down, 1.3 to 1.8 s after the guest resumed on the destination here, so
    // the destination's Up, vdsm's 1 s after that resume, may come first: vdsm has the same race.)
    const all = from.engine.events();
    const iFinal = all.findIndex((e, i) => i >= markFrom && isMigrationStatus(guest.vmId)(e) && vmDetails(e, guest.vmId)['downtime'] !== undefined);
    const iDown = all.findIndex((e, i) => i >= markFrom && isVmStatus(guest.vmId, 'Down')(e));
    assert.ok(iFinal >= 0 && iFinal < iDown, `the downtime report (#${iFinal}) before the source's Down (#${iDown})`);

    const st = await from.engine.call<Obj>('VM.getMigrationStatus', { vmID: guest.vmId });
    assert.deepEqual(st['status'], { code: 0, message: 'Migration done' });
    assert.equal(st['progress'], 100);
    assert.equal(st['downtime'], last['downtime']);

    // The destination runs the guest: its agent reports it, its libvirt has it, the guest answers there.
    const stats = (await to.engine.call<Obj[]>('VM.getStats', { vmID: guest.vmId }))[0]!;
    assert.equal(stats['status'], 'Up');
    assert.ok(Number(stats['elapsedTime']) >= elapsedBefore, `elapsedTime carried over: ${String(stats['elapsedTime'])} >= ${elapsedBefore}`);
    const dstVirsh = virshOf(to, assets.tools.virsh);
    assert.equal(await dstVirsh.domstate(guest.name), 'running');
    assert.deepEqual(await dstVirsh.agentCommand(guest.name, 'guest-ping', undefined, 30), {});
    // Nothing runs on the source any more (a persistent source domain stays defined, shut off).
    if ((await libvirtDomains(from, assets.tools.virsh)).includes(guest.name)) assert.equal(await virshOf(from, assets.tools.virsh).domstate(guest.name), 'shut off');
    t.diagnostic(`${from.name}->${to.name}: source Down after ${(tDown / 1000).toFixed(2)} s, destination Up after ${(tUp / 1000).toFixed(2)} s, downtime ${String(last['downtime'])} ms, ${progress.length} progress events (${values.join(',')})`);
    return { downtime: last['downtime'] as number, markFrom, markTo };
  }

  void it('VM.migrate a -> b: Migration Source, progress, downtime, source Down(4), destination Up with stats; the engine then destroys the source VM', async (t) => {
    await migrate(hosts.a, hosts.b, t);
    // What an engine does after the hand-over: forget the Down VM on the source.
    assert.equal(await hosts.a.engine.call('VM.destroy', { vmID: guest.vmId }), true);
    assert.equal((await hosts.a.engine.request('VM.getInfo', { vmID: guest.vmId })).error?.code, 1);
  });

  void it('and back b -> a: the destination\'s persistent definition is undefined when the engine destroys the Down VM on b', async (t) => {
    await migrate(hosts.b, hosts.a, t);
    assert.deepEqual(await libvirtDomains(hosts.b, assets.tools.virsh), [guest.name], 'PERSIST_DEST left a shut-off definition on b');
    assert.equal(await hosts.b.engine.call('VM.destroy', { vmID: guest.vmId }), true);
    assert.deepEqual(await libvirtDomains(hosts.b, assets.tools.virsh), [], 'VM.destroy of the Down VM undefined it');
  });

  void it('VM.migrateCancel during the transfer: libvirt aborts, 47 "Migration canceled", the VM Up on the source, nothing on the destination', async (t) => {
    const a = hosts.a;
    const b = hosts.b;
    const markA = a.engine.events().length;
    // 1 MiB/s: the first pass alone would take a minute.
    assert.equal(await a.engine.call('VM.migrate', { vmID: guest.vmId, params: engineMigrateParams(guest.vmId, a, b, { maxBandwidth: 1 }) }), true);
    const moving = await eventAfter(a.engine, markA, (e) => isMigrationStatus(guest.vmId)(e) && (vmDetails(e, guest.vmId)['progress'] as number) >= 1, 60_000);
    assert.ok(moving);
    const during = (await a.engine.call<Obj[]>('VM.getStats', { vmID: guest.vmId }))[0]!;
    assert.equal(during['status'], 'Migration Source');
    assert.ok(typeof during['migrationProgress'] === 'number', 'migrationProgress in the stats while migrating');
    const hs = await a.engine.call<Obj>('Host.getStats');
    assert.equal(Number(hs['outgoingVmMigrations']), 1);
    // The destination's incoming VM exists until the source's recovery destroys it.
    assert.equal((await b.engine.call<Obj>('VM.getInfo', { vmID: guest.vmId }))['status'], 'Migration Destination');

    const t0 = performance.now();
    assert.equal(await a.engine.call('VM.migrateCancel', { vmID: guest.vmId }), true);
    const tCall = performance.now() - t0;
    await eventAfter(a.engine, markA, isVmStatus(guest.vmId, 'Up'), 60_000);
    const tUp = performance.now() - t0;
    const st = await a.engine.call<Obj>('VM.getMigrationStatus', { vmID: guest.vmId });
    assert.deepEqual(st['status'], { code: 47, message: 'Migration canceled' });
    assert.equal((await b.engine.request('VM.getInfo', { vmID: guest.vmId })).error?.code, 1, 'the destination VM was destroyed');
    assert.deepEqual(await libvirtDomains(b, assets.tools.virsh), [], 'no incoming domain left on b');
    const srcVirsh = virshOf(a, assets.tools.virsh);
    assert.equal(await srcVirsh.domstate(guest.name), 'running');
    assert.deepEqual(await srcVirsh.agentCommand(guest.name, 'guest-ping', undefined, 30), {});
    assert.equal((await a.engine.request('VM.migrateCancel', { vmID: guest.vmId })).error?.code, 47, 'nothing to cancel any more');
    t.diagnostic(`cancel: call answered in ${tCall.toFixed(1)} ms, source Up ${(tUp / 1000).toFixed(2)} s after the call`);
  });

  void it('a guest that dirties memory faster than the bandwidth cap walks the engine\'s convergence schedule to its abort: 47, back Up, nothing on b', async (t) => {
    const a = hosts.a;
    const b = hosts.b;
    const initrd = await buildDirtyInitrd(assets.initrd, join(hosts.shared, 'dirty.img'));
    const dirty = await bootGuest(hosts, a, assets, { tag: 'x', dirtyInitrd: initrd });
    const schedule = {
      init: [{ name: 'setDowntime', params: ['50'] }],
      stalling: [
        { limit: 1, action: { name: 'setDowntime', params: ['60'] } },
        { limit: 2, action: { name: 'setDowntime', params: ['70'] } },
        { limit: -1, action: { name: 'abort', params: [] } },
      ],
    };
    const markA = a.engine.events().length;
    const logFrom = a.agent.lines.length;
    const t0 = performance.now();
    // 4 MiB/s against ~10 MiB/s of dirtied pages (half that on a loaded TCG host: 8 MiB/s let it converge
    // there, twice in CI), a downtime budget of 50 to 70 ms (0.2 to 0.3 MiB), and
    // no auto-convergence: the remaining data never gets small enough.
    assert.equal(await a.engine.call('VM.migrate', {
      vmID: dirty.vmId, params: engineMigrateParams(dirty.vmId, a, b, { maxBandwidth: 4, autoConverge: 'false', convergenceSchedule: schedule }),
    }), true);
    await eventAfter(a.engine, markA, isVmStatus(dirty.vmId, 'Up'), 240_000);
    const st = await a.engine.call<Obj>('VM.getMigrationStatus', { vmID: dirty.vmId });
    assert.deepEqual(st['status'], { code: 47, message: 'Migration canceled' });
    const lines = a.agent.lines.slice(logFrom).filter((l) => l['vmId'] === dirty.vmId);
    const downtimes = lines.filter((l) => l['msg'] === 'setting the migration downtime').map((l) => l['downtimeMs']);
    assert.deepEqual(downtimes, [50, 60, 70], 'init, then each stalling step in order');
    const iAbort = lines.findIndex((l) => l['msg'] === 'Aborting migration (convergence schedule)');
    const iLast = lines.findLastIndex((l) => l['msg'] === 'setting the migration downtime');
    assert.ok(iAbort > iLast, 'abort after the last setDowntime');
    const iterations = lines.filter((l) => l['msg'] === 'migration progress').map((l) => l['iteration'] as number);
    assert.ok(Math.max(...iterations) >= 3, `the abort came at the fourth iteration or later: ${iterations.join(',')}`);
    assert.ok(lines.some((l) => l['msg'] === 'Migration stalling: remaining data above its low-water mark'), 'the monitor saw it stall');
    assert.equal((await b.engine.request('VM.getInfo', { vmID: dirty.vmId })).error?.code, 1);
    assert.deepEqual(await libvirtDomains(b, assets.tools.virsh), []);
    assert.equal(await virshOf(a, assets.tools.virsh).domstate(dirty.name), 'running');
    t.diagnostic(`non-converging guest: aborted after ${((performance.now() - t0) / 1000).toFixed(1)} s, iterations seen ${iterations.join(',')}`);
    await a.engine.call('VM.destroy', { vmID: dirty.vmId }, 60_000);
  });
});
