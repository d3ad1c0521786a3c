// Benchmark `rpc`: the verbs the engine really calls, over JSON-RPC/STOMP, against a real vdsmd in its
// own process: Host.ping2 (the floor: no work behind it), Host.getStats (cached host sample) and
// Host.getAllVmStats over N VMs on libvirt's test driver, sequential on one connection and 8
// connections x 8 in flight, plain TCP and TLS side by side, each verb also as a ratio to ping2 and to
// the physical floor: a minimal STOMP server of this run (bench/lib/floor-server.ts, its own process)
// that answers each SEND with the agent's own reply bytes for that verb and does nothing else. Agent and
// floor runs alternate, so both see the same machine load.
// With --agent=HOST:PORT it measures a running agent instead (TLS files from vdsm-bench).
//
//   vdsm-bench rpc [--quick]                        (or node dist/bench/rpc.js [--quick] [--out=DIR])
//   node dist/bench/rpc.js --vms=200 --repeats=5 --transports=tls
//   node dist/bench/rpc.js --verbs=ping2,getStats --patterns=seq   (a subset of the cases)
//   node dist/bench/rpc.js --agent=10.0.0.5:54321 --cert=C --key=K --cacert=CA | --insecure
//
// One JSON line per case on stdout, progress on stderr, report.md and rpc.svg in --out (default
// results/rpc). Each case runs --repeats times (default 3, --quick 1); the run with the median req/s is
// reported with every run's figure (the machine is shared; load1 recorded per case).
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { TlsMaterial } from '../src/rpc/acceptor.js';
import { StompRpcClient } from '../src/rpc/stomp-client.js';
import { startBenchAgent, type BenchAgent } from './lib/agent-child.js';
import { FLOOR_ID_SLOT, startFloorServer, type FloorServer } from './lib/floor-server.js';
import { fmt, mdTable } from './lib/markdown.js';
import { emitCase, Flags, outDir, progress, step } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { clientCpu, pinProcess, SERVER_CPU } from './lib/placement.js';
import { otherThreads, processCpuMs, threadCpuNs, threadsSched } from './lib/process-sample.js';
import { percentile, round } from './lib/stats.js';
import { barChart, type Bar } from './lib/svg-chart.js';

interface Target {
  host: string;
  port: number;
  tls: TlsMaterial | undefined;
  label: 'plain' | 'tls';
  vms: number;
  /** The server's process id when it runs on this machine: its CPU per request is read from /proc. */
  pid?: number | undefined;
  /** The floor server for this transport (not against a remote agent). */
  floor?: { host: string; port: number; tls: TlsMaterial | undefined; pid: number } | undefined;
}

/**
 * How the load generator takes each reply: `parse` as a real client (vdsm-client, the engine) does, the
 * whole body JSON-parsed into objects (StompRpcClient.call); `check` reads the frame, the envelope's id and
 * that it is a result from the body's first and last bytes, the result never materialised
 * (StompRpcClient.callChecked). An 82 KB getAllVmStats reply costs the parse generator ~300 µs, more than
 * the server's whole side, so a sequential case measures mostly the generator; with `check` the server's
 * cost shows. The engine parses on another machine, so neither is the engine's view: both are reported.
 */
type Generator = 'parse' | 'check';

interface CaseSpec {
  verb: string;
  method: string;
  generator: Generator;
  pattern: 'seq' | '8x8';
  connections: number;
  inFlight: number;
  requests: number;
}

