// VM bulk stats sampling (vdsm's VMBulkstatsMonitor): a non-exclusive periodic operation whose libvirt
// call runs in a worker; results land in the StatsCache, which request paths read. When a previous
// call is still stuck, or some VMs recently did not answer, it takes the slow path: only VMs whose
// monitor answers, and VMs that did not are skipped for a while (40 s: not a multiple of 15 s, and
// longer than libvirt's 30 s monitor timeout).
import { Lifecycle } from '../runtime/lifecycle.js';
import type { Logger } from 'pino';
import { StatsFlag, VDSM_STATS_GROUPS } from '../libvirt/constants.js';
import type { Libvirt } from '../libvirt/client.js';
import { Operation } from '../runtime/periodic.js';
import type { Scheduler } from '../runtime/scheduler.js';
import type { Clock } from '../runtime/clock.js';
import { BulkStatsView } from '../contracts/bulk-stats-codec.js';
import type { StatsCache } from '../virt/stats-cache.js';

export const UNRESPONSIVE_TTL_MS = 40_000;

export interface VmSamplingOptions {
  /** The libvirt client over the periodic executor (bulk stats run there). */
  libvirt: Libvirt;
  /** Described in the "executor state:" line when the queue is full. */
  executor?: { state?(): unknown };
  scheduler: Scheduler;
  clock: Clock;
  statsCache: StatsCache;
  log: Logger;
  /** Ids of the VMs that should have stats (running in libvirt). */
  vmIds: () => string[];
  /** [vars] vm_sample_interval in ms. */
  periodMs: number;
  /** [vars] nowait_domain_stats */
  nowait: boolean;
  /** Called after a new sample is stored (the VM reports built from it are refreshed). */
  onSample?: () => void;
}

export class VmSampling {
  #o: VmSamplingOptions;
  #op: Operation<never>;
  #inFlight = 0;
  /** uuid -> clock ms until which it is skipped */
  #skip = new Map<string, number>();
  #runs = { fast: 0, slow: 0, failed: 0, badSamples: 0, resyncs: 0 };
  #unsubscribe: (() => void) | undefined;
  readonly #life = new Lifecycle('VM sampling');

  constructor(opts: VmSamplingOptions) {
    this.#o = opts;
    this.#op = new Operation({
      name: 'VMBulkstatsMonitor',
      periodMs: opts.periodMs,
      scheduler: opts.scheduler,
      log: opts.log,
      exclusive: false,
      ...(opts.executor ? { executor: opts.executor } : {}),
      run: () => this.#sample(),
    });
  }

  /** Sample every period, and at once after a libvirt reconnect. Idempotent (src/runtime/lifecycle.ts). */
  start(): void {
    this.#life.startSync(() => {
      this.#op.start();
      this.#unsubscribe = this.#o.libvirt.onReconnect(() => this.#resync());
    });
  }

  /** No more rounds (one in flight still lands in the cache). Idempotent. */
  close(): void {
    this.#life.closeSync(() => {
      this.#op.stop();
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
    });
  }

  destroy(): void {
    this.close();
  }

  /** One sampling round now (also what the periodic operation runs). Throws RESOURCE_EXHAUSTED synchronously. */
  sampleNow(): Promise<void> {
    return this.#sample();
  }

  /** True while the VM is skipped because it did not answer a recent sampling. */
  isUnresponsive(vmId: string): boolean {
    const until = this.#skip.get(vmId);
    return until !== undefined && until > this.#o.clock.now();
  }

  state(): Record<string, unknown> {
    return { lifecycle: this.#life.state, inFlight: this.#inFlight, skipped: [...this.#skip.keys()], runs: { ...this.#runs }, operation: this.#op.state(), cache: this.#o.statsCache.describe() };
  }

  /**
   * After a libvirt reconnect: which VMs did not answer was learnt on the old connection, and the cache
   * holds samples from before the outage; forget the first and take a sample now rather than up to a
   * period later.
   */
  #resync(): void {
    this.#runs.resyncs++;
    this.#skip.clear();
    try {
      void this.#sample();
    } catch (err) {
      this.#o.log.warn({ err }, 'VM stats resync after the libvirt reconnect could not start; the next period samples');
    }
  }

  #sample(): Promise<void> {
    const now = this.#o.clock.now();
    for (const [id, until] of this.#skip) if (until <= now) this.#skip.delete(id);
    const slow = this.#inFlight > 0 || this.#skip.size > 0;
    const args: { stats: number; flags: number; uuids?: string[] } = {
      stats: VDSM_STATS_GROUPS,
      // ACTIVE rather than vdsm's RUNNING: paused VMs keep fresh stats instead of turning NotResponding.
      flags: StatsFlag.ACTIVE | (this.#o.nowait ? StatsFlag.NOWAIT : 0),
    };
    if (slow) args.uuids = this.#o.vmIds().filter((id) => !this.#skip.has(id));
    // The timestamp is taken before the call, so a stuck call's late result is recognised as stale.
    const sampledAt = this.#o.statsCache.clock();
    const p = this.#o.libvirt.call('sampling.bulkStats', args, { timeoutMs: this.#op.periodMs / 2, discard: true });
    this.#inFlight++;
    if (slow) this.#runs.slow++; else this.#runs.fast++;
    return p.then(
      (result) => {
        const until = this.#o.clock.now() + UNRESPONSIVE_TTL_MS;
        for (const id of result.unresponsive) this.#skip.set(id, until);
        if (result.unresponsive.length > 0) this.#o.log.warn({ vms: result.unresponsive }, 'VMs not responding to monitoring; skipped for 40 s');
        // The records arrive as one transferred buffer: opened (checked whole) here, each VM's record
        // decoded when its report is built. A buffer that does not check out is this round's failure:
        // the cache keeps the previous sample.
        let sample: BulkStatsView;
        try {
          sample = new BulkStatsView(result.records);
        } catch (err) {
          this.#runs.failed++;
          this.#runs.badSamples++;
          this.#o.log.error({ err }, 'VM bulk stats sample refused: the sampling worker sent a buffer this agent cannot read; the previous sample stays');
          return;
        }
        if (this.#o.statsCache.put(sample, sampledAt)) this.#o.onSample?.();
      },
      (err: unknown) => {
        this.#runs.failed++;
        this.#o.log.warn({ err }, 'VM bulk stats sampling failed');
      },
    ).finally(() => { this.#inFlight--; });
  }
}
