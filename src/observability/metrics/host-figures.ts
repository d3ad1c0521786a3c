// Host figures from the Host.getStats object the agent already computes every host sample (no extra
// /proc read): Prometheus names in base units, and the statsd paths vdsm sent until 2017
// (hosts.cpu.*, hosts.memory.*, hosts.swap.*, hosts.vms.*, hosts.nic.<name>.*) in vdsm's units.
import { metricPath, type Figure } from './convention.js';

const MIB = 1024 * 1024;
/** Interface speed: Mb/s -> bytes/s. */
const MBIT = 125_000;

/** A number from a getStats value (vdsm sends most numbers as strings); undefined when absent. */
export function statNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

export type Push = (name: string, kind: Figure['kind'], help: string, value: unknown, scale: number, path?: string, pathScale?: number, labels?: Record<string, string>) => void;

/** Collects figures, skipping values that are absent or not numbers. */
export function figureList(): { figures: Figure[]; push: Push } {
  const figures: Figure[] = [];
  const push: Push = (name, kind, help, value, scale, path, pathScale, labels) => {
    const n = statNumber(value);
    if (n === undefined) return;
    figures.push({
      name, kind, help, value: n * scale,
      ...(labels !== undefined ? { labels } : {}),
      ...(path !== undefined ? { path } : {}),
      ...(pathScale !== undefined && pathScale !== 1 ? { pathScale } : {}),
    });
  };
  return { figures, push };
}

/**
 * Counters and speed of one network interface as getStats reports it (host NICs and VM vNICs alike):
 * `<prefix>_network_*` on /metrics, `<path>.rx_bytes|tx_bytes|rx_errors|...|speed` for statsd.
 */
export function nicFigures(push: Push, prefix: string, whose: string, raw: Record<string, unknown>, labels: Record<string, string>, path: (what: string) => string): void {
  const counters = [
    ['receive_bytes_total', `Bytes received on ${whose}`, 'rx', 'rx_bytes'],
    ['transmit_bytes_total', `Bytes sent on ${whose}`, 'tx', 'tx_bytes'],
    ['receive_errors_total', `Receive errors on ${whose}`, 'rxErrors', 'rx_errors'],
    ['transmit_errors_total', `Transmit errors on ${whose}`, 'txErrors', 'tx_errors'],
    ['receive_dropped_total', `Received packets dropped on ${whose}`, 'rxDropped', 'rx_dropped'],
    ['transmit_dropped_total', `Packets to send dropped on ${whose}`, 'txDropped', 'tx_dropped'],
  ] as const;
  for (const [name, help, key, what] of counters) push(`${prefix}_network_${name}`, 'counter', help, raw[key], 1, path(what), 1, labels);
  push(`${prefix}_network_speed_bytes`, 'gauge', `Link speed of ${whose} in bytes per second`, raw['speed'], MBIT, path('speed'), 1 / MBIT, labels);
}

/** Figures of one Host.getStats result (before the first two samples only the CPU defaults exist). */
export function hostFigures(stats: Readonly<Record<string, unknown>>): Figure[] {
  const { figures, push } = figureList();
  const pct = 1 / 100;
  push('vdsm_host_cpu_user_ratio', 'gauge', 'Host CPU time in user mode over the last sample interval, 0..1 of all CPUs', stats['cpuUser'], pct, 'hosts.cpu.user', 100);
  push('vdsm_host_cpu_system_ratio', 'gauge', 'Host CPU time in system mode over the last sample interval, 0..1 of all CPUs', stats['cpuSys'], pct, 'hosts.cpu.sys', 100);
  push('vdsm_host_cpu_idle_ratio', 'gauge', 'Host CPU idle time over the last sample interval, 0..1 of all CPUs', stats['cpuIdle'], pct, 'hosts.cpu.idle', 100);
  push('vdsm_host_load5', 'gauge', 'Host 5-minute load average', stats['cpuLoad'], 1, 'hosts.cpu.load');
  push('vdsm_host_memory_used_ratio', 'gauge', 'Host memory in use (not free, cached or buffers), 0..1', stats['memUsed'], pct, 'hosts.memory.usage_percent', 100);
  push('vdsm_host_memory_free_bytes', 'gauge', 'Host memory free, cached or in buffers', stats['memFree'], MIB, 'hosts.memory.free_mb', 1 / MIB);
  push('vdsm_host_memory_anon_huge_pages_bytes', 'gauge', 'Host memory in anonymous transparent huge pages', stats['anonHugePages'], MIB, 'hosts.memory.anon_huge_pages', 1 / MIB);
  push('vdsm_host_swap_total_bytes', 'gauge', 'Host swap space', stats['swapTotal'], MIB, 'hosts.swap.total_mb', 1 / MIB);
  push('vdsm_host_swap_free_bytes', 'gauge', 'Host swap space free', stats['swapFree'], MIB, 'hosts.swap.free_mb', 1 / MIB);
  push('vdsm_host_vms', 'gauge', 'VMs the agent knows, by state', stats['vmCount'], 1, 'hosts.vms.total', 1, { state: 'all' });
  push('vdsm_host_vms', 'gauge', 'VMs the agent knows, by state', stats['vmActive'], 1, 'hosts.vms.active', 1, { state: 'active' });
  push('vdsm_host_vms', 'gauge', 'VMs the agent knows, by state', stats['vmMigrating'], 1, 'hosts.vms.migrating', 1, { state: 'migrating' });
  const network = stats['network'];
  if (network !== null && typeof network === 'object') {
    for (const [name, raw] of Object.entries(network as Record<string, Record<string, unknown>>)) {
      const l = { interface: name };
      nicFigures(push, 'vdsm_host', 'the interface', raw, l, (what) => metricPath('hosts', 'nic', name, what));
      push('vdsm_host_network_up', 'gauge', 'Whether the interface is up (1) or down (0)', raw['state'] === 'up' ? 1 : 0, 1, undefined, undefined, l);
    }
  }
  return figures;
}
