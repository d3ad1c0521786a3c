// What observability costs the engine: Host.ping2 throughput and Host.getAllVmStats latency of a real
// vdsmd (its own process, plain TCP, libvirt's test driver with 100 running VMs) with
//   metrics-off    [metrics] enabled = false, [health] monitor_enable = false (the baseline)
//   statsd         the statsd reporter every second to a real npm statsd daemon
//   all-reporters  statsd with the host and VM metrics, the health monitor every second (probing every
//                  worker), and /metrics scraped every second (what Prometheus would do)
//   cpu-profile    a CPU profile of every thread running the whole time ([devel] cpu_profile_enable)
// in one run (after a warm-up round), cases interleaved over --repeats rounds (default 3; the median round is reported), as
// ratios to metrics-off. One JSON line per case on stdout, progress on stderr, a Markdown report in
// results/observability/ (or --out=DIR). Usage: node dist/bench/observability.js [--quick] [--repeats=N] [--out=DIR]
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeNodeXml } from '../src/libvirt/fixture.js';
import { StompRpcClient } from '../src/rpc/stomp-client.js';
import { mdTable } from './lib/markdown.js';
import { emitCase, outDir, progress, step } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { median, round, summarize } from './lib/stats.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const VDSMD = path.join(HERE, '../src/bin/vdsmd.js');
const STATSD = path.join(HERE, '../../node_modules/statsd/stats.js');

const flags = benchFlags({
  name: 'observability',
  options: { repeats: 'N: rounds over the cases, the median round reported (default 3; --quick 1)' },
});
const quick = flags.has('quick');
const repeats = Math.max(1, flags.num('repeats', quick ? 1 : 3));
const PING_REQUESTS = quick ? 20_000 : 60_000;
const PING_CONNECTIONS = 4;
const PING_IN_FLIGHT = 8;
const VMSTATS_CALLS = quick ? 100 : 300;
const VMS = 100;

interface CaseDef { name: string; args: string[]; scrape: boolean; what: string }

interface Round {
  ping_req_per_s: number;
  /** CPU the agent process used (all threads) per ping2 while the ping phase ran, µs: robust to a busy machine. */
  ping_agent_cpu_us: number;
  vmstats_p50_ms: number;
  vmstats_p99_ms: number;
  /** Agent CPU per getAllVmStats call (100 VMs) during that phase, µs. */
  vmstats_agent_cpu_us: number;
  load1: number;
}

/** user + system CPU seconds of a whole process (all its threads), from /proc/<pid>/stat. */
async function processCpuS(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    const { port } = s.address();
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * A real statsd daemon on a free port (console backend off, nothing written). The npm statsd daemon is a
 * development dependency: an installed vdsm-bench has none, and then a UDP socket that only counts
 * datagrams receives the reports (what the agent pays to send them is the same). `collector` says which.
 */
async function startStatsd(dir: string): Promise<{ port: number; collector: 'statsd' | 'udp-sink'; stop: () => Promise<void> }> {
  try {
    await access(STATSD);
  } catch {
    const sink = dgram.createSocket('udp4');
    sink.on('message', () => undefined);
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    return { port: sink.address().port, collector: 'udp-sink', stop: () => new Promise<void>((r) => sink.close(() => r())) };
  }
  const port = await freePort('udp');
  const config = path.join(dir, 'statsd.js');
  await writeFile(config, JSON.stringify({ address: '127.0.0.1', port, mgmt_address: '127.0.0.1', mgmt_port: await freePort('tcp'), backends: [], flushInterval: 10_000 }));
  const child = spawn(process.execPath, [STATSD, config], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('server is up')) resolve(); });
    child.once('exit', (code) => reject(new Error(`statsd exited with ${code}`)));
  });
  // Wait for its exit before the caller removes its config file (statsd re-reads it on a timer).
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return { port, collector: 'statsd', stop: async () => { child.kill(); await exited; } };
}

/** vdsmd as systemd would run it; resolves with its port once it logged "vdsm-node ready". */
async function startAgent(dir: string, uri: string, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const state = await mkdtemp(path.join(dir, 'agent-'));
  const child = spawn(process.execPath, [VDSMD, '--profile', 'dev', '--set', 'addresses.management_port=0', '--set', `vars.state_dir=${state}`,
    '--set', `vars.run_dir=${path.join(state, 'run')}`, '--set', `libvirt.uri=${uri}`, '--set', `devel.cpu_profile_filename=${path.join(state, 'vdsmd.prof')}`,
    '--set', 'vars.vm_sample_interval=2', ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, JOURNAL_STREAM: '' } });
  return new Promise((resolve, reject) => {
    let buf = '';
    let port = 0;
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const l = JSON.parse(line) as Record<string, unknown>;
          if (l['msg'] === 'vdsm-node serving the management port') port = l['port'] as number;
          if (l['msg'] === 'vdsm-node ready') resolve({ child, port });
        } catch { /* not JSON */ }
      }
    });
    child.once('exit', (code) => reject(new Error(`vdsmd exited with ${code}`)));
  });
}

