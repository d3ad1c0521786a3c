// Live migration between two vdsm-node hosts on this machine (the two-host tier of test/support/
// migration/: one network namespace, per host a session libvirtd and a vdsmd, the real TCG tiny guest),
// played as the engine plays it (stompit over a relay into the namespace). Per case, with N other VMs
// running on each host (BIOS-only 16 MiB guests, sampled like any VM):
//   migrate     VM.migrate -> destination Up and -> source Down (engine-side receive times), libvirt's
//               downtime, the progress events' cadence; meanwhile on both agents Host.getAllVmStats
//               latency (a call every 20 ms) and the main thread's event-loop delay (health monitor, 1 s)
//   idle        the same two figures with nothing migrating: the baseline the migration is compared to
//   cancel      VM.migrateCancel's answer and the source's Up after it (a 1 MiB/s migration, cancelled
//               once data moves)
//   virsh       the floor: `virsh migrate --live --p2p --persistent --abort-on-error` of a guest the
//               agents do not manage, between the same daemons, same bandwidth
// One JSON line per case on stdout, progress on stderr, a Markdown report in --out (results/migration/).
// Needs root (namespaces) and scripts/realvm/setup.sh. Usage:
//   node dist/bench/migration.js [--others=1,20] [--repeats=3] [--quick] [--out=DIR]
// --quick: 1 other VM, one round a->b->a, no warm-up. vdsm-bench runs it only when named.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Guest } from '../test/support/migration/scenario.js';
import type { MigrationHost, Obj, TwoHosts } from '../test/support/migration/two-hosts.js';
import { fmt, mdTable } from './lib/markdown.js';
import { emitCase, outDir, progress, step } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { median, round, summarize } from './lib/stats.js';

/**
 * The two-host tier's starters are test-support code: in a checkout, not in an installed vdsm-bench
 * (loaded here, so that an installed copy says so instead of failing on a missing module).
 */
async function loadSupport() {
  const load = async () => {
    const [ec, realvm, scenario, twoHosts] = await Promise.all([
      import('../test/helpers/engine-client.js'), import('../test/support/realvm/index.js'),
      import('../test/support/migration/scenario.js'), import('../test/support/migration/two-hosts.js'),
    ]);
    return { ...ec, ...realvm, ...scenario, ...twoHosts };
  };
  return load().catch((err: unknown) => {
    throw new Error(`the two-host tier (test/support/migration) comes with a checkout, not with an installed vdsm-bench (${(err as Error).message})`);
  });
}
let S!: Awaited<ReturnType<typeof loadSupport>>;

const run = promisify(execFile);
const flags = benchFlags({
  name: 'migration',
  options: {
    others: 'N,N: other VMs running on each host, one case each (default 1,20; --quick 1)',
    repeats: 'N: migrations per case (default 3; --quick 1)',
  },
  notes: 'Needs root (network namespaces) and the real-VM tier: bash scripts/realvm/setup.sh',
});
const quick = flags.has('quick');
const OTHERS = flags.list('others', quick ? ['1'] : ['1', '20']).map(Number);
const REPEATS = Math.max(1, flags.num('repeats', quick ? 1 : 3));
const BANDWIDTH = 52; // MiB/s: vdsm's default migration_max_bandwidth

/** A guest that boots nothing: SeaBIOS finds no boot device and idles. What the agents sample, cheaply. */
function biosOnlyXml(name: string, uuid: string): string {
  return `<domain type="qemu"><name>${name}</name><uuid>${uuid}</uuid><memory unit="MiB">16</memory><currentMemory unit="MiB">16</currentMemory>
  <vcpu>1</vcpu><os><type arch="x86_64" machine="pc">hvm</type></os><features><acpi/></features>
  <devices><memballoon model="none"/></devices></domain>`;
}

interface Window { start: number; end: number }

