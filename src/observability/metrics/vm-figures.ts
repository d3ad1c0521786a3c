// VM figures from the Host.getAllVmStats reports the agent builds from its stats cache (no libvirt
// call): Prometheus names in base units labelled by vm_id and vm_name, and the statsd paths vdsm sent
// until 2018 (vms.<name>.cpu.*, .balloon.*, .mem.*, .disk.<name>.*, .nic.<name>.*) in vdsm's units.
import { metricPath, type Figure } from './convention.js';
import { figureList, nicFigures } from './host-figures.js';

const NS = 1e-9;
const KIB = 1024;

type Report = Readonly<Record<string, unknown>>;

function record(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Figures of every VM report; Down VMs count in vdsm_vm_status only. */
export function vmFigures(reports: readonly Report[]): Figure[] {
  const { figures, push } = figureList();
  for (const r of reports) {
    const vmId = String(r['vmId'] ?? '');
    const name = typeof r['vmName'] === 'string' && r['vmName'] !== '' ? r['vmName'] : vmId;
    const vm = { vm_id: vmId, vm_name: name };
    const p = (...rest: string[]): string => metricPath('vms', name, ...rest);
    figures.push({ name: 'vdsm_vm_status', kind: 'gauge', help: 'VM status as the engine sees it (1 for the current status)', value: 1, labels: { ...vm, status: String(r['status'] ?? 'Unknown') } });
    if (r['status'] === 'Down') continue;
    push('vdsm_vm_monitor_responsive', 'gauge', 'Whether the VM answered its last statistics sampling in time (1) or not (0)', r['monitorResponse'] === '-1' ? 0 : 1, 1, undefined, undefined, vm);
    push('vdsm_vm_cpu_user_ratio', 'gauge', 'Guest CPU time outside QEMU user/system time over the last sample interval, 0..1 of one CPU (vdsm cpuUser)', r['cpuUser'], 1 / 100, p('cpu', 'user'), 100, vm);
    push('vdsm_vm_cpu_system_ratio', 'gauge', 'QEMU user and system CPU time over the last sample interval, 0..1 of one CPU (vdsm cpuSys)', r['cpuSys'], 1 / 100, p('cpu', 'sys'), 100, vm);
    if (typeof r['cpuUsage'] === 'string' && !r['cpuUsage'].includes('.')) {
      push('vdsm_vm_cpu_seconds_total', 'counter', 'CPU time the VM used (QEMU user plus system)', r['cpuUsage'], NS, p('cpu', 'usage'), 1 / NS, vm);
    }
    push('vdsm_vm_memory_usage_ratio', 'gauge', 'Guest memory in use, 0..1 (from the guest agent or the balloon)', r['memUsage'], 1 / 100, undefined, undefined, vm);
    const balloon = record(r['balloonInfo']);
    if (balloon !== undefined) {
      for (const [key, what] of [['balloon_max', 'max'], ['balloon_min', 'min'], ['balloon_target', 'target'], ['balloon_cur', 'current']] as const) {
        push(`vdsm_vm_balloon_${what}_bytes`, 'gauge', `Memory balloon ${what === 'current' ? 'current size' : what}`, balloon[key], KIB, p('balloon', key.slice(8)), 1 / KIB, vm);
      }
    }
    const mem = record(r['memoryStats']);
    if (mem !== undefined) {
      for (const [key, what] of [['mem_total', 'total'], ['mem_unused', 'unused'], ['mem_free', 'free']] as const) {
        push(`vdsm_vm_guest_memory_${what}_bytes`, 'gauge', `Guest memory ${what} as the balloon driver reports it`, mem[key], KIB, p('mem', key), 1 / KIB, vm);
      }
      push('vdsm_vm_guest_page_faults_per_second', 'gauge', 'Guest page faults per second, by kind', mem['majflt'], 1, p('mem', 'majflt'), 1, { ...vm, kind: 'major' });
      push('vdsm_vm_guest_page_faults_per_second', 'gauge', 'Guest page faults per second, by kind', mem['minflt'], 1, p('mem', 'minflt'), 1, { ...vm, kind: 'minor' });
    }
    for (const [drive, raw] of Object.entries(record(r['disks']) ?? {})) {
      const d = record(raw);
      if (d === undefined) continue;
      const l = { ...vm, drive };
      const dp = (what: string): string => p('disk', drive, what);
      push('vdsm_vm_disk_read_bytes_total', 'counter', 'Bytes the VM read from the drive', d['readBytes'], 1, dp('read_bytes'), 1, l);
      push('vdsm_vm_disk_written_bytes_total', 'counter', 'Bytes the VM wrote to the drive', d['writtenBytes'], 1, dp('write_bytes'), 1, l);
      push('vdsm_vm_disk_read_ops_total', 'counter', 'Read requests of the VM on the drive', d['readOps'], 1, dp('read_ops'), 1, l);
      push('vdsm_vm_disk_write_ops_total', 'counter', 'Write requests of the VM on the drive', d['writeOps'], 1, dp('write_ops'), 1, l);
      push('vdsm_vm_disk_read_bytes_per_second', 'gauge', 'Read throughput over the last sample interval', d['readRate'], 1, dp('read_rate'), 1, l);
      push('vdsm_vm_disk_write_bytes_per_second', 'gauge', 'Write throughput over the last sample interval', d['writeRate'], 1, dp('write_rate'), 1, l);
      push('vdsm_vm_disk_read_latency_seconds', 'gauge', 'Mean read latency over the last sample interval', d['readLatency'], NS, dp('read_latency'), 1 / NS, l);
      push('vdsm_vm_disk_write_latency_seconds', 'gauge', 'Mean write latency over the last sample interval', d['writeLatency'], NS, dp('write_latency'), 1 / NS, l);
      push('vdsm_vm_disk_flush_latency_seconds', 'gauge', 'Mean flush latency over the last sample interval', d['flushLatency'], NS, dp('flush_latency'), 1 / NS, l);
      push('vdsm_vm_disk_apparent_size_bytes', 'gauge', 'Apparent size of the drive\'s image', d['apparentsize'], 1, dp('apparent_size'), 1, l);
      push('vdsm_vm_disk_true_size_bytes', 'gauge', 'Allocated size of the drive\'s image', d['truesize'], 1, dp('true_size'), 1, l);
    }
    for (const [nic, raw] of Object.entries(record(r['network']) ?? {})) {
      const n = record(raw);
      if (n === undefined) continue;
      nicFigures(push, 'vdsm_vm', 'the VM interface', n, { ...vm, interface: nic }, (what) => p('nic', nic, what));
    }
  }
  return figures;
}
