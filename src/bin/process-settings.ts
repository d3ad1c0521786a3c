// What vdsm's daemonAdapter and vdsmd did to their own process at start, done by vdsmd before any
// worker thread exists (new threads inherit niceness and CPU affinity from the thread that creates
// them): [vars] vdsm_nice, cpu_affinity and core_dump_enable. Node has no setaffinity or setrlimit, so
// util-linux's taskset and prlimit (always on Debian) do those; every step only logs when it fails.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from 'pino';
import { parseCpuList } from '../host/cpu.js';
import { errorMessage } from '../errors.js';

export interface ProcessSettings {
  /** [vars] vdsm_nice: absolute niceness of every thread. */
  nice: number;
  /** [vars] cpu_affinity: 'auto', '' or a CPU list. */
  cpuAffinity: string;
  /** [vars] core_dump_enable */
  coreDumps: boolean;
}

export interface AppliedSettings {
  nice: number | null;
  cpus: number[] | null;
  coreLimitZero: boolean;
}

/** vdsm's 'auto': one online CPU, the second one when there are several (CPU 0 takes most interrupts). */
export function pickCpus(setting: string, online: readonly number[]): number[] | null {
  const text = setting.trim();
  if (text === '') return null;
  if (text === 'auto') return online.length === 0 ? null : [online.length > 1 ? online[1]! : online[0]!];
  return text.split(',').map((c) => Number(c.trim()));
}

function run(cmd: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { timeout: 10_000 }, (err, _out, stderr) => (err ? reject(new Error(`${cmd}: ${stderr.trim() || err.message}`)) : resolve()));
  });
}

export async function applyProcessSettings(s: ProcessSettings, log: Logger, pid = process.pid): Promise<AppliedSettings> {
  const applied: AppliedSettings = { nice: null, cpus: null, coreLimitZero: false };
  // Niceness is per thread on Linux: set it on every thread that exists now (V8 and libuv threads).
  try {
    if (getPriority(pid) !== s.nice) {
      const tids = (await readdir(`/proc/${pid}/task`)).map(Number);
      for (const tid of tids) setPriority(tid, s.nice);
    }
    applied.nice = s.nice;
  } catch (err) {
    log.warn({ vdsm_nice: s.nice, err: errorMessage(err) }, 'cannot apply [vars] vdsm_nice (lowering niceness needs root or CAP_SYS_NICE; the unit may set Nice= instead)');
  }
  try {
    const online = parseCpuList(await readFile('/sys/devices/system/cpu/online', 'utf8').catch(() => ''));
    const cpus = pickCpus(s.cpuAffinity, online);
    if (cpus !== null) {
      const missing = cpus.filter((c) => online.length > 0 && !online.includes(c));
      if (missing.length > 0) throw new Error(`CPU(s) ${missing.join(',')} not online (online: ${online.join(',')})`);
      await run('taskset', ['--all-tasks', '--pid', '--cpu-list', cpus.join(','), String(pid)]);
      applied.cpus = cpus;
    }
  } catch (err) {
    log.warn({ cpu_affinity: s.cpuAffinity, err: errorMessage(err) }, 'cannot apply [vars] cpu_affinity');
  }
  if (!s.coreDumps) {
    try {
      await run('prlimit', [`--pid=${pid}`, '--core=0:']);
      applied.coreLimitZero = true;
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'cannot apply [vars] core_dump_enable = false');
    }
  }
  log.info({ vdsm_nice: applied.nice, cpus: applied.cpus, core_dumps: s.coreDumps && !applied.coreLimitZero ? 'as the service manager allows' : 'off' }, 'process settings applied');
  return applied;
}
