// `vdsm-tool threads`: the agent's threads, what each is doing, its age and CPU, and the lingering
// ledger (discarded workers still blocked in native calls). The agent reports the threads it knows
// (main, libvirt control, every Executor worker with its operation) on /health; on the agent's own host
// the tool adds each thread's kernel name, state, CPU time and age from /proc, and lists the process's
// other threads (libvirt's event loop, V8, libuv) by their kernel names.
import { readdir, readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { EXIT_OK, type ToolIO, type ToolVerb } from '../config/tool-verbs.js';
import { CLIENT_TLS_HELP, clientTlsFromArgs, clientTlsOptions, ClientTlsError, describeTransport, explainConnectFailure, resolveClientTransport, type ClientTransport } from './client-tls.js';
import { errorMessage } from '../errors.js';

const EXIT_UNREACHABLE = 3;

export interface ThreadRow {
  tid: number;
  name: string;
  role: string;
  executor?: string;
  state?: string;
  op?: string | null;
  runtime_ms?: number | null;
  task_id?: number | null;
  age_ms?: number;
  stuck_op?: string;
  stuck_task_id?: number;
  stuck_ms?: number;
  /** A discarded worker let go from an offloaded native call: its thread exited, tid is the call thread's. */
  thread_exited?: boolean;
  native_call?: { addon: string; what: string; worker_tid: number; call_tid: number; age_ms: number };
  /** A parked task's native call (state parked), or one abandoned at its timeout (lingering); tid is the call thread's. */
  parked_call?: { key: string; parked_ms: number };
}

export interface ProcThread {
  /** Kernel thread name (/proc/<pid>/task/<tid>/comm), as top -H and ps -T show it. */
  comm: string;
  state: string;
  cpuS: number;
  /** Seconds since the thread started. */
  ageS: number;
}

/** Kernel threads have a starttime in clock ticks since boot; Linux reports 100 ticks per second. */
const TICKS_PER_S = 100;

/** State letter, user+system CPU seconds and start time (ticks since boot) of one thread from its stat line. */
export function parseTaskStat(text: string, ticksPerS = TICKS_PER_S): { state: string; cpuS: number; startTicks: number } | undefined {
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  const fields = text.slice(end + 2).split(' ');
  // fields[0] is field 3 (state); utime, stime, starttime are fields 14, 15, 22.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const start = Number(fields[19]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { state: fields[0] ?? '?', cpuS: (utime + stime) / ticksPerS, startTicks: Number.isFinite(start) ? start : 0 };
}

/** Every thread of `pid` from /proc, or undefined when the process is not on this host. */
export async function procThreads(pid: number, procRoot = '/proc'): Promise<Map<number, ProcThread> | undefined> {
  try {
    const [tids, uptimeText] = await Promise.all([readdir(`${procRoot}/${pid}/task`), readFile(`${procRoot}/uptime`, 'utf8')]);
    const uptimeS = Number(uptimeText.split(' ')[0]);
    const out = new Map<number, ProcThread>();
    await Promise.all(tids.map(async (t) => {
      const [stat, comm] = await Promise.all([
        readFile(`${procRoot}/${pid}/task/${t}/stat`, 'utf8').catch(() => ''),
        readFile(`${procRoot}/${pid}/task/${t}/comm`, 'utf8').catch(() => '?'),
      ]);
      const info = parseTaskStat(stat);
      if (info) out.set(Number(t), { comm: comm.trim(), state: info.state, cpuS: info.cpuS, ageS: Math.max(0, uptimeS - info.startTicks / TICKS_PER_S) });
    }));
    return out;
  } catch {
    return undefined;
  }
}

async function fetchHealth(host: string, port: number, transport: ClientTransport): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const opts = {
      host, port, path: '/health', method: 'GET', timeout: 10_000,
      ...(transport.tls ? { ...transport.material, checkServerIdentity: () => undefined } : {}),
    };
    const req = (transport.tls ? httpsRequest : httpRequest)(opts, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => {
        try {
          resolve(JSON.parse(body) as Record<string, unknown>);
        } catch (err) {
          reject(new Error(`/health answered ${res.statusCode} with no JSON: ${errorMessage(err)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** What a thread the agent did not report is, from its kernel name. */
function roleOfUnreported(comm: string): string {
  if (comm === 'libvirt/events') return 'libvirt event loop: keepalive, close callbacks, domain events';
  if (comm === 'virt/call') return "native call thread: runs a worker's libvirt calls (idle, or its worker's current call)";
  if (comm === 'sleep/call') return 'native call thread of the sleep stand-in (tests and benches)';
  if (comm === 'node') return 'Node.js runtime: V8 platform worker or libuv pool';
  if (/^[\w-]+\/\d+$/.test(comm)) return 'executor worker starting or exiting';
  return 'not named by vdsm-node';
}

export function formatAge(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

function doing(t: ThreadRow): string {
  if (t.parked_call) {
    const call = t.native_call ? `${t.native_call.what} in call thread ${t.native_call.call_tid}` : `call ${t.parked_call.key}`;
    if (t.state === 'parked') return `parked: ${t.op ?? '?'} (task ${t.task_id ?? '?'}, ${Math.round(t.runtime_ms ?? 0)} ms) awaits ${call}; its worker serves other tasks`;
    return `lingering call: ${t.op ?? '?'} (task ${t.task_id ?? '?'}) timed out while parked; its worker was kept, ${call} still running`;
  }
  if (t.state === 'lingering' && t.native_call) {
    return `lingering call: discarded while in ${t.stuck_op ?? '?'} (task ${t.stuck_task_id ?? '?'}); worker thread ${t.native_call.worker_tid} ${t.thread_exited ? 'exited' : 'exiting'}, ${t.native_call.what} still running in call thread ${t.native_call.call_tid}`;
  }
  if (t.state === 'lingering') return `lingering: discarded while in ${t.stuck_op ?? '?'} (task ${t.stuck_task_id ?? '?'}, ${Math.round((t.stuck_ms ?? 0) / 1000)} s ago started), still blocked`;
  if (t.op) return `${t.op} (task ${t.task_id ?? '?'}, ${Math.round(t.runtime_ms ?? 0)} ms)${t.state ? ` [${t.state}]` : ''}`;
  return `${t.role}${t.state ? ` [${t.state}]` : ''}`;
}

interface ExecutorState { lingering?: number; parked?: number; max_workers?: number; live?: number; workers_count?: number }

/** The table and the lingering ledger the verb prints. */
export function renderThreads(
  report: { pid: number; threads: ThreadRow[] },
  proc: Map<number, ProcThread> | undefined,
  executors: Record<string, ExecutorState> = {},
): string {
  const rows: string[][] = [['TID', 'NAME', 'STATE', 'CPU s', 'AGE', 'DOING']];
  const known = new Set<number>();
  for (const t of report.threads) {
    known.add(t.tid);
    const p = proc?.get(t.tid);
    const name = p && p.comm !== t.name && !(t.tid === report.pid && p.comm === 'vdsmd') ? `${t.name} (${p.comm})` : t.name;
    const age = p ? p.ageS : t.age_ms !== undefined ? t.age_ms / 1000 : undefined;
    rows.push([String(t.tid), name, p?.state ?? '-', p ? p.cpuS.toFixed(2) : '-', formatAge(age), doing(t)]);
  }
  for (const [tid, p] of [...(proc ?? new Map<number, ProcThread>())].sort((a, b) => a[0] - b[0])) {
    if (!known.has(tid)) rows.push([String(tid), p.comm, p.state, p.cpuS.toFixed(2), formatAge(p.ageS), roleOfUnreported(p.comm)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
  const lingering = report.threads.filter((t) => t.state === 'lingering');
  const ledger = ['', 'Lingering workers and calls (discarded or abandoned after a timeout, still blocked in a native call; they count against max_workers):'];
  const names = Object.keys(executors);
  if (names.length) {
    ledger.push(...names.map((n) => `  ${n}: ${executors[n]!.lingering ?? 0} lingering, ${executors[n]!.parked ?? 0} parked, ${executors[n]!.live ?? '?'} live, max_workers ${executors[n]!.max_workers ?? '?'}`));
  }
  if (lingering.length === 0) ledger.push('  none');
  for (const t of lingering) {
    const p = proc?.get(t.tid);
    const worker = t.parked_call ? 'its task timed out while parked, worker kept' : t.thread_exited ? 'worker thread exited' : 'worker thread exiting';
    const native = t.native_call ? `, in ${t.native_call.what} on call thread ${t.native_call.call_tid} (${worker})` : '';
    ledger.push(`  ${t.name} tid ${t.tid}${p ? ` [${p.state}]` : ''}: ${t.stuck_op ?? '?'} task ${t.stuck_task_id ?? '?'}, running ${formatAge((t.stuck_ms ?? 0) / 1000)}${native}`);
  }
  return `${table}\n${ledger.join('\n')}\n`;
}

export const threadsVerb: ToolVerb = {
  name: 'threads',
  summary: "list the agent's threads, what each is doing, its age and CPU",
  help: `Usage: vdsm-tool threads [-a HOST] [-p PORT] [connection options] [--json]

Asks a running vdsmd (its /health endpoint on the management port) which threads it runs: the main
thread, the libvirt control thread and every Executor worker with the operation it runs and for how
long, and the lingering ledger (workers discarded after a timeout that are still blocked in a native
call). On the agent's own host each thread's kernel name (what top -H, ps -T and gdb show), state
(R running, S sleeping, D in the kernel), CPU time and age come from /proc, and the process's other
threads (libvirt's event loop, V8, libuv) are listed too.

  -a, --host HOST      default 127.0.0.1
  -p, --port PORT      default 54321
      --json           print the report as JSON
${CLIENT_TLS_HELP}`,
  options: {
    host: { type: 'string', short: 'a', default: '127.0.0.1' },
    port: { type: 'string', short: 'p', default: '54321' },
    ...clientTlsOptions,
    json: { type: 'boolean', default: false },
  },
  async run(values, io: ToolIO): Promise<number> {
    const host = values['host'] as string;
    const port = Number(values['port']);
    let transport: ClientTransport;
    try {
      transport = await resolveClientTransport(clientTlsFromArgs(values));
    } catch (err) {
      if (!(err instanceof ClientTlsError)) throw err;
      io.stderr(`vdsm-tool threads: ${err.message}\n`);
      return EXIT_UNREACHABLE;
    }
    let health: Record<string, unknown>;
    try {
      health = await fetchHealth(host, port, transport);
    } catch (err) {
      const why = await explainConnectFailure(host, port, transport);
      io.stderr(`vdsm-tool threads: cannot read /health from ${host}:${port} (${describeTransport(transport)}): ${errorMessage(err)}\n${why ?? 'Is vdsmd running?'}\n`);
      return EXIT_UNREACHABLE;
    }
    const report = health['threads'] as { pid: number; threads: ThreadRow[] } | undefined;
    if (report === undefined) {
      io.stderr('vdsm-tool threads: the agent does not report its threads (an older vdsm-node?)\n');
      return EXIT_UNREACHABLE;
    }
    const executors = (health['executors'] ?? {}) as Record<string, ExecutorState>;
    const proc = await procThreads(report.pid);
    if (values['json'] === true) {
      io.stdout(`${JSON.stringify({ ...report, executors, proc: proc ? Object.fromEntries(proc) : null }, null, 2)}\n`);
      return EXIT_OK;
    }
    io.stdout(`vdsmd pid ${report.pid}${proc ? `, ${proc.size} threads` : ' (not on this host: no kernel names, states or CPU times)'}\n`);
    io.stdout(renderThreads(report, proc, executors));
    return EXIT_OK;
  },
};
