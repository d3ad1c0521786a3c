// vdsmd's supervdsm figures, in the metrics convention (src/observability/metrics/convention.ts): calls
// by function and outcome and the time they took, from the client's `vdsm:supervdsm:call` events, and
// the connection's state from its health, added to each collection (`vdsm:metrics:collect`). The client
// never learns a reporter exists.
import diagnostics_channel from 'node:diagnostics_channel';
import { metricPath, metricsChannels, type CollectRequest, type Figure } from '../observability/metrics/convention.js';
import type { SupervdsmCallEvent } from './client-events.js';

/** Distinct (function, outcome) series kept at most; beyond it new ones fold into method="other". */
const MAX_SERIES = 500;

/** Subscribe; returns the unsubscribe function (call it at stop). `health` is the client's health(). */
export function reportSupervdsmFigures(health: () => Record<string, unknown>): () => void {
  const calls = new Map<string, { method: string; outcome: string; count: number }>();
  const seconds = new Map<string, number>();
  const onCall = (msg: unknown): void => {
    const e = msg as SupervdsmCallEvent;
    const outcome = e.ok ? 'ok' : (e.code ?? 'error');
    let method = e.method;
    if (!calls.has(`${method}\0${outcome}`) && calls.size >= MAX_SERIES) method = 'other';
    const key = `${method}\0${outcome}`;
    const c = calls.get(key) ?? { method, outcome, count: 0 };
    c.count++;
    calls.set(key, c);
    seconds.set(method, (seconds.get(method) ?? 0) + e.durationMs / 1000);
  };
  const onCollect = (msg: unknown): void => {
    const h = health();
    const n = (k: string): number => (typeof h[k] === 'number' ? (h[k] as number) : 0);
    const figures: Figure[] = [
      { name: 'vdsm_supervdsm_connected', kind: 'gauge', help: '1 when vdsmd is connected to supervdsm, the privileged helper', value: h['state'] === 'connected' ? 1 : 0, path: metricPath('hosts', 'vdsm', 'supervdsm', 'connected') },
      { name: 'vdsm_supervdsm_calls_in_flight', kind: 'gauge', help: 'Calls to supervdsm waiting for their answer', value: n('inFlight'), path: metricPath('hosts', 'vdsm', 'supervdsm', 'in_flight') },
      { name: 'vdsm_supervdsm_connects_total', kind: 'counter', help: 'Connections vdsmd made to supervdsm (1 + reconnects after helper restarts)', value: n('connects') },
    ];
    for (const c of calls.values()) {
      figures.push({ name: 'vdsm_supervdsm_calls_total', kind: 'counter', help: 'Calls to supervdsm by function and outcome (ok or the error code)', value: c.count, labels: { method: c.method, outcome: c.outcome } });
    }
    for (const [method, s] of seconds) {
      figures.push({ name: 'vdsm_supervdsm_call_seconds_total', kind: 'counter', help: 'Time spent in calls to supervdsm, by function', value: s, labels: { method } });
    }
    (msg as CollectRequest).add('supervdsm', figures);
  };
  diagnostics_channel.subscribe('vdsm:supervdsm:call', onCall);
  metricsChannels.collect.subscribe(onCollect);
  return () => {
    diagnostics_channel.unsubscribe('vdsm:supervdsm:call', onCall);
    metricsChannels.collect.unsubscribe(onCollect);
  };
}
