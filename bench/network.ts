// bench:network: one setupNetworks adding 1, 10 and 100 VLAN networks on a bond, and the rollback of
// each, measured through the real applier (snapshot, checks, plan, journal, `ip -batch`) in a network
// namespace this bench creates and deletes. Side by side in the same run: the same plan as one `ip`
// process per command (the obvious alternative) and the plan's `ip -batch` alone (the floor: the
// kernel's work plus one process), as ratios. On a kernel without 802.1Q or bonding (CONFIG_VLAN_8021Q,
// CONFIG_BONDING unset) the topology falls back to N bridged networks on N veth NICs and the report
// says so. Needs root. One JSON line per case on stdout, a report in results/network/report.md.
// A vdsm-bench suite (`vdsm-bench network`); --quick: 10 networks, one run.
// Usage: node dist/bench/network.js [--quick] [--sizes=1,10,100] [--repeat=3] [--out=DIR]
// On a kernel without 802.1Q and bonding, the network-kernel guest has them:
//   bash scripts/netvm/setup.sh && bash scripts/netvm/run.sh 'node dist/bench/network.js --out=/tmp/job'
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { createInProcessNetwork } from '../src/network/in-process.js';
import { plan } from '../src/network/planner.js';
import { fmt, mdTable } from './lib/markdown.js';
import { emitCase, outDir, progress, step } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { median } from './lib/stats.js';

const SELF = fileURLToPath(import.meta.url);

function run(file: string, args: readonly string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile(file, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : 1, stdout, stderr }));
    if (input !== undefined) c.stdin!.end(input);
  });
}

interface CaseResult {
  topology: 'vlan-on-bond' | 'bridges-on-veth';
  networks: number;
  applyMs: number[];
  rollbackMs: number[];
  restored: boolean;
  floorMs: number[];
  /** The rollback's `ip -batch -force` alone. */
  rollbackFloorMs: number[];
  perCommandMs: number[];
  commands: number;
}

/** Inside the namespace: every measurement for one size. */
async function child(size: number, repeat: number, topology: CaseResult['topology'], dir: string): Promise<CaseResult> {
  const net = createInProcessNetwork({ stateDir: dir, runDir: join(dir, 'run'), fakeNics: ['veth_*'], resolvConf: join(dir, 'resolv.conf'), log: pino({ level: 'silent' }) });
  const networks: Record<string, unknown> = {};
  const bondings: Record<string, unknown> = {};
  if (topology === 'vlan-on-bond') {
    bondings['bond0'] = { nics: ['veth_a', 'veth_b'], options: 'mode=1 miimon=100' };
    for (let i = 0; i < size; i++) networks[`vnet${i}`] = { bonding: 'bond0', vlan: String(100 + i), bridged: 'true', mtu: 1500 };
  } else {
    for (let i = 0; i < size; i++) networks[`bnet${i}`] = { nic: `veth_n${i}`, bridged: 'true', mtu: 1500 };
  }
  const out: CaseResult = { topology, networks: size, applyMs: [], rollbackMs: [], restored: true, floorMs: [], rollbackFloorMs: [], perCommandMs: [], commands: 0 };
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    const res = await net.setup({ networks, bondings, options: { connectivityCheck: 'true', connectivityTimeout: 600 } });
    const t1 = performance.now();
    const rb = await net.rollback(res.txId, 'bench');
    const t2 = performance.now();
    out.applyMs.push(t1 - t0);
    out.rollbackMs.push(t2 - t1);
    out.restored &&= JSON.stringify(rb.before) === JSON.stringify(rb.after) && rb.errors.length === 0;
  }
  // The alternatives run the plan the applier would run, without its checks, journal and snapshots.
  const { canonicalizeRequest } = await import('../src/network/canonicalize.js');
  const { validateRequest } = await import('../src/network/validate.js');
  const { nicFilter } = await import('../src/network/netinfo.js');
  const before = await net.system.snapshot();
  const empty = { networks: {}, bonds: {} };
  const desired = validateRequest(canonicalizeRequest(networks, bondings, empty, []), empty, before, nicFilter(['veth_*'])(before));
  const lines = plan(before, empty, desired).filter((s) => s.kind === 'ip').map((s) => (s as { args: string[] }).args);
  out.commands = lines.length;
  const undo = async (): Promise<number> => {
    const now = await net.system.snapshot();
    const back = plan(now, desired, empty, { restore: before }).filter((s) => s.kind === 'ip').map((s) => (s as { args: string[] }).args);
    const t = performance.now();
    await net.system.ipBatch(back, true);
    return performance.now() - t;
  };
  for (let r = 0; r < repeat; r++) {
    let t = performance.now();
    const b = await net.system.ipBatch(lines, false);
    out.floorMs.push(performance.now() - t);
    if (!b.ok) throw new Error(`floor batch failed: ${b.stderr}`);
    out.rollbackFloorMs.push(await undo());
    // The alternative is one process per command: slow enough (a process start each) that one run says it.
    if (r > 0) continue;
    t = performance.now();
    for (const l of lines) {
      const x = await run('/usr/sbin/ip', l);
      if (x.code !== 0) throw new Error(`ip ${l.join(' ')}: ${x.stderr}`);
    }
    out.perCommandMs.push(performance.now() - t);
    await undo();
  }
  return out;
}

async function supports(ns: string): Promise<boolean> {
  const a = await run('ip', ['-n', ns, 'link', 'add', 'bondprobe', 'type', 'bond']);
  await run('ip', ['-n', ns, 'link', 'add', 'vethprobe', 'type', 'veth', 'peer', 'name', 'vethprobe1']);
  const b = await run('ip', ['-n', ns, 'link', 'add', 'link', 'vethprobe', 'name', 'vlanprobe', 'type', 'vlan', 'id', '5']);
  for (const dev of ['vlanprobe', 'vethprobe', 'bondprobe']) await run('ip', ['-n', ns, 'link', 'del', dev]);
  return a.code === 0 && b.code === 0;
}

