// /metrics: prom-client's own metrics (the RPC counters and histogram) followed by every figure of the
// MetricsHub, rendered in the Prometheus text exposition format 0.0.4. The registry is the one the
// HTTP endpoint already serves, so nothing in src/rpc changes when figures are added.
import { Registry } from 'prom-client';
import type { Figure } from './convention.js';
import type { MetricsHub } from './hub.js';

/** Label values: backslash, double quote and line feed escaped. */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function helpText(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function number(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Text exposition of checked figures (MetricsHub.collect() output): one HELP/TYPE block per name. */
export function renderFigures(figures: readonly Figure[]): string {
  const byName = new Map<string, Figure[]>();
  for (const f of figures) {
    const list = byName.get(f.name);
    if (list) list.push(f);
    else byName.set(f.name, [f]);
  }
  let out = '';
  for (const [name, list] of byName) {
    out += `# HELP ${name} ${helpText(list[0]!.help)}\n# TYPE ${name} ${list[0]!.kind}\n`;
    for (const f of list) {
      const labels = Object.entries(f.labels ?? {});
      const ls = labels.length === 0 ? '' : `{${labels.map(([k, v]) => `${k}="${labelValue(v)}"`).join(',')}}`;
      out += `${name}${ls} ${number(f.value)}\n`;
    }
  }
  return out;
}

/** A prom-client Registry whose exposition ends with the hub's figures. */
export class FigureRegistry extends Registry {
  #hub: MetricsHub | undefined;

  /** Serve this hub's figures too (the composition root sets it once the hub exists). */
  attach(hub: MetricsHub): void {
    this.#hub = hub;
  }

  /** Names prom-client metrics here use, including histogram series suffixes. */
  ownNames(): Set<string> {
    const names = new Set<string>();
    for (const m of this.getMetricsAsArray()) {
      const name = (m as unknown as { name: string }).name;
      for (const suffix of ['', '_bucket', '_sum', '_count', '_created']) names.add(`${name}${suffix}`);
    }
    return names;
  }

  override async metrics(): Promise<string> {
    const own = await super.metrics();
    if (this.#hub === undefined) return own;
    const text = renderFigures(await this.#hub.collect());
    return own === '' || own.endsWith('\n') ? own + text : `${own}\n${text}`;
  }
}
