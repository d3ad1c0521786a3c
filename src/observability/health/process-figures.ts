// The agent process right now, for every collection (a Prometheus scrape, a statsd report): CPU time,
// memory, descriptors, kernel threads, the main thread's heap and GC totals, the libuv resources it
// holds. The standard process_* names, so dashboards built for any exporter work; the vdsm paths
// (hosts.vdsm.memory.rss in KiB, hosts.vdsm.threads_count) are the ones vdsm's health thread sent.
import { readdir, readFile } from 'node:fs/promises';
import type { Figure } from '../metrics/convention.js';
import type { FigureSource } from '../metrics/hub.js';
import type { ThreadProbe } from '../thread-probe.js';

/** Entries of a /proc directory (fds, threads); undefined when unreadable. */
export async function countEntries(dir: string): Promise<number | undefined> {
  try {
    return (await readdir(dir)).length;
  } catch {
    return undefined;
  }
}

/** The soft "Max open files" limit from /proc/self/limits. */
export async function maxOpenFiles(): Promise<number | undefined> {
  try {
    const line = (await readFile('/proc/self/limits', 'utf8')).split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

export interface ProcessFiguresOptions {
  /** The main thread's probe (heap and GC totals). */
  probe: ThreadProbe;
  version: string;
}

export class ProcessFigures implements FigureSource {
  readonly source = 'process';
  #o: ProcessFiguresOptions;
  #startS = Math.round(Date.now() / 1000 - process.uptime());

  constructor(opts: ProcessFiguresOptions) {
    this.#o = opts;
  }

  async collect(): Promise<Figure[]> {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const [fds, maxFds, threads] = await Promise.all([countEntries('/proc/self/fd'), maxOpenFiles(), countEntries('/proc/self/task')]);
    const out: Figure[] = [
      { name: 'process_cpu_user_seconds_total', kind: 'counter', help: 'User CPU time of the agent process (all threads)', value: cpu.user / 1e6 },
      { name: 'process_cpu_system_seconds_total', kind: 'counter', help: 'System CPU time of the agent process (all threads)', value: cpu.system / 1e6 },
      { name: 'process_cpu_seconds_total', kind: 'counter', help: 'User and system CPU time of the agent process', value: (cpu.user + cpu.system) / 1e6 },
      { name: 'process_resident_memory_bytes', kind: 'gauge', help: 'Resident memory of the agent process', value: mem.rss, path: 'hosts.vdsm.memory.rss', pathScale: 1 / 1024 },
      { name: 'process_start_time_seconds', kind: 'gauge', help: 'Start time of the agent process since the Unix epoch', value: this.#startS },
      { name: 'vdsm_heap_used_bytes', kind: 'gauge', help: 'V8 heap in use, by thread', value: mem.heapUsed, labels: { thread: 'main' }, path: 'hosts.vdsm.heap.used', pathScale: 1 / 1024 },
      { name: 'vdsm_heap_total_bytes', kind: 'gauge', help: 'V8 heap reserved, by thread', value: mem.heapTotal, labels: { thread: 'main' } },
      { name: 'vdsm_external_memory_bytes', kind: 'gauge', help: 'Memory of C++ objects bound to JavaScript objects (main isolate)', value: mem.external },
      { name: 'vdsm_build_info', kind: 'gauge', help: 'Versions of the agent and of Node.js', value: 1, labels: { version: this.#o.version, node: process.version } },
    ];
    if (fds !== undefined) out.push({ name: 'process_open_fds', kind: 'gauge', help: 'Open file descriptors of the agent process', value: fds, path: 'hosts.vdsm.fds' });
    if (maxFds !== undefined) out.push({ name: 'process_max_fds', kind: 'gauge', help: 'Limit of open file descriptors of the agent process', value: maxFds });
    if (threads !== undefined) out.push({ name: 'vdsm_os_threads', kind: 'gauge', help: 'Kernel threads of the agent process (main, workers, libuv, V8, libvirt event loop)', value: threads, path: 'hosts.vdsm.threads_count' });
    for (const [kind, t] of Object.entries(this.#o.probe.gcTotals())) {
      out.push(
        { name: 'vdsm_gc_runs_total', kind: 'counter', help: 'Garbage collections, by thread and kind', value: t.runs, labels: { thread: 'main', kind } },
        { name: 'vdsm_gc_pause_seconds_total', kind: 'counter', help: 'Time spent in garbage collection, by thread and kind', value: t.seconds, labels: { thread: 'main', kind } },
      );
    }
    const resources = new Map<string, number>();
    for (const r of process.getActiveResourcesInfo()) resources.set(r, (resources.get(r) ?? 0) + 1);
    for (const [type, n] of resources) out.push({ name: 'vdsm_active_resources', kind: 'gauge', help: 'libuv handles and requests keeping the main event loop alive, by type', value: n, labels: { type } });
    return out;
  }
}
