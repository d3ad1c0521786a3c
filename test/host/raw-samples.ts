// Canned /proc and /sys texts for host-sample tests, as the host.sample worker operation returns them.
import type { HostRawSample } from '../../src/contracts/host-facts.js';

export const MEMINFO = `MemTotal:       16384000 kB
MemFree:         8192000 kB
MemAvailable:   12000000 kB
Buffers:          102400 kB
Cached:          1024000 kB
SwapCached:            0 kB
SwapTotal:       2097152 kB
SwapFree:        1048576 kB
AnonHugePages:    204800 kB
SReclaimable:      81920 kB
HugePages_Total:       0
`;

export const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  eth0: 98317067    3402    1    7    0     0          0         0   412615    2571    2    3    0     0       0          0
`;

export interface RawOpts {
  timestampMs: number;
  total?: [number, number, number, number];
  cores?: Record<string, [number, number, number, number]>;
  self?: [number, number];
  btime?: string | null;
  netDev?: string;
}

export function procStat(o: RawOpts): string {
  const [u, n, s, i] = o.total ?? [1000, 10, 500, 90000];
  const lines = [`cpu  ${u} ${n} ${s} ${i} 148 0 31 6 0 0`];
  for (const [id, [cu, cn, cs, ci]] of Object.entries(o.cores ?? { 0: [1, 0, 2, 100], 1: [1, 0, 2, 100] })) lines.push(`cpu${id} ${cu} ${cn} ${cs} ${ci} 0 0 0 0 0 0`);
  lines.push('intr 12345 0 0', 'ctxt 99');
  if (o.btime !== null) lines.push(`btime ${o.btime ?? '1795604810'}`);
  lines.push('processes 6432', 'procs_running 1');
  return `${lines.join('\n')}\n`;
}

export function rawSample(o: RawOpts): HostRawSample {
  const [su, ss] = o.self ?? [50, 20];
  return {
    timestampMs: o.timestampMs,
    procStat: procStat(o),
    procSelfStat: `4242 (node (main)) S 1 4242 4242 0 -1 4194560 100 0 0 0 ${su} ${ss} 0 0 20 0 11 0 38697 3133440 379 18446744073709551615\n`,
    meminfo: MEMINFO,
    loadavg: '0.12 0.07 0.02 1/94 6422\n',
    netDev: o.netDev ?? NET_DEV,
    nics: { lo: { operstate: 'unknown', speed: null, flags: '0x9' }, eth0: { operstate: 'up', speed: '10000', flags: '0x1003' } },
    diskFree: { '/tmp': { bavail: 262144, bsize: 4096 }, '/var/log': null },
    thp: 'always [madvise] never\n',
    hugepages: { 'hugepages-2048kB': { free_hugepages: '3', nr_hugepages: '4', nr_hugepages_mempolicy: '4', nr_overcommit_hugepages: '0', resv_hugepages: '0', surplus_hugepages: '0' } },
    numaNodes: {
      0: { meminfo: 'Node 0 MemTotal:  1024000 kB\nNode 0 MemFree:  614400 kB\n', cpulist: '0', freeHugepages: { 'hugepages-2048kB': '1' } },
      1: { meminfo: 'Node 1 MemTotal:  1024000 kB\nNode 1 MemFree:  102400 kB\n', cpulist: '1', freeHugepages: { 'hugepages-2048kB': '2' } },
    },
    cpuOnline: '0-1',
  };
}
