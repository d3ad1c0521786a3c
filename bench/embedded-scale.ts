// How many embedded agents one machine runs (issue 11): N vdsmd processes with the embedded profile (TLS
// with each agent's development PKI, fake KVM, libvirt's test driver) and 50 running VMs each, polled the
// way an engine polls an Up host: Host.getStats and Host.getAllVmStats every 15 s per host, the hosts spread
// over the cycle. Per agent: RSS and CPU (percent of one core, from /proc/<pid>/stat) while idle (sampling
// only) and while polled, and the call latencies. One JSON line per N on stdout; results/embedded-scale/report.md.
// Usage: node dist/bench/embedded-scale.js [--agents=4,8,16] [--vms=50] [--idle-s=30] [--poll-s=60]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeNodeXml } from '../src/libvirt/fixture.js';
import { devPkiPaths, loadTlsFiles } from '../src/rpc/pki.js';
import { StompRpcClient } from '../src/rpc/stomp-client.js';
import { fmt, mdTable } from './lib/markdown.js';
import { emitCase, progress } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { summarize } from './lib/stats.js';

const flags = benchFlags({
  name: 'embedded-scale',
  about: 'How many embedded agents one machine runs: N vdsmd processes (embedded profile, 50 VMs each) polled the way an engine polls an Up host; RSS, CPU and call latencies per agent, idle and polled.',
  options: {
    agents: 'N,N: agents started, one case each (default 4,8,16)',
    vms: 'N: running VMs per agent (default 50)',
    'idle-s': 'S: seconds measured idle (default 30)',
    'poll-s': 'S: seconds measured while polled (default 60)',
    'warmup-s': 'S: seconds before measuring (default 20)',
  },
});
const AGENT_COUNTS = flags.list('agents', ['4', '8', '16']).map(Number);
const VMS = flags.num('vms', 50);
const IDLE_S = flags.num('idle-s', 30);
const POLL_S = flags.num('poll-s', 60);
const WARMUP_S = flags.num('warmup-s', 20);
const CYCLE_MS = 15_000;
const CLK_TCK = 100;
const VDSMD = fileURLToPath(new URL('../src/bin/vdsmd.js', import.meta.url));

interface Agent {
  child: ChildProcess;
  dir: string;
  port: number;
  client?: StompRpcClient;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system, all threads) and RSS (MiB) of a process, from procfs. */
async function usage(pid: number): Promise<{ cpuS: number; rssMb: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return { cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK, rssMb: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024 };
}

async function startAgent(i: number): Promise<Agent> {
  const dir = await mkdtemp(join(tmpdir(), `vdsm-scale-${i}-`));
  const uri = await writeNodeXml(join(dir, 'node'), { domains: VMS, running: VMS, cpus: 4, memoryKiB: 64 * 1024 * 1024, namePrefix: `scale${i}` });
  const child = spawn(process.execPath, [VDSMD, '--profile', 'embedded', '--set', 'addresses.management_port=0', '--set', `vars.state_dir=${dir}`,
    '--set', `vars.run_dir=${join(dir, 'run')}`, '--set', `libvirt.uri=${uri}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const agent: Agent = { child, dir, port: 0 };
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent ${i} not serving after 120 s`)), 120_000);
    child.once('exit', (code) => reject(new Error(`agent ${i} exited with ${String(code)}`)));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const port = /"port":(\d+)/.exec(line)?.[1];
        if (port !== undefined && agent.port === 0) {
          agent.port = Number(port);
          clearTimeout(timer);
          resolve();
        }
      }
    });
  });
  return agent;
}

async function connect(a: Agent): Promise<void> {
  const tls = await loadTlsFiles(devPkiPaths(a.dir).client);
  for (;;) {
    const c = new StompRpcClient({ host: '127.0.0.1', port: a.port, tls });
    await c.connect();
    try {
      await c.call('Host.ping2', {}, 10_000);
      a.client = c;
      return;
    } catch {
      c.close(); // 99 while the agent recovers its VMs
      await sleep(500);
    }
  }
}

interface Window {
  cpuPct: number[];
  rssMb: number[];
}

async function measure(agents: Agent[], seconds: number, during?: Promise<void>): Promise<Window> {
  const before = await Promise.all(agents.map((a) => usage(a.child.pid!)));
  const t0 = performance.now();
  await Promise.all([sleep(seconds * 1000), during]);
  const elapsed = (performance.now() - t0) / 1000;
  const after = await Promise.all(agents.map((a) => usage(a.child.pid!)));
  return { cpuPct: after.map((u, i) => (100 * (u.cpuS - before[i]!.cpuS)) / elapsed), rssMb: after.map((u) => u.rssMb) };
}

/** The engine's 15 s cycle per host, the hosts spread evenly over it; latencies in ms. */
async function poll(agents: Agent[], seconds: number, latencies: number[], errors: { n: number }): Promise<void> {
  const end = performance.now() + seconds * 1000;
  await Promise.all(agents.map(async (a, i) => {
    await sleep((i * CYCLE_MS) / agents.length);
    while (performance.now() < end) {
      const t = performance.now();
      for (const m of ['Host.getStats', 'Host.getAllVmStats']) {
        const s = performance.now();
        try {
          const r = await a.client!.call(m, {}, 30_000);
          if (m === 'Host.getAllVmStats' && (r as unknown[]).length !== VMS) errors.n++;
        } catch {
          errors.n++;
        }
        latencies.push(performance.now() - s);
      }
      await sleep(Math.max(0, CYCLE_MS - (performance.now() - t)));
    }
  }));
}

