// The Hawkular reporter against a loopback receiver that implements Hawkular Metrics' documented REST
// contract (POST /hawkular/metrics/gauges/raw, Hawkular-Tenant header, JSON array of {id, data:
// [{timestamp, value}]}; 400 with errorMsg on a missing tenant or a bad payload). No Hawkular server
// can be installed here (none on npm or in Debian; upstream retired in 2019), so this receiver is a
// stand-in written from the API documentation, as strict as the server.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Figure } from '../../src/observability/metrics/convention.js';
import { HawkularReporter, hawkularBase } from '../../src/observability/metrics/hawkular-reporter.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { captureLog } from '../runtime/capture-log.js';
import { ManualTime } from '../support/manual-time.js';

interface Point { timestamp: number; value: number }
interface Logged { method: string; url: string; tenant: string | undefined; contentType: string | undefined; status: number; body: unknown }

/** Hawkular Metrics' write/read contract for gauges, strict. */
class Receiver {
  readonly requests: Logged[] = [];
  readonly store = new Map<string, Point[]>();
  /** Answer writes with this status instead (500, 503) while set. */
  failWith = 0;
  #server = http.createServer((req, res) => this.#handle(req, res));
  #waiters: (() => void)[] = [];
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((r) => this.#server.close(() => r()));
  }

