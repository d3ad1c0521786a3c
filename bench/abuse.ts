// The attacks of issue 9 against the real vdsmd, plain and TLS, while a well-behaved engine-like client
// (its own process) calls Host.ping2 and Host.getAllVmStats back to back throughout. Per attack: the
// agent's peak RSS against its memory budget and its RSS after the attack, the legitimate client's
// latencies during the attack, whether any legitimate call failed, and whether every attacker request
// that deserved an answer got one. One JSON line per attack plus results/abuse/report.md.
// Usage: npm run bench:abuse [-- --modes=plain,tls --attacks=a,b --fuzz-runs=400 --out=DIR]
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { writeNodeXml } from '../src/libvirt/fixture.js';
import { errorMessage } from '../src/errors.js';
import { devPkiPaths, loadTlsFiles } from '../src/rpc/pki.js';
import { StompRpcClient } from '../src/rpc/stomp-client.js';
import { AgentProcess } from '../test/helpers/agent-process.js';
import { hostileStream } from '../test/rpc/stomp-arbitraries.js';
import { fmt, mdTable } from './lib/markdown.js';
import { emitCase, Flags, progress } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { percentile } from './lib/stats.js';

const SELF = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;
const BUDGET_MB = 256;
const FRAME_TIMEOUT_S = 10;
const NOFILE = 4096;

type Mode = 'plain' | 'tls';
interface Target { port: number; mode: Mode; tls?: { key: Buffer | string; cert: Buffer | string; ca: Buffer | string } }
interface AttackOutcome { connections: number; requests?: number; answered?: number; note?: string }
type Attack = (t: Target) => Promise<AttackOutcome>;

// ---- attacker building blocks ------------------------------------------------------------------

/** Sockets the server closed (or that failed). */
const gone = new WeakSet<net.Socket>();
const dropped = (socks: net.Socket[]): number => socks.filter((s) => gone.has(s)).length;

function rawSocket(t: Target, handshake = true): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = t.mode === 'tls' && handshake
      ? tls.connect({ host: '127.0.0.1', port: t.port, checkServerIdentity: () => undefined, ...t.tls })
      : net.connect({ host: '127.0.0.1', port: t.port });
    s.on('error', () => undefined);
    s.once('close', () => gone.add(s));
    s.once('end', () => gone.add(s));
    s.on('data', () => undefined);  // read (and drop) what the server says, so its closes are seen
    s.once(t.mode === 'tls' && handshake ? 'secureConnect' : 'connect', () => resolve(s));
    s.once('close', () => resolve(s));
  });
}

