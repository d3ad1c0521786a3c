// The statsd reporter ([metrics] collector_type = statsd): every figure that has a path goes out as a
// statsd gauge `<path>:<value>|g` through the statsd-client package, as vdsm sent its metrics (gauges
// only, absolute values, counters included). statsd-client packs lines into datagrams of at most
// 1200 bytes and flushes within a second; send errors are swallowed by it (no collector is fine).
import SDC from 'statsd-client';
import { hostPort, parseCollectorAddress } from './collector-address.js';
import type { Figure } from './convention.js';
import type { MetricsSink } from './report-loop.js';

export const STATSD_DEFAULT_PORT = 8125;

/** Value as statsd text: no exponent (statsd parses with Number(), but keep it readable). */
export function statsdNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const s = String(Math.round(v * 1e6) / 1e6);
  return s.includes('e') ? v.toFixed(6) : s;
}

export interface StatsdReporterOptions {
  address: string;
  /** For tests: statsd-client's buffer flush interval (default 1000 ms). */
  flushMs?: number;
}

export class StatsdReporter implements MetricsSink {
  readonly type = 'statsd';
  readonly target: string;
  #client: SDC;
  #lines = 0;
  #reports = 0;

  constructor(opts: StatsdReporterOptions) {
    const { host, port } = parseCollectorAddress(opts.address, STATSD_DEFAULT_PORT);
    this.target = hostPort(host, port);
    this.#client = new SDC({ host, port, ...(host.includes(':') ? { ipv6: true } : {}), ...(opts.flushMs !== undefined ? { socketTimeout: opts.flushMs } : {}) } as SDC.UdpOptions);
  }

  report(figures: readonly Figure[]): void {
    this.#reports++;
    for (const f of figures) {
      if (f.path === undefined) continue;
      const v = f.value * (f.pathScale ?? 1);
      if (!Number.isFinite(v)) continue;
      // A gauge value with a sign is a delta in statsd: set 0 first to report a negative absolute value.
      if (v < 0) {
        this.#client.gauge(f.path, 0);
        this.#client.gaugeDelta(f.path, Number(statsdNumber(v)));
      } else {
        this.#client.gauge(f.path, statsdNumber(v) as unknown as number);
      }
      this.#lines++;
    }
  }

  state(): Record<string, unknown> {
    return { type: this.type, target: this.target, reports: this.#reports, lines: this.#lines };
  }

  close(): Promise<void> {
    this.#client.close();
    return Promise.resolve();
  }
}
