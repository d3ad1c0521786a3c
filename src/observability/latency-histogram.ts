// A Prometheus histogram with one label (the verb), counted in plain arrays: an observation is one Map
// lookup, a bucket search and three additions. prom-client's own Histogram hashes the label set and
// validates it on every observation, a cost the RPC server paid once per request for every call. This one
// is registered in a prom-client Registry and read as prom-client reads its own (get(): the same series,
// labels and order: `_bucket{le,<label>}` cumulative with `+Inf`, `_sum`, `_count`).
import type { Registry } from 'prom-client';

/** One sample as a prom-client Registry formats it. */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
  /** prom-client's samples carry an exemplar slot: null on buckets, undefined on _sum and _count. */
  exemplar: null | undefined;
}

interface Series {
  /** Observations per bucket (not cumulative); values above the last bound count only in +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

export interface LatencyHistogramOptions {
  name: string;
  help: string;
  /** The one label's name. */
  labelName: string;
  /** Upper bounds, ascending. */
  buckets: readonly number[];
  registers: readonly Registry[];
}

export class LatencyHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  #label: string;
  #bounds: readonly number[];
  #series = new Map<string, Series>();

  constructor(opts: LatencyHistogramOptions) {
    this.name = opts.name;
    this.help = opts.help;
    this.#label = opts.labelName;
    this.#bounds = opts.buckets;
    // The registry takes any object of this shape; its type only knows prom-client's own classes.
    for (const r of opts.registers) r.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  observe(labelValue: string, value: number): void {
    if (!Number.isFinite(value)) return;
    let s = this.#series.get(labelValue);
    if (s === undefined) {
      s = { counts: new Array<number>(this.#bounds.length).fill(0), sum: 0, count: 0 };
      this.#series.set(labelValue, s);
    }
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  get(): Promise<{ name: string; help: string; type: 'histogram'; values: Sample[]; aggregator: 'sum' }> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const [v, s] of this.#series) {
      let acc = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.#bounds[i]!, [this.#label]: v }, value: acc, metricName: bucket, exemplar: null });
      }
      values.push({ labels: { le: '+Inf', [this.#label]: v }, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: { [this.#label]: v }, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: { [this.#label]: v }, value: s.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  reset(): void {
    this.#series.clear();
  }
}