async function many(n: number, make: () => Promise<net.Socket>, parallel = 200): Promise<net.Socket[]> {
  const out: net.Socket[] = [];
  for (let i = 0; i < n; i += parallel) out.push(...await Promise.all(Array.from({ length: Math.min(parallel, n - i) }, make)));
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const CONNECT = 'CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\n\n\0';
const send = (body: string | Buffer): Buffer => {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([Buffer.from(`SEND\ndestination:jms.topic.vdsm_requests\nreply-to:jms.topic.vdsm_responses\ncontent-length:${b.length}\n\n`), b, Buffer.from([0])]);
};

/** Count MESSAGE frames (replies) arriving on a socket. */
function countReplies(s: net.Socket): { readonly n: number } {
  const c = { n: 0 };
  s.on('data', (d: Buffer) => {
    for (let i = d.indexOf('MESSAGE\n'); i !== -1; i = d.indexOf('MESSAGE\n', i + 1)) c.n++;
  });
  return c;
}

async function untilOr(pred: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await sleep(20);
}

/** Send `body` n times on one connection; how many got an answer (within a minute). */
async function requests(t: Target, n: number, body: string): Promise<AttackOutcome> {
  const s = await rawSocket(t);
  const replies = countReplies(s);
  s.write(CONNECT);
  const frame = send(body);
  for (let i = 0; i < n; i++) s.write(frame);
  await untilOr(() => replies.n >= n, 60_000);
  s.destroy();
  return { connections: 1, requests: n, answered: replies.n };
}

// ---- the attacks -------------------------------------------------------------------------------

const ATTACKS: Record<string, Attack> = {
  /** 1,024 silent sockets renewed every 10 s was enough to lock everyone out; here 3,000, renewed. */
  'silent-crowd': async (t) => {
    let socks = await many(3000, () => rawSocket(t, false));
    await sleep(5000);
    for (const s of socks.splice(0, 1500)) s.destroy();
    socks = socks.concat(await many(1500, () => rawSocket(t, false)));
    await sleep(5000);
    for (const s of socks) s.destroy();
    return { connections: 4500 };
  },
  /** Connections that sent CONNECT and then nothing, beyond the descriptor limit. */
  'connect-crowd': async (t) => {
    const socks = await many(5000, async () => {
      const s = await rawSocket(t);
      if (!s.destroyed) s.write(CONNECT);
      return s;
    });
    await sleep(12_000);
    for (const s of socks) s.destroy();
    return { connections: 5000 };
  },
  /** Frames trickled a byte a second: dropped at the frame deadline. */
  trickle: async (t) => {
    const socks = await many(300, async () => {
      const s = await rawSocket(t);
      if (!s.destroyed) s.write(CONNECT);
      return s;
    });
    const frame = `SEND\ndestination:jms.topic.vdsm_requests\ncontent-length:100\n\n${'x'.repeat(100)}`;
    for (let i = 0; i < FRAME_TIMEOUT_S + 3; i++) {
      for (const s of socks) if (!s.destroyed) s.write(frame[i % frame.length]!);
      await sleep(1000);
    }
    const n = dropped(socks);
    for (const s of socks) s.destroy();
    return { connections: 300, note: `${n}/300 dropped at the ${FRAME_TIMEOUT_S} s frame deadline` };
  },
  /** 50 connections each holding 15.99 MB of a 16 MB frame (~800 MB against a 256 MiB budget). */
  'partial-frames': async (t) => {
    const chunk = Buffer.alloc(MiB, 0x20);
    const socks = await many(50, async () => {
      const s = await rawSocket(t);
      if (s.destroyed) return s;
      s.write(CONNECT);
      s.write(`SEND\ndestination:jms.topic.vdsm_requests\ncontent-length:${16 * MiB}\n\n`);
      return s;
    }, 50);
    for (let i = 0; i < 16; i++) {
      await Promise.all(socks.map((s) => new Promise<void>((resolve) => {
        if (s.destroyed) { resolve(); return; }
        const part = i === 15 ? chunk.subarray(0, MiB - 10 * 1024) : chunk;
        if (s.write(part)) { resolve(); return; }
        const done = (): void => { s.off('drain', done); s.off('close', done); resolve(); };
        s.once('drain', done);
        s.once('close', done);
      })));
    }
    await sleep(3000);
    const n = dropped(socks);
    for (const s of socks) s.destroy();
    return { connections: 50, note: `${n}/50 dropped by the memory budget` };
  },
  /** Clients that pipeline thousands of getAllVmStats and never read the replies. */
  'non-reader': async (t) => {
    const request = send(JSON.stringify({ jsonrpc: '2.0', method: 'Host.getAllVmStats', params: {}, id: 1 }));
    const socks = await many(20, async () => {
      const s = await rawSocket(t);
      if (s.destroyed) return s;
      s.write(CONNECT);
      s.pause();
      for (let i = 0; i < 20_000; i++) s.write(request);
      return s;
    }, 20);
    await sleep(10_000);
    const n = dropped(socks);
    for (const s of socks) s.destroy();
    return { connections: 20, note: `${n}/20 dropped` };
  },
  /** A batch whose reply is ~40 MB (the connection's bound is 32 MiB): answered, the tail with errors. */
  'big-batch-reply': (t) => requests(t, 3, JSON.stringify(Array.from({ length: 400 }, (_, j) => ({ jsonrpc: '2.0', method: 'Host.echo', params: { message: 'x', size: 100_000 }, id: j })))),
  /** 100,000 nested arrays per body. */
  'deep-nesting': (t) => requests(t, 50, '['.repeat(100_000) + ']'.repeat(100_000)),
  /** A batch of 100,000 requests. */
  'huge-batch': (t) => requests(t, 5, JSON.stringify(Array.from({ length: 100_000 }, (_, i) => ({ jsonrpc: '2.0', method: 'Host.ping2', id: i })))),
  /** 400 getCapabilities kept in flight for 10 s. */
  'engine-burst': async (t) => {
    const client = new StompRpcClient({ host: '127.0.0.1', port: t.port, ...(t.tls ? { tls: t.tls } : {}) });
    await client.connect();
    let requests = 0;
    let answered = 0;
    const end = Date.now() + 10_000;
    await Promise.all(Array.from({ length: 400 }, async () => {
      while (Date.now() < end) {
        requests++;
        await client.call('Host.getCapabilities', {}, 60_000).then(() => answered++, (e: unknown) => { if (typeof (e as { code?: unknown }).code === 'number') answered++; });
      }
    }));
    client.close();
    return { connections: 1, requests, answered };
  },
  /** TLS only: handshakes without a client certificate. */
  'tls-no-cert': async (t) => {
    if (t.mode !== 'tls') return { connections: 0, note: 'TLS only' };
    const socks = await many(2000, () => new Promise<net.Socket>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: t.port, ca: t.tls!.ca, checkServerIdentity: () => undefined });
      s.on('error', () => undefined);
      s.once('close', () => resolve(s));
      s.once('secureConnect', () => s.write('CONNECT\naccept-version:1.2\n\n\0'));
    }));
    for (const s of socks) s.destroy();
    return { connections: 2000 };
  },
  /** The fuzz bench's hostile connections (random, valid and mutated frames), against the real agent. */
  fuzz: async (t) => {
    const runs = Number(new Flags().num('fuzz-runs', 400));
    let n = 0;
    await fc.assert(fc.asyncProperty(hostileStream, async (parts) => {
      n++;
      const s = await rawSocket(t);
      if (s.destroyed) return;
      s.write('SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\n\n\0');
      for (const p of parts) s.write(p);
      s.end();
      await new Promise<void>((resolve) => { s.once('close', () => resolve()); setTimeout(() => { s.destroy(); resolve(); }, 15_000); });
    }), { numRuns: runs });
    return { connections: n };
  },
};