interface CaseResult {
  suite: 'rpc';
  case: string;
  method: string;
  /** The load generator's mode (see Generator): `parse` unless the case name ends in "check". */
  generator: Generator;
  transport: 'plain' | 'tls';
  tls: boolean;
  vms: number;
  req_per_s: number;
  p50_ms: number;
  p99_ms: number;
  /** req/s of this case over req/s of ping2 with the same pattern and transport (ping2 is the floor). */
  vs_ping2: number | null;
  /** req/s of the floor server (same verb, reply bytes, pattern and transport), median run. */
  floor_req_per_s: number | null;
  floor_p50_ms: number | null;
  /** req/s over the floor's req/s: the share of the physical limit reached. */
  vs_floor: number | null;
  errors: number;
  requests: number;
  connections: number;
  in_flight: number;
  response_bytes: number;
  repeats: number;
  req_per_s_runs: number[];
  /** The server's main-thread CPU per request in µs (median run; null for a remote agent). */
  cpu_us_per_req: number | null;
  /** The server process's CPU per request in µs, every thread (workers, sampling: clock ticks). */
  proc_cpu_us_per_req: number | null;
  /** The floor server's main-thread CPU per request in µs (median run). */
  floor_cpu_us_per_req: number | null;
  /** Floor's main-thread CPU per request over the agent's: the share of the floor's cost (1 = as cheap). */
  cpu_vs_floor: number | null;
  /** The agent's main thread: times put on a CPU per request (1 = woken once per request, as a sequential server must be). */
  main_runs_per_req: number | null;
  /** Every other agent thread together: wake-ups per request, their CPU per request, the busiest (name wake-ups/req). */
  other_runs_per_req: number | null;
  other_cpu_us_per_req: number | null;
  other_threads: string[];
  /** The same two for the floor (one thread serves; its others are Node's own). */
  floor_other_runs_per_req: number | null;
  /** The load generator's CPU per request in µs (this process, all threads; median agent run, and floor run). */
  gen_cpu_us_per_req: number | null;
  floor_gen_cpu_us_per_req: number | null;
  /** check generator: replies whose envelope was in no recognised form and were parsed in full (0 expected). */
  check_parsed: number;
  /** Where the load generator and the servers ran (--pin): cross (CPU 0 / CPU 1), same (both on CPU 1), off. */
  pin: string;
  load1: number;
}

function cases(quick: boolean): Omit<CaseSpec, 'generator'>[] {
  const k = quick ? 0.05 : 1;
  const n = (x: number): number => Math.max(50, Math.round(x * k));
  return [
    { verb: 'ping2', method: 'Host.ping2', pattern: 'seq', connections: 1, inFlight: 1, requests: n(30_000) },
    { verb: 'ping2', method: 'Host.ping2', pattern: '8x8', connections: 8, inFlight: 8, requests: n(200_000) },
    { verb: 'getStats', method: 'Host.getStats', pattern: 'seq', connections: 1, inFlight: 1, requests: n(5_000) },
    { verb: 'getStats', method: 'Host.getStats', pattern: '8x8', connections: 8, inFlight: 8, requests: n(20_000) },
    { verb: 'getAllVmStats', method: 'Host.getAllVmStats', pattern: 'seq', connections: 1, inFlight: 1, requests: n(2_000) },
    { verb: 'getAllVmStats', method: 'Host.getAllVmStats', pattern: '8x8', connections: 8, inFlight: 8, requests: n(8_000) },
  ];
}

interface Run {
  reqPerS: number; p50: number; p99: number; errors: number; bytes: number; cpuUs: number | null; procCpuUs: number | null;
  threads: ReturnType<typeof otherThreads> | null; checkParsed: number;
  /** The load generator's own CPU per request in µs (this process, every thread). */
  genCpuUs: number;
}

