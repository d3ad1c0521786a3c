// /proc/stat and /proc/<pid>/stat: CPU jiffies (total and per core) and the boot time.
import { Errors, vdsmError } from '../errors.js';

export interface CpuJiffies {
  /** user + nice, as vdsm counts it for the total line */
  user: number;
  sys: number;
  idle: number;
}

export interface CoreJiffies {
  user: number;
  userNice: number;
  sys: number;
  idle: number;
}

export interface ProcStat {
  total: CpuJiffies;
  /** core id (string) -> jiffies */
  cores: Record<string, CoreJiffies>;
  btime?: number;
}

export function parseProcStat(text: string): ProcStat {
  let total: CpuJiffies | undefined;
  const cores: Record<string, CoreJiffies> = {};
  let btime: number | undefined;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const head = f[0] ?? '';
    if (head === 'cpu') {
      const [user, nice, sys, idle] = f.slice(1, 5).map(Number) as [number, number, number, number];
      total = { user: user + nice, sys, idle };
    } else if (/^cpu\d+$/.test(head)) {
      const [user, userNice, sys, idle] = f.slice(1, 5).map(Number) as [number, number, number, number];
      cores[head.slice(3)] = { user, userNice, sys, idle };
    } else if (head === 'btime' && f.length > 1) {
      const n = Number(f[1]);
      if (Number.isInteger(n)) btime = n;
    }
  }
  if (total === undefined) throw vdsmError(Errors.HOST_FACTS, '/proc/stat has no cpu line');
  return { total, cores, ...(btime !== undefined ? { btime } : {}) };
}

/** Boot time (epoch seconds) from the btime line; throws when missing or malformed, as vdsm does. */
export function parseBootTime(text: string): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith('btime')) continue;
    const parts = line.trim().split(/\s+/);
    if (parts.length > 1 && /^\d+$/.test(parts[1] as string)) return Number(parts[1]);
    break;
  }
  throw vdsmError(Errors.HOST_FACTS, 'Boot time not present');
}

/** utime and stime (fields 14 and 15) of /proc/<pid>/stat; the command name may hold spaces and parens. */
export function parsePidStat(text: string): { user: number; sys: number } {
  const rest = text.slice(text.lastIndexOf(')') + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const user = Number(rest[11]);
  const sys = Number(rest[12]);
  if (!Number.isFinite(user) || !Number.isFinite(sys)) throw vdsmError(Errors.HOST_FACTS, 'malformed /proc/<pid>/stat');
  return { user, sys };
}
