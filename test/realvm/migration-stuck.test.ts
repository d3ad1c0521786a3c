// A hung migration destination cannot stall the source agent (two-host tier, test/support/migration/):
// with the destination's QEMU frozen by SIGSTOP mid-transfer, and with the destination's libvirtd frozen
// before the migration starts, migrateToURI3 blocks without limit on the source's migration Executor.
// Meanwhile the source agent answers Host.ping2 and Host.getAllVmStats (their latencies are printed,
// not asserted: timing is for bench:migration), shows the stuck migration in /health, accepts the
// engine's VM.migrateCancel, and reports the outcome once libvirt decides: failed QEMU job -> the
// destination VM destroyed (SIGKILL after SIGTERM did nothing), which releases the blocked call; or,
// with the daemon frozen, the VM stays Migration Source until the daemon answers and libvirt aborts.
// Either way nothing is left half-migrated: the guest runs on the source only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isVmStatus } from '../helpers/engine-client.js';
import { ensureRealVmAssets, realVmSkip, waitFor, type RealVmAssets } from '../support/realvm/index.js';
import {
  bootGuest, engineMigrateParams, eventAfter, isMigrationStatus, latencies, libvirtDomains, summarize, virshOf, vmDetails, type Guest,
} from '../support/migration/scenario.js';
import { qemuPids, startTwoHosts, twoHostsAvailable, type Obj, type TwoHosts } from '../support/migration/two-hosts.js';

const check = await ensureRealVmAssets();
const tier = await twoHostsAvailable();
const skip = realVmSkip(check) || (!tier.ok && process.env['VDSM_REALVM'] !== '1' ? `two-host migration tier: ${tier.why}` : false);

type Migration = Obj & { vmId: string; phase: string; stuck: boolean; lingering: boolean; call: Obj; cancelRequested: boolean };