async function runOnce(t: Pick<Target, 'host' | 'port' | 'tls' | 'pid'>, c: CaseSpec, warmupMs: number): Promise<Run> {
  const clients = await Promise.all(Array.from({ length: c.connections }, async () => {
    const cl = new StompRpcClient({ host: t.host, port: t.port, ...(t.tls ? { tls: t.tls } : {}) });
    await cl.connect();
    return cl;
  }));
  let bytes = 0;
  const measure = async (total: number, record: boolean): Promise<{ lat: number[]; errors: number; seconds: number }> => {
    const lat: number[] = new Array<number>(total);
    let issued = 0;
    let errors = 0;
    const t0 = performance.now();
    const loop = async (cl: StompRpcClient): Promise<void> => {
      while (issued < total) {
        const i = issued++;
        const s = performance.now();
        try {
          if (c.generator === 'check') {
            const size = await cl.callChecked(c.method, {}, 60_000);
            if (record && bytes === 0) bytes = size;
          } else {
            const r = await cl.call(c.method, {}, 60_000);
            if (record && bytes === 0) bytes = JSON.stringify(r).length;
          }
        } catch {
          errors++;
        }
        lat[i] = performance.now() - s;
      }
    };
    await Promise.all(clients.flatMap((cl) => Array.from({ length: c.inFlight }, () => loop(cl))));
    return { lat, errors, seconds: (performance.now() - t0) / 1000 };
  };
  try {
    // Warm-up: a tenth of the requests, and at least warmupMs of calls. A fresh vdsmd still compiles its
    // hot paths (and collects what start-up left) for about a second, on V8's background threads, which
    // the pinning puts on its main thread's CPU: measured after 200 calls, the 55-VM getAllVmStats case
    // showed 34-67 µs per request of the agent's other threads' CPU; after a few seconds of calls, 7.5.
    const warm = Math.max(10, Math.round(c.requests / 10));
    const warmUntil = performance.now() + warmupMs;
    do await measure(warm, false); while (performance.now() < warmUntil);
    const gen0 = process.cpuUsage();
    const threads0 = t.pid === undefined ? undefined : threadsSched(t.pid);
    const cpu0 = t.pid === undefined ? undefined : threadCpuNs(t.pid);
    const proc0 = t.pid === undefined ? undefined : processCpuMs(t.pid);
    const { lat, errors, seconds } = await measure(c.requests, true);
    const cpu1 = t.pid === undefined ? undefined : threadCpuNs(t.pid);
    const proc1 = t.pid === undefined ? undefined : processCpuMs(t.pid);
    const threads1 = t.pid === undefined ? undefined : threadsSched(t.pid);
    const gen = process.cpuUsage(gen0);
    return {
      genCpuUs: round((gen.user + gen.system) / c.requests, 1),
      threads: threads0 && threads1 ? otherThreads(t.pid!, threads0, threads1, c.requests) : null,
      checkParsed: clients.reduce((a, cl) => a + cl.checkedParsed, 0),
      reqPerS: Math.round(c.requests / seconds), p50: round(percentile(lat, 0.5), 3), p99: round(percentile(lat, 0.99), 3), errors, bytes,
      cpuUs: cpu0 !== undefined && cpu1 !== undefined ? round((cpu1 - cpu0) / 1000 / c.requests, 2) : null,
      procCpuUs: proc0 !== undefined && proc1 !== undefined ? round((proc1 - proc0) * 1000 / c.requests, 1) : null,
    };
  } finally {
    for (const cl of clients) cl.close();
  }
}

async function vmCount(t: Target): Promise<number> {
  const cl = new StompRpcClient({ host: t.host, port: t.port, ...(t.tls ? { tls: t.tls } : {}) });
  await cl.connect();
  try {
    const r = await cl.call('Host.getAllVmStats', {}, 60_000);
    return Array.isArray(r) ? r.length : 0;
  } finally {
    cl.close();
  }
}

/** The agent's reply to each verb, with the id replaced by the floor's slot: the floor's canned bodies. */
async function cannedBodies(t: Target, methods: readonly string[]): Promise<Record<string, string>> {
  const cl = new StompRpcClient({ host: t.host, port: t.port, ...(t.tls ? { tls: t.tls } : {}) });
  await cl.connect();
  try {
    const bodies: Record<string, string> = {};
    for (const m of methods) {
      const result = await cl.call(m, {}, 60_000);
      bodies[m] = JSON.stringify({ jsonrpc: '2.0', id: JSON.parse(FLOOR_ID_SLOT) as string, result });
    }
    return bodies;
  } finally {
    cl.close();
  }
}

async function remoteTarget(flags: Flags): Promise<Target> {
  const [host, portText] = flags.str('agent', '').split(/:(?=\d+$)/);
  const port = Number(portText);
  if (!host || !Number.isInteger(port)) throw new Error(`--agent must be HOST:PORT, got ${flags.str('agent', '')}`);
  const tls = flags.has('insecure') ? undefined : {
    cert: await readFile(flags.str('cert', '')), key: await readFile(flags.str('key', '')), ca: await readFile(flags.str('cacert', '')),
  };
  const t: Target = { host, port, tls, label: tls ? 'tls' : 'plain', vms: 0 };
  t.vms = await vmCount(t);
  return t;
}

