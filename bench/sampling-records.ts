// SYNTHETIC libvirt bulk-stats records for the `sampling` bench: libvirt's test driver returns only the
// `state` group, so the bench feeds records with the key names, value types and magnitudes of a real qemu
// VM (docs/real-vm.md, libvirt-lab.md §2), sized to each VM's devices, with counters that advance per cycle.

export interface SyntheticVm {
  uuid: string;
  vcpus: number;
  memoryKiB: number;
  disks: { name: string; path: string }[];
  /** NIC target names (bulk stats match NICs by name). */
  nics: string[];
}

/** Per-NIC keys of libvirt's interface group. */
const NET_KEYS = ['rx.bytes', 'rx.pkts', 'rx.errs', 'rx.drop', 'tx.bytes', 'tx.pkts', 'tx.errs', 'tx.drop'] as const;

/** A small deterministic spread per VM, so records are not all identical. */
function spread(uuid: string): number {
  let h = 0;
  for (let i = 0; i < uuid.length; i++) h = (h * 31 + uuid.charCodeAt(i)) >>> 0;
  return (h % 1000) / 1000;
}

/**
 * One record at sampling `cycle` (15 s apart in the VM's life): the real VM's 48 keys for 1 vCPU, 1 disk and
 * a tap-less NIC; each extra vCPU adds 4 keys, each extra disk 14, each NIC with a tap 9.
 */
export function syntheticRecord(vm: SyntheticVm, cycle: number): Record<string, number | string> {
  const f = spread(vm.uuid);
  const t = cycle * 15; // seconds of VM life
  const mem = vm.memoryKiB > 0 ? vm.memoryKiB : 1048576;
  const r: Record<string, number | string> = {
    'state.state': 1,
    'state.reason': 1,
    'cpu.time': Math.round((3.2e11 + t * 1.5e9) * (1 + f)),
    'cpu.user': Math.round((1.1e11 + t * 0.9e9) * (1 + f)),
    'cpu.system': Math.round((4.0e10 + t * 0.3e9) * (1 + f)),
    'cpu.cache.monitor.count': 0,
    'cpu.haltpoll.success.time': Math.round(2.1e9 + t * 1e6),
    'cpu.haltpoll.fail.time': Math.round(3.4e8 + t * 1e5),
    'balloon.current': mem,
    'balloon.maximum': mem,
    'balloon.swap_in': 0,
    'balloon.swap_out': 0,
    'balloon.major_fault': 412 + cycle,
    'balloon.minor_fault': Math.round(1_893_211 + cycle * 2_000 * (1 + f)),
    'balloon.unused': Math.round(mem * (0.55 - 0.1 * f)),
    'balloon.available': mem - 102_400,
    'balloon.usable': Math.round(mem * (0.6 - 0.1 * f)),
    'balloon.disk_caches': Math.round(mem * 0.08),
    'balloon.hugetlb_pgalloc': 0,
    'balloon.hugetlb_pgfail': 0,
    'balloon.rss': Math.round(mem * (0.4 + 0.2 * f)),
    'balloon.last-update': 1_764_000_000 + t,
    'vcpu.current': vm.vcpus,
    'vcpu.maximum': vm.vcpus,
  };
  for (let i = 0; i < vm.vcpus; i++) {
    r[`vcpu.${i}.state`] = 1;
    r[`vcpu.${i}.time`] = Math.round((1.4e11 + t * 0.7e9) * (1 + f));
    r[`vcpu.${i}.wait`] = 0;
    r[`vcpu.${i}.delay`] = Math.round(8.1e8 + t * 2e6);
  }
  r['net.count'] = vm.nics.length;
  vm.nics.forEach((name, i) => {
    r[`net.${i}.name`] = name;
    const rx = Math.round((5.2e8 + t * 4.1e5) * (1 + f));
    const tx = Math.round((1.9e8 + t * 1.6e5) * (1 + f));
    const values: Record<(typeof NET_KEYS)[number], number> = {
      'rx.bytes': rx, 'rx.pkts': Math.round(rx / 900), 'rx.errs': 0, 'rx.drop': cycle % 7 === 0 ? 1 : 0,
      'tx.bytes': tx, 'tx.pkts': Math.round(tx / 700), 'tx.errs': 0, 'tx.drop': 0,
    };
    for (const k of NET_KEYS) r[`net.${i}.${k}`] = values[k];
  });
  r['block.count'] = vm.disks.length;
  vm.disks.forEach((d, i) => {
    const rdReqs = Math.round((41_000 + cycle * 120) * (1 + f));
    const wrReqs = Math.round((97_000 + cycle * 310) * (1 + f));
    Object.assign(r, {
      [`block.${i}.name`]: d.name,
      [`block.${i}.path`]: d.path,
      [`block.${i}.backingIndex`]: 1,
      [`block.${i}.rd.reqs`]: rdReqs,
      [`block.${i}.rd.bytes`]: rdReqs * 16_384,
      [`block.${i}.rd.times`]: rdReqs * 180_000,
      [`block.${i}.wr.reqs`]: wrReqs,
      [`block.${i}.wr.bytes`]: wrReqs * 8_192,
      [`block.${i}.wr.times`]: wrReqs * 420_000,
      [`block.${i}.fl.reqs`]: Math.round(wrReqs / 9),
      [`block.${i}.fl.times`]: Math.round(wrReqs / 9) * 1_100_000,
      [`block.${i}.allocation`]: 3_221_225_472 + cycle * 65_536,
      [`block.${i}.capacity`]: 21_474_836_480,
      [`block.${i}.physical`]: 3_487_563_776,
    });
  });
  Object.assign(r, {
    'dirtyrate.calc_status': 2,
    'dirtyrate.calc_start_time': 1_764_000_000,
    'dirtyrate.calc_period': 1,
    'dirtyrate.calc_mode': 'page-sampling',
  });
  return r;
}

export function syntheticKeyCount(vm: SyntheticVm): number {
  return Object.keys(syntheticRecord(vm, 0)).length;
}
