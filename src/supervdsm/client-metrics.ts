// Prometheus figures of vdsmd's supervdsm calls, fed by the client's diagnostics_channel events: calls
// by function and outcome, their latency, and whether the helper is connected.
import diagnostics_channel from 'node:diagnostics_channel';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { SupervdsmCallEvent } from './client-events.js';

/** Seconds: a ping is ~0.1 ms, a mount of a slow NFS server can take the whole deadline. */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Subscribe; returns the unsubscribe function (call it at stop). */
export function reportSupervdsmMetrics(registry: Registry, connected: () => boolean, prefix = 'vdsm_'): () => void {
  const registers = [registry];
  const calls = new Counter({ name: `${prefix}supervdsm_calls_total`, help: 'Calls to supervdsm by function and outcome (ok or the error code)', labelNames: ['method', 'outcome'] as const, registers });
  const latency = new Histogram({ name: `${prefix}supervdsm_call_duration_seconds`, help: 'Latency of calls to supervdsm', labelNames: ['method'] as const, buckets: BUCKETS, registers });
  new Gauge({ name: `${prefix}supervdsm_connected`, help: '1 when vdsmd is connected to supervdsm', registers, collect() { this.set(connected() ? 1 : 0); } });
  const onCall = (msg: unknown): void => {
    const e = msg as SupervdsmCallEvent;
    calls.inc({ method: e.method, outcome: e.ok ? 'ok' : (e.code ?? 'error') });
    latency.observe({ method: e.method }, e.durationMs / 1000);
  };
  diagnostics_channel.subscribe('vdsm:supervdsm:call', onCall);
  return () => diagnostics_channel.unsubscribe('vdsm:supervdsm:call', onCall);
}
