// Host.getStats computed as vdsm does from a two-sample window of host samples: jiffy deltas, per-core
// usage, memory, network counters, plus the values added on every call; vdsm's stringification.
import type { Clock } from '../runtime/clock.js';
import { SampleWindow } from '../virt/stats-cache.js';
import { fmt2, fmtInt } from '../virt/stringify.js';
import type { HostSample } from './sample.js';

export const JIFFIES_BOUND = 2 ** 32;
export const NETSTATS_BOUND = 2 ** 32;
/** Intervals shorter than this give the empty stats set (two samples at the same instant). */
export const MIN_INTERVAL_S = 1e-5;

/** Produced values before stringification: which numbers are Python floats is listed in `floats`. */
export interface ProducedHostStats {
  stats: Record<string, unknown>;
  floats: Set<string>;
}

/**
 * The stats before any sample: every key getStats ever reports, with zero or empty values, so the first
 * call after start has the same keys as the later ones (vdsm leaves network, cpuStatistics, diskStats ...
 * out until two samples exist). memUsed and anonHugePages go out as "0": the engine reads both as ints.
 */
export function emptyHostStats(elapsedS: number): ProducedHostStats {
  return {
    stats: {
      cpuLoad: 0.0, cpuUser: 0.0, cpuSys: 0.0, cpuIdle: 100.0, cpuSysVdsmd: 0.0, cpuUserVdsmd: 0.0, elapsedTime: elapsedS, memUsed: 0, anonHugePages: 0,
      network: {}, rxDropped: 0, txDropped: 0, cpuStatistics: {}, numaNodeMemFree: {}, diskStats: {}, hugepages: {}, thpState: 'never', bootTime: 0, v2vJobs: {},
    },
    floats: new Set(['cpuLoad', 'cpuUser', 'cpuSys', 'cpuIdle', 'cpuSysVdsmd', 'cpuUserVdsmd', 'elapsedTime']),
  };
}

function wrap(delta: number, bound: number): number {
  return ((delta % bound) + bound) % bound;
}

export interface CoreStats {
  nodeIndex: number;
  cpuUser: string;
  cpuSys: string;
  cpuIdle: string;
}

/** Per-core usage; cores missing from either sample are left out; zero use before two samples. */
export function cpuCoreStats(first: HostSample, last: HostSample): Record<string, CoreStats> {
  const interval = last.timestamp - first.timestamp;
  const out: Record<string, CoreStats> = {};
  const ids = Object.keys(last.coreNode).length > 0 ? Object.keys(last.coreNode) : Object.keys(last.cores);
  // One sample (or two at one instant) shows the cores, not their use yet.
  const rates = interval >= MIN_INTERVAL_S;
  for (const id of ids.sort((a, b) => Number(a) - Number(b))) {
    const a = first.cores[id];
    const b = last.cores[id];
    if (a === undefined || b === undefined) continue;
    const user = fmt2(rates ? wrap(b.user - a.user, JIFFIES_BOUND) / interval : 0);
    const sys = fmt2(rates ? wrap(b.sys - a.sys, JIFFIES_BOUND) / interval : 0);
    out[id] = { nodeIndex: last.coreNode[id] ?? 0, cpuUser: user, cpuSys: sys, cpuIdle: fmt2(Math.max(0, 100 - Number(user) - Number(sys))) };
  }
  return out;
}

export interface NetIfaceStats {
  name: string;
  speed: string;
  rxDropped: string;
  txDropped: string;
  rxErrors: string;
  txErrors: string;
  state: string;
  rx: string;
  tx: string;
  /** Wall-clock seconds; a string so it never reaches the engine as a bare integer. */
  sampleTime: string;
  /** Receive and transmit rate over the window, percent of the link speed, '%.1f' (vdsm's old rxRate). */
  rxRate: string;
  txRate: string;
}

/**
 * Interface counters of the last sample for interfaces present in both. The dropped totals are the sum
 * of rxDropped and of txDropped respectively (vdsm swaps the two totals; we do not).
 */
