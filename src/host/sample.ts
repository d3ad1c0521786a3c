// A host sample (vdsm's HostSample) parsed from the raw texts the host.sample worker operation returns.
import { parseCpuList } from './cpu.js';
import { parseMeminfo } from './meminfo.js';
import { cpuNodeIndex, numaNodeMemFree, type NodeMemSample } from './numa.js';
import { parsePidStat, parseProcStat, type CoreJiffies, type CpuJiffies } from './proc-stat.js';
import type { HostRawSample } from '../contracts/host-facts.js';

export interface InterfaceSample {
  rx: number;
  tx: number;
  rxDropped: number;
  txDropped: number;
  rxErrors: number;
  txErrors: number;
  /** Mb/s; 0 when the kernel does not know. */
  speed: number;
  operstate: 'up' | 'down';
}

/** KSM as /sys/kernel/mm/ksm and ksmd's /proc entry show it (vdsm gets the same figures from MOM). */
export interface KsmSample {
  run: boolean;
  pagesToScan: number;
  mergeAcrossNodes: boolean;
  pagesSharing: number;
  pageSizeKiB: number;
  /** ksmd's pid, passed back to the next sample so /proc is searched only once. */
  ksmdPid?: number;
  /** ksmd's user + system CPU time, jiffies. */
  ksmdJiffies?: number;
}

export interface HostSample {
  /** Seconds (wall clock, fractional). */
  timestamp: number;
  pidcpu: { user: number; sys: number } | undefined;
  ncpus: number;
  totcpu: CpuJiffies;
  cores: Record<string, CoreJiffies>;
  /** core id -> NUMA node */
  coreNode: Record<string, number>;
  /** Percent, int. */
  memUsed: number;
  /** MiB, int. */
  anonHugePages: number;
  /** The 5-minute load average as the kernel prints it. */
  cpuLoad: string;
  diskStats: Record<string, { free: string }>;
  thpState: string;
  hugepages: Record<string, Record<string, number>>;
  numaNodeMem: Record<string, NodeMemSample>;
  interfaces: Record<string, InterfaceSample>;
  meminfo: Record<string, number>;
  bootTime?: number;
  ksm: KsmSample;
}

/** /proc/net/dev -> per-interface counters. */
export function parseNetDev(text: string): Record<string, Omit<InterfaceSample, 'speed' | 'operstate'>> {
  const out: Record<string, Omit<InterfaceSample, 'speed' | 'operstate'>> = {};
  for (const line of text.split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim();
    const f = line.slice(i + 1).trim().split(/\s+/).map(Number);
    if (name === '' || f.length < 12) continue;
    out[name] = { rx: f[0] as number, rxErrors: f[2] as number, rxDropped: f[3] as number, tx: f[8] as number, txErrors: f[10] as number, txDropped: f[11] as number };
  }
  return out;
}

const IFF_UP = 0x1;

/** vdsm reports an interface 'up' when it is administratively up and not operationally down. */
export function interfaceState(operstate: string | null, flags: string | null): 'up' | 'down' {
  const up = flags !== null ? (Number.parseInt(flags, 16) & IFF_UP) !== 0 : operstate === 'up';
  return up && operstate !== 'down' && operstate !== 'lowerlayerdown' && operstate !== 'notpresent' ? 'up' : 'down';
}

/** "always [madvise] never" -> "madvise"; vdsm says "never" when unknown. */
export function parseThpState(text: string | null): string {
  if (text === null) return 'never';
  const m = /\[([^\]]+)\]/.exec(text);
  return m?.[1] ?? 'never';
}

const MIB = 1024 * 1024;

