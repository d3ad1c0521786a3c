// The MetricsHub gathers every figure the reporters see: the built-in sources the composition root
// registers (host and VM snapshots, executors, libvirt, the health monitor), publications on
// `vdsm:metrics:publish` and contributions on `vdsm:metrics:collect` (see convention.ts). It checks
// the convention once, so a bad publisher costs its own figures and a warning, never a reporter.
import type { Logger } from 'pino';
import type { Clock } from '../../runtime/clock.js';
import { DEFAULT_PUBLICATION_TTL_MS, figureProblem, metricsChannels, type CollectRequest, type Figure, type FigurePublication } from './convention.js';
import { errorMessage } from '../../errors.js';

/** A built-in pull source: asked for its figures at every collection. */
export interface FigureSource {
  readonly source: string;
  collect(): readonly Figure[] | Promise<readonly Figure[]>;
}

export interface MetricsHubOptions {
  clock: Clock;
  log: Logger;
  sources?: readonly FigureSource[];
  /** Names owned elsewhere (prom-client metrics on the same /metrics): figures may not take them. */
  reservedNames?: () => ReadonlySet<string>;
}

export interface CollectOptions {
  /** Only these sources (by name); all by default. */
  include?: (source: string) => boolean;
}

interface Publication {
  figures: readonly Figure[];
  at: number;
  ttlMs: number;
}

interface Family {
  kind: Figure['kind'];
  labels: string;
  source: string;
}

export class MetricsHub {
  #o: MetricsHubOptions;
  #sources: FigureSource[];
  #published = new Map<string, Publication>();
  #onPublish = (msg: unknown): void => this.#accept(msg);
  #started = false;
  #rejected = 0;
  #warned = new Set<string>();
  #collections = 0;

  constructor(opts: MetricsHubOptions) {
    this.#o = opts;
    this.#sources = [...(opts.sources ?? [])];
  }

  /** Listen for publications. Idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    metricsChannels.publish.subscribe(this.#onPublish);
  }

  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    metricsChannels.publish.unsubscribe(this.#onPublish);
    this.#published.clear();
  }

  addSource(source: FigureSource): void {
    this.#sources.push(source);
  }

  /** Every current figure, checked: one family per name (same kind and label names), one value per series. */
  async collect(opts: CollectOptions = {}): Promise<Figure[]> {
    this.#collections++;
    const include = opts.include ?? (() => true);
    const groups: { source: string; figures: readonly Figure[] }[] = [];
    const pulled = await Promise.all(this.#sources.filter((s) => include(s.source)).map(async (s) => {
      try {
        return { source: s.source, figures: await s.collect() };
      } catch (err) {
        this.#warnOnce(`${s.source}:collect`, { source: s.source, err: errorMessage(err) }, 'metrics source failed; its figures are left out');
        return { source: s.source, figures: [] as Figure[] };
      }
    }));
    groups.push(...pulled);
    if (metricsChannels.collect.hasSubscribers) {
      const request: CollectRequest = {
        add: (source, figures) => {
          if (typeof source === 'string' && Array.isArray(figures) && include(source)) groups.push({ source, figures });
        },
      };
      metricsChannels.collect.publish(request);
    }
    const now = this.#o.clock.now();
    for (const [source, p] of this.#published) {
      if (now - p.at > p.ttlMs) this.#published.delete(source);
      else if (include(source)) groups.push({ source, figures: p.figures });
    }
    return this.#check(groups);
  }

  state(): Record<string, unknown> {
    const now = this.#o.clock.now();
    return {
      sources: this.#sources.map((s) => s.source),
      published: Object.fromEntries([...this.#published].map(([s, p]) => [s, { figures: p.figures.length, age_ms: Math.round(now - p.at) }])),
      collect_subscribers: metricsChannels.collect.hasSubscribers,
      collections: this.#collections,
      rejected: this.#rejected,
    };
  }

  #accept(msg: unknown): void {
    const p = msg as Partial<FigurePublication> | undefined;
    if (typeof p?.source !== 'string' || p.source === '' || !Array.isArray(p.figures)) {
      this.#rejected++;
      this.#warnOnce('publish:shape', {}, 'metrics publication without a source name or a figures array; ignored');
      return;
    }
    const ttlMs = typeof p.ttlMs === 'number' && p.ttlMs > 0 ? p.ttlMs : DEFAULT_PUBLICATION_TTL_MS;
    this.#published.set(p.source, { figures: p.figures, at: this.#o.clock.now(), ttlMs });
  }

  #check(groups: readonly { source: string; figures: readonly Figure[] }[]): Figure[] {
    const reserved = this.#o.reservedNames?.() ?? new Set<string>();
    const families = new Map<string, Family>();
    const series = new Set<string>();
    const out: Figure[] = [];
    for (const { source, figures } of groups) {
      for (const f of figures) {
        const problem = figureProblem(f) ?? (reserved.has(f.name) ? `${f.name}: the name belongs to another metric on /metrics` : undefined);
        const labelNames = Object.keys(f.labels ?? {}).sort().join(',');
        const family = problem === undefined ? families.get(f.name) : undefined;
        const clash = family === undefined ? undefined
          : family.kind !== f.kind ? `${f.name}: kind ${f.kind} differs from ${family.kind} (source ${family.source})`
          : family.labels !== labelNames ? `${f.name}: labels {${labelNames}} differ from {${family.labels}} (source ${family.source})`
          : undefined;
        const key = `${f.name}{${Object.entries(f.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
        const why = problem ?? clash ?? (series.has(key) ? `${key}: the same series twice` : undefined);
        if (why !== undefined) {
          this.#rejected++;
          this.#warnOnce(`${source}:${why}`, { source, problem: why }, 'figure breaks the metrics convention; left out');
          continue;
        }
        if (family === undefined) families.set(f.name, { kind: f.kind, labels: labelNames, source });
        series.add(key);
        out.push(f);
      }
    }
    return out;
  }

  #warnOnce(key: string, fields: Record<string, unknown>, msg: string): void {
    if (this.#warned.has(key)) return;
    if (this.#warned.size < 1000) this.#warned.add(key);
    this.#o.log.warn(fields, msg);
  }
}