async function main(): Promise<void> {
  const flags = benchFlags({
    name: 'rpc',
    about: `Measures the engine's verbs against a real vdsmd (its own process, libvirt's test driver, --vms running
VMs) and a floor server in the same run: req/s, latency, and the server's CPU per request, each as a
share of the floor's.`,
    options: {
      repeats: 'N: runs per case, agent and floor alternating, the median reported (default 3; --quick 1)',
      vms: 'N: running VMs of the agent (default 100)',
      transports: 'plain,tls: the transports (default both)',
      verbs: 'ping2,getStats,getAllVmStats: the verbs (default all)',
      patterns: 'seq,8x8: one connection one request at a time, 8 connections x 8 in flight (default both)',
      'warmup-ms': 'N: each run first calls for at least N ms, unmeasured (default 1000; --quick 0), besides a tenth of its requests',
      generators: 'parse,check: how the load generator takes replies, every case in each named mode (default: parse for every case, check beside it for getAllVmStats); parse = JSON-parsed in full as a real client, check = frame, id and "a result" read from the envelope, the result not materialised',
      pin: 'cross|same|off: load generator on CPU 0 and servers on CPU 1 (cross, the default on 2+ CPUs), all on CPU 1 (same: req/s = 1 / CPU of both sides), unpinned (off)',
      agent: 'HOST:PORT: measure a running agent (its own VMs, no floor) with --insecure or --cert=F --key=F --cacert=F',
      insecure: 'with --agent: plain TCP',
      cert: 'F: with --agent: client certificate', key: 'F: with --agent: its key', cacert: 'F: with --agent: the CA',
    },
    notes: 'VDSM_BENCH_VDSMD=<other checkout>/dist/src/bin/vdsmd.js measures another build; VDSM_BENCH_SET=\'section.key=value ...\' passes --set items to its agents.',
  });
  const quick = flags.has('quick');
  const repeats = Math.max(1, flags.num('repeats', quick ? 1 : 3));
  const vms = flags.num('vms', 100);
  const warmupMs = flags.num('warmup-ms', quick ? 0 : 1000);
  const out = outDir(flags, 'rpc');
  const remote = flags.has('agent');
  const agents: BenchAgent[] = [];
  const floors: FloorServer[] = [];
  const targets: Target[] = [];
  const results: CaseResult[] = [];
  try {
    if (remote) targets.push(await remoteTarget(flags));
    else {
      for (const label of flags.list('transports', ['plain', 'tls']) as Array<'plain' | 'tls'>) {
        progress(`starting vdsmd (${label}) with ${vms} VMs on the test driver`);
        // Sampling every 2 s instead of 15 s, so getAllVmStats reports sampled VMs from the start.
        const a = await startBenchAgent({ tls: label === 'tls', vms, set: ['vars.vm_sample_interval=2', 'vars.host_sample_stats_interval=2'] });
        agents.push(a);
        targets.push({ host: '127.0.0.1', port: a.port, pid: a.pid, tls: a.clientTls, label, vms });
      }
      await new Promise((r) => setTimeout(r, 2500)); // one sampling period: every VM has a sample
    }
    const verbs = flags.list('verbs', []);
    const patterns = flags.list('patterns', []);
    // Every case with the parse generator; the check generator beside it for getAllVmStats (the only verb
    // whose reply costs the generator more than the server), or for every case named in --generators.
    const generators = flags.list('generators', []) as Generator[];
    for (const g of generators) if (g !== 'parse' && g !== 'check') throw new Error(`--generators takes parse,check, got ${g}`);
    const specs = cases(quick).filter((c) => (verbs.length === 0 || verbs.includes(c.verb)) && (patterns.length === 0 || patterns.includes(c.pattern)))
      .flatMap((c) => (generators.length > 0 ? generators : c.verb === 'getAllVmStats' ? ['parse', 'check'] as const : ['parse'] as const).map((generator) => ({ ...c, generator })));
    if (specs.length === 0) throw new Error(`no case matches --verbs=${verbs.join(',')} --patterns=${patterns.join(',')}`);
    if (!remote) {
      for (const [i, t] of targets.entries()) {
        progress(`starting the floor server (${t.label}) with the agent's replies`);
        const bodies = await cannedBodies(t, [...new Set(specs.map((c) => c.method))]);
        const f = await startFloorServer({ bodies, ...(agents[i]!.serverTlsFiles ? { tls: agents[i]!.serverTlsFiles } : {}) });
        floors.push(f);
        t.floor = { host: '127.0.0.1', port: f.port, tls: t.tls, pid: f.pid };
      }
    }
    const pin = remote ? 'off' : pinProcesses(flags.str('pin', cpus().length >= 2 ? 'cross' : 'off'), [...agents.map((a) => a.pid), ...floors.map((f) => f.pid)]);
    const total = targets.length * specs.length;
    let done = 0;
    for (const t of targets) {
      const floor = new Map<string, number>();
      for (const c of specs) {
        const name = `${c.verb} ${c.pattern} ${t.label}${c.generator === 'check' ? ' check' : ''}`;
        step(done++, total, name);
        const runs: Run[] = [];
        const floorRuns: Run[] = [];
        for (let i = 0; i < repeats; i++) {
          runs.push(await runOnce(t, c, warmupMs));
          if (t.floor) floorRuns.push(await runOnce(t.floor, c, warmupMs));
        }
        const median = (xs: Run[]): Run => [...xs].sort((a, b) => a.reqPerS - b.reqPerS)[Math.floor((xs.length - 1) / 2)]!;
        const mid = median(runs);
        const fl = floorRuns.length > 0 ? median(floorRuns) : undefined;
        if (c.verb === 'ping2') floor.set(`${c.pattern} ${c.generator}`, mid.reqPerS);
        const ping = floor.get(`${c.pattern} ${c.generator}`);
        const r: CaseResult = {
          suite: 'rpc', case: name, method: c.method, generator: c.generator, transport: t.label, tls: t.label === 'tls', vms: t.vms,
          req_per_s: mid.reqPerS, p50_ms: mid.p50, p99_ms: mid.p99, vs_ping2: ping ? round(mid.reqPerS / ping, 3) : null,
          floor_req_per_s: fl?.reqPerS ?? null, floor_p50_ms: fl?.p50 ?? null, vs_floor: fl ? round(mid.reqPerS / fl.reqPerS, 3) : null,
          errors: runs.reduce((a, x) => a + x.errors, 0), requests: c.requests, connections: c.connections, in_flight: c.inFlight,
          response_bytes: mid.bytes, repeats, req_per_s_runs: runs.map((x) => x.reqPerS),
          cpu_us_per_req: medianOf(runs.map((x) => x.cpuUs)), proc_cpu_us_per_req: medianOf(runs.map((x) => x.procCpuUs)),
          floor_cpu_us_per_req: medianOf(floorRuns.map((x) => x.cpuUs)), cpu_vs_floor: null,
          main_runs_per_req: medianOf(runs.map((x) => x.threads?.mainRunsPerReq ?? null)),
          other_runs_per_req: medianOf(runs.map((x) => x.threads?.runsPerReq ?? null)),
          other_cpu_us_per_req: medianOf(runs.map((x) => x.threads?.cpuUsPerReq ?? null)),
          other_threads: mid.threads?.top ?? [],
          floor_other_runs_per_req: medianOf(floorRuns.map((x) => x.threads?.runsPerReq ?? null)),
          gen_cpu_us_per_req: medianOf(runs.map((x) => x.genCpuUs)), floor_gen_cpu_us_per_req: medianOf(floorRuns.map((x) => x.genCpuUs)),
          check_parsed: [...runs, ...floorRuns].reduce((a, x) => a + x.checkParsed, 0),
          pin, load1: round(loadavg()[0] ?? 0, 2),
        };
        if (r.cpu_us_per_req && r.floor_cpu_us_per_req) r.cpu_vs_floor = round(r.floor_cpu_us_per_req / r.cpu_us_per_req, 3);
        emitCase(r as unknown as Record<string, unknown>);
        results.push(r);
      }
    }
    step(total, total, 'report');
  } finally {
    await Promise.all([...agents, ...floors].map((a) => a.stop()));
  }
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'report.md'), report(results, { remote, repeats, vms, quick }));
  await writeFile(join(out, 'rpc.svg'), chart(results));
  progress(`wrote ${join(out, 'report.md')}, rpc.svg`);
}