void describe('a hung migration destination does not stall the source agent', { skip, timeout: 420_000 }, () => {
  let assets: RealVmAssets;
  let hosts: TwoHosts;
  let guest: Guest;
  const stopped: number[] = [];

  before(async () => {
    if (!check.ok) throw new Error(`the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    if (!tier.ok) throw new Error(`VDSM_REALVM=1 but the two-host tier cannot run: ${tier.why}`);
    assets = check.assets;
    hosts = await startTwoHosts();
    guest = await bootGuest(hosts, hosts.a, assets, { tag: 's' });
  });

  after(async () => {
    // Never leave a stopped process behind (close() kills them, but a stopped one must be woken first).
    for (const pid of stopped) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Gone already.
      }
    }
    await hosts?.close();
  });

  async function migrationOnA(): Promise<Migration | undefined> {
    const h = await hosts.a.http('/health');
    return ((h['migrations'] as Obj)['outgoing'] as Migration[]).find((m) => m.vmId === guest.vmId);
  }

  /** ping2 and getAllVmStats on the source while `until()` is false (at least 40 calls each). */
  async function responsiveness(until: () => boolean): Promise<string> {
    const ping = summarize(await latencies(hosts.a.engine, 'Host.ping2', {}, { until, min: 40 }));
    const stats = summarize(await latencies(hosts.a.engine, 'Host.getAllVmStats', {}, { until, min: 40 }));
    return `ping2 p50 ${ping.p50} p99 ${ping.p99} max ${ping.max} ms (n=${ping.n}); getAllVmStats p50 ${stats.p50} p99 ${stats.p99} max ${stats.max} ms (n=${stats.n})`;
  }

  async function assertOnlyOnSource(): Promise<void> {
    // The source waits for the destination's VM.destroy up to 15 s (vdsm's call timeout); killing a hung
    // QEMU can take libvirt longer, so the destination may still be at it when the source is Up.
    await waitFor(async () => (await hosts.b.engine.request('VM.getInfo', { vmID: guest.vmId })).error?.code === 1, { timeoutMs: 60_000, intervalMs: 250, what: 'the destination VM destroyed' });
    assert.deepEqual(await libvirtDomains(hosts.b, assets.tools.virsh), [], 'no domain on the destination');
    const srcVirsh = virshOf(hosts.a, assets.tools.virsh);
    assert.equal(await srcVirsh.domstate(guest.name), 'running');
    assert.deepEqual(await srcVirsh.agentCommand(guest.name, 'guest-ping', undefined, 30), {}, 'the guest runs on the source');
  }

  void it('destination QEMU frozen mid-transfer: the source keeps serving, /health shows the stuck migration, cancel ends it once libvirt decides', async (t) => {
    const { a, b } = hosts;
    const markA = a.engine.events().length;
    // 4 MiB/s: the first pass takes long enough to freeze the destination in the middle of it.
    assert.equal(await a.engine.call('VM.migrate', { vmID: guest.vmId, params: engineMigrateParams(guest.vmId, a, b, { maxBandwidth: 4 }) }), true);
    await eventAfter(a.engine, markA, (e) => isMigrationStatus(guest.vmId)(e) && (vmDetails(e, guest.vmId)['progress'] as number) >= 1, 120_000);
    const pids = await qemuPids(b.lv, guest.name);
    assert.equal(pids.length, 1, 'the destination QEMU');
    process.kill(pids[0]!, 'SIGSTOP');
    stopped.push(pids[0]!);
    const stuck = await waitFor(async () => {
      const m = await migrationOnA();
      return m?.stuck === true ? m : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250, what: 'the migration reported stuck in /health' });
    assert.equal(stuck.phase, 'migrating');
    assert.equal(stuck.call['state'], 'running');
    assert.equal(((await a.http('/health'))['migrations'] as Obj)['stuck'], 1);
    // The agent serves the engine while migrateToURI3 is blocked (its figures go to the diagnostics).
    const figures = await responsiveness(() => true);
    t.diagnostic(`source agent, destination QEMU frozen: ${figures}`);
    assert.equal((await a.engine.call<Obj[]>('VM.getStats', { vmID: guest.vmId }))[0]!['status'], 'Migration Source');

    const t0 = performance.now();
    assert.equal(await a.engine.call('VM.migrateCancel', { vmID: guest.vmId }), true);
    const tCancel = performance.now() - t0;
    // libvirt fails the job at once, but the call waits for the frozen destination: the job's state
    // decides; the destination VM is destroyed (which kills the frozen QEMU and frees the call).
    await eventAfter(a.engine, markA, isVmStatus(guest.vmId, 'Up'), 120_000);
    const tUp = performance.now() - t0;
    const st = await a.engine.call<Obj>('VM.getMigrationStatus', { vmID: guest.vmId });
    assert.deepEqual(st['status'], { code: 47, message: 'Migration canceled' });
    const failed = await a.agent.waitForLog((l) => l['msg'] === 'migration failed' && l['vmId'] === guest.vmId, 5_000);
    t.diagnostic(`cancel answered in ${tCancel.toFixed(1)} ms; source Up ${(tUp / 1000).toFixed(2)} s later (${String(failed['why'])}; the call was ${failed['callBlocked'] === true ? 'still blocked' : 'back'})`);
    await assertOnlyOnSource();
    // The blocked call comes back once the destination QEMU is gone; it is never discarded before.
    const done = await waitFor(async () => {
      const m = await migrationOnA();
      return m !== undefined && !m.lingering ? m : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250, what: 'the blocked migrateToURI3 call to return' });
    assert.equal(done.phase, 'failed');
    assert.notEqual(done.call['state'], 'running');
    const executor = ((await a.http('/health'))['executors'] as Obj)['migration'] as Obj;
    t.diagnostic(`migration executor afterwards: ${JSON.stringify(executor).slice(0, 300)}`);
  });

  void it('destination libvirtd frozen: the migration stays Migration Source (cancel accepted) until the daemon answers; then canceled, nothing on the destination', async (t) => {
    const { a, b } = hosts;
    const pid = b.lv.pid!;
    process.kill(pid, 'SIGSTOP');
    stopped.push(pid);
    let resumed = false;
    try {
      const markA = a.engine.events().length;
      assert.equal(await a.engine.call('VM.migrate', { vmID: guest.vmId, params: engineMigrateParams(guest.vmId, a, b) }), true);
      await eventAfter(a.engine, markA, isVmStatus(guest.vmId, 'Migration Source'), 10_000);
      const stuck = await waitFor(async () => {
        const m = await migrationOnA();
        return m?.phase === 'migrating' && m.stuck ? m : undefined;
      }, { timeoutMs: 20_000, intervalMs: 250, what: 'the migration reported stuck in /health (the peer daemon does not answer)' });
      assert.equal(stuck.call['state'], 'running');
      const figures = await responsiveness(() => true);
      t.diagnostic(`source agent, destination libvirtd frozen: ${figures}`);

      assert.equal(await a.engine.call('VM.migrateCancel', { vmID: guest.vmId }), true);
      // libvirt accepted the abort, but nothing is decided while the destination daemon sleeps: two more
      // monitor ticks later the VM is still Migration Source.
      const ticks = (): number => a.agent.lines.filter((l) => l['msg'] === 'migration progress' && l['vmId'] === guest.vmId).length;
      const before = ticks();
      await a.agent.waitForLog(() => ticks() >= before + 2, 20_000);
      assert.equal((await a.engine.call<Obj>('VM.getInfo', { vmID: guest.vmId }))['status'], 'Migration Source');
      assert.equal((await migrationOnA())?.cancelRequested, true);

      process.kill(pid, 'SIGCONT');
      resumed = true;
      await eventAfter(a.engine, markA, isVmStatus(guest.vmId, 'Up'), 120_000);
      const st = await a.engine.call<Obj>('VM.getMigrationStatus', { vmID: guest.vmId });
      assert.deepEqual(st['status'], { code: 47, message: 'Migration canceled' });
      await assertOnlyOnSource();
    } finally {
      if (!resumed) process.kill(pid, 'SIGCONT');
    }
  });
});
