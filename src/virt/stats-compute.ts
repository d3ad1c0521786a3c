// VM statistics computed as vdsm computes them from two libvirt bulk-stats records (CPU, vCPUs, NIC
// counters, disk rates and latencies, balloon, guest memory), then stringified for the wire.
import type { BulkStatsRecord } from './stats-cache.js';
import { fmt2, fmtInt, pyDivStr, pyRound } from './stringify.js';

export interface StatsLog {
  warn(msg: string): void;
  error(msg: string): void;
}

export interface VmNicDevice {
  /** Target device name (e.g. vnet0): bulk stats are matched by this name, never by index. */
  name: string;
  macAddr: string;
  model: string;
  isHostdevice?: boolean;
}

export interface VmDriveDevice {
  /** Target dev (e.g. vda). */
  name: string;
  truesize: number;
  apparentsize: number;
  imageID?: string;
  lunGUID?: string;
}

export interface BalloonTarget {
  /** KiB */
  target: number;
  /** KiB */
  minimum: number;
  enabled: boolean;
}

/** What the computation needs to know about the VM besides the samples. */
export interface VmStatsSubject {
  vmId: string;
  memSizeMiB: number;
  nics: readonly VmNicDevice[];
  drives: readonly VmDriveDevice[];
  balloon?: BalloonTarget | undefined;
  /** false for migration destinations: missing keys are expected there and not logged. */
  monitorable: boolean;
}

export type NicStats = Record<string, string>;
export type DiskStats = Record<string, string>;

/** Values before vdsm's translate(): numbers keep their Python type, as documented per field. */
export interface ProducedVmStats {
  cpuUser: number;
  cpuSys: number;
  /** float 0.0 when unknown (rendered "0.00"), else the absolute ns string. */
  cpuUsage: number | string;
  cpuActual: boolean;
  vcpuCount?: number;
  network: Record<string, NicStats>;
  disks?: Record<string, DiskStats>;
  balloonInfo: Record<string, string | boolean>;
  memoryStats?: Record<string, string | number>;
}

const NS_PER_S = 1e9;

/**
 * Bulk-stats key names per device index, built once and reused: a report reads ~50 keys per VM, and a
 * lookup with a freshly concatenated key string must hash it every time (a measurable share of
 * getAllVmStats for 1,000 VMs), while the same string object keeps its hash.
 */
interface NetKeys { name: string; rxErrs: string; rxDrop: string; txErrs: string; txDrop: string; rxBytes: string; txBytes: string }
interface IoKeys { reqs: string; times: string; bytes: string }
interface BlockKeys { name: string; rd: IoKeys; wr: IoKeys; fl: IoKeys }
const NET_COUNT = 'net.count';
const BLOCK_COUNT = 'block.count';
const netKeyTable: NetKeys[] = [];
const blockKeyTable: BlockKeys[] = [];

function netKeys(i: number): NetKeys {
  for (let n = netKeyTable.length; n <= i; n++) {
    const p = `net.${n}.`;
    netKeyTable.push({ name: `${p}name`, rxErrs: `${p}rx.errs`, rxDrop: `${p}rx.drop`, txErrs: `${p}tx.errs`, txDrop: `${p}tx.drop`, rxBytes: `${p}rx.bytes`, txBytes: `${p}tx.bytes` });
  }
  return netKeyTable[i] as NetKeys;
}

function blockKeys(i: number): BlockKeys {
  for (let n = blockKeyTable.length; n <= i; n++) {
    const io = (mode: string): IoKeys => ({ reqs: `block.${n}.${mode}.reqs`, times: `block.${n}.${mode}.times`, bytes: `block.${n}.${mode}.bytes` });
    blockKeyTable.push({ name: `block.${n}.name`, rd: io('rd'), wr: io('wr'), fl: io('fl') });
  }
  return blockKeyTable[i] as BlockKeys;
}

/**
 * pyDivStr with a fast path: within [1e-4, 1e16) both JavaScript's String() and Python's repr() print
 * the shortest round-trip digits in positional notation; Python adds '.0' to integral values.
 */
function divStr(numerator: number, denominator: number): string {
  const x = numerator / denominator;
  const a = Math.abs(x);
  if (a >= 1e-4 && a < 1e16) {
    const text = String(x);
    return text.includes('.') ? text : `${text}.0`;
  }
  return pyDivStr(numerator, denominator);
}

function num(sample: BulkStatsRecord, key: string): number | undefined {
  const v = sample[key];
  return typeof v === 'number' ? v : undefined;
}