// ---- the legitimate client (a process of its own) ----------------------------------------------

async function clientMain(flags: Flags): Promise<void> {
  const port = flags.num('port', 0);
  const tlsDir = flags.str('tls-dir', '');
  const material = tlsDir ? await loadTlsFiles(devPkiPaths(tlsDir).client) : undefined;
  const client = new StompRpcClient({ host: '127.0.0.1', port, ...(material ? { tls: material } : {}) });
  await client.connect();
  let stop = false;
  process.on('message', () => { stop = true; });
  process.on('SIGTERM', () => { stop = true; });
  while (!stop) {
    for (const method of ['Host.ping2', 'Host.getAllVmStats']) {
      const t0 = performance.now();
      let ok = true;
      try {
        await client.call(method, {}, 30_000);
      } catch (err) {
        ok = false;
        process.stderr.write(`legit ${method} failed: ${errorMessage(err)}\n`);
      }
      process.stdout.write(`${JSON.stringify({ at: Date.now(), method, ms: performance.now() - t0, ok })}\n`);
    }
  }
  client.close();
  process.exit(0);
}

interface LegitCall { at: number; method: string; ms: number; ok: boolean }

function startClient(port: number, tlsDir: string | undefined): { calls: LegitCall[]; child: ChildProcess } {
  const child = spawn(process.execPath, [SELF, '--client', `--port=${port}`, ...(tlsDir ? [`--tls-dir=${tlsDir}`] : [])], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const calls: LegitCall[] = [];
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
      calls.push(JSON.parse(buf.slice(0, nl)) as LegitCall);
      buf = buf.slice(nl + 1);
    }
  });
  return { calls, child };
}

/** The agent's /health JSON (over TLS with the client's certificate in TLS mode). */
function health(t: Target): Promise<Record<string, unknown>> {
  const common = { host: '127.0.0.1', port: t.port, path: '/health', timeout: 10_000, agent: false } as const;
  return new Promise((resolve, reject) => {
    const onRes = (res: http.IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; });
      res.on('end', () => { try { resolve(JSON.parse(body) as Record<string, unknown>); } catch (err) { reject(err instanceof Error ? err : new Error(String(err))); } });
    };
    const r = t.mode === 'tls'
      ? https.request({ ...common, ...t.tls, checkServerIdentity: () => undefined }, onRes)
      : http.request(common, onRes);
    r.on('timeout', () => r.destroy(new Error('no /health answer within 10 s')));
    r.on('error', reject);
    r.end();
  });
}

/**
 * After an attack: wait until the agent is back to its quiet state (only the legitimate client's STOMP
 * session left, nothing in protocol detection, no buffered bytes, no memory relief still due), read on
 * /health. Returns the seconds it took, or undefined if it did not get there within a minute.
 */
async function settle(t: Target): Promise<number | undefined> {
  const t0 = Date.now();
  while (Date.now() - t0 < 60_000) {
    const h = await health(t).catch(() => undefined);
    const rpc = h?.['rpc'] as { connections: number; memory: { used: number }; admission: { detecting: number } } | undefined;
    const relief = h?.['memoryRelief'] as { pending: boolean } | null | undefined;
    if (rpc && rpc.connections <= 1 && rpc.memory.used === 0 && rpc.admission.detecting === 0 && relief?.pending !== true) return (Date.now() - t0) / 1000;
    await sleep(200);
  }
  return undefined;
}

