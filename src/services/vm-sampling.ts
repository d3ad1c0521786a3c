// VM bulk stats sampling (vdsm's VMBulkstatsMonitor): a non-exclusive periodic operation whose libvirt
// call runs in a worker; results land in the StatsCache, which request paths read. When a previous
// call is still stuck, or some VMs recently did not answer, it takes the slow path: only VMs whose
// monitor answers, and VMs that did not are skipped for a while (40 s: not a multiple of 15 s, and
// longer than libvirt's 30 s monitor timeout).
import type { Logger } from 'pino';
import { StatsFlag, VDSM_STATS_GROUPS } from '../libvirt/constants.js';
import type { Dispatcher } from '../contracts/dispatcher.js';
import { Operation } from '../runtime/periodic.js';
import type { Scheduler } from '../runtime/scheduler.js';
import type { Clock } from '../runtime/clock.js';
import type { BulkSample, BulkStatsRecord, StatsCache } from '../virt/stats-cache.js';

export const UNRESPONSIVE_TTL_MS = 40_000;

export interface VmSamplingOptions {
  executor: Dispatcher & { state?(): unknown };
  scheduler: Scheduler;
  clock: Clock;
  statsCache: StatsCache;
  log: Logger;
  /** Shared libvirt connection id. */
  conn: () => number;
  /** Ids of the VMs that should have stats (running in libvirt). */
  vmIds: () => string[];
  /** [vars] vm_sample_interval in ms. */
  periodMs: number;
  /** [vars] nowait_domain_stats */
  nowait: boolean;
}

export class VmSampling {
  #o: VmSamplingOptions;
  #op: Operation<never>;
  #inFlight = 0;
  /** uuid -> clock ms until which it is skipped */
  #skip = new Map<string, number>();
  #runs = { fast: 0, slow: 0, failed: 0 };

  constructor(opts: VmSamplingOptions) {
    this.#o = opts;
    this.#op = new Operation({
      name: 'VMBulkstatsMonitor',
      periodMs: opts.periodMs,
      scheduler: opts.scheduler,
      log: opts.log,
      exclusive: false,
      executor: opts.executor,
      run: () => this.#sample(),
    });
  }

  start(): void {
    if (!this.#op.running) this.#op.start();
  }

  stop(): void {
    this.#op.stop();
  }

  /** One sampling round now (also what the periodic operation runs). Throws RESOURCE_EXHAUSTED synchronously. */
  sampleNow(): Promise<void> {
    return this.#sample();
  }

  state(): Record<string, unknown> {
    return { inFlight: this.#inFlight, skipped: [...this.#skip.keys()], runs: { ...this.#runs }, cache: this.#o.statsCache.describe() };
  }

  #sample(): Promise<void> {
    const now = this.#o.clock.now();
    for (const [id, until] of this.#skip) if (until <= now) this.#skip.delete(id);
    const slow = this.#inFlight > 0 || this.#skip.size > 0;
    const args: { conn: number; stats: number; flags: number; uuids?: string[] } = {
      conn: this.#o.conn(),
      stats: VDSM_STATS_GROUPS,
      // ACTIVE rather than vdsm's RUNNING: paused VMs keep fresh stats instead of turning NotResponding.
      flags: StatsFlag.ACTIVE | (this.#o.nowait ? StatsFlag.NOWAIT : 0),
    };
    if (slow) args.uuids = this.#o.vmIds().filter((id) => !this.#skip.has(id));
    // The timestamp is taken before the call, so a stuck call's late result is recognised as stale.
    const sampledAt = this.#o.statsCache.clock();
    const p = this.#o.executor.dispatch('sampling.bulkStats', args, { timeoutMs: this.#op.periodMs / 2, discard: true });
    this.#inFlight++;
    if (slow) this.#runs.slow++; else this.#runs.fast++;
    return p.then(
      (result) => {
        const until = this.#o.clock.now() + UNRESPONSIVE_TTL_MS;
        for (const id of result.unresponsive) this.#skip.set(id, until);
        if (result.unresponsive.length > 0) this.#o.log.warn({ vms: result.unresponsive }, 'VMs not responding to monitoring; skipped for 40 s');
        const sample: BulkSample = {};
        for (const [uuid, rec] of Object.entries(result.records)) sample[uuid] = rec as BulkStatsRecord;
        this.#o.statsCache.put(sample, sampledAt);
      },
      (err: unknown) => {
        this.#runs.failed++;
        this.#o.log.warn({ err: (err as Error).message, code: (err as { code?: string }).code }, 'VM bulk stats sampling failed');
      },
    ).finally(() => { this.#inFlight--; });
  }
}