interface Row {
  suite: 'embedded-scale';
  agents: number;
  vms_per_agent: number;
  rss_mb_mean: number;
  rss_mb_max: number;
  cpu_idle_pct_mean: number;
  cpu_polled_pct_mean: number;
  cpu_polled_pct_total: number;
  call_p50_ms: number;
  call_p99_ms: number;
  errors: number;
  load1_start: number;
  load1_end: number;
}

async function runN(n: number): Promise<Row> {
  const load1Start = loadavg()[0]!;
  progress(`${n} agents x ${VMS} VMs: starting (load1 ${load1Start.toFixed(2)})`);
  const agents: Agent[] = [];
  try {
    for (let i = 0; i < n; i++) agents.push(await startAgent(i));
    await Promise.all(agents.map(connect));
    progress(`${n} agents ready; warm-up ${WARMUP_S} s (first samples)`);
    await sleep(WARMUP_S * 1000);
    const idle = await measure(agents, IDLE_S);
    progress(`idle: ${fmt(summarize(idle.cpuPct).mean, 2)} % CPU, ${fmt(summarize(idle.rssMb).mean, 0)} MiB per agent`);
    const latencies: number[] = [];
    const errors = { n: 0 };
    const polled = await measure(agents, POLL_S, poll(agents, POLL_S, latencies, errors));
    const lat = summarize(latencies);
    const row: Row = {
      suite: 'embedded-scale', agents: n, vms_per_agent: VMS,
      rss_mb_mean: Number(summarize(polled.rssMb).mean.toFixed(1)), rss_mb_max: Number(summarize(polled.rssMb).max.toFixed(1)),
      cpu_idle_pct_mean: Number(summarize(idle.cpuPct).mean.toFixed(2)), cpu_polled_pct_mean: Number(summarize(polled.cpuPct).mean.toFixed(2)),
      cpu_polled_pct_total: Number(polled.cpuPct.reduce((x, y) => x + y, 0).toFixed(1)),
      call_p50_ms: Number(lat.p50.toFixed(2)), call_p99_ms: Number(lat.p99.toFixed(2)), errors: errors.n,
      load1_start: Number(load1Start.toFixed(2)), load1_end: Number(loadavg()[0]!.toFixed(2)),
    };
    emitCase({ ...row });
    progress(`polled: ${row.cpu_polled_pct_mean} % CPU per agent, p99 ${row.call_p99_ms} ms, ${row.errors} errors`);
    return row;
  } finally {
    for (const a of agents) a.client?.close();
    await Promise.all(agents.map((a) => new Promise<void>((resolve) => {
      if (a.child.exitCode !== null) return resolve();
      a.child.once('exit', () => resolve());
      a.child.kill('SIGTERM');
      setTimeout(() => a.child.kill('SIGKILL'), 10_000).unref();
    })));
    await Promise.all(agents.map((a) => rm(a.dir, { recursive: true, force: true })));
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const n of AGENT_COUNTS) rows.push(await runN(n));
  const last = rows[rows.length - 1]!;
  const memMb = totalmem() / 1024 / 1024;
  const cores = cpus().length;
  const byMemory = Math.floor((0.8 * memMb) / last.rss_mb_max);
  const byCpu = Math.floor((0.8 * cores * 100) / last.cpu_polled_pct_mean);
  const dir = path.join(process.cwd(), 'results', 'embedded-scale');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'report.md'), [
    '# Embedded agents per machine',
    '',
    `Generated by bench/embedded-scale.ts on ${new Date().toISOString()}, Node ${process.version}, ${cores} CPU(s), ${Math.round(memMb)} MiB.`,
    `Each agent: \`vdsmd --profile embedded\` (TLS, fake KVM, libvirt's test driver) with ${VMS} running VMs, host and VM sampling every 15 s.`,
    `Idle: ${IDLE_S} s after a ${WARMUP_S} s warm-up, no calls. Polled: ${POLL_S} s of the engine's cycle (Host.getStats + Host.getAllVmStats every 15 s per host, hosts spread over the cycle, one TLS connection each).`,
    'CPU is percent of one core (user + system, all threads, /proc/<pid>/stat); RSS from /proc/<pid>/status. The machine is shared with other work: load1 at start and end of each row.',
    '',
    mdTable(['agents', 'RSS MiB/agent (max)', 'CPU % idle/agent', 'CPU % polled/agent', 'CPU % polled, all agents', 'call p50 ms', 'call p99 ms', 'errors', 'load1 start / end'],
      rows.map((r) => [r.agents, `${fmt(r.rss_mb_mean, 0)} (${fmt(r.rss_mb_max, 0)})`, fmt(r.cpu_idle_pct_mean, 2), fmt(r.cpu_polled_pct_mean, 2), fmt(r.cpu_polled_pct_total, 1), fmt(r.call_p50_ms, 1), fmt(r.call_p99_ms, 1), r.errors, `${r.load1_start} / ${r.load1_end}`])),
    '',
    `Capacity from the largest row: memory allows ${byMemory} agents (80 % of RAM / max RSS), CPU ${byCpu} (80 % of ${cores} cores / polled CPU per agent); the machine runs about ${Math.min(byMemory, byCpu)} at once.`,
    '',
  ].join('\n'));
  progress(`capacity: memory ${byMemory}, CPU ${byCpu}; wrote results/embedded-scale/report.md`);
}

main().catch((err: unknown) => {
  progress(`bench embedded-scale: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