  /** Resolves once `pred` holds for the request log. */
  async until(pred: (log: Logged[]) => boolean): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!pred(this.requests)) {
      if (Date.now() > deadline) throw new Error(`receiver never saw the expected requests: ${JSON.stringify(this.requests.map((r) => [r.method, r.url, r.status]))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        this.#waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let raw = '';
    req.setEncoding('utf8').on('data', (c: string) => { raw += c; }).on('end', () => {
      const tenant = req.headers['hawkular-tenant'] as string | undefined;
      const reply = (status: number, body?: unknown): void => {
        let parsed: unknown = raw;
        try { parsed = raw === '' ? undefined : JSON.parse(raw); } catch { /* logged raw */ }
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', tenant, contentType: req.headers['content-type'], status, body: parsed });
        res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
        res.end(body === undefined ? undefined : JSON.stringify(body));
        for (const w of this.#waiters.splice(0)) w();
      };
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/hawkular/metrics/status') return reply(200, { MetricsService: 'STARTED', 'Implementation-Version': 'receiver' });
      if (tenant === undefined || tenant.trim() === '') return reply(400, { errorMsg: "Tenant is not specified. Use 'Hawkular-Tenant' header." });
      if (req.method === 'POST' && url.pathname === '/hawkular/metrics/gauges/raw') {
        if (!/^application\/json/.test(req.headers['content-type'] ?? '')) return reply(415, { errorMsg: 'Content-Type must be application/json' });
        let body: unknown;
        try { body = JSON.parse(raw); } catch { return reply(400, { errorMsg: 'Payload is not JSON' }); }
        const problem = Receiver.validate(body);
        if (problem !== undefined) return reply(400, { errorMsg: problem });
        if (this.failWith !== 0) return reply(this.failWith, { errorMsg: 'storage backend not ready' });
        for (const m of body as { id: string; data: Point[] }[]) this.store.set(`${tenant}/${m.id}`, [...(this.store.get(`${tenant}/${m.id}`) ?? []), ...m.data]);
        return reply(200);
      }
      const read = /^\/hawkular\/metrics\/gauges\/([^/]+)\/raw$/.exec(url.pathname);
      if (req.method === 'GET' && read) {
        const points = [...(this.store.get(`${tenant}/${decodeURIComponent(read[1]!)}`) ?? [])].sort((a, b) => b.timestamp - a.timestamp);
        return points.length === 0 ? reply(204) : reply(200, points);
      }
      return reply(404, { errorMsg: 'not found' });
    });
  }

  /** The server's payload rules: array of {id: non-empty string, data: [{timestamp: integer ms, value: finite number, tags?}]}. */
  static validate(body: unknown): string | undefined {
    if (!Array.isArray(body) || body.length === 0) return 'Payload is empty';
    for (const m of body as Record<string, unknown>[]) {
      if (typeof m['id'] !== 'string' || m['id'] === '') return 'Metric id is required';
      if (!Array.isArray(m['data']) || m['data'].length === 0) return `Metric ${m['id']} has no data points`;
      for (const p of m['data'] as Record<string, unknown>[]) {
        if (!Number.isInteger(p['timestamp'])) return `Metric ${m['id']}: timestamp must be an integer (ms)`;
        if (typeof p['value'] !== 'number' || !Number.isFinite(p['value'])) return `Metric ${m['id']}: value must be a number`;
        if (p['tags'] !== undefined && (typeof p['tags'] !== 'object' || Object.values(p['tags'] as object).some((v) => typeof v !== 'string'))) return 'tags must map strings to strings';
      }
    }
    return undefined;
  }
}

/** Resolves once cond() holds (a real event: a response read by the reporter); fails after 10 s. */
async function eventually(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached within 10 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const fig = (path: string, value: number): Figure => ({ name: `vdsm_t_${path.replace(/\./g, '_')}`, kind: 'gauge', help: 'x', value, path });

void describe('Hawkular reporter', () => {
  const receiver = new Receiver();
  before(() => receiver.start());
  after(() => receiver.close());

  void it('the collector address takes vdsm\'s bare host (port 8080) or host:port or a URL', () => {
    assert.equal(hawkularBase('metrics.example').href, 'http://metrics.example:8080/');
    assert.equal(hawkularBase('127.0.0.1:18080').href, 'http://127.0.0.1:18080/');
    assert.equal(hawkularBase('[::1]:18080').href, 'http://[::1]:18080/');
    assert.equal(hawkularBase('https://h.example:8443/anything').href, 'https://h.example:8443/');
  });

  void it('vdsmd with collector_type = hawkular posts gauges with the oVirt tenant in the documented format', async () => {
    const agent = await AgentProcess.start({
      args: ['--set', 'metrics.enabled=true', '--set', 'metrics.collector_type=hawkular', '--set', `metrics.collector_address=127.0.0.1:${receiver.port}`,
        '--set', 'vars.host_sample_stats_interval=1', '--set', 'health.check_interval=1'],
    });
    try {
      await receiver.until((log) => log.some((r) => r.status === 200 && JSON.stringify(r.body).includes('hosts.vdsm.cpu.user_pct')));
      const writes = receiver.requests.filter((r) => r.method === 'POST');
      assert.ok(writes.every((r) => r.url === '/hawkular/metrics/gauges/raw' && r.tenant === 'oVirt' && r.contentType === 'application/json'));
      assert.ok(writes.every((r) => r.status === 200), JSON.stringify(writes.filter((r) => r.status !== 200)));
      const rss = await new Promise<Point[]>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: receiver.port, path: '/hawkular/metrics/gauges/hosts.vdsm.memory.rss/raw', headers: { 'Hawkular-Tenant': 'oVirt' } }, (res) => {
          let b = '';
          res.setEncoding('utf8').on('data', (c: string) => { b += c; }).on('end', () => resolve(JSON.parse(b) as Point[]));
        }).on('error', reject);
      });
      assert.ok(rss[0]!.value > 1000, 'RSS in KiB read back');
      assert.ok(Math.abs(rss[0]!.timestamp - Date.now()) < 60_000, 'timestamps are ms since the epoch');
    } finally {
      await agent.stop();
      await agent.cleanup();
    }
  });

  void it('while the server fails, reports stay queued up to queue_size (oldest dropped and counted), then go out batched, oldest first', async () => {
    const time = new ManualTime();
    let wall = 1_700_000_000_000;
    const { log, lines } = captureLog();
    const reporter = new HawkularReporter({ address: `127.0.0.1:${receiver.port}`, queueSize: 3, log, timers: time, now: () => wall, tenant: 'test-queue' });
    receiver.failWith = 503;
    const before = receiver.requests.length;
    try {
      reporter.report([fig('q.a', 1)]);
      await receiver.until((l) => l.length > before);
      await eventually(() => reporter.state()['failed_requests'] === 1);
      for (const v of [2, 3, 4, 5]) {
        wall += 1000;
        reporter.report([fig('q.a', v), fig('q.b', v * 10)]);
      }
      const s = reporter.state();
      assert.equal(s['queued'], 3);
      assert.equal(s['dropped_reports'], 2);
      assert.equal(s['failed_requests'], 1);
      assert.equal(lines.filter((l) => l.msg.startsWith('Hawkular report failed')).length, 1);
      receiver.failWith = 0;
      time.advance(1000);
      await reporter.drained();
      assert.deepEqual(receiver.store.get('test-queue/q.a')!.map((p) => p.value), [3, 4, 5]);
      assert.deepEqual(receiver.store.get('test-queue/q.b')!.map((p) => [p.timestamp, p.value]), [[wall - 2000, 30], [wall - 1000, 40], [wall, 50]]);
      const last = receiver.requests[receiver.requests.length - 1]!;
      assert.equal((last.body as unknown[]).length, 2, 'one request, one entry per id, several data points');
      assert.equal(reporter.state()['sent_reports'], 3);
    } finally {
      receiver.failWith = 0;
      await reporter.close();
    }
  });

  void it('a refused connection is a failure like any other: kept, retried with backoff', async () => {
    const time = new ManualTime();
    const reporter = new HawkularReporter({ address: '127.0.0.1:1', queueSize: 10, log: captureLog().log, timers: time });
    try {
      reporter.report([fig('r.a', 1)]);
      await eventually(() => reporter.state()['failed_requests'] === 1);
      assert.equal(reporter.state()['queued'], 1);
      assert.match(String(reporter.state()['last_error']), /ECONNREFUSED/);
      assert.equal(time.pendingTimers, 1, 'a retry is armed');
    } finally {
      await reporter.close();
    }
  });
});
