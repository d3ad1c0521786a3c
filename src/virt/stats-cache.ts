// The VM bulk-stats cache: the last two GLOBAL samples plus, per VM, when it was last seen, so a request
// computes rates from two samples without touching libvirt, and stale results of unstuck calls are dropped.
import type { Clock } from '../runtime/clock.js';

export interface WarnSink {
  warn(msg: string): void;
}

interface Stamped<T> {
  at: number;
  value: T;
}

/** A sliding window of the last `size` samples, each stamped with the clock when appended. */
export class SampleWindow<T> {
  readonly #size: number;
  readonly #now: () => number;
  #samples: Stamped<T>[] = [];

  constructor(size: number, now: () => number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`window size must be not less than 1, got ${size}`);
    this.#size = size;
    this.#now = now;
  }

  append(value: T): void {
    this.#samples.push({ at: this.#now(), value });
    if (this.#samples.length > this.#size) this.#samples.splice(0, this.#samples.length - this.#size);
  }

  /** The first and last sample in the window and the time between them; undefined with fewer than two. */
  stats(): { first: T; last: T; elapsed: number } | undefined {
    if (this.#samples.length < 2) return undefined;
    const first = this.#samples[0] as Stamped<T>;
    const last = this.#samples[this.#samples.length - 1] as Stamped<T>;
    return { first: first.value, last: last.value, elapsed: last.at - first.at };
  }

  /** The nth-last sample (1 = newest) with its stamp, or undefined when there are fewer samples. */
  last(nth = 1): { at: number; value: T } | undefined {
    if (nth < 1 || this.#samples.length < nth) return undefined;
    return this.#samples[this.#samples.length - nth];
  }

  get length(): number {
    return this.#samples.length;
  }
}

/** A libvirt bulk-stats record: flat keys such as 'cpu.time', 'net.0.rx.bytes'. */
export type BulkStatsRecord = Record<string, number | string | boolean>;

/** vmId -> record, as one getAllDomainStats call returns it. */
export type BulkSample = Record<string, BulkStatsRecord>;

/**
 * One sample's records by VM, as the cache keeps them: the sampling worker's encoded buffer, opened
 * (BulkStatsView: a VM's record is decoded when asked for, a new object each time), or a plain BulkSample.
 */
export interface SampleRecords {
  has(vmId: string): boolean;
  record(vmId: string): BulkStatsRecord | undefined;
  ids(): Iterable<string>;
}

/** A plain BulkSample as SampleRecords (the same record object on every call). */
class PlainSample implements SampleRecords {
  readonly #sample: BulkSample;
  constructor(sample: BulkSample) {
    this.#sample = sample;
  }
  has(vmId: string): boolean {
    return Object.hasOwn(this.#sample, vmId);
  }
  record(vmId: string): BulkStatsRecord | undefined {
    return Object.hasOwn(this.#sample, vmId) ? this.#sample[vmId] : undefined;
  }
  ids(): Iterable<string> {
    return Object.keys(this.#sample);
  }
}

function isSampleRecords(s: BulkSample | SampleRecords): s is SampleRecords {
  return typeof (s as Partial<SampleRecords>).record === 'function' && typeof (s as Partial<SampleRecords>).has === 'function';
}

/** interval and statsAge are in seconds (the clock is in milliseconds). */
export interface StatsSample {
  first: BulkStatsRecord | undefined;
  last: BulkStatsRecord | undefined;
  interval: number | undefined;
  statsAge: number;
  /**
   * The stored samples `first` and `last` come from (when the VM is in both): a VM's records change
   * exactly when these do, so a report built from them is compared by these without decoding records.
   */
  from?: { first: object; last: object } | undefined;
}

/**
 * A VM's two records, decoded from their samples on first use and then kept by this object only (a
 * report build takes one and drops it: the records do not outlive it on the heap).
 */
class LazyStatsSample implements StatsSample {
  readonly #vmId: string;
  #first: BulkStatsRecord | undefined | null = null;
  #last: BulkStatsRecord | undefined | null = null;
  readonly interval: number;
  readonly statsAge: number;
  readonly from: { first: SampleRecords; last: SampleRecords };

  constructor(vmId: string, first: SampleRecords, last: SampleRecords, interval: number, statsAge: number) {
    this.#vmId = vmId;
    this.from = { first, last };
    this.interval = interval;
    this.statsAge = statsAge;
  }

  get first(): BulkStatsRecord | undefined {
    if (this.#first === null) this.#first = this.from.first.record(this.#vmId);
    return this.#first;
  }

  get last(): BulkStatsRecord | undefined {
    if (this.#last === null) this.#last = this.from.last.record(this.#vmId);
    return this.#last;
  }
}

export function isEmptySample(s: StatsSample): boolean {
  return s.first === undefined && s.last === undefined && s.interval === undefined;
}

export interface StatsCacheState {
  samples: number;
  lastSampleTime: number;
  vmsTracked: number;
  droppedStale: number;
}

export class StatsCache {
  readonly #clock: Clock;
  readonly #log: WarnSink | undefined;
  readonly #window: SampleWindow<SampleRecords>;
  #lastSampleTime = 0;
  #droppedStale = 0;
  /** vmId -> clock ms of the last sample containing it (or of add()); absent means 0, as in vdsm. */
  readonly #vmLastSeen = new Map<string, number>();

  constructor(clock: Clock, log?: WarnSink) {
    this.#clock = clock;
    this.#log = log;
    this.#window = new SampleWindow<SampleRecords>(2, () => clock.now());
  }

  /** A timestamp compatible with put(): take it BEFORE the possibly-blocking sampling call. */
  clock(): number {
    return this.#clock.now();
  }

  /** Warm the cache for a VM just started, so it is not reported unresponsive before its first sample. */
  add(vmId: string): void {
    this.#vmLastSeen.set(vmId, this.#clock.now());
  }

  remove(vmId: string): void {
    this.#vmLastSeen.delete(vmId);
  }

  /**
   * Store a sample taken at `sampledAt` (clock ms, read before the libvirt call). A sample older than
   * the newest stored one comes from a call that was stuck and then returned: it is dropped.
   */
  put(sample: BulkSample | SampleRecords, sampledAt: number): boolean {
    if (sampledAt < this.#lastSampleTime) {
      this.#droppedStale++;
      this.#log?.warn(`dropped stale old sample: sampled ${sampledAt.toFixed(3)} stored ${this.#lastSampleTime.toFixed(3)}`);
      return false;
    }
    const records = isSampleRecords(sample) ? sample : new PlainSample(sample);
    this.#window.append(records);
    this.#lastSampleTime = sampledAt;
    for (const vmId of records.ids()) this.#vmLastSeen.set(vmId, sampledAt);
    return true;
  }

  /** Clock ms of the last sample holding the VM (0 when none): its statsAge without looking up its records. */
  lastSeen(vmId: string): number {
    return this.#vmLastSeen.get(vmId) ?? 0;
  }

  get(vmId: string): StatsSample {
    const stats = this.#window.stats();
    const statsAge = (this.#clock.now() - this.lastSeen(vmId)) / 1000;
    if (stats === undefined || !stats.first.has(vmId) || !stats.last.has(vmId)) {
      return { first: undefined, last: undefined, interval: undefined, statsAge };
    }
    return new LazyStatsSample(vmId, stats.first, stats.last, stats.elapsed / 1000, statsAge);
  }

  /** Samples for every known VM present in both stored samples; undefined before two samples. */
  getBatch(): Map<string, StatsSample> | undefined {
    const stats = this.#window.stats();
    if (stats === undefined) return undefined;
    const now = this.#clock.now();
    const out = new Map<string, StatsSample>();
    for (const vmId of stats.last.ids()) {
      const seen = this.#vmLastSeen.get(vmId);
      if (!stats.first.has(vmId) || seen === undefined) continue;
      out.set(vmId, new LazyStatsSample(vmId, stats.first, stats.last, stats.elapsed / 1000, (now - seen) / 1000));
    }
    return out;
  }

  describe(): StatsCacheState {
    return { samples: this.#window.length, lastSampleTime: this.#lastSampleTime, vmsTracked: this.#vmLastSeen.size, droppedStale: this.#droppedStale };
  }
}
