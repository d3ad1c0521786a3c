// What the kernel says about this process: thread count and RSS, read from /proc/self/status.
import { readFileSync } from 'node:fs';

export interface ProcSample {
  threads: number;
  rssMb: number;
}

/** Synchronous on purpose: a tiny procfs read, used only by benches to sample themselves. */
export function procSample(): ProcSample {
  const s = readFileSync('/proc/self/status', 'utf8');
  const threads = Number(/^Threads:\s+(\d+)/m.exec(s)?.[1] ?? -1);
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(s)?.[1] ?? 0);
  return { threads, rssMb: rssKb / 1024 };
}