function usagePercent(deltaNs: number, intervalS: number): number {
  return (100 * deltaNs) / intervalS / NS_PER_S;
}

class MissingStat extends Error {}

function need(sample: BulkStatsRecord, key: string): number {
  const v = num(sample, key);
  if (v === undefined) throw new MissingStat(key);
  return v;
}

/** Run `fn`; a missing key is logged (only for monitorable VMs) and swallowed, as vdsm does. */
function skipIfMissing(subject: VmStatsSubject, log: StatsLog | undefined, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof MissingStat)) throw err;
    if (subject.monitorable) log?.warn(`Missing stat: '${err.message}' for vm ${subject.vmId}`);
  }
}

/**
 * cpuSys = qemu user+system time, cpuUser = the rest of cpu.time (vdsm's odd naming), both as percent
 * of one CPU over the interval. Returns false when the data is incomplete (the defaults stay).
 */
export function cpuStats(stats: Partial<ProducedVmStats>, first: BulkStatsRecord | undefined, last: BulkStatsRecord | undefined, interval: number | undefined, log?: StatsLog): boolean {
  stats.cpuUser = 0.0;
  stats.cpuSys = 0.0;
  stats.cpuUsage = 0.0;
  stats.cpuActual = false;
  if (first === undefined || last === undefined || interval === undefined) return false;
  if (interval <= 0) {
    log?.warn(`invalid interval ${Math.trunc(interval)} when computing CPU stats`);
    return false;
  }
  const keys = ['cpu.system', 'cpu.user'];
  if (!keys.every((k) => num(first, k) !== undefined && num(last, k) !== undefined)) return false;
  const lastSys = num(last, 'cpu.system') as number;
  const lastUser = num(last, 'cpu.user') as number;
  stats.cpuUsage = String(lastSys + lastUser);
  const qemuTime = (lastUser - (num(first, 'cpu.user') as number)) + (lastSys - (num(first, 'cpu.system') as number));
  stats.cpuSys = usagePercent(qemuTime, interval);
  const firstTime = num(first, 'cpu.time');
  const lastTime = num(last, 'cpu.time');
  if (firstTime === undefined || lastTime === undefined) return false;
  // user/system have ~10 ms resolution while cpu.time has ns: the difference can dip below zero.
  stats.cpuUser = Math.max(0, usagePercent(lastTime - firstTime - qemuTime, interval));
  stats.cpuActual = true;
  return true;
}

export function vcpuCount(stats: Partial<ProducedVmStats>, last: BulkStatsRecord | undefined, log?: StatsLog): void {
  if (last === undefined) return;
  const v = num(last, 'vcpu.current');
  if (v === undefined) return;
  if (v === -1) {
    log?.error('Failed to get VM cpu count');
    return;
  }
  stats.vcpuCount = v;
}

/** name -> index for a group ('net', 'block'); count is only an upper bound, names may be missing. */
export function bulkStatsIndexByName(sample: BulkStatsRecord, group: 'net' | 'block'): Map<string, number> {
  const out = new Map<string, number>();
  const count = num(sample, group === 'net' ? NET_COUNT : BLOCK_COUNT) ?? 0;
  for (let i = 0; i < count; i++) {
    const name = sample[group === 'net' ? netKeys(i).name : blockKeys(i).name];
    if (typeof name === 'string') out.set(name, i);
  }
  return out;
}

const GIGABIT_MODELS = new Set(['e1000', 'e1000e', 'virtio']);

/**
 * Per-vNIC counters (no rates: the engine derives them from the counters and sampleTime), one entry per
 * NIC of the domain from the first report on (issue 11: vdsm lists only NICs present in two samples, so a
 * new VM, or one on a hypervisor without interface stats such as libvirt's test driver, had none). A NIC
 * the last sample does not cover reports zero counters. `sampleTimeS` is monotonic seconds, sent as a
 * string, never a bare JSON number.
 */