export function interfaceStats(first: HostSample, last: HostSample, only?: ReadonlySet<string>): { network: Record<string, NetIfaceStats>; rxDropped: number; txDropped: number } {
  const network: Record<string, NetIfaceStats> = {};
  let rxDropped = 0;
  let txDropped = 0;
  const interval = last.timestamp - first.timestamp;
  for (const [name, iface] of Object.entries(last.interfaces)) {
    const prev = first.interfaces[name];
    if (prev === undefined) continue; // hot-plugged: no baseline yet
    if (only !== undefined && !only.has(name)) continue;
    // Bytes per second as a share of the link speed (Mb/s), capped at 100 as vdsm capped it.
    const speed = iface.speed || 1000;
    const rate = (a: number, b: number): string => (interval >= MIN_INTERVAL_S ? Math.min(100, (100 * wrap(b - a, NETSTATS_BOUND)) / interval / (speed * 125_000)) : 0).toFixed(1);
    network[name] = {
      name, speed: String(iface.speed || 1000),
      rxDropped: String(iface.rxDropped), txDropped: String(iface.txDropped),
      rxErrors: String(iface.rxErrors), txErrors: String(iface.txErrors),
      state: iface.operstate, rx: String(iface.rx), tx: String(iface.tx),
      sampleTime: last.timestamp.toFixed(6),
      rxRate: rate(prev.rx, iface.rx), txRate: rate(prev.tx, iface.tx),
    };
    rxDropped += iface.rxDropped;
    txDropped += iface.txDropped;
  }
  return { network, rxDropped, txDropped };
}

export interface ProduceHostOptions {
  /** Seconds since the agent started. */
  elapsedS: number;
  /** Restrict `network` to these interfaces (the NICs, bonds, VLANs and bridges caps report). */
  interfaces?: ReadonlySet<string>;
  v2vJobs?: Record<string, unknown>;
}

/**
 * Stats from the window: what one sample tells alone (memory, load, disks, counters, per-core entries at
 * zero use) as soon as it exists, rates once two samples at least MIN_INTERVAL_S apart do.
 */
export function produceHostStats(first: HostSample | undefined, last: HostSample | undefined, opts: ProduceHostOptions): ProducedHostStats {
  const out = emptyHostStats(opts.elapsedS);
  if (last === undefined) return out;
  const s = out.stats;
  s['memUsed'] = last.memUsed;
  s['hugepages'] = last.hugepages;
  s['anonHugePages'] = last.anonHugePages;
  s['cpuLoad'] = last.cpuLoad;
  out.floats.delete('cpuLoad');
  s['diskStats'] = last.diskStats;
  s['thpState'] = last.thpState;
  if (last.bootTime !== undefined) s['bootTime'] = last.bootTime;
  s['numaNodeMemFree'] = last.numaNodeMem;
  s['v2vJobs'] = opts.v2vJobs ?? {};
  const interval = first !== undefined ? last.timestamp - first.timestamp : 0;
  const rates = first !== undefined && interval >= MIN_INTERVAL_S;
  const net = interfaceStats(rates ? first : last, last, opts.interfaces);
  s['network'] = net.network;
  s['rxDropped'] = net.rxDropped;
  s['txDropped'] = net.txDropped;
  s['cpuStatistics'] = cpuCoreStats(rates ? first : last, last);
  if (!rates) return out;
  if (first.pidcpu !== undefined && last.pidcpu !== undefined) {
    s['cpuUserVdsmd'] = wrap(last.pidcpu.user - first.pidcpu.user, JIFFIES_BOUND) / interval;
    s['cpuSysVdsmd'] = wrap(last.pidcpu.sys - first.pidcpu.sys, JIFFIES_BOUND) / interval;
  }
  // Jiffies are 1/100 s, so jiffies per second is already a percentage of one CPU.
  const user = wrap(last.totcpu.user - first.totcpu.user, JIFFIES_BOUND) / interval / last.ncpus;
  const sys = wrap(last.totcpu.sys - first.totcpu.sys, JIFFIES_BOUND) / interval / last.ncpus;
  s['cpuUser'] = user;
  s['cpuSys'] = sys;
  s['cpuIdle'] = Math.max(0, 100 - user - sys);
  return out;
}

export interface KsmStats {
  ksmState: boolean;
  ksmPages: number;
  ksmMergeAcrossNodes: boolean;
  /** MiB of memory KSM shares (pages_sharing x page size), as vdsm's MOM client reports it. */
  memShared: number;
  /** Percent of one CPU ksmd used between the two samples (int). */
  ksmCpu: number;
}

/** KSM figures vdsm takes from MOM, read here from /sys and ksmd's CPU time; zero before any sample. */
export function ksmStats(first: HostSample | undefined, last: HostSample | undefined): KsmStats {
  if (last === undefined) return { ksmState: false, ksmPages: 0, ksmMergeAcrossNodes: false, memShared: 0, ksmCpu: 0 };
  const k = last.ksm;
  let ksmCpu = 0;
  const interval = first !== undefined ? last.timestamp - first.timestamp : 0;
  if (first !== undefined && interval >= MIN_INTERVAL_S && k.ksmdJiffies !== undefined && first.ksm.ksmdJiffies !== undefined && first.ksm.ksmdPid === k.ksmdPid) {
    ksmCpu = Math.round(wrap(k.ksmdJiffies - first.ksm.ksmdJiffies, JIFFIES_BOUND) / interval);
  }
  return {
    ksmState: k.run,
    ksmPages: k.pagesToScan,
    ksmMergeAcrossNodes: k.mergeAcrossNodes,
    memShared: Math.floor((k.pagesSharing * k.pageSizeKiB) / 1024),
    ksmCpu,
  };
}

