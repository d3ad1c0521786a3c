// The Hawkular reporter ([metrics] collector_type = hawkular), over Hawkular Metrics' REST API:
// POST <base>/hawkular/metrics/gauges/raw with header Hawkular-Tenant and a JSON array of
// {id, data: [{timestamp (ms), value}]}. Each report (every figure with a path) joins a bounded queue
// of [metrics] queue_size reports; when it is full the oldest report is dropped and counted. One
// request at a time drains up to BATCH_REPORTS reports; a failed request keeps them queued and the
// sender backs off (vdsm's reporter thread died on the first failure instead).
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import type { Timers } from '../../runtime/clock.js';
import { hostPort, parseCollectorAddress } from './collector-address.js';
import type { Figure } from './convention.js';
import type { MetricsSink } from './report-loop.js';
import { errorMessage } from '../../errors.js';

export const HAWKULAR_DEFAULT_PORT = 8080;
export const HAWKULAR_TENANT = 'oVirt';
/** Reports merged into one request (each id then carries several data points). */
export const BATCH_REPORTS = 10;
const REQUEST_TIMEOUT_MS = 10_000;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 60_000;

export interface HawkularPoint { timestamp: number; value: number }
export interface HawkularGauge { id: string; data: HawkularPoint[] }

interface QueuedReport {
  at: number;
  points: { id: string; value: number }[];
}

/** `host`, `host:port` or `http(s)://host:port` -> the base URL (no path; /hawkular/metrics is appended). */
export function hawkularBase(address: string): URL {
  const a = address.trim();
  if (/^https?:\/\//i.test(a)) {
    const url = new URL(a);
    url.pathname = '/';
    return url;
  }
  const { host, port } = parseCollectorAddress(a, HAWKULAR_DEFAULT_PORT);
  return new URL(`http://${hostPort(host, port)}/`);
}

/** The request body for some reports: one entry per id, data points oldest first. */
export function hawkularBody(reports: readonly QueuedReport[]): HawkularGauge[] {
  const byId = new Map<string, HawkularPoint[]>();
  for (const r of reports) {
    for (const p of r.points) {
      const list = byId.get(p.id);
      const point = { timestamp: r.at, value: p.value };
      if (list) list.push(point);
      else byId.set(p.id, [point]);
    }
  }
  return [...byId].map(([id, data]) => ({ id, data }));
}

export interface HawkularReporterOptions {
  address: string;
  queueSize: number;
  log: Logger;
  timers: Timers;
  /** Wall clock for data point timestamps (ms since the epoch). */
  now?: () => number;
  tenant?: string;
}

export class HawkularReporter implements MetricsSink {
  readonly type = 'hawkular';
  readonly target: string;
  #o: HawkularReporterOptions;
  #url: URL;
  #queue: QueuedReport[] = [];
  #sending = false;
  #closed = false;
  #retry: unknown = undefined;
  #backoffMs = BACKOFF_MIN_MS;
  #stats = { reports: 0, requests: 0, sent_reports: 0, failed_requests: 0, dropped_reports: 0, last_error: null as string | null };
  #idle: (() => void)[] = [];

  constructor(opts: HawkularReporterOptions) {
    this.#o = opts;
    this.#url = new URL('hawkular/metrics/gauges/raw', hawkularBase(opts.address));
    this.target = this.#url.href;
  }

  report(figures: readonly Figure[]): void {
    if (this.#closed) return;
    const points: QueuedReport['points'] = [];
    for (const f of figures) {
      if (f.path === undefined) continue;
      const value = f.value * (f.pathScale ?? 1);
      if (Number.isFinite(value)) points.push({ id: f.path, value });
    }
    if (points.length === 0) return;
    this.#stats.reports++;
    this.#queue.push({ at: Math.round((this.#o.now ?? Date.now)()), points });
    while (this.#queue.length > this.#o.queueSize) {
      this.#queue.shift();
      this.#stats.dropped_reports++;
    }
    if (this.#retry === undefined) this.#pump();
  }

  /** Resolves when nothing is queued or being sent (tests, and stop). */
  drained(): Promise<void> {
    if (!this.#sending && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  state(): Record<string, unknown> {
    return { type: this.type, target: this.target, queued: this.#queue.length, queue_size: this.#o.queueSize, ...this.#stats };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry !== undefined) this.#o.timers.clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#queue = [];
    for (const w of this.#idle.splice(0)) w();
  }

  #pump(): void {
    if (this.#sending || this.#closed) return;
    if (this.#queue.length === 0) {
      for (const w of this.#idle.splice(0)) w();
      return;
    }
    const batch = this.#queue.slice(0, BATCH_REPORTS);
    this.#sending = true;
    this.#stats.requests++;
    this.#post(JSON.stringify(hawkularBody(batch))).then(
      () => {
        // Drop what was sent; newer reports (or drops of old ones) may have changed the queue meanwhile.
        this.#queue = this.#queue.filter((r) => !batch.includes(r));
        this.#stats.sent_reports += batch.length;
        this.#backoffMs = BACKOFF_MIN_MS;
        this.#sending = false;
        this.#pump();
      },
      (err: unknown) => {
        this.#sending = false;
        this.#stats.failed_requests++;
        const message = errorMessage(err);
        if (this.#stats.last_error !== message) this.#o.log.warn({ target: this.target, err: message, queued: this.#queue.length }, 'Hawkular report failed; kept queued, retrying');
        this.#stats.last_error = message;
        if (this.#closed) return;
        const delay = this.#backoffMs;
        this.#backoffMs = Math.min(BACKOFF_MAX_MS, this.#backoffMs * 2);
        this.#retry = this.#o.timers.setTimeout(() => {
          this.#retry = undefined;
          this.#pump();
        }, delay);
        (this.#retry as { unref?: () => void }).unref?.();
      },
    );
  }

  #post(body: string): Promise<void> {
    const lib = this.#url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'hawkular-tenant': this.#o.tenant ?? HAWKULAR_TENANT },
        timeout: REQUEST_TIMEOUT_MS,
      }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => { if (text.length < 1000) text += c; }).on('end', () => {
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve();
          else reject(new Error(`HTTP ${code}${text === '' ? '' : `: ${text.slice(0, 200)}`}`));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