function rssMb(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

// ---- orchestration -----------------------------------------------------------------------------

interface CaseResult {
  suite: 'abuse'; attack: string; mode: Mode; seconds: number; attacker_connections: number;
  budget_mb: number; rss_before_mb: number; peak_rss_mb: number; rss_after_mb: number;
  legit_calls: number; legit_failed: number; ping2_p50_ms: number; ping2_p99_ms: number; getallvmstats_p99_ms: number;
  attacker_requests: number | null; attacker_answered: number | null; lost: boolean; agent_alive: boolean; settle_s: number | null; note: string; load1: number;
}

async function runMode(mode: Mode, attacks: string[], dir: string): Promise<CaseResult[]> {
  const nodeXml = await writeNodeXml(join(dir, mode), { domains: 20 });
  const agent = await AgentProcess.start({
    profile: mode === 'tls' ? 'embedded' : 'dev',
    wrapper: ['/usr/bin/prlimit', `--nofile=${NOFILE}:${NOFILE}`],
    args: ['--set', `libvirt.uri=${nodeXml}`, '--set', `addresses.frame_timeout=${FRAME_TIMEOUT_S}`],
  });
  await agent.whenReady();
  const pid = Number(agent.lines.find((l) => typeof l['pid'] === 'number')?.['pid']);
  const target: Target = { port: agent.port, mode, ...(mode === 'tls' ? { tls: await loadTlsFiles(devPkiPaths(agent.stateDir).client) } : {}) };
  const legit = startClient(agent.port, mode === 'tls' ? agent.stateDir : undefined);
  await untilOr(() => legit.calls.length > 20, 30_000);
  const results: CaseResult[] = [];
  try {
    for (const name of attacks) {
      const attack = ATTACKS[name];
      if (!attack) throw new Error(`unknown attack ${name}; known: ${Object.keys(ATTACKS).join(', ')}`);
      progress(`${mode}: ${name}`);
      const before = rssMb(pid);
      let peak = before;
      const sampler = setInterval(() => { peak = Math.max(peak, rssMb(pid)); }, 50);
      const t0 = Date.now();
      const mark = legit.calls.length;
      let outcome: AttackOutcome;
      try {
        outcome = await attack(target);
      } catch (err) {
        outcome = { connections: 0, note: `attack failed: ${errorMessage(err)}` };
      }
      const t1 = Date.now();
      const settled = await settle(target);  // closes, buffers freed, then the memory relief (a GC at most every 5 s)
      const t2 = Date.now();
      clearInterval(sampler);
      const during = legit.calls.slice(mark).filter((c) => c.at >= t0 && c.at <= t2);
      const lat = (m: string): number[] => during.filter((c) => c.method === m && c.ok).map((c) => c.ms);
      const alive = (() => { try { process.kill(pid, 0); return true; } catch { return false; } })();
      const failed = during.filter((c) => !c.ok).length;
      const r: CaseResult = {
        suite: 'abuse', attack: name, mode, seconds: Math.round((t1 - t0) / 100) / 10, attacker_connections: outcome.connections,
        budget_mb: BUDGET_MB, rss_before_mb: Math.round(before), peak_rss_mb: Math.round(peak), rss_after_mb: Math.round(rssMb(pid)),
        legit_calls: during.length, legit_failed: failed,
        ping2_p50_ms: Math.round(percentile(lat('Host.ping2'), 0.5) * 100) / 100, ping2_p99_ms: Math.round(percentile(lat('Host.ping2'), 0.99) * 100) / 100,
        getallvmstats_p99_ms: Math.round(percentile(lat('Host.getAllVmStats'), 0.99) * 100) / 100,
        attacker_requests: outcome.requests ?? null, attacker_answered: outcome.answered ?? null,
        lost: failed > 0 || !alive || (outcome.requests !== undefined && outcome.answered !== outcome.requests),
        agent_alive: alive, settle_s: settled === undefined ? null : Math.round(settled * 10) / 10,
        note: [outcome.note, settled === undefined ? 'did not settle within 60 s' : ''].filter(Boolean).join('; '), load1: Math.round(loadavg()[0]! * 100) / 100,
      };
      emitCase(r as unknown as Record<string, unknown>);
      results.push(r);
      if (!alive) break;
    }
  } finally {
    legit.child.send('stop');
    await new Promise((r) => legit.child.once('exit', r));
    const limits = agent.lines.filter((l) => String(l['msg']).startsWith('connection limit reached')).length;
    progress(`${mode}: ${limits} limit warn lines (rate-limited) in the agent log`);
    await agent.cleanup();
  }
  return results;
}

function report(results: CaseResult[], env: Record<string, unknown>): string {
  return [
    '# Abuse bench: issue 9 attacks against the real vdsmd', '',
    `Node ${String(env['node'])}, ${String(env['cpus'])} CPUs, load ${String(env['loadavg'])} at start; agent under a ${NOFILE}-descriptor limit, ` +
      `memory budget ${BUDGET_MB} MiB (default), frame deadline ${FRAME_TIMEOUT_S} s (default 30 s), 20 test-driver VMs.`, '',
    'A legitimate client (its own process) calls Host.ping2 and Host.getAllVmStats back to back during every attack. ' +
      '**lost**: a legitimate call failed, an attacker request that deserved an answer got none, or the agent died.', '',
    mdTable(
      ['mode', 'attack', 's', 'attacker conns', 'RSS before MB', 'peak RSS MB', 'budget MB', 'RSS after MB', 'settle s', 'legit calls', 'legit failed', 'ping2 p50 ms', 'ping2 p99 ms', 'getAllVmStats p99 ms', 'answered', 'lost', 'load1', 'note'],
      results.map((r) => [r.mode, r.attack, fmt(r.seconds, 1), r.attacker_connections, r.rss_before_mb, r.peak_rss_mb, r.budget_mb, r.rss_after_mb, r.settle_s === null ? '-' : fmt(r.settle_s, 1), r.legit_calls, r.legit_failed,
        fmt(r.ping2_p50_ms, 2), fmt(r.ping2_p99_ms, 2), fmt(r.getallvmstats_p99_ms, 1), r.attacker_requests === null ? '-' : `${r.attacker_answered}/${r.attacker_requests}`,
        r.lost ? 'YES' : 'no', fmt(r.load1, 2), r.note]),
    ), '',
    `Total legitimate calls: ${results.reduce((n, r) => n + r.legit_calls, 0)}, failed: ${results.reduce((n, r) => n + r.legit_failed, 0)}.`, '',
  ].join('\n');
}

async function orchestrate(flags: Flags): Promise<void> {
  const modes = flags.list('modes', ['plain', 'tls']) as Mode[];
  const attacks = flags.list('attacks', Object.keys(ATTACKS));
  const env = { node: process.version, cpus: cpus().length, loadavg: loadavg().map((v) => v.toFixed(2)).join(' ') };
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-abuse-'));
  const results: CaseResult[] = [];
  try {
    for (const mode of modes) results.push(...await runMode(mode, attacks, dir));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const out = flags.str('out', join(process.cwd(), 'results', 'abuse'));
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'report.md'), report(results, env));
  await writeFile(join(out, 'results.json'), `${JSON.stringify({ env, results }, null, 2)}\n`);
  progress(`report: ${join(out, 'report.md')}`);
  if (results.some((r) => r.lost)) process.exitCode = 1;
}

