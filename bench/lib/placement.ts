// Where a bench's processes run on a small machine: the load generator on one CPU, the server under test
// (every thread of it) on another, so that the client's work (a JSON.parse of a 1.8 MB reply, its GC
// helper threads) never takes the core the server's main thread is waiting for. The same placement as
// bench/rpc.ts's `--pin` (load generator on CPU 0, servers on CPU 1).
//
//   cross: server on CPU 1, load generator on CPU 0 (the default on 2+ CPUs)
//   same:  both on CPU 1 (the server's latency includes waiting for the client's work)
//   off:   the scheduler decides (what an unpinned run on a shared machine sees)
//
// Threads inherit the CPU mask of the thread that creates them, and a child process that of its parent:
// a server pinned before it starts its workers keeps every later thread on its CPU, and a client
// started under `taskset -c N` starts every thread there.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, setPriority } from 'node:os';

export type PinMode = 'cross' | 'same' | 'off';

export const SERVER_CPU = 1;

export function pinMode(flag: string | undefined): PinMode {
  const mode = flag ?? (cpus().length >= 2 ? 'cross' : 'off');
  if (mode !== 'cross' && mode !== 'same' && mode !== 'off') throw new Error(`--pin=${mode}: expected cross, same or off`);
  return mode;
}

/** The CPU of the load generator in this mode (undefined: not pinned). */
export function clientCpu(mode: PinMode): number | undefined {
  return mode === 'cross' ? 0 : mode === 'same' ? SERVER_CPU : undefined;
}

/**
 * Put every thread of process `pid` on `cpu` (taskset -a). Returns false where taskset is missing or
 * refused (the run then goes on unpinned, and says so through cpusOf).
 */
export function pinProcess(pid: number, cpu: number, allThreads = true): boolean {
  try {
    // Without -a: only that task (a thread id pins one thread).
    execFileSync('taskset', [...(allThreads ? ['-a'] : []), '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Set the niceness of every thread of this process that exists now (niceness is per thread on Linux;
 * threads and processes started later inherit their creator's), as vdsmd does with [vars] vdsm_nice.
 * False where that is refused (lowering it needs root or CAP_SYS_NICE).
 */
export function niceProcess(nice: number): boolean {
  try {
    for (const tid of readdirSync('/proc/self/task')) setPriority(Number(tid), nice);
    return true;
  } catch {
    return false;
  }
}

/** The command prefix that starts a child with every thread on `cpu` (for runChildCase's `wrap`). */
export function onCpu(cpu: number | undefined): string[] {
  return cpu === undefined ? [] : ['taskset', '-c', String(cpu)];
}

/** The CPUs thread `tid` of process `pid` may run on (its Cpus_allowed_list). */
export function cpusOfThread(pid: number, tid: number): string {
  try {
    return /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'latin1'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The CPUs the threads of `pid` may run on, as they are now: the distinct Cpus_allowed_list values of
 * its threads joined with '+' (e.g. "1", or "0-1" unpinned, "0+1" when threads differ). For the record
 * of each case: the placement the figures were measured in, read back rather than assumed.
 */
export function cpusOf(pid: number = process.pid): string {
  const lists = new Set<string>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const m = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'latin1'));
      if (m) lists.add(m[1]!);
    }
  } catch {
    return 'unknown';
  }
  return [...lists].sort().join('+') || 'unknown';
}
