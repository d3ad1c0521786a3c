// /proc/meminfo (and per-NUMA-node meminfo) parsed into kB numbers.
import { Errors, vdsmError } from '../errors.js';

/** Key -> value in kB (HugePages_* counters are page counts). Node meminfo lines ("Node 0 MemFree:") too. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(?:Node\s+\d+\s+)?([^:\s]+):\s+(\d+)/.exec(line);
    if (m !== null) out[m[1] as string] = Number(m[2]);
  }
  return out;
}

/** A meminfo key that must be present. */
export function meminfoValue(info: Record<string, number>, key: string): number {
  const v = info[key];
  if (v === undefined) throw vdsmError(Errors.HOST_FACTS, `meminfo has no ${key}`);
  return v;
}