/** The attacks open thousands of sockets: make sure this process may. */
async function nofileOk(): Promise<boolean> {
  const m = /^Max open files\s+(\d+)/m.exec(await readFile('/proc/self/limits', 'utf8'));
  return Number(m?.[1] ?? 0) >= 16_384;
}

const flags = benchFlags({
  name: 'abuse',
  about: "Issue 9's attacks against the real vdsmd, plain and TLS, while an engine-like client calls Host.ping2 and Host.getAllVmStats throughout: peak RSS against the memory budget, the client's latencies, whether anything was lost.",
  options: {
    modes: 'plain,tls: the transports attacked (default both)',
    attacks: 'A,B: the attacks run (default all)',
    'fuzz-runs': 'N: frames of the fuzzing attack (default 400)',
    out: 'DIR: where report.md goes (default results/abuse)',
  },
  internal: ['client', 'port', 'tls-dir'],
});
if (flags.has('client')) {
  void clientMain(flags);
} else if (!(await nofileOk())) {
  const child = spawn('/usr/bin/prlimit', ['--nofile=16384:16384', process.execPath, SELF, ...process.argv.slice(2)], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 1));
} else {
  orchestrate(flags).then(() => process.exit(process.exitCode ?? 0), (err: unknown) => {
    process.stderr.write(`abuse bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
