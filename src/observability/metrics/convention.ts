// The metrics convention: how any part of vdsm-node makes figures appear on /metrics (Prometheus), in
// statsd and in Hawkular without touching a reporter. A part imports this file only (types, two
// diagnostics_channel channels and a helper); docs/architecture.md "Metrics convention" explains it.
//
// Push: publishFigures('storage', figures) after each measurement; each publication replaces the
//   source's previous figures (publish [] to withdraw them) and expires after `ttlMs`.
// Pull: subscribe to `vdsm:metrics:collect` and call `request.add(source, figures)` synchronously;
//   the hub asks whenever a reporter collects (a Prometheus scrape, a statsd/Hawkular report).
import diagnostics_channel from 'node:diagnostics_channel';

export type FigureKind = 'gauge' | 'counter';

/** One number of one time series. */
export interface Figure {
  /**
   * Prometheus name: `vdsm_<area>_<what>_<unit>` in snake_case with a base unit (`_seconds`,
   * `_bytes`, `_ratio` for 0..1) and `_total` for counters; the standard `process_*` names too.
   */
  readonly name: string;
  readonly kind: FigureKind;
  /** One line for `# HELP`; the same for every figure of a name. */
  readonly help: string;
  /** In the unit the name says. */
  readonly value: number;
  /** Label values; the same label names for every figure of a name. */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Dotted name for statsd and Hawkular in vdsm's scheme (`hosts.storage.<sdUUID>.delay`,
   * `hosts.vdsm.cpu.user_pct`); figures without one go to Prometheus only. Build it with metricPath().
   */
  readonly path?: string;
  /** Multiplier from `value` to what `path` carries, for vdsm's units (100 for percent). Default 1. */
  readonly pathScale?: number;
}

/** What a push publisher sends on `vdsm:metrics:publish`. */
export interface FigurePublication {
  /** Who publishes: 'storage', 'guest', 'supervdsm'. One source, one publisher. */
  readonly source: string;
  readonly figures: readonly Figure[];
  /** Forget these figures when no newer publication came within this time; default 15 minutes. */
  readonly ttlMs?: number;
}

/** What a pull contributor receives on `vdsm:metrics:collect`. */
export interface CollectRequest {
  /** Add this source's figures to the collection under way (call synchronously). */
  add(source: string, figures: readonly Figure[]): void;
}

export const metricsChannels = {
  publish: diagnostics_channel.channel('vdsm:metrics:publish'),
  collect: diagnostics_channel.channel('vdsm:metrics:collect'),
} as const;

export const DEFAULT_PUBLICATION_TTL_MS = 15 * 60_000;

/** Push figures; a no-op (no object built by the caller either, if it checks) when nobody listens. */
export function publishFigures(source: string, figures: readonly Figure[], ttlMs?: number): void {
  if (!metricsChannels.publish.hasSubscribers) return;
  metricsChannels.publish.publish({ source, figures, ...(ttlMs !== undefined ? { ttlMs } : {}) } satisfies FigurePublication);
}

/** True when a reporter listens: build figures only then. */
export function metricsWanted(): boolean {
  return metricsChannels.publish.hasSubscribers;
}

/**
 * A statsd/Hawkular path from segments: each segment keeps letters, digits, '_' and '-' and has
 * everything else (dots, colons, '|', '@', blanks) replaced by '_', so a VM called "web.1" stays one
 * segment (`vms.web_1.cpu.user`) and the statsd line stays parseable.
 */
export function metricPath(...segments: readonly string[]): string {
  return segments.map((s) => (s === '' ? '_' : s.replace(/[^A-Za-z0-9_-]/g, '_'))).join('.');
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const PATH_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Why a figure breaks the convention, or undefined when it is fine. */
export function figureProblem(f: Figure): string | undefined {
  if (typeof f.name !== 'string' || !NAME_RE.test(f.name)) return `bad metric name ${JSON.stringify(f.name)}`;
  if (f.kind !== 'gauge' && f.kind !== 'counter') return `${f.name}: kind must be gauge or counter`;
  if (f.kind === 'counter' && !f.name.endsWith('_total')) return `${f.name}: a counter's name ends in _total`;
  if (f.kind === 'gauge' && f.name.endsWith('_total')) return `${f.name}: a gauge's name must not end in _total`;
  if (typeof f.help !== 'string' || f.help === '') return `${f.name}: help is required`;
  if (typeof f.value !== 'number' || Number.isNaN(f.value)) return `${f.name}: value is not a number`;
  for (const [k, v] of Object.entries(f.labels ?? {})) {
    if (!LABEL_RE.test(k) || k.startsWith('__')) return `${f.name}: bad label name ${JSON.stringify(k)}`;
    if (typeof v !== 'string') return `${f.name}: label ${k} is not a string`;
  }
  if (f.path !== undefined && !PATH_RE.test(f.path)) return `${f.name}: bad path ${JSON.stringify(f.path)} (use metricPath())`;
  if (f.pathScale !== undefined && !Number.isFinite(f.pathScale)) return `${f.name}: pathScale is not finite`;
  return undefined;
}