export function networkStats(subject: VmStatsSubject, stats: Partial<ProducedVmStats>, first: BulkStatsRecord | undefined, last: BulkStatsRecord | undefined, interval: number | undefined, sampleTimeS: number, log?: StatsLog): boolean {
  stats.network = {};
  if (interval !== undefined && interval <= 0) {
    log?.warn(`invalid interval ${Math.trunc(interval)} when computing network stats for vm ${subject.vmId}`);
    return false;
  }
  const lastIdx = last !== undefined ? bulkStatsIndexByName(last, 'net') : new Map<string, number>();
  const sampleTime = sampleTimeS.toFixed(6);
  for (const nic of subject.nics) {
    if (nic.isHostdevice === true || nic.name === '') continue;
    const s: NicStats = { macAddr: nic.macAddr, name: nic.name, speed: GIGABIT_MODELS.has(nic.model) ? '1000' : '100', state: 'unknown' };
    const i = lastIdx.get(nic.name);
    if (last === undefined || i === undefined) {
      Object.assign(s, { rxErrors: '0', rxDropped: '0', txErrors: '0', txDropped: '0', rx: '0', tx: '0' });
    } else {
      // Like vdsm: the counters before a missing one are kept, the rest of that group is not.
      const k = netKeys(i);
      skipIfMissing(subject, log, () => {
        s['rxErrors'] = String(need(last, k.rxErrs));
        s['rxDropped'] = String(need(last, k.rxDrop));
        s['txErrors'] = String(need(last, k.txErrs));
        s['txDropped'] = String(need(last, k.txDrop));
      });
      skipIfMissing(subject, log, () => {
        s['rx'] = String(need(last, k.rxBytes));
        s['tx'] = String(need(last, k.txBytes));
      });
    }
    s['sampleTime'] = sampleTime;
    stats.network[nic.name] = s;
  }
  return first !== undefined && last !== undefined;
}

function driveInfo(drive: VmDriveDevice): DiskStats {
  const s: DiskStats = {
    truesize: String(drive.truesize), apparentsize: String(drive.apparentsize),
    readLatency: '0', writeLatency: '0', flushLatency: '0',
    writtenBytes: '0', writeOps: '0', readOps: '0', readBytes: '0',
    readRate: '0.0', writeRate: '0.0',
  };
  if (drive.imageID !== undefined) s['imageID'] = drive.imageID;
  else if (drive.lunGUID !== undefined) s['lunGUID'] = drive.lunGUID;
  return s;
}

const RATES = [['readRate', 'rd'], ['writeRate', 'wr']] as const;
const LATENCIES = [['readLatency', 'rd'], ['writeLatency', 'wr'], ['flushLatency', 'fl']] as const;
const COUNTERS = [['readOps', 'rd', 'reqs'], ['writeOps', 'wr', 'reqs'], ['readBytes', 'rd', 'bytes'], ['writtenBytes', 'wr', 'bytes']] as const;

/** Rates in bytes/s over the interval; latencies in ns per request; ops/bytes absolute counters. */
export function diskStats(subject: VmStatsSubject, stats: Partial<ProducedVmStats>, first: BulkStatsRecord | undefined, last: BulkStatsRecord | undefined, interval: number | undefined, log?: StatsLog): boolean {
  if (first === undefined || last === undefined) return false;
  const firstIdx = bulkStatsIndexByName(first, 'block');
  const lastIdx = bulkStatsIndexByName(last, 'block');
  const out: Record<string, DiskStats> = {};
  for (const drive of subject.drives) {
    const s = driveInfo(drive);
    const fi = firstIdx.get(drive.name);
    const li = lastIdx.get(drive.name);
    if (fi !== undefined && li !== undefined) {
      const kf = blockKeys(fi);
      const kl = blockKeys(li);
      if (interval === undefined || interval <= 0) {
        log?.warn(`invalid interval ${Math.trunc(interval ?? 0)} when calculating stats for vm ${subject.vmId} disk ${drive.name}`);
      } else {
        for (const [name, mode] of RATES) {
          const a = num(first, kf[mode].bytes);
          const b = num(last, kl[mode].bytes);
          if (a !== undefined && b !== undefined) s[name] = divStr(b - a, interval);
        }
      }
      for (const [name, mode] of LATENCIES) {
        const r0 = num(first, kf[mode].reqs);
        const r1 = num(last, kl[mode].reqs);
        const t0 = num(first, kf[mode].times);
        const t1 = num(last, kl[mode].times);
        if (r0 === undefined || r1 === undefined || t0 === undefined || t1 === undefined) continue;
        const ops = r1 - r0;
        s[name] = ops !== 0 ? divStr(t1 - t0, ops) : '0';
      }
      for (const [name, mode, field] of COUNTERS) {
        const v = num(last, kl[mode][field]);
        if (v !== undefined) s[name] = String(v);
      }
    }
    out[drive.name] = s;
  }
  if (Object.keys(out).length > 0) stats.disks = out;
  return true;
}

