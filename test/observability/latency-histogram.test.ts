// The RPC latency histogram and call counter are tallied without prom-client's per-observation label
// hashing (issue 17); what a scrape shows must stay exactly what prom-client's own Histogram and Counter
// show for the same calls: the same series, labels, order and values, in both exposition formats.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { LatencyHistogram } from '../../src/observability/latency-histogram.js';
import { RpcMetrics } from '../../src/observability/prometheus.js';

const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Calls as (method, outcome, ms): edges of buckets, above the last bound, several methods. */
function calls(): [string, string, number][] {
  const out: [string, string, number][] = [];
  const methods = ['Host.ping2', 'Host.getStats', 'VM.create', '<unknown>'];
  for (let i = 0; i < 500; i++) {
    const ms = i % 50 === 0 ? 120_000 : i % 7 === 0 ? BUCKETS[i % BUCKETS.length]! * 1000 : (i * 37 % 1000) / 17;
    out.push([methods[i % methods.length]!, i % 11 === 0 ? 'error' : 'ok', ms]);
  }
  return out;
}

void test('the tallied RPC metrics scrape exactly as prom-client\'s own Counter and Histogram would', async () => {
  for (const contentType of [Registry.PROMETHEUS_CONTENT_TYPE, Registry.OPENMETRICS_CONTENT_TYPE]) {
    // Registries of either content type (the default type parameter knows only Prometheus text).
    const registry = (): Registry => {
      const r = new Registry<RegistryContentType>();
      r.setContentType(contentType);
      return r as unknown as Registry;
    };
    const ours = registry();
    const theirs = registry();
    const metrics = new RpcMetrics({ registry: ours });
    const counter = new Counter({ name: 'vdsm_rpc_requests_total', help: 'JSON-RPC calls by method and outcome', labelNames: ['method', 'outcome'], registers: [theirs] });
    const histogram = new Histogram({ name: 'vdsm_rpc_request_duration_seconds', help: 'JSON-RPC call latency', labelNames: ['method'], buckets: BUCKETS, registers: [theirs] });
    new Counter({ name: 'vdsm_rpc_limit_hits_total', help: 'Times a connection limit was hit (connections, detecting, established, memory, frame-deadline, idle, response-size) and what was done', labelNames: ['limit', 'action'], registers: [theirs] });
    const all = calls();
    // Read in between: calls counted before and after a scrape all show.
    for (const [i, [method, outcome, ms]] of all.entries()) {
      if (i === 250) assert.equal(await ours.metrics(), await theirs.metrics());
      metrics.observe(method, outcome, ms);
      counter.inc({ method, outcome });
      histogram.observe({ method }, ms / 1000);
    }
    assert.equal(await ours.metrics(), await theirs.metrics(), contentType);
    assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
  }
});

void test('a latency histogram ignores values that are not finite numbers, and reset() empties it', async () => {
  const r = new Registry();
  const h = new LatencyHistogram({ name: 'x_seconds', help: 'x', labelName: 'method', buckets: [0.1, 1], registers: [r] });
  h.observe('a', Number.NaN);
  h.observe('a', Infinity);
  h.observe('a', 0.5);
  assert.match(await r.metrics(), /x_seconds_count\{method="a"\} 1\n/);
  h.reset();
  assert.doesNotMatch(await r.metrics(), /method="a"/);
});
