// CPU facts for getCapabilities: /proc/cpuinfo (model, speed, flags) and the sysfs topology (sockets,
// cores, threads, online CPUs, the per-CPU table the engine uses for pinning).
import type { CapabilitiesRawFacts } from '../contracts/host-facts.js';

/** "0-3,8,10-11" -> [0,1,2,3,8,10,11]. */
export function parseCpuList(text: string | null | undefined): number[] {
  const out: number[] = [];
  if (text === null || text === undefined) return out;
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const [a, b] = part.split('-');
    const start = Number(a);
    const end = b === undefined ? start : Number(b);
    if (!Number.isInteger(start) || !Number.isInteger(end)) continue;
    for (let i = start; i <= end; i++) out.push(i);
  }
  return out;
}

export interface CpuInfo {
  model: string;
  /** MHz as the kernel prints it ("2596.122"): the engine wants a string or float, never an int. */
  speed: string;
  flags: string[];
}

/** x86 style /proc/cpuinfo; other architectures fall back to their own field names. */
export function parseCpuinfo(text: string): CpuInfo {
  const first = text.split(/\n\s*\n/)[0] ?? '';
  const fields = new Map<string, string>();
  for (const line of first.split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const model = fields.get('model name') ?? fields.get('cpu') ?? fields.get('Processor') ?? 'Unknown';
  const mhz = fields.get('cpu MHz') ?? fields.get('clock')?.replace(/MHz$/i, '') ?? '0';
  const flags = (fields.get('flags') ?? fields.get('Features') ?? '').split(/\s+/).filter((f) => f !== '');
  return { model, speed: mhz.trim(), flags };
}

export interface CpuTopologyEntry {
  cpu_id: number;
  numa_cell_id: number;
  socket_id: number;
  die_id: number;
  core_id: number;
}

export interface CpuTopology {
  sockets: number;
  /** Distinct thread-sibling sets = physical cores. */
  cores: number;
  /** Online logical CPUs. */
  threads: number;
  onlineCpus: number[];
  table: CpuTopologyEntry[];
}

export function cpuTopology(raw: Pick<CapabilitiesRawFacts, 'cpus' | 'cpuOnline' | 'nodes'>): CpuTopology {
  const online = raw.cpuOnline !== null ? parseCpuList(raw.cpuOnline) : Object.keys(raw.cpus).map(Number).sort((a, b) => a - b);
  const nodeOf = new Map<number, number>();
  for (const [node, facts] of Object.entries(raw.nodes)) for (const c of parseCpuList(facts.cpulist)) nodeOf.set(c, Number(node));
  const sockets = new Set<number>();
  const siblings = new Set<string>();
  const table: CpuTopologyEntry[] = [];
  for (const cpu of online) {
    const f = raw.cpus[String(cpu)];
    if (f === undefined || f.physicalPackageId === null || f.coreId === null) continue;
    const socket = Number(f.physicalPackageId);
    sockets.add(socket);
    siblings.add(f.threadSiblingsList ?? String(cpu));
    table.push({ cpu_id: cpu, numa_cell_id: nodeOf.get(cpu) ?? 0, socket_id: socket, die_id: Number(f.dieId ?? '0') || 0, core_id: Number(f.coreId) });
  }
  return { sockets: Math.max(1, sockets.size), cores: Math.max(1, siblings.size), threads: online.length, onlineCpus: online, table };
}
