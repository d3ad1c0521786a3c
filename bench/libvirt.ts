// Benchmark `libvirt`: bulk statistics for 200 and 1,000 test-driver domains, called from a Piscina
// worker (the production path) and, for comparison, on the main thread; in-process and (when libvirtd
// can run here) through an unprivileged libvirtd. Reports per-call time inside the worker, the round
// trip through the pool (including cloning the records back), and the main thread's loop delay during
// each case. One JSON line per case on stdout; progress on stderr; Markdown in results/libvirt/.
// This file is also the Piscina worker (it runs the calls when loaded off the main thread).
import { isMainThread } from 'node:worker_threads';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { loadVirtBinding, type VirtBinding } from '../src/libvirt/binding.js';
import { StatsFlag, VDSM_STATS_GROUPS } from '../src/libvirt/constants.js';
import { fixtureDomains, generateNodeXml, writeNodeXml } from '../src/libvirt/fixture.js';
import type { SessionLibvirtd } from '../test/support/realvm/libvirtd.js';
import { outDir, step } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { barChart } from './lib/svg-chart.js';

type CallName = 'getAllDomainStats' | 'domainListGetStats' | 'listAllDomains+state';

interface Task { uri: string; call: CallName; uuids?: string[] }

// ---- worker side -------------------------------------------------------------------------------

const conns = new Map<string, number>();
let virt: VirtBinding | undefined;

function runCall(v: VirtBinding, conn: number, t: Task): unknown[] {
  switch (t.call) {
    case 'getAllDomainStats': return v.getAllDomainStats(conn, VDSM_STATS_GROUPS, StatsFlag.RUNNING | StatsFlag.NOWAIT);
    case 'domainListGetStats': return v.domainListGetStats(conn, t.uuids ?? [], VDSM_STATS_GROUPS, StatsFlag.NOWAIT);
    case 'listAllDomains+state': return v.listAllDomains(conn, 0, true);
  }
}

/** One call on a connection cached per URI (in the process-wide table, so every worker shares it). */
export default function task(t: Task): { ms: number; records: number; result: unknown[] } {
  virt ??= loadVirtBinding();
  let conn = conns.get(t.uri);
  if (conn === undefined) {
    conn = virt.open(t.uri);
    conns.set(t.uri, conn);
  }
  const t0 = performance.now();
  const result = runCall(virt, conn, t);
  const ms = performance.now() - t0;
  // The records go back to the main thread as a sampler's would: the round trip includes cloning them.
  return { ms, records: result.length, result };
}

// ---- main side ---------------------------------------------------------------------------------

