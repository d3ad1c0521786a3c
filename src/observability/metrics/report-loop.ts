// Push reporting: every interval the hub's figures go to one sink (statsd or Hawkular). The sources a
// push collector gets are filtered here: the host and VM figures vdsm stopped sending only behind
// [metrics] host_vm_metrics, so a default report stays as small as vdsm's.
import type { Logger } from 'pino';
import type { Timers } from '../../runtime/clock.js';
import type { Figure } from './convention.js';
import type { MetricsHub } from './hub.js';
import { errorMessage } from '../../errors.js';

/** Where a push report goes. */
export interface MetricsSink {
  readonly type: string;
  readonly target: string;
  report(figures: readonly Figure[]): void;
  state(): Record<string, unknown>;
  close(): Promise<void>;
}

export interface ReportLoopOptions {
  hub: MetricsHub;
  sink: MetricsSink;
  intervalMs: number;
  timers: Timers;
  log: Logger;
  /** Sources to collect (default all). */
  include?: (source: string) => boolean;
}

export class ReportLoop {
  #o: ReportLoopOptions;
  #timer: unknown = undefined;
  #running = false;
  #busy = false;
  #reports = 0;
  #skipped = 0;
  #failures = 0;

  constructor(opts: ReportLoopOptions) {
    this.#o = opts;
  }

  get sink(): MetricsSink {
    return this.#o.sink;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#arm();
  }

  /** Collect and send one report now. */
  async reportNow(): Promise<void> {
    if (this.#busy) {
      this.#skipped++;
      return;
    }
    this.#busy = true;
    try {
      const figures = await this.#o.hub.collect(this.#o.include ? { include: this.#o.include } : {});
      this.#o.sink.report(figures);
      this.#reports++;
    } catch (err) {
      this.#failures++;
      this.#o.log.warn({ err: errorMessage(err), sink: this.#o.sink.type }, 'metrics report failed');
    } finally {
      this.#busy = false;
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#o.sink.close();
  }

  state(): Record<string, unknown> {
    return { interval_ms: this.#o.intervalMs, reports: this.#reports, skipped: this.#skipped, failures: this.#failures, sink: this.#o.sink.state() };
  }

  #arm(): void {
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#running) return;
      void this.reportNow().finally(() => {
        if (this.#running) this.#arm();
      });
    }, this.#o.intervalMs);
    (this.#timer as { unref?: () => void } | undefined)?.unref?.();
  }
}