function intOr0(t: string | null | undefined): number {
  const n = Number((t ?? '').trim());
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

export function parseKsm(raw: Pick<HostRawSample, 'ksm' | 'ksmd' | 'pageSizeKiB'>): KsmSample {
  const k = raw.ksm;
  const out: KsmSample = {
    run: intOr0(k?.run) === 1,
    pagesToScan: intOr0(k?.pagesToScan),
    mergeAcrossNodes: intOr0(k?.mergeAcrossNodes) === 1,
    pagesSharing: intOr0(k?.pagesSharing),
    pageSizeKiB: raw.pageSizeKiB ?? 4,
  };
  if (raw.ksmd) {
    out.ksmdPid = raw.ksmd.pid;
    try {
      const t = parsePidStat(raw.ksmd.stat);
      out.ksmdJiffies = t.user + t.sys;
    } catch {
      // a stat line we cannot read leaves ksmCpu at 0
    }
  }
  return out;
}

export function parseHostSample(raw: HostRawSample): HostSample {
  const stat = parseProcStat(raw.procStat);
  const meminfo = parseMeminfo(raw.meminfo);
  const total = meminfo['MemTotal'] ?? 0;
  const freeOrCached = (meminfo['MemFree'] ?? 0) + (meminfo['Cached'] ?? 0) + (meminfo['Buffers'] ?? 0) + (meminfo['SReclaimable'] ?? 0);
  const online = parseCpuList(raw.cpuOnline);
  const ncpus = online.length > 0 ? online.length : Math.max(1, Object.keys(stat.cores).length);
  const coreNode: Record<string, number> = {};
  for (const [cpu, node] of cpuNodeIndex(raw.numaNodes, online.length > 0 ? online : Object.keys(stat.cores).map(Number))) coreNode[String(cpu)] = node;
  let pidcpu: HostSample['pidcpu'];
  try {
    pidcpu = raw.procSelfStat !== null ? parsePidStat(raw.procSelfStat) : undefined;
  } catch {
    pidcpu = undefined;
  }
  const counters = raw.netDev !== null ? parseNetDev(raw.netDev) : {};
  const interfaces: Record<string, InterfaceSample> = {};
  for (const [name, c] of Object.entries(counters)) {
    const sys = raw.nics[name];
    const speed = Number(sys?.speed ?? '0');
    interfaces[name] = { ...c, speed: Number.isFinite(speed) && speed > 0 ? speed : 0, operstate: interfaceState(sys?.operstate ?? null, sys?.flags ?? null) };
  }
  const diskStats: Record<string, { free: string }> = {};
  for (const [path, s] of Object.entries(raw.diskFree)) diskStats[path] = { free: String(s === null ? 0 : Math.floor((s.bavail * s.bsize) / MIB)) };
  const hugepages: Record<string, Record<string, number>> = {};
  for (const [dir, counters2] of Object.entries(raw.hugepages)) {
    const size = /^hugepages-(\d+)kB$/i.exec(dir)?.[1];
    if (size === undefined) continue;
    const entry: Record<string, number> = {};
    for (const [k, v] of Object.entries(counters2)) entry[k] = Number(v ?? '0');
    // No pages are reserved for vdsm here, so every free page is free for VMs.
    entry['vm.free_hugepages'] = Math.max(entry['free_hugepages'] ?? 0, 0);
    hugepages[size] = entry;
  }
  const loadFields = raw.loadavg?.trim().split(/\s+/);
  return {
    timestamp: raw.timestampMs / 1000,
    pidcpu,
    ncpus,
    totcpu: stat.total,
    cores: stat.cores,
    coreNode,
    memUsed: total > 0 ? 100 - Math.trunc((100 * freeOrCached) / total) : 0,
    anonHugePages: Math.floor((meminfo['AnonHugePages'] ?? 0) / 1024),
    cpuLoad: loadFields?.[1] ?? '0.0',
    diskStats,
    thpState: parseThpState(raw.thp),
    hugepages,
    numaNodeMem: numaNodeMemFree(raw),
    interfaces,
    meminfo,
    ...(stat.btime !== undefined ? { bootTime: stat.btime } : {}),
    ksm: parseKsm(raw),
  };
}