async function inNamespace(ns: string, args: string[]): Promise<CaseResult> {
  return new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, SELF, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    c.on('close', (code) => {
      const line = out.split('\n').reverse().find((l) => l.startsWith('{'));
      if (code !== 0 || line === undefined) reject(new Error(`case ${args.join(' ')} failed (${code})`));
      else resolve(JSON.parse(line) as CaseResult);
    });
  });
}

async function main(): Promise<void> {
  const flags = benchFlags({
    name: 'network',
    options: {
      sizes: 'N,N: networks added by one setupNetworks, one case each (default 1,10,100; --quick 10)',
      repeat: 'N: runs per case (default 3; --quick 1)',
    },
    internal: ['child', 'size', 'topology', 'dir'],
    notes: 'Needs root: it works in a network namespace it creates and deletes.',
  });
  if (flags.has('child')) {
    const r = await child(flags.num('size', 1), flags.num('repeat', 3), flags.str('topology', 'vlan-on-bond') as CaseResult['topology'], flags.str('dir', tmpdir()));
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  if (process.getuid?.() !== 0) throw new Error('bench:network needs root (it creates network namespaces and devices in them)');
  const quick = flags.has('quick');
  const sizes = flags.list('sizes', quick ? ['10'] : ['1', '10', '100']).map(Number);
  const repeat = flags.num('repeat', quick ? 1 : 3);
  const load0 = loadavg()[0]!;
  const results: CaseResult[] = [];
  let kernelNote = '';
  for (const [i, size] of sizes.entries()) {
    step(i, sizes.length, `${size} network(s)`);
    const ns = `vdsm-bench-${randomBytes(4).toString('hex')}`;
    const dir = await mkdtemp(join(tmpdir(), 'vdsm-bench-net-'));
    await run('ip', ['netns', 'add', ns]);
    try {
      const vlan = await supports(ns);
      const topology: CaseResult['topology'] = vlan ? 'vlan-on-bond' : 'bridges-on-veth';
      if (!vlan) kernelNote = 'This kernel has no 802.1Q or bonding support (CONFIG_VLAN_8021Q / CONFIG_BONDING unset): measured N bridged networks on N veth NICs instead of N VLAN networks on a bond.';
      const nics = vlan ? ['veth_a', 'veth_b'] : Array.from({ length: size }, (_, i) => `veth_n${i}`);
      const batch = nics.map((n, i) => `link add ${n} type veth peer name peer${i}\nlink set ${n} up\nlink set peer${i} up`).join('\n');
      const made = await run('ip', ['-n', ns, '-batch', '-'], `${batch}\n`);
      if (made.code !== 0) throw new Error(made.stderr);
      progress(`${size} network(s), ${topology}, ${repeat} run(s)`);
      const r = await inNamespace(ns, ['--child', `--size=${size}`, `--repeat=${repeat}`, `--topology=${topology}`, `--dir=${dir}`]);
      results.push(r);
      emitCase({
        suite: 'network', case: `${r.topology} ${r.networks}`, topology: r.topology, networks: r.networks, commands: r.commands, repeats: repeat,
        setup_ms: median(r.applyMs), rollback_ms: median(r.rollbackMs), floor_ms: median(r.floorMs), rollback_floor_ms: median(r.rollbackFloorMs), per_command_ms: median(r.perCommandMs),
        setup_over_floor: median(r.applyMs) / median(r.floorMs), per_command_over_setup: median(r.perCommandMs) / median(r.applyMs), restored: r.restored, load1: loadavg()[0],
      });
    } finally {
      await run('ip', ['netns', 'del', ns]);
      await rm(dir, { recursive: true, force: true });
    }
  }
  const load1 = loadavg()[0]!;
  const rows = results.map((r) => [r.networks, r.topology, r.commands, fmt(median(r.applyMs)), fmt(median(r.floorMs)), fmt(median(r.applyMs) / median(r.floorMs), 2),
    fmt(median(r.perCommandMs)), fmt(median(r.perCommandMs) / median(r.applyMs), 2), fmt(median(r.rollbackMs)), fmt(median(r.rollbackFloorMs)), fmt(median(r.rollbackMs) / median(r.rollbackFloorMs), 2), r.restored ? 'yes' : 'NO']);
  const report = [
    '# bench:network', '',
    `${new Date().toISOString()}, ${cpus().length} CPUs, load1 ${load0.toFixed(2)} at start and ${load1.toFixed(2)} at the end, medians of ${repeat} runs.`, '',
    ...(kernelNote !== '' ? [kernelNote, ''] : []),
    mdTable(['networks', 'topology', 'ip commands', 'setupNetworks ms', 'floor ms', 'setup / floor', 'one ip per command ms', 'per-command / setup', 'rollback ms', 'rollback floor ms', 'rollback / floor', 'rollback restored'], rows), '',
    'setupNetworks: the applier end to end (kernel snapshot, canonicalization and checks, plan, journal written and fsynced, one `ip -batch`, nothing waiting for the engine). Rollback: a second snapshot, the plan back, `ip -batch -force`, the journal removed, and the touched devices compared with the snapshot taken before (`rollback restored`). Floor: the same `ip` commands in one `ip -batch` (for the rollback: the plan back in one `ip -batch -force`). One ip per command: the commands of the setup as separate `ip` processes (one run).', '',
  ].join('\n');
  step(sizes.length, sizes.length, 'done');
  const dir = outDir(flags, 'network');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'report.md'), report);
  process.stderr.write(`${report}\nreport: ${join(dir, 'report.md')}\n`);
}

await main();
