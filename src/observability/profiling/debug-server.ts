// vdsm's memory profiling endpoint ([devel] memory_profile_enable, memory_profile_port), loopback only:
// vdsm served a dowser web UI on every address; this serves pprof-style profiles of every thread, so
// `go tool pprof http://127.0.0.1:9090/debug/pprof/heap` works, and heap snapshots for DevTools.
//   GET /debug/pprof/heap?seconds=N     sampling heap profile of every thread for N s (pprof, gzip)
//   GET /debug/pprof/profile?seconds=N  CPU profile of every thread for N s (pprof, gzip)
//   GET /debug/heap/snapshot?thread=T   heap snapshot of the main thread or '<executor>/<id>'
//   GET /debug/status                   profiler state (JSON)
// With VDSM_TEST_HOOKS=1 in the environment (tests only): POST /debug/test/spin?ms=N busy-loops the
// main thread to show what a wedged agent does (the systemd watchdog test), and
// POST /debug/test/dispatch?executor=E&op=test.busy&ms=N runs a test operation on an executor worker.
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../../runtime/clock.js';
import type { ThreadProfiler } from './thread-profiler.js';
import { errorMessage } from '../../errors.js';

/** Longest profile one request may ask for. */
export const MAX_PROFILE_SECONDS = 300;

export interface DebugServerOptions {
  port: number;
  profiler: ThreadProfiler;
  log: Logger;
  clock: Clock;
  /** Serve POST /debug/test/* (VDSM_TEST_HOOKS=1). */
  testHooks?: boolean;
  /** Runs an executor operation (for /debug/test/dispatch). */
  dispatch?: (executor: string, op: string, args: unknown) => Promise<unknown>;
}

const INDEX = `vdsm-node profiling endpoint (loopback only)

GET /debug/pprof/profile?seconds=30   CPU profile of every thread (pprof; go tool pprof URL)
GET /debug/pprof/heap?seconds=30      sampling heap profile of every thread (pprof)
GET /debug/heap/snapshot?thread=main  heap snapshot (.heapsnapshot, Chrome DevTools); thread=<executor>/<id> for a worker
GET /debug/status                     what runs now
`;

export class DebugServer {
  #o: DebugServerOptions;
  #server: http.Server;

  constructor(opts: DebugServerOptions) {
    this.#o = opts;
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`${errorMessage(err)}\n`);
      });
    });
    this.#server.requestTimeout = (MAX_PROFILE_SECONDS + 60) * 1000;
  }

  /** Listen on 127.0.0.1 only. */
  start(): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        const a = this.#server.address() as AddressInfo;
        resolve({ address: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const text = (code: number, body: string): void => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(body);
    };
    // Bound to loopback already; refuse anything else anyway (a port forwarded by mistake).
    const peer = req.socket.remoteAddress ?? '';
    if (!['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(peer)) return text(403, 'loopback only\n');
    const seconds = (): number => {
      const s = Number(url.searchParams.get('seconds') ?? '30');
      if (!Number.isFinite(s) || s <= 0 || s > MAX_PROFILE_SECONDS) throw Object.assign(new Error(`seconds must be in (0, ${MAX_PROFILE_SECONDS}]`), { status: 400 });
      return s;
    };
    try {
      if (req.method === 'POST' && url.pathname === '/debug/test/spin' && this.#o.testHooks === true) return this.#spin(url, res);
      if (req.method === 'POST' && url.pathname === '/debug/test/dispatch' && this.#o.testHooks === true && this.#o.dispatch !== undefined) {
        const op = url.searchParams.get('op') ?? '';
        if (!op.startsWith('test.')) return text(400, 'test operations only\n');
        const value = await this.#o.dispatch(url.searchParams.get('executor') ?? 'periodic', op, { ms: Number(url.searchParams.get('ms') ?? '0') });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ value }));
        return;
      }
      if (req.method !== 'GET') return text(405, 'GET only\n');
      switch (url.pathname) {
        case '/':
          return text(200, INDEX);
        case '/debug/status':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(this.#o.profiler.state()));
          return;
        case '/debug/pprof/profile':
        case '/debug/pprof/heap':
          return await this.#profile(url.pathname.endsWith('heap') ? 'heap' : 'cpu', seconds(), res);
        case '/debug/heap/snapshot':
          return await this.#snapshot(url.searchParams.get('thread') ?? 'main', res);
        default:
          return text(404, INDEX);
      }
    } catch (err) {
      const status = (err as { status?: number }).status ?? (this.#o.profiler.running ? 409 : 500);
      return text(status, `${errorMessage(err)}\n`);
    }
  }

  async #profile(kind: 'cpu' | 'heap', seconds: number, res: http.ServerResponse): Promise<void> {
    if (this.#o.profiler.running) throw Object.assign(new Error('a profile is already running (vdsm-tool profile stop ends it)'), { status: 409 });
    const dir = await mkdtemp(join(tmpdir(), 'vdsm-profile-'));
    try {
      await this.#o.profiler.start({ heap: kind === 'heap' });
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const base = join(dir, 'profile');
      const result = await this.#o.profiler.stop({ base, pprof: `${base}.pb.gz` });
      const body = await readFile(kind === 'cpu' ? `${base}.pb.gz` : `${base}.heap.pb.gz`);
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-disposition': `attachment; filename="vdsmd-${kind}.pb.gz"`,
        'x-vdsm-threads': result.threads.join(','),
      });
      res.end(body);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async #snapshot(thread: string, res: http.ServerResponse): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'vdsm-heap-'));
    try {
      const file = await this.#o.profiler.heapSnapshot(join(dir, 'snapshot'), thread);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': (await stat(file)).size,
        'content-disposition': `attachment; filename="vdsmd-${thread.replace(/[^A-Za-z0-9_-]/g, '-')}.heapsnapshot"`,
      });
      await new Promise<void>((resolve, reject) => {
        createReadStream(file).on('error', reject).pipe(res).on('finish', resolve).on('error', reject);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Test hook: a busy loop on the main thread; answers with when it started and ended (monotonic ms). */
  #spin(url: URL, res: http.ServerResponse): void {
    const ms = Math.min(60_000, Math.max(0, Number(url.searchParams.get('ms') ?? '0')));
    this.#o.log.warn({ ms }, 'test hook: busy-looping the main thread');
    const started = this.#o.clock.now();
    let n = 0;
    while (this.#o.clock.now() - started < ms) n++;
    const ended = this.#o.clock.now();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ started, ended, iterations: n }));
  }
}
