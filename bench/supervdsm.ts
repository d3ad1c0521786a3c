// supervdsm RPC benchmark: round trips of `ping` and of a hardware-info sized call at concurrency 1 and
// 16 on one connection (vdsmd holds one), through
//   production  the real server and vdsmd's real client (msgpackr frames, deadlines, SO_PEERCRED, ...)
//   msgpack     bare loops on both ends with the same msgpackr frames
//   jsonl       the same bare loops over JSON lines: the alternative the msgpackr choice is measured against
//   echo        length-prefixed frames echoed undecoded: the unix socket's floor
// plus the real getHardwareInfo (it runs dmidecode) on the production path. The server runs in its own
// process (bench/supervdsm-server.ts). One JSON line per case on stdout, progress on stderr, a Markdown
// report in results/supervdsm/. Each case runs --repeats times (default 3), in rounds over the transports;
// the median-req/s run is kept.
// Usage: node dist/bench/supervdsm.js [--quick] [--repeats=N] [--out=DIR]   (--quick: a twentieth of the calls, one round)
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { SupervdsmClient } from '../src/supervdsm/client.js';
import { FrameDecoder, encodeFrame } from '../src/supervdsm/frame-decoder.js';
import { MessageCodec, type ServerMessage } from '../src/supervdsm/protocol.js';
import { mdTable, fmt } from './lib/markdown.js';
import { emitCase, outDir, progress, step } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { summarize } from './lib/stats.js';

type Transport = 'production' | 'msgpack' | 'jsonl' | 'echo';
type Call = (method: string) => Promise<unknown>;

interface CaseResult {
  suite: 'supervdsm';
  case: string;
  transport: Transport;
  method: string;
  concurrency: number;
  requests: number;
  req_per_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  repeats: number;
  req_per_s_runs: number[];
  load1: number;
}

const flags = benchFlags({
  name: 'supervdsm',
  options: { repeats: 'N: rounds over the transports, the median-req/s run kept (default 3; --quick 1)' },
});
const quick = flags.has('quick');
const repeats = Math.max(1, flags.num('repeats', quick ? 1 : 3));

/** A bare client for the msgpack, jsonl and echo servers: ids, one connection, many calls in flight. */
class BareClient {
  #socket: Socket;
  #pending = new Map<number, (m: unknown) => void>();
  #next = 1;
  #codec = new MessageCodec();
  #mode: Exclude<Transport, 'production'>;

  private constructor(socket: Socket, mode: Exclude<Transport, 'production'>) {
    this.#socket = socket;
    this.#mode = mode;
    if (mode === 'jsonl') {
      let buf = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const m = JSON.parse(buf.slice(0, nl)) as ServerMessage & { id: number };
          buf = buf.slice(nl + 1);
          this.#settle(m.id, m);
        }
      });
    } else {
      const decoder = new FrameDecoder({
        // echo: the id is the frame's first 4 bytes (the rest is the payload, never decoded).
        frame: (b) => (mode === 'echo' ? this.#settle(b.readUInt32BE(0), b) : this.#settle((this.#codec.decode(b) as { id: number }).id, b)),
        error: (_k, m) => { throw new Error(m); },
      });
      socket.on('data', (c: Buffer) => decoder.push(c));
    }
  }

  static async connect(p: string, mode: Exclude<Transport, 'production'>): Promise<BareClient> {
    const s = createConnection(p);
    await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
    return new BareClient(s, mode);
  }

  #settle(id: number, m: unknown): void {
    const r = this.#pending.get(id);
    this.#pending.delete(id);
    r?.(m);
  }

  /** One round trip; for echo, `payload` bytes stand in for an encoded call of that size. */
  call(method: string, payload: number): Promise<unknown> {
    const id = this.#next++;
    const msg = { type: 'call' as const, id, method, args: {}, timeoutMs: 30_000 };
    let out: Buffer | string;
    if (this.#mode === 'jsonl') out = `${JSON.stringify(msg)}\n`;
    else if (this.#mode === 'msgpack') out = this.#codec.encode(msg);
    else {
      const body = Buffer.alloc(Math.max(4, payload));
      body.writeUInt32BE(id, 0);
      out = encodeFrame(body);
    }
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#socket.write(out);
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}

async function measure(call: Call, method: string, concurrency: number, total: number): Promise<{ lat: number[]; errors: number; seconds: number }> {
  const lat: number[] = [];
  let issued = 0;
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (issued < total) {
      issued++;
      const s = performance.now();
      try {
        await call(method);
      } catch {
        errors++;
      }
      lat.push(performance.now() - s);
    }
  }));
  return { lat, errors, seconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const child = spawn(process.execPath, [path.join(here, 'supervdsm-server.js')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const { sockets } = await new Promise<{ sockets: Record<Transport, string> }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl !== -1) resolve(JSON.parse(out.slice(0, nl)) as { sockets: Record<Transport, string> });
    });
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const production = new SupervdsmClient({ path: sockets.production, log: pino({ level: 'silent' }), defaultTimeoutMs: 30_000, maxInFlight: 64 });
  production.start();
  await production.whenConnected(10_000);
  const bare = {
    msgpack: await BareClient.connect(sockets.msgpack, 'msgpack'),
    jsonl: await BareClient.connect(sockets.jsonl, 'jsonl'),
    echo: await BareClient.connect(sockets.echo, 'echo'),
  };
  // Bytes of a ping call and of a hardware-info answer, for the echo floor.
  const sizes: Record<string, number> = { ping: new MessageCodec().encode({ type: 'call', id: 1, method: 'ping', args: {}, timeoutMs: 30_000 }).length - 4, hwinfoSample: 230 };
  const callOf = (t: Transport): Call => (t === 'production' ? (m) => production.call(m) : (m) => bare[t].call(m, sizes[m] ?? 64));

  // --quick keeps the whole suite to a few seconds (vdsm-bench --quick runs every suite in one budget).
  const k = quick ? 0.05 : 1;
  const plan: [string, number, number, Transport[]][] = [
    // method, concurrency, requests, transports
    ['ping', 1, 20_000, ['production', 'msgpack', 'jsonl', 'echo']],
    ['ping', 16, 60_000, ['production', 'msgpack', 'jsonl', 'echo']],
    ['hwinfoSample', 1, 20_000, ['production', 'msgpack', 'jsonl', 'echo']],
    ['hwinfoSample', 16, 60_000, ['production', 'msgpack', 'jsonl', 'echo']],
    ['getHardwareInfo', 1, 200, ['production']],
    ['getHardwareInfo', 16, 400, ['production']],
  ];
  const results: CaseResult[] = [];
  for (const [index, [method, concurrency, n, transports]] of plan.entries()) {
    const requests = Math.max(20, Math.round(n * k));
    step(index, plan.length, `${method} c=${concurrency}: ${repeats} round(s) x ${transports.length} transport(s) x ${requests} calls`);
    // Rounds over the transports (not all repeats of one, then the next): a shared machine's load moves,
    // and each round puts every transport under about the same load.
    const runs = new Map<Transport, CaseResult[]>(transports.map((t) => [t, []]));
    for (let i = 0; i < repeats; i++) {
      for (const transport of transports) {
        await measure(callOf(transport), method, concurrency, Math.round(requests / 10)); // warm-up
        const m = await measure(callOf(transport), method, concurrency, requests);
        const s = summarize(m.lat);
        runs.get(transport)!.push({
          suite: 'supervdsm', case: `${method}-c${concurrency}-${transport}`, transport, method, concurrency, requests,
          req_per_s: Math.round(requests / m.seconds), p50_ms: Math.round(s.p50 * 1000) / 1000, p99_ms: Math.round(s.p99 * 1000) / 1000,
          errors: m.errors, repeats: 1, req_per_s_runs: [], load1: Math.round(loadavg()[0]! * 100) / 100,
        });
      }
    }
    for (const transport of transports) {
      const all = runs.get(transport)!;
      const sorted = [...all].sort((a, b) => a.req_per_s - b.req_per_s);
      const r = { ...sorted[Math.floor((sorted.length - 1) / 2)]!, repeats, req_per_s_runs: all.map((x) => x.req_per_s) };
      emitCase(r as unknown as Record<string, unknown>);
      results.push(r);
    }
  }
  await production.close();
  for (const c of Object.values(bare)) c.close();
  child.stdin.end();
  await new Promise((r) => child.once('exit', r));
  step(plan.length, plan.length, 'done');
  await report(results);
}

