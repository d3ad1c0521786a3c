// `vdsm-tool threads`: the agent's threads and what each is doing. The agent reports the threads it
// knows (main, libvirt control, every Executor worker with its operation and runtime) on /health; on
// the agent's own host the tool adds each thread's kernel state and CPU time from /proc, and lists the
// process's other threads (V8, libuv, libvirt's event loop) as such.
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { devPkiPaths, loadTlsFiles } from '../rpc/pki.js';
import { EXIT_OK, type ToolIO, type ToolVerb } from '../config/tool-verbs.js';

const EXIT_UNREACHABLE = 3;

interface ThreadRow {
  tid: number;
  name: string;
  role: string;
  state?: string;
  op?: string | null;
  runtime_ms?: number | null;
  task_id?: number | null;
}

interface ProcThread {
  state: string;
  cpuS: number;
}

/** State letter and user+system CPU seconds of one thread, from /proc/<pid>/task/<tid>/stat. */
export function parseTaskStat(text: string, ticksPerS = 100): ProcThread | undefined {
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  const fields = text.slice(end + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { state: fields[0] ?? '?', cpuS: (utime + stime) / ticksPerS };
}

async function procThreads(pid: number): Promise<Map<number, ProcThread> | undefined> {
  try {
    const tids = await readdir(`/proc/${pid}/task`);
    const out = new Map<number, ProcThread>();
    await Promise.all(tids.map(async (t) => {
      const info = parseTaskStat(await readFile(`/proc/${pid}/task/${t}/stat`, 'utf8').catch(() => ''));
      if (info) out.set(Number(t), info);
    }));
    return out;
  } catch {
    return undefined;
  }
}

async function fetchHealth(host: string, port: number, tls: boolean, stateDir: string): Promise<Record<string, unknown>> {
  const material = tls ? await loadTlsFiles(devPkiPaths(stateDir).client) : undefined;
  return new Promise((resolve, reject) => {
    const opts = { host, port, path: '/health', method: 'GET', timeout: 10_000, ...(material ? { key: material.key, cert: material.cert, ca: material.ca, checkServerIdentity: () => undefined } : {}) };
    const req = (tls ? request : httpRequest)(opts, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => {
        try {
          resolve(JSON.parse(body) as Record<string, unknown>);
        } catch (err) {
          reject(new Error(`/health answered ${res.statusCode} with no JSON: ${(err as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** The table the verb prints. */
export function renderThreads(report: { pid: number; threads: ThreadRow[] }, proc: Map<number, ProcThread> | undefined): string {
  const rows: string[][] = [['TID', 'NAME', 'STATE', 'CPU s', 'DOING']];
  const known = new Set<number>();
  for (const t of report.threads) {
    known.add(t.tid);
    const p = proc?.get(t.tid);
    const doing = t.op ? `${t.op} (task ${t.task_id ?? '?'}, ${Math.round(t.runtime_ms ?? 0)} ms)${t.state ? ` [${t.state}]` : ''}` : `${t.role}${t.state ? ` [${t.state}]` : ''}`;
    rows.push([String(t.tid), t.name, p?.state ?? '-', p ? p.cpuS.toFixed(2) : '-', doing]);
  }
  for (const [tid, p] of [...(proc ?? new Map<number, ProcThread>())].sort((a, b) => a[0] - b[0])) {
    if (!known.has(tid)) rows.push([String(tid), '(node)', p.state, p.cpuS.toFixed(2), 'V8 platform, libuv pool, libvirt event loop or a thread still starting']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export const threadsVerb: ToolVerb = {
  name: 'threads',
  summary: "list the agent's threads and what each is doing",
  help: `Usage: vdsm-tool threads [-a HOST] [-p PORT] [--insecure] [--state-dir DIR] [--json]

Asks a running vdsmd (its /health endpoint on the management port) which threads it runs: the main
thread, the libvirt control thread and every Executor worker with the operation it runs and for how
long. On the agent's own host, each thread's kernel state (R running, S sleeping, D in the kernel)
and CPU time come from /proc, and the process's other threads are listed too.

  -a, --host HOST      default 127.0.0.1
  -p, --port PORT      default 54321
      --insecure       plain HTTP (an agent with [vars] ssl = false)
      --state-dir DIR  where the development PKI's client certificate is (default: $VDSM_STATE_DIR
                       or /var/lib/vdsm)
      --json           print the report as JSON
`,
  options: {
    host: { type: 'string', short: 'a', default: '127.0.0.1' },
    port: { type: 'string', short: 'p', default: '54321' },
    insecure: { type: 'boolean', default: false },
    'state-dir': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  async run(values, io: ToolIO): Promise<number> {
    const stateDir = (values['state-dir'] as string | undefined) ?? process.env['VDSM_STATE_DIR'] ?? '/var/lib/vdsm';
    let health: Record<string, unknown>;
    try {
      health = await fetchHealth(values['host'] as string, Number(values['port']), values['insecure'] !== true, stateDir);
    } catch (err) {
      io.stderr(`vdsm-tool threads: cannot read /health from ${String(values['host'])}:${String(values['port'])}: ${(err as Error).message}\nIs vdsmd running? Use --insecure for a plain-TCP agent, --state-dir for its client certificate.\n`);
      return EXIT_UNREACHABLE;
    }
    const report = health['threads'] as { pid: number; threads: ThreadRow[] } | undefined;
    if (report === undefined) {
      io.stderr('vdsm-tool threads: the agent does not report its threads (an older vdsm-node?)\n');
      return EXIT_UNREACHABLE;
    }
    const proc = await procThreads(report.pid);
    if (values['json'] === true) {
      io.stdout(`${JSON.stringify({ ...report, proc: proc ? Object.fromEntries(proc) : null }, null, 2)}\n`);
      return EXIT_OK;
    }
    io.stdout(`vdsmd pid ${report.pid}${proc ? '' : ' (not on this host: no /proc details)'}\n`);
    io.stdout(renderThreads(report, proc));
    return EXIT_OK;
  },
};
