// First request on a fresh plain connection (issue 11): the time from SEND to the response, for clients
// that leave Nagle's algorithm on (like the engine's NIO client, stompit and stomp.py) and for one that
// does not (the physical floor on this machine), against the real RPC server with TCP_QUICKACK after every
// read (vdsm-node's default) and without it (the server before issue 11). TCP_NODELAY is on in both: it
// governs only the server's writes. One JSON line per case on stdout, a Markdown report in
// results/first-request/report.md. Usage: node dist/bench/first-request.js [--connections=N]
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { apiMethods } from '../src/api/host-basic.js';
import { MethodTable } from '../src/api/method-table.js';
import { createRootLogger, LogManager } from '../src/observability/logging.js';
import { createRpcServer } from '../src/rpc/rpc-server.js';
import { StompRpcClient } from '../src/rpc/stomp-client.js';
import { emitCase, outDir, progress, step } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { fmt, mdTable } from './lib/markdown.js';

const flags = benchFlags({ name: 'first-request', options: { connections: 'N: fresh connections per case (default 40; --quick 10)' } });
const CONNECTIONS = flags.num('connections', flags.has('quick') ? 10 : 40);
const BODY = JSON.stringify({ jsonrpc: '2.0', method: 'Host.ping2', params: {}, id: 'first' });
const SEND = `SEND\ndestination:jms.topic.vdsm_requests\nreply-to:r\ncontent-length:${Buffer.byteLength(BODY)}\n\n${BODY}\0`;

type ClientKind = 'engine-like (Nagle, SUBSCRIBE then SEND)' | 'stompit (npm)' | 'NODELAY client (floor)';

/** The engine's order: SUBSCRIBE (never answered), then the request, each its own write; Nagle on unless noDelay. */
function rawFirstRequest(port: number, noDelay: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    let t0 = 0;
    s.on('error', reject);
    s.on('connect', () => {
      s.setNoDelay(noDelay);
      s.write('CONNECT\naccept-version:1.2\nhost:bench\n\n\0');
    });
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (t0 === 0 && buf.includes('CONNECTED')) {
        buf = '';
        s.write('SUBSCRIBE\ndestination:r\nid:1\nack:auto\n\n\0');
        t0 = performance.now();
        s.write(SEND);
      } else if (t0 !== 0 && buf.includes('"result"')) {
        const ms = performance.now() - t0;
        s.destroy();
        resolve(ms);
      }
    });
  });
}

const require = createRequire(import.meta.url);
// stompit is a devDependency: a checkout has it, an installed vdsm-bench does not (that row is left out).
const stompit = ((): { connect(o: Record<string, unknown>, cb: (e: Error | null, c: StompitClient) => void): void } | undefined => {
  try {
    return require('stompit') as { connect(o: Record<string, unknown>, cb: (e: Error | null, c: StompitClient) => void): void };
  } catch {
    return undefined;
  }
})();
interface StompitClient {
  subscribe(h: Record<string, string>, cb: (e: Error | null, m: { readString(enc: string, cb: () => void): void }) => void): void;
  send(h: Record<string, string>): { write(s: string): void; end(): void };
  destroy(): void;
}

function stompitFirstRequest(port: number): Promise<number> {
  return new Promise((resolve, reject) => stompit!.connect({ host: '127.0.0.1', port, connectHeaders: { host: 'bench', 'heart-beat': '0,0' } }, (err, client) => {
    if (err) return reject(err);
    let t0 = 0;
    client.subscribe({ destination: 'r', ack: 'auto' }, (e, msg) => {
      if (e) return reject(e);
      msg.readString('utf-8', () => {
        const ms = performance.now() - t0;
        client.destroy();
        resolve(ms);
      });
    });
    t0 = performance.now();
    const f = client.send({ destination: 'jms.topic.vdsm_requests', 'reply-to': 'r', 'content-length': String(Buffer.byteLength(BODY)) });
    f.write(BODY);
    f.end();
  }));
}

