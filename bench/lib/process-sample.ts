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

/**
 * CPU time of one thread of another process in nanoseconds (the first field of its schedstat, the
 * scheduler's own accounting, not clock ticks), or undefined when the thread is gone. The main thread's
 * tid is the process id. Synchronous on purpose: read once before and once after a measured run.
 */
export function threadCpuNs(pid: number, tid = pid): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}

/** CPU time of a whole process (all its threads, user + system) in ms, from clock ticks (10 ms each). */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}
