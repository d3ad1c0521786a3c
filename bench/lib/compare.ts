// `vdsm-bench --compare OLD.jsonl`: match the cases of two runs (by suite and case name), put each
// metric of one beside the other as a ratio, and flag the changes for the worse beyond a threshold.
// Whether a metric is better higher or lower comes from its name (docs/bench.md lists the rules).

export type CaseLine = Record<string, unknown>;

export interface Change {
  key: string;
  metric: string;
  old: number;
  new: number;
  /** new / old (Infinity when old is 0). */
  ratio: number;
  better: 'higher' | 'lower';
  regression: boolean;
  improvement: boolean;
}

export interface Comparison {
  changes: Change[];
  regressions: Change[];
  onlyOld: string[];
  onlyNew: string[];
  threshold: number;
}

/** Metrics that describe the run rather than measure it. */
const NEVER = new Set(['load1', 'repeats', 'requests', 'iterations', 'cycles', 'calls', 'vms', 'domains', 'K', 'connections', 'in_flight', 'records', 'keys_per_record', 'accepted', 'getallvmstats_calls', 'replacements', 'fast_during_n', 'duration_s', 'first_rejected_s']);
const LOWER_NAMES = new Set(['errors', 'lost', 'rejected', 'bound_violations', 'too_many_workers', 'deferred_discards', 'early']);

/** 'higher', 'lower', or undefined for a field that is not compared. */
export function direction(metric: string): 'higher' | 'lower' | undefined {
  if (NEVER.has(metric)) return undefined;
  if (/(_per_s|_per_sec|_rps|throughput)$/i.test(metric) || /^vs_/.test(metric)) return 'higher';
  if (LOWER_NAMES.has(metric)) return 'lower';
  if (/(^|_)(ms|s|us|ns|mb|kb|bytes)(_|$)/i.test(metric) || /(Ms|Mb|Bytes)(P\d+|Max|Min|Mean)?$/.test(metric) || /(latency|lateness|delay)/i.test(metric)) return 'lower';
  return undefined;
}

/** Identity of a case across runs: its suite and case name (or its non-numeric fields when it has no name). */
export function caseKey(line: CaseLine): string {
  const suite = String(line['suite'] ?? '?');
  if (typeof line['case'] === 'string') return `${suite}/${line['case']}`;
  const parts = Object.entries(line).filter(([k, v]) => k !== 'suite' && (typeof v === 'string' || typeof v === 'boolean')).map(([k, v]) => `${k}=${String(v)}`);
  return `${suite}/${parts.join(',')}`;
}

/** Case lines of a JSON-lines text (other lines, e.g. a captured stderr, are ignored). */
export function parseJsonLines(text: string): CaseLine[] {
  const out: CaseLine[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const v = JSON.parse(t) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) out.push(v as CaseLine);
    } catch {
      // not a result line
    }
  }
  return out;
}

/** Differences below this (in the metric's unit) are noise whatever the ratio (0.01 ms -> 0.02 ms). */
const ABS_FLOOR = 0.05;

export function compareRuns(oldLines: readonly CaseLine[], newLines: readonly CaseLine[], threshold = 0.1): Comparison {
  const oldBy = new Map(oldLines.map((l) => [caseKey(l), l]));
  const newBy = new Map(newLines.map((l) => [caseKey(l), l]));
  const changes: Change[] = [];
  for (const [key, n] of newBy) {
    const o = oldBy.get(key);
    if (!o) continue;
    for (const [metric, nv] of Object.entries(n)) {
      const ov = o[metric];
      const better = direction(metric);
      if (better === undefined || typeof nv !== 'number' || typeof ov !== 'number' || !Number.isFinite(nv) || !Number.isFinite(ov)) continue;
      if (ov === 0 && nv === 0) continue;
      const ratio = ov === 0 ? Infinity : nv / ov;
      const rel = ov === 0 ? Infinity : (nv - ov) / Math.abs(ov);
      const significant = Math.abs(nv - ov) >= ABS_FLOOR;
      const worse = better === 'higher' ? rel < -threshold : rel > threshold;
      const improved = better === 'higher' ? rel > threshold : rel < -threshold;
      changes.push({ key, metric, old: ov, new: nv, ratio, better, regression: significant && worse, improvement: significant && improved });
    }
  }
  return {
    changes,
    regressions: changes.filter((c) => c.regression),
    onlyOld: [...oldBy.keys()].filter((k) => !newBy.has(k)),
    onlyNew: [...newBy.keys()].filter((k) => !oldBy.has(k)),
    threshold,
  };
}

const num = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 100 ? 1 : 3));
const ratioText = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(3)}x` : 'new');

/** The comparison as aligned text (what vdsm-bench prints on stderr). */
export function renderCompareText(c: Comparison, oldName: string): string {
  const rows = [['', 'CASE', 'METRIC', 'OLD', 'NEW', 'RATIO', 'BETTER']];
  for (const ch of c.changes) rows.push([ch.regression ? 'REGRESSION' : ch.improvement ? 'improved' : '', ch.key, ch.metric, num(ch.old), num(ch.new), ratioText(ch.ratio), ch.better]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
  const head = `Compared with ${oldName}: ${c.changes.length} metrics of ${new Set(c.changes.map((x) => x.key)).size} cases, ` +
    `${c.regressions.length} regression(s) beyond ${Math.round(c.threshold * 100)}%, ${c.changes.filter((x) => x.improvement).length} improvement(s).`;
  const missing = [
    ...(c.onlyOld.length ? [`Only in ${oldName}: ${c.onlyOld.join(', ')}`] : []),
    ...(c.onlyNew.length ? [`Only in this run: ${c.onlyNew.join(', ')}`] : []),
  ];
  return [head, '', table, ...(missing.length ? ['', ...missing] : []), ''].join('\n');
}

export function renderCompareMarkdown(c: Comparison, oldName: string): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    '# Comparison', '',
    `Against \`${oldName}\`; a change for the worse beyond ${Math.round(c.threshold * 100)}% (and at least ${ABS_FLOOR} in the metric's unit) is a regression.`, '',
    `${c.regressions.length} regression(s), ${c.changes.filter((x) => x.improvement).length} improvement(s), ${c.changes.length} metrics compared.`, '',
    '| | case | metric | old | new | ratio | better |', '|---|---|---|---:|---:|---:|---|',
    ...c.changes.map((ch) => `| ${ch.regression ? '**REGRESSION**' : ch.improvement ? 'improved' : ''} | ${esc(ch.key)} | ${ch.metric} | ${num(ch.old)} | ${num(ch.new)} | ${ratioText(ch.ratio)} | ${ch.better} |`),
    '', ...(c.onlyOld.length ? [`Only in the old run: ${c.onlyOld.map(esc).join(', ')}`, ''] : []), ...(c.onlyNew.length ? [`Only in this run: ${c.onlyNew.map(esc).join(', ')}`, ''] : []),
  ].join('\n');
}