async function stopAgent(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** GET /metrics every second while `until` is pending (a Prometheus-like scraper). */
function scrapeEverySecond(port: number): { stop: () => Promise<number> } {
  let running = true;
  let scrapes = 0;
  const loop = (async () => {
    while (running) {
      await new Promise<void>((resolve) => {
        http.get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => res.resume().on('end', () => { scrapes++; resolve(); })).on('error', () => resolve());
      });
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return { stop: async () => { running = false; await loop; return scrapes; } };
}

async function measure(port: number, pid: number): Promise<Round> {
  const clients = await Promise.all(Array.from({ length: PING_CONNECTIONS }, async () => {
    const c = new StompRpcClient({ host: '127.0.0.1', port });
    await c.connect();
    return c;
  }));
  // Measure with full VM stats: wait until the stats cache has two samples (disks appear then).
  for (const deadline = Date.now() + 30_000; ;) {
    const r = (await clients[0]!.call('Host.getAllVmStats', {}, 30_000)) as Record<string, unknown>[];
    if (r.length > 0 && r.every((vm) => vm['disks'] !== undefined)) break;
    if (Date.now() > deadline) throw new Error('VM stats never filled in');
    await new Promise((res) => setTimeout(res, 200));
  }
  const ping = async (total: number): Promise<number> => {
    let issued = 0;
    const t0 = performance.now();
    await Promise.all(clients.flatMap((c) => Array.from({ length: PING_IN_FLIGHT }, async () => {
      while (issued++ < total) await c.call('Host.ping2', {}, 30_000);
    })));
    return total / ((performance.now() - t0) / 1000);
  };
  await ping(PING_REQUESTS / 10);
  const cpu0 = await processCpuS(pid);
  const reqPerS = await ping(PING_REQUESTS);
  const cpu1 = await processCpuS(pid);
  const lat: number[] = [];
  for (let i = 0; i < VMSTATS_CALLS + 10; i++) {
    const s = performance.now();
    const r = await clients[0]!.call('Host.getAllVmStats', {}, 30_000);
    if (i >= 10) lat.push(performance.now() - s);
    if (i === 0 && (!Array.isArray(r) || r.length < VMS)) throw new Error(`getAllVmStats returned ${Array.isArray(r) ? r.length : typeof r} entries, expected ${VMS}`);
  }
  const cpu2 = await processCpuS(pid);
  for (const c of clients) c.close();
  const s = summarize(lat);
  return {
    ping_req_per_s: Math.round(reqPerS), ping_agent_cpu_us: round(((cpu1 - cpu0) * 1e6) / PING_REQUESTS, 1),
    vmstats_p50_ms: round(s.p50, 3), vmstats_p99_ms: round(s.p99, 3), vmstats_agent_cpu_us: round(((cpu2 - cpu1) * 1e6) / (VMSTATS_CALLS + 10), 0),
    load1: round(loadavg()[0]!, 2),
  };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vdsm-bench-obs-'));
  const statsd = await startStatsd(dir);
  try {
    const uri = await writeNodeXml(path.join(dir, 'node'), { domains: VMS, namePrefix: 'bench-vm' });
    const statsdArgs = ['--set', 'metrics.enabled=true', '--set', `metrics.collector_address=127.0.0.1:${statsd.port}`, '--set', 'vars.host_sample_stats_interval=1'];
    const cases: CaseDef[] = [
      { name: 'metrics-off', args: ['--set', 'metrics.enabled=false', '--set', 'health.monitor_enable=false'], scrape: false, what: 'no reporter, no health monitor' },
      { name: 'statsd', args: [...statsdArgs, '--set', 'health.monitor_enable=false'], scrape: false, what: 'statsd report every 1 s (hosts.vdsm.*)' },
      { name: 'all-reporters', args: [...statsdArgs, '--set', 'metrics.host_vm_metrics=true', '--set', 'health.monitor_enable=true', '--set', 'health.check_interval=1'], scrape: true, what: 'statsd every 1 s with host and VM metrics, health monitor every 1 s, /metrics scraped every 1 s' },
      { name: 'cpu-profile', args: ['--set', 'metrics.enabled=false', '--set', 'health.monitor_enable=false', '--set', 'devel.cpu_profile_enable=true'], scrape: false, what: 'CPU profile of every thread (1 ms sampling) the whole time' },
    ];
    const rounds = new Map<string, Round[]>(cases.map((c) => [c.name, []]));
    // A throw-away round first, so the load generator's JIT is warm for every recorded case.
    const total = 1 + repeats * cases.length;
    step(0, total, 'warm-up');
    const warm = await startAgent(dir, uri, cases[0]!.args);
    await measure(warm.port, warm.child.pid!).finally(() => stopAgent(warm.child));
    for (let r = 0; r < repeats; r++) {
      for (const c of cases) {
        step(1 + r * cases.length + cases.indexOf(c), total, `round ${r + 1}/${repeats}: ${c.name}`);
        const agent = await startAgent(dir, uri, c.args);
        const scraper = c.scrape ? scrapeEverySecond(agent.port) : undefined;
        try {
          rounds.get(c.name)!.push(await measure(agent.port, agent.child.pid!));
        } finally {
          await scraper?.stop();
          await stopAgent(agent.child);
        }
      }
    }
    const pick = (list: Round[]): Round => [...list].sort((a, b) => a.ping_req_per_s - b.ping_req_per_s)[Math.floor((list.length - 1) / 2)]!;
    const base = pick(rounds.get('metrics-off')!);
    const results = cases.map((c) => {
      const list = rounds.get(c.name)!;
      const m = pick(list);
      const rec = {
        suite: 'observability', case: c.name, what: c.what, vms: VMS, collector: statsd.collector, ...m,
        ping_ratio: round(m.ping_req_per_s / base.ping_req_per_s, 3),
        vmstats_p50_ratio: round(m.vmstats_p50_ms / base.vmstats_p50_ms, 3),
        vmstats_p99_ratio: round(m.vmstats_p99_ms / base.vmstats_p99_ms, 3),
        // CPU per request, the median over rounds: contention on a shared machine inflates wall times
        // far more than the CPU the agent spends.
        ping_agent_cpu_us_median: round(median(list.map((x) => x.ping_agent_cpu_us)), 1),
        ping_cpu_ratio: round(median(list.map((x) => x.ping_agent_cpu_us)) / median(rounds.get('metrics-off')!.map((x) => x.ping_agent_cpu_us)), 3),
        vmstats_agent_cpu_us_median: round(median(list.map((x) => x.vmstats_agent_cpu_us)), 0),
        vmstats_cpu_ratio: round(median(list.map((x) => x.vmstats_agent_cpu_us)) / median(rounds.get('metrics-off')!.map((x) => x.vmstats_agent_cpu_us)), 3),
        ping_req_per_s_rounds: list.map((x) => x.ping_req_per_s),
        vmstats_p50_ms_median_of_rounds: round(median(list.map((x) => x.vmstats_p50_ms)), 3),
        repeats,
      };
      emitCase(rec);
      return rec;
    });
    step(total, total, 'done');
    const out = path.resolve(outDir(flags, 'observability'));
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, 'report.md'), [
      '# Observability overhead',
      '',
      `Generated by \`npm run bench:observability\` (bench/observability.ts) on ${new Date().toISOString()}, Node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? 'unknown'}).`,
      `vdsmd in its own process (plain TCP, libvirt test driver, ${VMS} running VMs sampled every 2 s); the load generator is this process.`,
      `Host.ping2: ${PING_CONNECTIONS} connections x ${PING_IN_FLIGHT} in flight, ${PING_REQUESTS} requests. Host.getAllVmStats: ${VMSTATS_CALLS} sequential calls on one connection.`,
      `Cases were interleaved over ${repeats} round(s); the round with the median ping2 rate is shown. Ratios are to metrics-off (1.0 = no cost; ping2 below 1 and latency above 1 are costs). The machine is shared: load1 is listed per case.`,
      '',
      mdTable(['case', 'what', 'ping2 req/s', 'ratio', 'getAllVmStats p50 ms', 'ratio', 'p99 ms', 'ratio', 'load1', 'ping2 req/s of every round'],
        results.map((r) => [r.case, r.what, r.ping_req_per_s, r.ping_ratio, r.vmstats_p50_ms, r.vmstats_p50_ratio, r.vmstats_p99_ms, r.vmstats_p99_ratio, r.load1, r.ping_req_per_s_rounds.join(', ')])),
      '',
      'Agent CPU per request (user + system of the whole vdsmd process, every thread, from /proc, median over rounds): what the',
      'reporters, the health monitor and the profiler add to each request, including their own background work during the phase.',
      'Less disturbed by other processes than wall-clock rates.',
      '',
      mdTable(['case', 'agent CPU µs per ping2', 'ratio', 'agent CPU µs per getAllVmStats', 'ratio'],
        results.map((r) => [r.case, r.ping_agent_cpu_us_median, r.ping_cpu_ratio, r.vmstats_agent_cpu_us_median, r.vmstats_cpu_ratio])),
      '',
    ].join('\n'));
    progress(`wrote ${path.join(out, 'report.md')}`);
  } finally {
    await statsd.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench observability: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