/** vdsm's convertToStr on every top-level scalar: floats "%.2f", ints "%d"; objects untouched. */
export function stringifyHostStats(p: ProducedHostStats): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p.stats)) {
    if (typeof v === 'number') out[k] = p.floats.has(k) ? fmt2(v) : fmtInt(v);
    else out[k] = v;
  }
  return out;
}

/** "2025-11-25T09:49:16 GMT" (UTC), the format the engine parses for its time-drift check. */
export function formatDateTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)} GMT`;
}

/** Hosted-engine HA when it is not installed (vdsm's defaults). */
export function haStatsAbsent(): Record<string, boolean | number> {
  return { configured: false, active: false, score: 0, globalMaintenance: false, localMaintenance: false };
}

export interface HostStatsExtras {
  /** Wall clock ms for dateTime. */
  nowMs: number;
  /** /proc/meminfo in kB, read at request time or taken from the newest sample. */
  meminfo: Record<string, number>;
  vmCounts: { vmCount: number; vmActive: number; vmMigrating: number; incomingVmMigrations: number; outgoingVmMigrations: number };
  /** repoStats when storage is connected; {} otherwise. */
  storageDomains?: Record<string, unknown>;
  /** Only when multipath monitoring is configured. */
  multipathHealth?: Record<string, unknown>;
  /** MOM status: no MOM runs here ('inactive', as vdsm reports a MOM it cannot reach). */
  mom?: { status: 'active' | 'inactive' };
  /** KSM figures (vdsm gets them from MOM; here from /sys); zero when absent. */
  ksm?: KsmStats;
  netConfigDirty?: boolean;
  haStats?: { configured: boolean; active: boolean; score: number; globalMaintenance: boolean; localMaintenance: boolean };
}

/** The Host.getStats result. */
export function buildHostStats(produced: ProducedHostStats, extras: HostStatsExtras): Record<string, unknown> {
  const ret = stringifyHostStats(produced);
  ret['storageDomains'] = extras.storageDomains ?? {};
  if (extras.multipathHealth !== undefined) ret['multipathHealth'] = extras.multipathHealth;
  const m = extras.meminfo;
  ret['memFree'] = Math.floor(((m['MemFree'] ?? 0) + (m['Cached'] ?? 0) + (m['Buffers'] ?? 0) + (m['SReclaimable'] ?? 0)) / 1024);
  ret['swapTotal'] = Math.floor((m['SwapTotal'] ?? 0) / 1024);
  ret['swapFree'] = Math.floor((m['SwapFree'] ?? 0) / 1024);
  Object.assign(ret, extras.vmCounts);
  ret['dateTime'] = formatDateTime(extras.nowMs);
  ret['momStatus'] = extras.mom?.status ?? 'inactive';
  Object.assign(ret, extras.ksm ?? ksmStats(undefined, undefined));
  ret['netConfigDirty'] = extras.netConfigDirty === true ? 'True' : 'False';
  const ha = extras.haStats ?? haStatsAbsent();
  ret['haStats'] = ha;
  if (ha['configured'] === true) ret['haScore'] = ha['score'];
  return ret;
}

/** The two-sample window HostMonitor appends to every 15 s, and what getStats computes from it. */
export class HostStatsWindow {
  readonly #window: SampleWindow<HostSample>;
  readonly #clock: Clock;
  readonly #startedAt: number;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#startedAt = clock.now();
    this.#window = new SampleWindow<HostSample>(2, () => clock.now());
  }

  append(sample: HostSample): void {
    this.#window.append(sample);
  }

  /** The newest sample, if any (its meminfo serves memFree/swap). */
  latest(): HostSample | undefined {
    return this.#window.last()?.value;
  }

  elapsedS(): number {
    return (this.#clock.now() - this.#startedAt) / 1000;
  }

  produce(opts: Omit<ProduceHostOptions, 'elapsedS'> = {}): ProducedHostStats {
    const [first, last] = this.#pair();
    return produceHostStats(first, last, { ...opts, elapsedS: this.elapsedS() });
  }

  ksm(): KsmStats {
    const [first, last] = this.#pair();
    return ksmStats(first, last);
  }

  /** The two samples rates come from, or the only one; nothing before the first sample. */
  #pair(): [HostSample | undefined, HostSample | undefined] {
    const s = this.#window.stats();
    if (s !== undefined) return [s.first, s.last];
    return [undefined, this.latest()];
  }

  describe(): { samples: number; latestTimestamp: number | null } {
    return { samples: this.#window.length, latestTimestamp: this.latest()?.timestamp ?? null };
  }
}