interface Result {
  suite: 'first-request';
  case: string;
  server: 'quickack' | 'no-quickack';
  client: ClientKind;
  connections: number;
  p50_ms: number;
  p95_ms: number;
  max_ms: number;
  over_30ms: number;
  load1: number;
}

async function main(): Promise<void> {
  const logs = new LogManager(createRootLogger({ level: 'silent', destination: { write: () => {} } }));
  const results: Result[] = [];
  for (const server of ['quickack', 'no-quickack'] as const) {
    const rpc = createRpcServer({
      host: '127.0.0.1', port: 0, methods: new MethodTable(apiMethods({ logManager: logs })), logManager: logs,
      ...(server === 'no-quickack' ? { quickAck: false as const } : {}),
    });
    const { port } = await rpc.start();
    const kinds: [ClientKind, () => Promise<number>][] = [
      ['engine-like (Nagle, SUBSCRIBE then SEND)', () => rawFirstRequest(port, false)],
      ...(stompit ? [['stompit (npm)', () => stompitFirstRequest(port)] as [ClientKind, () => Promise<number>]] : []),
      ['NODELAY client (floor)', () => rawFirstRequest(port, true)],
    ];
    for (const [client, run] of kinds) {
      step(results.length, 2 * kinds.length, `${server} ${client}`);
      const xs: number[] = [];
      for (let i = 0; i < CONNECTIONS; i++) xs.push(await run());
      xs.sort((a, b) => a - b);
      const r: Result = {
        suite: 'first-request', case: `${server}/${client.split(' ')[0]}`, server, client, connections: CONNECTIONS,
        p50_ms: Number(xs[Math.floor(xs.length / 2)]!.toFixed(3)), p95_ms: Number(xs[Math.floor(xs.length * 0.95)]!.toFixed(3)),
        max_ms: Number(xs[xs.length - 1]!.toFixed(3)), over_30ms: xs.filter((x) => x > 30).length, load1: Number(loadavg()[0]!.toFixed(2)),
      };
      emitCase({ ...r });
      progress(`${server} ${client}: p50 ${r.p50_ms} ms, ${r.over_30ms}/${CONNECTIONS} over 30 ms`);
      results.push(r);
    }
    // a fresh StompRpcClient (vdsm-node's own, NODELAY) as a sanity check that nothing else waits
    const c = new StompRpcClient({ host: '127.0.0.1', port });
    await c.connect();
    await c.call('Host.ping2');
    c.close();
    await rpc.close();
  }
  const floor = (server: string): number => results.find((r) => r.server === server && r.client.startsWith('NODELAY'))!.p50_ms;
  step(results.length, results.length, 'report');
  const dir = outDir(flags, 'first-request');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'report.md'), [
    '# First request on a fresh plain connection',
    '',
    `Generated by bench/first-request.ts on ${new Date().toISOString()}, Node ${process.version}, ${cpus().length} CPU(s); ${CONNECTIONS} fresh connections per row; load1 per row (shared machine).`,
    'Time from the request write to the response, after CONNECT/CONNECTED and a SUBSCRIBE the server does not answer (the engine subscribes first).',
    '',
    mdTable(['server', 'client', 'p50 ms', 'p95 ms', 'max ms', '> 30 ms', 'p50 / floor', 'load1'],
      results.map((r) => [r.server, r.client, fmt(r.p50_ms, 2), fmt(r.p95_ms, 2), fmt(r.max_ms, 2), `${r.over_30ms}/${r.connections}`, fmt(r.p50_ms / floor(r.server), 1), fmt(r.load1, 2)])),
    '',
    'Without TCP_QUICKACK a Nagle client\'s request waits behind the delayed ACK (Linux: 40 ms minimum) of the unanswered SUBSCRIBE;',
    'with it, the server acknowledges every read at once and the first request costs what the NODELAY floor costs.',
    '',
  ].join('\n'));
  progress(`wrote ${path.join(dir, 'report.md')}`);
}

main().catch((err: unknown) => {
  progress(`bench first-request: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