interface CaseResult {
  case: string;
  domains: number;
  where: 'worker' | 'main';
  transport: 'in-process' | 'libvirtd';
  iterations: number;
  records: number;
  callMsP50: number;
  callMsP99: number;
  roundTripMsP50: number | null;
  roundTripMsP99: number | null;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

const flags = benchFlags({
  name: 'libvirt',
  options: { domains: 'N,N: test-driver domains, one case each (default 200,1000; --quick 200)' },
  notes: 'BENCH_LIBVIRT_BUDGET_MS (environment): time per case in ms (default 1500; --quick 400). Uses an unprivileged libvirtd when one can run here.',
});
const QUICK = flags.has('quick');
const BUDGET_MS = Number(process.env['BENCH_LIBVIRT_BUDGET_MS'] ?? (QUICK ? 400 : 1500));
const MAX_ITER = 400;
const MIN_ITER = 20;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

async function runCase(pool: Piscina, name: string, t: Task, domains: number, where: 'worker' | 'main', transport: CaseResult['transport']): Promise<CaseResult> {
  const mainVirt = where === 'main' ? loadVirtBinding() : undefined;
  const mainConn = mainVirt ? mainVirt.open(t.uri) : undefined;
  // Warm up (connection open, domain cache) outside the measurement.
  if (mainVirt && mainConn !== undefined) runCall(mainVirt, mainConn, t);
  else await pool.run(t);
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const calls: number[] = [];
  const trips: number[] = [];
  let records = 0;
  histogram.enable();
  const start = performance.now();
  for (let i = 0; i < MAX_ITER && (i < MIN_ITER || performance.now() - start < BUDGET_MS); i++) {
    if (mainVirt && mainConn !== undefined) {
      const t0 = performance.now();
      records = runCall(mainVirt, mainConn, t).length;
      calls.push(performance.now() - t0);
      await new Promise((r) => setImmediate(r));  // let the loop (and the delay monitor) run between calls
    } else {
      const t0 = performance.now();
      const out = (await pool.run(t)) as { ms: number; records: number };
      trips.push(performance.now() - t0);
      calls.push(out.ms);
      records = out.records;
    }
  }
  histogram.disable();
  if (mainVirt && mainConn !== undefined) mainVirt.close(mainConn);
  return {
    case: name, domains, where, transport, iterations: calls.length, records,
    callMsP50: r3(pct(calls, 50)), callMsP99: r3(pct(calls, 99)),
    roundTripMsP50: trips.length ? r3(pct(trips, 50)) : null, roundTripMsP99: trips.length ? r3(pct(trips, 99)) : null,
    loopDelayP99Ms: r3(histogram.percentile(99) / 1e6), loopDelayMaxMs: r3(histogram.max / 1e6),
  };
}

function report(results: CaseResult[], env: Record<string, unknown>): string {
  const rows = results.map((r) =>
    `| ${r.case} | ${r.domains} | ${r.where} | ${r.transport} | ${r.iterations} | ${r.records} | ${r.callMsP50} | ${r.callMsP99} | ${r.roundTripMsP50 ?? '–'} | ${r.roundTripMsP99 ?? '–'} | ${r.loopDelayP99Ms} | ${r.loopDelayMaxMs} |`);
  return [
    '# libvirt bulk statistics benchmark', '',
    `Run ${new Date().toISOString()}; ${JSON.stringify(env)}.`, '',
    'Stats groups STATE|CPU_TOTAL|BALLOON|VCPU|INTERFACE|BLOCK with RUNNING|NOWAIT (vdsm\'s sampler). The test driver',
    'returns only the state group, so records hold 2 keys each: these figures measure the call, the typed-parameter',
    'conversion and the trip back to the main thread, not a real hypervisor\'s stats collection.', '',
    '* call ms: the libvirt call plus conversion to JS, timed inside the thread that makes it.',
    '* round trip ms: main thread -> Piscina worker -> main thread, including cloning the records back.',
    '* loop delay: the main thread\'s event-loop delay (monitorEventLoopDelay, 1 ms resolution) during the case.', '',
    '| case | domains | where | transport | iterations | records | call ms p50 | call ms p99 | round trip ms p50 | round trip ms p99 | loop delay p99 ms | loop delay max ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows, '',
  ].join('\n');
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-bench-libvirt-'));
  const pool = new Piscina({ filename: import.meta.url, minThreads: 1, maxThreads: 1 });
  const results: CaseResult[] = [];
  const sizes = flags.list('domains', QUICK ? ['200'] : ['200', '1000']).map(Number);
  let daemon: SessionLibvirtd | undefined;
  try {
    const transports: { transport: CaseResult['transport']; uri: (n: number) => Promise<string> }[] = [
      { transport: 'in-process', uri: (n) => writeNodeXml(dir, { domains: n }, `node${n}.xml`) },
    ];
    try {
      // An unprivileged libvirtd serving the test driver: the same calls over libvirt's RPC. Its
      // starter is test-support code, present in a checkout, not in an installed vdsm-bench.
      const support = await import('../test/support/realvm/libvirtd.js').catch(() => undefined);
      if (!support) throw new Error('the libvirtd starter (test/support/realvm) comes with a checkout, not with an installed vdsm-bench');
      daemon = await support.startSessionLibvirtd();
      const d = daemon;
      transports.push({
        transport: 'libvirtd',
        uri: async (n) => {
          const path = join(d.runDir, `node${n}.xml`);
          await writeFile(path, generateNodeXml({ domains: n }), { mode: 0o644 });
          await d.chownForDaemon(path);
          return d.uri('test', path);
        },
      });
    } catch (err) {
      process.stderr.write(`libvirtd cases skipped: ${(err as Error).message}\n`);
    }
    const total = transports.length * sizes.length * 4;
    let done = 0;
    for (const { transport, uri: makeUri } of transports) {
      for (const n of sizes) {
        const uri = await makeUri(n);
        const uuids = fixtureDomains({ domains: n }).map((d) => d.uuid);
        const cases: [string, Task, 'worker' | 'main'][] = [
          ['getAllDomainStats', { uri, call: 'getAllDomainStats' }, 'worker'],
          ['domainListGetStats', { uri, call: 'domainListGetStats', uuids }, 'worker'],
          ['listAllDomains+state', { uri, call: 'listAllDomains+state' }, 'worker'],
          ['getAllDomainStats', { uri, call: 'getAllDomainStats' }, 'main'],
        ];
        for (const [name, t, where] of cases) {
          step(done++, total, `${transport} ${n} ${name} (${where})`);
          const r = await runCase(pool, name, t, n, where, transport);
          results.push(r);
          process.stdout.write(`${JSON.stringify({ suite: 'libvirt', ...r, case: `${name} ${n} ${where} ${transport}`, call: name })}\n`);
        }
      }
    }
    step(total, total, 'report');
  } finally {
    await pool.destroy();
    await daemon?.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const out = outDir(flags, 'libvirt');
  await mkdir(out, { recursive: true });
  const env = { node: process.version, libvirt: loadVirtBinding().libVersion(), cpus: (await import('node:os')).cpus().length, budgetMs: BUDGET_MS };
  await writeFile(join(out, 'report.md'), `${report(results, env)}\n![call ms p50](libvirt.svg)\n`);
  await writeFile(join(out, 'libvirt.svg'), barChart({
    title: 'libvirt: bulk statistics call time (p50)',
    unit: 'milliseconds per call',
    bars: results.map((r) => ({ label: `${r.case} ${r.domains} ${r.where} ${r.transport}`, value: r.callMsP50, color: r.where === 'main' ? '#d62728' : '#1f77b4', note: `${r.callMsP50} ms` })),
  }));
  await writeFile(join(out, 'results.json'), `${JSON.stringify({ env, results }, null, 2)}\n`);
  process.stderr.write(`report: ${join(out, 'report.md')}\n`);
}

if (isMainThread) {
  main().then(() => process.exit(0), (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