/**
 * Pin the load generator (this process) and the servers (every thread of each) with taskset: `cross` puts
 * this process on CPU 0 and the servers on CPU 1, as a remote engine's requests arrive at a server that
 * wakes for each; `same` puts all on CPU 1, so a sequential request costs exactly the CPU both sides spend
 * on it; `off` leaves placement to the scheduler. Unpinned, a sequential case's req/s is bimodal on a
 * small machine (client and server on one core or on two: ~2x apart), so its median is a draw; pinned,
 * agent and floor are measured in the same placement. Threads a server starts later inherit its CPU.
 * Returns what was done ('off' when taskset is missing or refused).
 */
function pinProcesses(mode: string, servers: readonly number[]): string {
  if (mode !== 'cross' && mode !== 'same') return 'off';
  if (pinProcess(process.pid, clientCpu(mode)!) && servers.every((pid) => pinProcess(pid, SERVER_CPU))) {
    progress(`pinned: load generator on CPU ${clientCpu(mode)!}, servers on CPU ${SERVER_CPU} (--pin=${mode})`);
    return mode;
  }
  progress('not pinned (taskset missing or refused); req/s of sequential cases will vary with placement');
  return 'off';
}

/** Median of the known values (CPU per request is not always readable: a remote agent). */
function medianOf(xs: Array<number | null>): number | null {
  const known = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return known.length === 0 ? null : known[Math.floor((known.length - 1) / 2)]!;
}