/** getAllVmStats every 20 ms on a host until stop() (engine-side round trips, ms). */
function statsLoop(host: MigrationHost): { stop: () => Promise<number[]> } {
  const out: number[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const t0 = performance.now();
      await host.engine.request('Host.getAllVmStats', {}, 30_000);
      out.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return { stop: async () => { running = false; await done; return out; } };
}

/** The main thread's event-loop delay per health check (1 s) inside a wall-clock window. */
function loopDelay(host: MigrationHost, w: Window): { p99: number; max: number; checks: number } {
  const lines = host.agent.lines.filter((l) => String(l['msg']).startsWith('health: ') && l['main'] !== undefined && (l['time'] as number) >= w.start && (l['time'] as number) <= w.end + 1000);
  const main = lines.map((l) => l['main'] as { eld_p99_ms: number; eld_max_ms: number });
  return { p99: Math.max(0, ...main.map((m) => m.eld_p99_ms)), max: Math.max(0, ...main.map((m) => m.eld_max_ms)), checks: main.length };
}

interface MigrationSample {
  dstUpS: number; srcDownS: number; callMs: number; downtimeMs: number; libvirtElapsedMs: number;
  progressEvents: number; cadenceMeanS: number; cadenceMaxS: number;
  statsA: number[]; statsB: number[]; loopA: { p99: number; max: number }; loopB: { p99: number; max: number };
}

async function migrateOnce(from: MigrationHost, to: MigrationHost, g: Guest): Promise<MigrationSample> {
  const markF = from.engine.events().length;
  const markT = to.engine.events().length;
  const loops = [statsLoop(from), statsLoop(to)];
  const start = Date.now();
  const t0 = performance.now();
  await from.engine.call('VM.migrate', { vmID: g.vmId, params: S.engineMigrateParams(g.vmId, from, to, { maxBandwidth: BANDWIDTH }) });
  const callMs = performance.now() - t0;
  let dstUp = 0;
  let srcDown = 0;
  await Promise.all([
    S.eventAfter(to.engine, markT, S.isVmStatus(g.vmId, 'Up'), 180_000).then(() => (dstUp = performance.now() - t0)),
    S.eventAfter(from.engine, markF, S.isVmStatus(g.vmId, 'Down'), 180_000).then(() => (srcDown = performance.now() - t0)),
  ]);
  const [statsF, statsT] = await Promise.all(loops.map((l) => l.stop()));
  const w = { start, end: Date.now() };
  const prog = S.eventsAfter(from.engine, markF, S.isMigrationStatus(g.vmId));
  const times = prog.map((e) => (e['params'] as Obj)['notify_time'] as number);
  const gaps = times.slice(1).map((t, i) => (t - times[i]!) / 1000);
  // The agent's log travels on its stdout, the events on the engine's socket: the line may come later.
  const done = await from.agent.waitForLog((l) => l['msg'] === 'migration job completed' && l['vmId'] === g.vmId && (l['time'] as number) >= start, 10_000).catch(() => undefined);
  // The engine forgets the source's Down VM after the hand-over.
  await from.engine.call('VM.destroy', { vmID: g.vmId }, 60_000);
  return {
    dstUpS: dstUp / 1000, srcDownS: srcDown / 1000, callMs, downtimeMs: S.vmDetails(prog.at(-1)!, g.vmId)['downtime'] as number,
    libvirtElapsedMs: (done?.['timeElapsedMs'] as number | undefined) ?? NaN,
    progressEvents: prog.length, cadenceMeanS: gaps.length > 0 ? gaps.reduce((a, b) => a + b, 0) / gaps.length : NaN, cadenceMaxS: gaps.length > 0 ? Math.max(...gaps) : NaN,
    statsA: from.name === 'a' ? statsF : statsT, statsB: from.name === 'a' ? statsT : statsF,
    loopA: loopDelay(from.name === 'a' ? from : to, w), loopB: loopDelay(from.name === 'a' ? to : from, w),
  };
}

async function idleBaseline(hosts: TwoHosts, ms: number): Promise<{ statsA: number[]; statsB: number[]; loopA: { p99: number; max: number }; loopB: { p99: number; max: number } }> {
  const loops = [statsLoop(hosts.a), statsLoop(hosts.b)];
  const start = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  const [statsA, statsB] = await Promise.all(loops.map((l) => l.stop()));
  const w = { start, end: Date.now() };
  return { statsA: statsA!, statsB: statsB!, loopA: loopDelay(hosts.a, w), loopB: loopDelay(hosts.b, w) };
}

async function cancelOnce(from: MigrationHost, to: MigrationHost, g: Guest): Promise<{ callMs: number; upS: number }> {
  const mark = from.engine.events().length;
  await from.engine.call('VM.migrate', { vmID: g.vmId, params: S.engineMigrateParams(g.vmId, from, to, { maxBandwidth: 1 }) });
  await S.eventAfter(from.engine, mark, (e) => S.isMigrationStatus(g.vmId)(e) && (S.vmDetails(e, g.vmId)['progress'] as number) >= 1, 180_000);
  const t0 = performance.now();
  await from.engine.call('VM.migrateCancel', { vmID: g.vmId });
  const callMs = performance.now() - t0;
  await S.eventAfter(from.engine, mark, S.isVmStatus(g.vmId, 'Up'), 180_000);
  return { callMs, upS: (performance.now() - t0) / 1000 };
}

/** The floor: libvirt alone (virsh, peer to peer, same flags and bandwidth), wall time in s. */
async function virshFloor(hosts: TwoHosts, xml: string, name: string, virsh: string): Promise<number[]> {
  const file = path.join(hosts.shared, `${name}.xml`);
  await writeFile(file, xml);
  const va = S.virshOf(hosts.a, virsh);
  await va.create(file);
  await new Promise((r) => setTimeout(r, 5000)); // let the guest boot a little, as the agents' guest did
  const out: number[] = [];
  for (const [from, to] of [[hosts.a, hosts.b], [hosts.b, hosts.a]] as const) {
    const t0 = performance.now();
    await run(virsh, ['-c', from.lv.uri('qemu'), 'migrate', '--live', '--p2p', '--persistent', '--abort-on-error', '--bandwidth', String(BANDWIDTH), name, `qemu+tcp://${to.address}/session`, `tcp://${to.address}`]);
    out.push((performance.now() - t0) / 1000);
  }
  await va.destroy(name).catch(() => undefined);
  await run(virsh, ['-c', hosts.b.lv.uri('qemu'), 'undefine', name]).catch(() => undefined);
  await run(virsh, ['-c', hosts.a.lv.uri('qemu'), 'undefine', name]).catch(() => undefined);
  return out;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:migration needs root (network namespaces)');
  S = await loadSupport();
  const check = await S.ensureRealVmAssets();
  if (!check.ok) throw new Error(`real-VM tier not set up: ${check.hint}`);
  const assets = check.assets;
  const records: Record<string, unknown>[] = [];
  progress(`load1 ${loadavg()[0]!.toFixed(2)}, ${cpus().length} CPUs; others ${OTHERS.join(',')}, repeats ${REPEATS}`);
  const perCase = 4;
  const total = OTHERS.length * perCase;
  for (const [ci, others] of OTHERS.entries()) {
    step(ci * perCase, total, `${others} other VM(s) per host: two hosts, guests booting`);
    const hosts = await S.startTwoHosts({ agentArgs: ['--set', 'health.check_interval=1', '--set', 'vars.guest_wait_timeout=5'] });
    try {
      progress(`others=${others}: starting ${others} other VMs on each host`);
      for (const host of [hosts.a, hosts.b]) {
        const mark = host.engine.events().length;
        const ups: Promise<unknown>[] = [];
        for (let i = 0; i < others; i++) {
          const uuid = randomUUID();
          await host.engine.call('VM.create', { vmID: uuid, vmParams: { vmId: uuid, xml: biosOnlyXml(`o${host.name}${i}-${uuid.slice(0, 4)}`, uuid) } }, 60_000);
          ups.push(S.eventAfter(host.engine, mark, S.isVmStatus(uuid, 'Up'), 300_000));
        }
        // Every launch done before the guest's own (launches queue on the engine's Executor, bounded).
        await Promise.all(ups);
      }
      const g = await S.bootGuest(hosts, hosts.a, assets, { tag: 'b' });
      if (!quick) {
        progress(`others=${others}: warm-up migrations a->b->a`);
        await migrateOnce(hosts.a, hosts.b, g);
        await migrateOnce(hosts.b, hosts.a, g);
      }
      step(ci * perCase + 1, total, `${others} other VM(s): ${REPEATS} round(s) a->b->a`);
      const load1 = loadavg()[0]!;
      const samples: MigrationSample[] = [];
      for (let r = 0; r < REPEATS; r++) {
        samples.push(await migrateOnce(hosts.a, hosts.b, g));
        samples.push(await migrateOnce(hosts.b, hosts.a, g));
        progress(`others=${others}: round ${r + 1}/${REPEATS}: dst Up ${samples.at(-2)!.dstUpS.toFixed(2)} / ${samples.at(-1)!.dstUpS.toFixed(2)} s`);
      }
      step(ci * perCase + 2, total, `${others} other VM(s): idle baseline, cancel`);
      const idle = await idleBaseline(hosts, 5000);
      const cancel = await cancelOnce(hosts.a, hosts.b, g);
      step(ci * perCase + 3, total, `${others} other VM(s): the virsh floor`);
      const floor = await virshFloor(hosts, S.tinyGuestXml({ uuid: randomUUID(), name: `vf-${others}`, kernel: assets.kernel, initrd: assets.initrd, consoleLog: path.join(hosts.shared, 'vf.log') }), `vf-${others}`, assets.tools.virsh);
      const all = (f: (s: MigrationSample) => number[]): number[] => samples.flatMap(f);
      const rec = {
        suite: 'migration', case: `migration-others-${others}`, others, migrations: samples.length, load1: round(load1), load1_end: round(loadavg()[0]!),
        dst_up_s: round(median(samples.map((s) => s.dstUpS))), src_down_s: round(median(samples.map((s) => s.srcDownS))),
        dst_up_s_range: [round(Math.min(...samples.map((s) => s.dstUpS))), round(Math.max(...samples.map((s) => s.dstUpS)))],
        migrate_call_ms: round(median(samples.map((s) => s.callMs))),
        libvirt_elapsed_ms: round(median(samples.map((s) => s.libvirtElapsedMs))),
        downtime_ms: round(median(samples.map((s) => s.downtimeMs))), downtime_ms_range: [Math.min(...samples.map((s) => s.downtimeMs)), Math.max(...samples.map((s) => s.downtimeMs))],
        progress_events: round(median(samples.map((s) => s.progressEvents))), progress_cadence_mean_s: round(median(samples.map((s) => s.cadenceMeanS))), progress_cadence_max_s: round(Math.max(...samples.map((s) => s.cadenceMaxS))),
        vmstats_a: summarize(all((s) => s.statsA)), vmstats_b: summarize(all((s) => s.statsB)),
        vmstats_idle_a: summarize(idle.statsA), vmstats_idle_b: summarize(idle.statsB),
        loop_a: { p99: Math.max(...samples.map((s) => s.loopA.p99)), max: Math.max(...samples.map((s) => s.loopA.max)) },
        loop_b: { p99: Math.max(...samples.map((s) => s.loopB.p99)), max: Math.max(...samples.map((s) => s.loopB.max)) },
        loop_idle_a: idle.loopA, loop_idle_b: idle.loopB,
        cancel_call_ms: round(cancel.callMs), cancel_to_up_s: round(cancel.upS),
        virsh_floor_s: floor.map((v) => round(v)),
        dst_up_over_virsh_ratio: round(median(samples.map((s) => s.dstUpS)) / median(floor)),
      };
      emitCase(rec);
      records.push(rec);
    } finally {
      await hosts.close();
    }
  }
  step(total, total, 'done');
  await report(records);
}

async function report(records: Record<string, unknown>[]): Promise<void> {
  const dir = path.resolve(outDir(flags, 'migration'));
  await mkdir(dir, { recursive: true });
  const s = (r: Record<string, unknown>, k: string): { p50: number; p99: number; max: number } => r[k] as { p50: number; p99: number; max: number };
  const l = (r: Record<string, unknown>, k: string): { p99: number; max: number } => r[k] as { p99: number; max: number };
  const rows = records.map((r) => [
    String(r['others']), String(r['migrations']), fmt(r['load1'] as number, 2),
    `${fmt(r['dst_up_s'] as number, 2)} (${(r['dst_up_s_range'] as number[]).map((v) => v.toFixed(2)).join('-')})`, fmt(r['src_down_s'] as number, 2),
    fmt(((r['virsh_floor_s'] as number[]).reduce((a, b) => a + b, 0) / 2), 2), fmt(r['libvirt_elapsed_ms'] as number, 0),
    `${fmt(r['downtime_ms'] as number, 0)} (${(r['downtime_ms_range'] as number[]).join('-')})`,
    `${fmt(r['progress_events'] as number, 0)} / ${fmt(r['progress_cadence_mean_s'] as number, 2)} s (max ${fmt(r['progress_cadence_max_s'] as number, 2)})`,
    fmt(r['cancel_call_ms'] as number, 1), fmt(r['cancel_to_up_s'] as number, 2),
  ]);
  const latRows = records.flatMap((r) => (['a', 'b'] as const).map((h) => [
    String(r['others']), h === 'a' ? 'a (source of a->b)' : 'b',
    `${fmt(s(r, `vmstats_idle_${h}`).p50, 2)} / ${fmt(s(r, `vmstats_idle_${h}`).p99, 2)}`, `${fmt(s(r, `vmstats_${h}`).p50, 2)} / ${fmt(s(r, `vmstats_${h}`).p99, 2)} / ${fmt(s(r, `vmstats_${h}`).max, 1)}`,
    fmt(s(r, `vmstats_${h}`).p99 / s(r, `vmstats_idle_${h}`).p99, 2),
    `${fmt(l(r, `loop_idle_${h}`).p99, 1)} / ${fmt(l(r, `loop_idle_${h}`).max, 1)}`, `${fmt(l(r, `loop_${h}`).p99, 1)} / ${fmt(l(r, `loop_${h}`).max, 1)}`,
  ]));
  const md = [
    '# bench:migration', '',
    `${new Date().toISOString()}, ${cpus().length} CPUs, command: \`node dist/bench/migration.js ${process.argv.slice(2).join(' ')}\``, '',
    'Migrations a<->b of the TCG tiny guest at 52 MiB/s (engine-side times from the VM.migrate answer to the events), the virsh floor between the same daemons:', '',
    mdTable(['other VMs per host', 'migrations', 'load1', 'dst Up s (range)', 'src Down s', 'virsh migrate s (floor)', 'libvirt time_elapsed ms', 'downtime ms (range)', 'progress events / cadence', 'cancel answer ms', 'cancel -> Up s'], rows), '',
    'Host.getAllVmStats (engine round trip over the relay, ms, a call every 20 ms) and main-thread event-loop delay (health monitor, 1 s checks, ms), idle vs during the migrations:', '',
    mdTable(['other VMs', 'agent', 'getAllVmStats idle p50 / p99', 'migrating p50 / p99 / max', 'p99 ratio', 'loop delay idle p99 / max', 'migrating p99 / max'], latRows), '',
  ].join('\n');
  await writeFile(path.join(dir, 'report.md'), md);
  process.stderr.write(`\n${md}\n`);
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`bench:migration failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