/** Balloon figures only once the target is known: MOM ignores VMs with partial balloon data. */
export function balloonStats(subject: VmStatsSubject, stats: Partial<ProducedVmStats>, last: BulkStatsRecord | undefined, log?: StatsLog): void {
  stats.balloonInfo = {};
  const b = subject.balloon;
  if (b === undefined || last === undefined) return;
  let cur = 0;
  skipIfMissing(subject, log, () => {
    cur = need(last, 'balloon.current');
  });
  stats.balloonInfo = {
    balloon_max: String(subject.memSizeMiB * 1024),
    balloon_min: String(b.minimum),
    balloon_cur: String(cur),
    balloon_target: String(b.target),
    ballooning_enabled: b.enabled,
  };
}

/** Guest memory from the balloon driver; skipped entirely when balloon.available is missing. */
export function memoryStats(stats: Partial<ProducedVmStats>, first: BulkStatsRecord | undefined, last: BulkStatsRecord | undefined, interval: number | undefined): void {
  const mem: Record<string, string | number> = {};
  if (last !== undefined) {
    if (num(last, 'balloon.available') === undefined) return;
    const unused = num(last, 'balloon.unused') ?? 0;
    mem['mem_total'] = String(num(last, 'balloon.available') ?? 0);
    mem['mem_unused'] = String(unused);
    mem['mem_free'] = String(unused + (num(last, 'balloon.disk_caches') ?? 0));
  }
  if (first !== undefined && last !== undefined && interval !== undefined && interval > 0) {
    const rate = (key: string): number => pyRound(((num(last, key) ?? 0) - (num(first, key) ?? 0)) / interval);
    mem['swap_in'] = rate('balloon.swap_in');
    mem['swap_out'] = rate('balloon.swap_out');
    mem['majflt'] = rate('balloon.major_fault');
    mem['minflt'] = rate('balloon.minor_fault');
    mem['pageflt'] = (mem['majflt'] as number) + (mem['minflt'] as number);
  }
  stats.memoryStats = mem;
}

export interface ProduceOptions {
  /** Monotonic seconds stamped on NIC counters. */
  sampleTimeS: number;
  log?: StatsLog | undefined;
}

export function produceVmStats(subject: VmStatsSubject, first: BulkStatsRecord | undefined, last: BulkStatsRecord | undefined, interval: number | undefined, opts: ProduceOptions): ProducedVmStats {
  const stats: Partial<ProducedVmStats> = {};
  cpuStats(stats, first, last, interval, opts.log);
  networkStats(subject, stats, first, last, interval, opts.sampleTimeS, opts.log);
  diskStats(subject, stats, first, last, interval, opts.log);
  balloonStats(subject, stats, last, opts.log);
  vcpuCount(stats, last, opts.log);
  memoryStats(stats, first, last, interval);
  return stats as ProducedVmStats;
}

/** The wire form: scalars stringified ("%.2f" floats, "%d" ints); network always (vdsm's schema requires it), other empty groups left out. */
export type WireVmSampleStats = Record<string, string | boolean | Record<string, unknown>>;

export function translateVmStats(p: ProducedVmStats): WireVmSampleStats {
  const out: WireVmSampleStats = {
    cpuUser: fmt2(p.cpuUser),
    cpuSys: fmt2(p.cpuSys),
    cpuUsage: typeof p.cpuUsage === 'string' ? p.cpuUsage : fmt2(p.cpuUsage),
    cpuActual: p.cpuActual,
  };
  if (p.vcpuCount !== undefined) out['vcpuCount'] = fmtInt(p.vcpuCount);
  out['network'] = p.network;
  if (p.disks !== undefined && Object.keys(p.disks).length > 0) out['disks'] = p.disks;
  if (Object.keys(p.balloonInfo).length > 0) out['balloonInfo'] = p.balloonInfo;
  if (p.memoryStats !== undefined && Object.keys(p.memoryStats).length > 0) out['memoryStats'] = p.memoryStats;
  return out;
}

/**
 * memUsage (percent used) when no guest agent reports it: derived from the balloon's mem_free (KiB)
 * and the VM's memory size, as a "%d" string; "0" when unknown.
 */
export function memUsageFromBalloon(p: ProducedVmStats, memSizeMiB: number): string {
  const free = p.memoryStats?.['mem_free'];
  if (typeof free !== 'string' || memSizeMiB <= 0) return '0';
  const used = 100 - (Number(free) / (memSizeMiB * 1024)) * 100;
  return fmtInt(Math.max(0, used));
}