function chart(results: CaseResult[]): string {
  const color: Record<string, string> = { plain: '#1f77b4', tls: '#d62728' };
  const bars: Bar[] = results.map((r) => ({ label: r.case, value: r.req_per_s, color: color[r.transport]!, note: `${r.req_per_s} req/s, p99 ${fmt(r.p99_ms, 2)} ms` }));
  return barChart({ title: 'rpc: requests per second by verb, pattern and transport', unit: 'requests per second (median run)', bars });
}

function report(results: CaseResult[], meta: { remote: boolean; repeats: number; vms: number; quick: boolean }): string {
  const vms = results.find((r) => r.method === 'Host.getAllVmStats');
  return [
    '# Benchmark `rpc`', '',
    meta.remote
      ? 'Against a running agent (vdsm-bench -a HOST -p PORT): its own VMs, configuration and load.'
      : `Against vdsmd in its own process (the real program, default configuration, sampling every 2 s) on libvirt's test driver with ${meta.vms} running VMs; the load generator is this process, with vdsm-node's own STOMP client.`,
    `Node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? 'unknown'}), ${meta.quick ? '--quick, ' : ''}${meta.repeats} run(s) per case: the run with the median req/s is shown, every run's req/s in the last column.`,
    vms ? `Host.getAllVmStats returns ${vms.vms} VMs, ${vms.response_bytes} bytes of JSON (${Math.round(vms.response_bytes / Math.max(1, vms.vms))} bytes per VM).` : '',
    results[0] ? `Placement (--pin): ${results[0].pin === 'cross' ? 'load generator on CPU 0, every server thread on CPU 1' : results[0].pin === 'same' ? 'load generator and servers all on CPU 1' : 'unpinned (sequential req/s varies with where the scheduler puts client and server)'}.` : '',
    '"seq" is one connection with one call in flight; "8x8" is 8 connections with 8 calls in flight each. "vs ping2" is the',
    'verb\'s req/s over ping2\'s in the same pattern and transport. "floor" is a minimal STOMP server started by this run in its',
    'own process (bench/lib/floor-server.ts): it answers each SEND with the agent\'s own reply bytes for that verb (captured once,',
    'the request id put in) and does nothing else; agent and floor runs alternate. "vs floor" is the agent\'s req/s over the',
    'floor\'s: the share of the physical limit (load generator, loopback, sockets) the agent reaches.',
    '"check" cases use the check load generator: it reads each reply\'s frame, its id and that it is a result from the',
    'envelope bytes and never materialises the result, where the other cases JSON-parse every reply in full as a real client',
    'does (~300 µs for an 82 KB getAllVmStats reply, more than the server\'s whole side). Their floor ran with the same',
    'generator. "wakes/req" is how often the agent\'s main thread was put on a CPU per request, and the same for all its other',
    'threads together (schedstat), with their CPU µs per request and the busiest of them (name, wake-ups and CPU µs per',
    'request): on the pinned CPU 1 every such wake-up of another thread takes the CPU from the main one. "generator cpu µs" is',
    'this process\'s own CPU per request (every thread: its JSON.parse and its GC), against the agent and (in brackets) the floor.',
    '"cpu µs" is the server\'s main-thread CPU per request (the scheduler\'s own accounting in /proc/PID/task/PID/schedstat,',
    'read before and after the measured requests), "floor cpu µs" the floor\'s, "cpu vs floor" the floor\'s over the agent\'s: it',
    'does not depend on how fast the load generator runs, so it is steadier than req/s on a busy machine. "proc cpu µs" is the',
    'agent process\'s CPU per request over all its threads (clock ticks: 10 ms resolution; includes sampling in workers).',
    meta.remote ? 'Against a running agent no floor is run (a local floor is no limit for a remote host).' : '', '',
    mdTable(['case', 'req/s', 'p50 ms', 'p99 ms', 'vs ping2', 'floor req/s', 'vs floor', 'cpu µs', 'floor cpu µs', 'cpu vs floor', 'proc cpu µs', 'main wakes/req', 'other threads wakes/req (cpu µs)', 'floor other wakes/req', 'generator cpu µs (floor)', 'errors', 'requests', 'response bytes', 'load1', 'req/s of every run'],
      results.map((r) => [r.case, r.req_per_s, fmt(r.p50_ms, 3), fmt(r.p99_ms, 3), r.vs_ping2 === null ? '-' : fmt(r.vs_ping2, 3), r.floor_req_per_s ?? '-', r.vs_floor === null ? '-' : fmt(r.vs_floor, 3),
        r.cpu_us_per_req === null ? '-' : fmt(r.cpu_us_per_req, 2), r.floor_cpu_us_per_req === null ? '-' : fmt(r.floor_cpu_us_per_req, 2), r.cpu_vs_floor === null ? '-' : fmt(r.cpu_vs_floor, 3),
        r.proc_cpu_us_per_req === null ? '-' : fmt(r.proc_cpu_us_per_req, 1), r.main_runs_per_req === null ? '-' : fmt(r.main_runs_per_req, 2),
        r.other_runs_per_req === null ? '-' : `${fmt(r.other_runs_per_req, 2)} (${fmt(r.other_cpu_us_per_req ?? 0, 1)})${r.other_threads.length > 0 ? `: ${r.other_threads.join(', ')}` : ''}`,
        r.floor_other_runs_per_req === null ? '-' : fmt(r.floor_other_runs_per_req, 2),
        `${r.gen_cpu_us_per_req === null ? '-' : fmt(r.gen_cpu_us_per_req, 1)} (${r.floor_gen_cpu_us_per_req === null ? '-' : fmt(r.floor_gen_cpu_us_per_req, 1)})`, r.check_parsed > 0 ? `${r.errors} (${r.check_parsed} parsed in full)` : r.errors, r.requests, r.response_bytes, fmt(r.load1, 2), r.req_per_s_runs.join(', ')])),
    '', '![requests per second](rpc.svg)', '',
    'For comparison, the real vdsm server on this kind of machine (issue 5): ping2 3,018 req/s p99 0.55 ms sequential, 10,185 req/s pipelined.',
    '',
  ].join('\n');
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`bench rpc: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
