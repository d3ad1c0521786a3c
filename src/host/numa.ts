// NUMA facts: nodes with their CPUs and memory (getCapabilities), distances, automatic NUMA balancing,
// and per-node free memory for getStats.
import { parseCpuList } from './cpu.js';
import { parseMeminfo } from './meminfo.js';
import type { CapabilitiesRawFacts, HostRawSample, MaybeText } from '../contracts/host-facts.js';

export interface NumaNodeCaps {
  /** MiB, numeric string: the engine unboxes it, it MUST be present per node. */
  totalMemory: string;
  cpus: number[];
  hugepages: Record<string, { totalPages: string }>;
}

/** "hugepages-2048kB" -> 2048 */
export function hugepageSizeKiB(dir: string): number {
  return Number(/^hugepages-(\d+)kB$/i.exec(dir)?.[1] ?? Number.NaN);
}

const BASE_PAGE_KIB = 4;

export function numaNodes(raw: Pick<CapabilitiesRawFacts, 'nodes' | 'meminfo' | 'cpuOnline' | 'cpus'>): Record<string, NumaNodeCaps> {
  const out: Record<string, NumaNodeCaps> = {};
  const ids = Object.keys(raw.nodes).sort((a, b) => Number(a) - Number(b));
  if (ids.length === 0) {
    // A kernel without NUMA: one cell holding everything, as libvirt reports it.
    const totalKiB = parseMeminfo(raw.meminfo)['MemTotal'] ?? 0;
    const cpus = raw.cpuOnline !== null ? parseCpuList(raw.cpuOnline) : Object.keys(raw.cpus).map(Number).sort((a, b) => a - b);
    out['0'] = { totalMemory: String(Math.floor(totalKiB / 1024)), cpus, hugepages: { [BASE_PAGE_KIB]: { totalPages: String(Math.floor(totalKiB / BASE_PAGE_KIB)) } } };
    return out;
  }
  for (const id of ids) {
    const node = raw.nodes[id];
    if (node === undefined) continue;
    const totalKiB = node.meminfo !== null ? (parseMeminfo(node.meminfo)['MemTotal'] ?? 0) : 0;
    const hugepages: Record<string, { totalPages: string }> = { [BASE_PAGE_KIB]: { totalPages: String(Math.floor(totalKiB / BASE_PAGE_KIB)) } };
    for (const [dir, count] of Object.entries(node.hugepages)) {
      const size = hugepageSizeKiB(dir);
      if (Number.isFinite(size)) hugepages[String(size)] = { totalPages: count ?? '0' };
    }
    out[id] = { totalMemory: String(Math.floor(totalKiB / 1024)), cpus: parseCpuList(node.cpulist), hugepages };
  }
  return out;
}

/** node -> distances to every node in id order, as JSON ints. */
export function numaDistances(raw: Pick<CapabilitiesRawFacts, 'nodes'>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  const ids = Object.keys(raw.nodes);
  if (ids.length === 0) return { '0': [10] };
  for (const id of ids) {
    const d = raw.nodes[id]?.distance;
    out[id] = (d ?? '').split(/\s+/).filter((x) => x !== '').map(Number);
  }
  return out;
}

/** vdsm's values: 0 disabled, 1 enabled, 2 unknown. */
export function autoNumaBalancing(text: MaybeText): 0 | 1 | 2 {
  const v = text?.trim()[0];
  if (v === '0') return 0;
  if (v === '1') return 1;
  return 2;
}

/** cpu id -> NUMA node index, for cpuStatistics.nodeIndex. */
export function cpuNodeIndex(nodes: Record<string, { cpulist: MaybeText }>, onlineCpus: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const [id, n] of Object.entries(nodes)) for (const c of parseCpuList(n.cpulist)) out.set(c, Number(id));
  for (const c of onlineCpus) if (!out.has(c)) out.set(c, 0);
  return out;
}

export interface NodeMemSample {
  memFree: string;
  memPercent: number;
  hugepages: Record<string, { freePages: string }>;
}

/** numaNodeMemFree: free MiB (string) and percent used (int) per node, as vdsm's NumaNodeMemorySample. */
export function numaNodeMemFree(sample: Pick<HostRawSample, 'numaNodes' | 'meminfo'>): Record<string, NodeMemSample> {
  const out: Record<string, NodeMemSample> = {};
  const entries = Object.entries(sample.numaNodes);
  const sources: [string, Record<string, number>, Record<string, string | null>][] = entries.length > 0
    ? entries.map(([id, n]) => [id, n.meminfo !== null ? parseMeminfo(n.meminfo) : {}, n.freeHugepages])
    : [['0', parseMeminfo(sample.meminfo), {}]];
  for (const [id, info, freeHp] of sources) {
    const totalMiB = Math.floor((info['MemTotal'] ?? 0) / 1024);
    const freeMiB = Math.floor((info['MemFree'] ?? 0) / 1024);
    const hugepages: Record<string, { freePages: string }> = { [BASE_PAGE_KIB]: { freePages: String(Math.floor((info['MemFree'] ?? 0) / BASE_PAGE_KIB)) } };
    for (const [dir, free] of Object.entries(freeHp)) {
      const size = hugepageSizeKiB(dir);
      if (Number.isFinite(size)) hugepages[String(size)] = { freePages: free ?? '0' };
    }
    // A node without memory reports everything as used.
    const memPercent = totalMiB !== 0 ? 100 - Math.floor((100 * freeMiB) / totalMiB) : 100;
    out[id] = { memFree: String(freeMiB), memPercent, hugepages };
  }
  return out;
}
