// Prometheus metrics for the engine-facing API: requests by verb and outcome, a latency histogram, and
// executor and connection gauges read from state providers at scrape time (prom-client collect()).
import { Counter, Gauge, type Registry } from 'prom-client';
import { LatencyHistogram } from './latency-histogram.js';

/** What the Executor reports for the gauges; the composition root adapts the Executor's JSON state. */
export interface ExecutorGaugeState {
  /** Tasks waiting for a worker. */
  queued: number;
  /** Tasks running. */
  running?: number;
  /** Worker threads serving tasks. */
  live: number;
  /** Discarded workers still stuck in a native call. */
  lingering: number;
}

export interface RpcMetricsOptions {
  registry: Registry;
  executorState?: () => ExecutorGaugeState | undefined;
  connections?: () => number;
  /** Bytes of partial frames and unsent output held across connections (the memory budget's use). */
  bufferedBytes?: () => number;
  /** Metric name prefix; default `vdsm_`. */
  prefix?: string;
}

/** Latency buckets in seconds: ping2 is ~0.1 ms, a stuck verb can take the whole 60 s worker timeout. */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class RpcMetrics {
  #requests: Counter<'method' | 'outcome'>;
  /** Calls per method and outcome not yet added to #requests (brought up to date when it is read). */
  #uncounted = new Map<string, Map<string, number>>();
  #latency: LatencyHistogram;
  #limits: Counter<'limit' | 'action'>;

  constructor(opts: RpcMetricsOptions) {
    const p = opts.prefix ?? 'vdsm_';
    const registers = [opts.registry];
    const uncounted = this.#uncounted;
    this.#requests = new Counter({
      name: `${p}rpc_requests_total`, help: 'JSON-RPC calls by method and outcome', labelNames: ['method', 'outcome'] as const, registers,
      // Calls are tallied in plain maps (no label hashing per call) and added here, whenever anything reads.
      collect() {
        for (const [method, outcomes] of uncounted) {
          for (const [outcome, n] of outcomes) if (n > 0) this.inc({ method, outcome }, n);
          outcomes.clear();
        }
      },
    });
    this.#latency = new LatencyHistogram({ name: `${p}rpc_request_duration_seconds`, help: 'JSON-RPC call latency', labelName: 'method', buckets: BUCKETS, registers });
    this.#limits = new Counter({ name: `${p}rpc_limit_hits_total`, help: 'Times a connection limit was hit (connections, detecting, established, memory, frame-deadline, idle, response-size) and what was done', labelNames: ['limit', 'action'] as const, registers });

    const exec = opts.executorState;
    const gauge = (name: string, help: string, pick: (s: ExecutorGaugeState) => number | undefined): void => {
      new Gauge({
        name: `${p}${name}`,
        help,
        registers,
        collect() {
          const s = exec?.();
          const v = s ? pick(s) : undefined;
          if (v !== undefined) this.set(v);
        },
      });
    };
    if (exec) {
      gauge('executor_queued_tasks', 'Executor tasks waiting for a worker', (s) => s.queued);
      gauge('executor_running_tasks', 'Executor tasks running', (s) => s.running);
      gauge('executor_live_workers', 'Executor worker threads serving tasks', (s) => s.live);
      gauge('executor_lingering_workers', 'Discarded executor workers still blocked in native code', (s) => s.lingering);
    }
    const read = (name: string, help: string, value: (() => number) | undefined): void => {
      if (value) new Gauge({ name: `${p}${name}`, help, registers, collect() { this.set(value()); } });
    };
    read('rpc_connections', 'Open STOMP connections', opts.connections);
    read('rpc_buffered_bytes', 'Bytes of partial frames and unsent output held across connections', opts.bufferedBytes);
  }

  /** Record a connection limit hit. */
  limitHit(limit: string, action: string): void {
    this.#limits.inc({ limit, action });
  }

  /** Record one call. */
  observe(method: string, outcome: string, durationMs: number): void {
    let outcomes = this.#uncounted.get(method);
    if (outcomes === undefined) {
      outcomes = new Map();
      this.#uncounted.set(method, outcomes);
    }
    const n = outcomes.get(outcome);
    // A new series is created at once (at 0), so series keep the order in which calls first came.
    if (n === undefined) this.#requests.inc({ method, outcome }, 0);
    outcomes.set(outcome, (n ?? 0) + 1);
    this.#latency.observe(method, durationMs / 1000);
  }
}