async function report(results: CaseResult[]): Promise<void> {
  const dir = path.resolve(outDir(flags, 'supervdsm'));
  await mkdir(dir, { recursive: true });
  const get = (method: string, c: number, t: Transport): CaseResult | undefined => results.find((r) => r.method === method && r.concurrency === c && r.transport === t);
  const ratio = (a?: CaseResult, b?: CaseResult): string => (a && b ? (a.req_per_s / b.req_per_s).toFixed(2) : '-');
  const ratioRows: (string | number)[][] = [];
  for (const method of ['ping', 'hwinfoSample']) {
    for (const c of [1, 16]) {
      const p = get(method, c, 'production');
      const m = get(method, c, 'msgpack');
      const j = get(method, c, 'jsonl');
      const e = get(method, c, 'echo');
      ratioRows.push([method, c, ratio(m, j), ratio(p, m), ratio(p, e), ratio(m, e)]);
    }
  }
  const lines = [
    '# supervdsm RPC benchmark',
    '',
    `Generated by \`vdsm-bench supervdsm\` / \`npm run bench:supervdsm\` (bench/supervdsm.ts) on ${new Date().toISOString()}, Node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? 'unknown'}).`,
    'Server in its own process (bench/supervdsm-server.ts), client here; one unix-socket connection per transport, `c` calls in flight on it.',
    '`hwinfoSample` answers a hardware-info object of a real server (6 strings, ~230 bytes) without running dmidecode; `getHardwareInfo` is the real function (a dmidecode child per call; on a host without DMI tables every call is the ERR_SVDSM_NO_DMI answer).',
    `Each case ran ${repeats} times, in rounds over the transports (so each round puts them under about the same load); the run with the median req/s is shown. The machine is shared: load1 when that run ended is listed.`,
    '',
    mdTable(['case', 'transport', 'c', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'requests', 'load1', 'req/s of every run'],
      results.map((r) => [r.method, r.transport, r.concurrency, r.req_per_s, fmt(r.p50_ms, 3), fmt(r.p99_ms, 3), r.errors, r.requests, r.load1, r.req_per_s_runs.join(', ')])),
    '',
    '## Ratios (req/s)',
    '',
    'msgpack / jsonl: the codec choice (same bare loops). production / msgpack: what the real server and client add (deadlines, checks, bookkeeping). x / echo: against the socket floor.',
    '',
    mdTable(['call', 'c', 'msgpack / jsonl', 'production / msgpack', 'production / echo', 'msgpack / echo'], ratioRows),
    '',
  ];
  await writeFile(path.join(dir, 'report.md'), lines.join('\n'));
  progress(`wrote ${path.join(dir, 'report.md')}`);
}

main().catch((err: unknown) => {
  progress(`bench supervdsm: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
