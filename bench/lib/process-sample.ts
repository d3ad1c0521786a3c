// What the kernel says about this process: thread count and RSS, read from /proc/self/status.
import { readdirSync, readFileSync } from 'node:fs';

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

/** One thread of another process: its name and what the scheduler counted for it. */
export interface ThreadSched {
  name: string;
  /** CPU time in ns (schedstat field 1). */
  cpuNs: number;
  /** Times it was put on a CPU (schedstat field 3): each wake-up of a sleeping thread is one. */
  runs: number;
}

/**
 * Every thread of a process by tid, from /proc/PID/task/TID/{comm,schedstat}; threads that vanish while
 * read are left out. Synchronous on purpose: read once before and once after a measured run.
 */
export function threadsSched(pid: number): Map<number, ThreadSched> {
  const out = new Map<number, ThreadSched>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out.set(Number(tid), { name, cpuNs: Number(f[0]), runs: Number(f[2]) });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** What the threads other than the main one did between two samples, per request. */
export interface OtherThreads {
  /** Wake-ups (runs) of every thread but the main one, per request. */
  runsPerReq: number;
  /** Their CPU per request in µs. */
  cpuUsPerReq: number;
  /** The main thread's runs per request (1 = it slept once per request, as a sequential server must). */
  mainRunsPerReq: number;
  /** The busiest other threads by runs: "name runs/req cpu-µs/req" (threads of one name summed). */
  top: string[];
}

export function otherThreads(pid: number, before: Map<number, ThreadSched>, after: Map<number, ThreadSched>, requests: number): OtherThreads {
  let runs = 0;
  let cpu = 0;
  let mainRuns = 0;
  const byName = new Map<string, { runs: number; cpuNs: number }>();
  for (const [tid, a] of after) {
    const b = before.get(tid) ?? { name: a.name, cpuNs: 0, runs: 0 };
    const dr = a.runs - b.runs;
    if (tid === pid) {
      mainRuns = dr;
      continue;
    }
    runs += dr;
    cpu += a.cpuNs - b.cpuNs;
    if (dr > 0) {
      const n = byName.get(a.name) ?? { runs: 0, cpuNs: 0 };
      n.runs += dr;
      n.cpuNs += a.cpuNs - b.cpuNs;
      byName.set(a.name, n);
    }
  }
  const per = (x: number): number => Math.round((x / requests) * 1000) / 1000;
  return {
    runsPerReq: per(runs), cpuUsPerReq: Math.round((cpu / 1000 / requests) * 100) / 100, mainRunsPerReq: per(mainRuns),
    top: [...byName].sort((x, y) => y[1].runs - x[1].runs).slice(0, 4).map(([n, t]) => `${n} ${per(t.runs)} ${(t.cpuNs / 1000 / requests).toFixed(1)}µs`),
  };
}
