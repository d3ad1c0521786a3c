// Executor operations that read host facts from /proc and /sys (blocking file I/O stays off the main
// thread): they return file contents as plain data; parsing and assembly are pure main-thread code.
import { access, open, readdir, readFile, readlink, statfs } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { networkInterfaces, release, version } from 'node:os';
import { join } from 'node:path';
import type {
  CapabilitiesFactsArgs, CapabilitiesRawFacts, CpuSysFacts, HardwareRawFacts, HostRawSample, HostSampleArgs,
  IfAddress, MaybeText, NetDeviceFacts, NodeSysFacts,
} from '../../src/contracts/host-facts.js';
import type { AreaOps } from '../../src/contracts/operations.js';
import { hookInventory } from '../../src/contracts/hook-scripts.js';

async function text(path: string): Promise<MaybeText> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

async function trimmed(path: string): Promise<MaybeText> {
  const t = await text(path);
  return t === null ? null : t.trim();
}

async function list(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch {
    return [];
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function entriesOf<T>(names: string[], fn: (name: string) => Promise<T>): Promise<Record<string, T>> {
  const values = await Promise.all(names.map(fn));
  const out: Record<string, T> = {};
  names.forEach((n, i) => { out[n] = values[i] as T; });
  return out;
}

const HUGEPAGE_COUNTERS = ['free_hugepages', 'nr_hugepages', 'nr_hugepages_mempolicy', 'nr_overcommit_hugepages', 'resv_hugepages', 'surplus_hugepages'];

function nodeIds(names: string[]): string[] {
  return names.filter((n) => /^node\d+$/.test(n)).map((n) => n.slice(4)).sort((a, b) => Number(a) - Number(b));
}

function netDevNames(netDev: MaybeText): string[] {
  if (netDev === null) return [];
  return netDev.split('\n').slice(2).map((l) => l.split(':')[0]?.trim() ?? '').filter((n) => n !== '');
}

/** The ksmd kernel thread: the hinted pid when /proc/<pid>/comm still says ksmd, else the first found. */
async function findKsmd(p: (rel: string) => string, hint: number | undefined): Promise<{ pid: number; stat: string } | null> {
  const statOf = async (pid: number): Promise<{ pid: number; stat: string } | null> => {
    if ((await trimmed(p(`proc/${pid}/comm`))) !== 'ksmd') return null;
    const stat = await text(p(`proc/${pid}/stat`));
    return stat === null ? null : { pid, stat };
  };
  if (hint !== undefined) {
    const found = await statOf(hint);
    if (found !== null) return found;
  }
  // A kernel thread started at boot: it has one of the lowest pids, so the search stops early.
  const pids = (await list(p('proc'))).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  for (const pid of pids) {
    const found = await statOf(pid);
    if (found !== null) return found;
  }
  return null;
}

/** KernelPageSize (KiB) from the first mapping in /proc/self/smaps: only its first block is read. */
async function pageSizeKiB(p: (rel: string) => string): Promise<number | null> {
  let fh;
  try {
    fh = await open(p('proc/self/smaps'), 'r');
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const m = /^KernelPageSize:\s+(\d+)\s+kB/m.exec(buf.toString('latin1', 0, bytesRead));
    return m !== null ? Number(m[1]) : null;
  } catch {
    return null;
  } finally {
    await fh?.close();
  }
}

export async function readHostSample(args: HostSampleArgs): Promise<HostRawSample> {
  const root = args.root ?? '/';
  const p = (rel: string): string => join(root, rel);
  const timestampMs = Date.now();
  const [procStat, procSelfStat, meminfo, loadavg, netDev, thpMain, cpuOnline] = await Promise.all([
    text(p('proc/stat')), text(p('proc/self/stat')), text(p('proc/meminfo')), text(p('proc/loadavg')), text(p('proc/net/dev')),
    text(p('sys/kernel/mm/transparent_hugepage/enabled')), trimmed(p('sys/devices/system/cpu/online')),
  ]);
  const thp = thpMain ?? (await text(p('sys/kernel/mm/redhat_transparent_hugepage/enabled')));
  const nics = await entriesOf(netDevNames(netDev), async (name) => {
    const [operstate, speed, flags] = await Promise.all([
      trimmed(p(`sys/class/net/${name}/operstate`)), trimmed(p(`sys/class/net/${name}/speed`)), trimmed(p(`sys/class/net/${name}/flags`)),
    ]);
    return { operstate, speed, flags };
  });
  const diskFree = await entriesOf(args.monitoredPaths, async (path) => {
    try {
      const s = await statfs(path);
      return { bavail: s.bavail, bsize: s.bsize };
    } catch {
      return null;
    }
  });
  const hugepages = await entriesOf((await list(p('sys/kernel/mm/hugepages'))).filter((d) => d.startsWith('hugepages-')), (dir) =>
    entriesOf(HUGEPAGE_COUNTERS, (f) => trimmed(p(`sys/kernel/mm/hugepages/${dir}/${f}`))));
  const numaNodes = await entriesOf(nodeIds(await list(p('sys/devices/system/node'))), async (id) => {
    const base = `sys/devices/system/node/node${id}`;
    const hpDirs = (await list(p(`${base}/hugepages`))).filter((d) => d.startsWith('hugepages-'));
    const [nodeMeminfo, cpulist, freeHugepages] = await Promise.all([
      text(p(`${base}/meminfo`)), trimmed(p(`${base}/cpulist`)),
      entriesOf(hpDirs, (d) => trimmed(p(`${base}/hugepages/${d}/free_hugepages`))),
    ]);
    return { meminfo: nodeMeminfo, cpulist, freeHugepages };
  });
  const [run, pagesToScan, mergeAcrossNodes, pagesSharing] = await Promise.all(
    ['run', 'pages_to_scan', 'merge_across_nodes', 'pages_sharing'].map((f) => trimmed(p(`sys/kernel/mm/ksm/${f}`))),
  ) as [MaybeText, MaybeText, MaybeText, MaybeText];
  const ksm = { run, pagesToScan, mergeAcrossNodes, pagesSharing };
  const ksmd = run !== null ? await findKsmd(p, args.ksmdPid) : null;
  if (procStat === null || meminfo === null) throw new Error(`cannot read ${p('proc/stat')} or ${p('proc/meminfo')}`);
  return { timestampMs, procStat, procSelfStat, meminfo, loadavg, netDev, nics, diskFree, thp, hugepages, numaNodes, cpuOnline, ksm, ksmd, pageSizeKiB: await pageSizeKiB(p) };
}

async function netDevice(p: (rel: string) => string, name: string): Promise<NetDeviceFacts> {
  const base = `sys/class/net/${name}`;
  const [address, mtu, speed, operstate, flags, type, uevent, ipv6autoconf, vlan] = await Promise.all([
    trimmed(p(`${base}/address`)), trimmed(p(`${base}/mtu`)), trimmed(p(`${base}/speed`)), trimmed(p(`${base}/operstate`)),
    trimmed(p(`${base}/flags`)), trimmed(p(`${base}/type`)), text(p(`${base}/uevent`)),
    trimmed(p(`proc/sys/net/ipv6/conf/${name}/autoconf`)), text(p(`proc/net/vlan/${name}`)),
  ]);
  let virtual = false;
  try {
    virtual = (await readlink(p(base))).includes('/devices/virtual/');
  } catch {
    virtual = false;
  }
  let master: string | null = null;
  try {
    const target = await readlink(p(`${base}/master`));
    master = target.split('/').pop() ?? null;
  } catch {
    master = null;
  }
  const isBridge = await exists(p(`${base}/bridge`));
  const bridge = isBridge ? { ports: await list(p(`${base}/brif`)), stpState: await trimmed(p(`${base}/bridge/stp_state`)) } : null;
  const isBond = await exists(p(`${base}/bonding`));
  const bond = isBond
    ? {
        slaves: await trimmed(p(`${base}/bonding/slaves`)), mode: await trimmed(p(`${base}/bonding/mode`)),
        miimon: await trimmed(p(`${base}/bonding/miimon`)), activeSlave: await trimmed(p(`${base}/bonding/active_slave`)),
        adAggregatorId: await trimmed(p(`${base}/bonding/ad_aggregator`)),
      }
    : null;
  const devtype = /^DEVTYPE=(.*)$/m.exec(uevent ?? '')?.[1] ?? null;
  return { address, mtu, speed, operstate, flags, type, virtual, bridge, bond, master, vlan, ipv6autoconf, devtype };
}

function plainIfaddrs(): Record<string, IfAddress[]> {
  const out: Record<string, IfAddress[]> = {};
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    out[name] = (addrs ?? []).map((a) => ({
      address: a.address, netmask: a.netmask, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4', mac: a.mac, internal: a.internal,
      cidr: a.cidr, ...(a.family === 'IPv6' ? { scopeid: a.scopeid } : {}),
    }));
  }
  return out;
}

export async function readCapabilitiesFacts(args: CapabilitiesFactsArgs = {}): Promise<CapabilitiesRawFacts> {
  const root = args.root ?? '/';
  const p = (rel: string): string => join(root, rel);
  const cpuDirs = (await list(p('sys/devices/system/cpu'))).filter((n) => /^cpu\d+$/.test(n));
  const cpus = await entriesOf(cpuDirs.map((d) => d.slice(3)), async (id): Promise<CpuSysFacts> => {
    const t = `sys/devices/system/cpu/cpu${id}/topology`;
    const [physicalPackageId, coreId, dieId, threadSiblingsList] = await Promise.all([
      trimmed(p(`${t}/physical_package_id`)), trimmed(p(`${t}/core_id`)), trimmed(p(`${t}/die_id`)), trimmed(p(`${t}/thread_siblings_list`)),
    ]);
    return { physicalPackageId, coreId, dieId, threadSiblingsList };
  });
  const nodes = await entriesOf(nodeIds(await list(p('sys/devices/system/node'))), async (id): Promise<NodeSysFacts> => {
    const base = `sys/devices/system/node/node${id}`;
    const hpDirs = (await list(p(`${base}/hugepages`))).filter((d) => d.startsWith('hugepages-'));
    const [cpulist, meminfo, distance, hugepages] = await Promise.all([
      trimmed(p(`${base}/cpulist`)), text(p(`${base}/meminfo`)), trimmed(p(`${base}/distance`)),
      entriesOf(hpDirs, (d) => trimmed(p(`${base}/hugepages/${d}/nr_hugepages`))),
    ]);
    return { cpulist, meminfo, distance, hugepages };
  });
  const netNames = await list(p('sys/class/net'));
  const net = await entriesOf(netNames, (n) => netDevice(p, n));
  const fcNames = (await list(p('sys/class/fc_host'))).filter((n) => n.startsWith('host'));
  const fcHosts = await entriesOf(fcNames, async (h) => {
    const base = `sys/class/fc_host/${h}`;
    const sh = `${base}/device/scsi_host/${h}`;
    return {
      portName: await trimmed(p(`${base}/port_name`)), nodeName: await trimmed(p(`${base}/node_name`)),
      modelName: (await trimmed(p(`${sh}/modelname`))) ?? (await trimmed(p(`${sh}/model_name`))),
      modelDesc: (await trimmed(p(`${sh}/modeldesc`))) ?? (await trimmed(p(`${sh}/model_desc`))),
    };
  });
  const [cpuinfo, cpuOnline, meminfo, procStat, osRelease, debianVersion, redhatRelease, cmdline, routes, ipv6Routes, resolvConf, iscsi] = await Promise.all([
    text(p('proc/cpuinfo')), trimmed(p('sys/devices/system/cpu/online')), text(p('proc/meminfo')), text(p('proc/stat')),
    text(p('etc/os-release')), trimmed(p('etc/debian_version')), trimmed(p('etc/redhat-release')), trimmed(p('proc/cmdline')),
    text(p('proc/net/route')), text(p('proc/net/ipv6_route')), text(p('etc/resolv.conf')), text(p('etc/iscsi/initiatorname.iscsi')),
  ]);
  const selinuxEnforce = (await trimmed(p('sys/fs/selinux/enforce'))) ?? (await trimmed(p('selinux/enforce')));
  const status = await text(p('proc/self/status'));
  const releaseDir = await list(p('etc'));
  if (cpuinfo === null || meminfo === null) throw new Error(`cannot read ${p('proc/cpuinfo')} or ${p('proc/meminfo')}`);
  return {
    cpuinfo, cpuOnline, cpus, nodes, meminfo, procStat, osRelease,
    releaseFiles: {
      rhevh: releaseDir.includes('rhev-hypervisor-release'),
      ovirtNode: releaseDir.some((n) => n.startsWith('ovirt-node-') && n.endsWith('-release')),
      fedora: releaseDir.includes('fedora-release'), redhat: releaseDir.includes('redhat-release'),
      debian: releaseDir.includes('debian_version'), powerkvm: releaseDir.includes('ibm_powerkvm-release'),
    },
    debianVersion, redhatRelease,
    kernelRelease: root === '/' ? release() : ((await trimmed(p('proc/sys/kernel/osrelease'))) ?? release()),
    kernelVersion: root === '/' ? version() : ((await trimmed(p('proc/sys/kernel/version'))) ?? version()),
    cmdline, net, ifaddrs: root === '/' ? plainIfaddrs() : {}, routes, ipv6Routes,
    supportsIPv6: await exists(p('proc/net/if_inet6')),
    resolvConf, iscsiInitiatorName: iscsi, fcHosts,
    rng: { random: await exists(p('dev/random')), urandom: await exists(p('dev/urandom')), hwrng: await exists(p('dev/hwrng')) },
    selinuxEnforce,
    fipsEnabled: await trimmed(p('proc/sys/crypto/fips_enabled')),
    kvm: await exists(p('dev/kvm')),
    kexecCrashLoaded: await trimmed(p('sys/kernel/kexec_crash_loaded')),
    kdumpConf: await text(p('etc/kdump.conf')),
    numaBalancing: await trimmed(p('proc/sys/kernel/numa_balancing')),
    nested: { kvmIntel: await trimmed(p('sys/module/kvm_intel/parameters/nested')), kvmAmd: await trimmed(p('sys/module/kvm_amd/parameters/nested')) },
    hugepageDirs: (await list(p('sys/kernel/mm/hugepages'))).filter((d) => d.startsWith('hugepages-')),
    cpuAffinity: /^Cpus_allowed_list:\s*(.*)$/m.exec(status ?? '')?.[1]?.trim() ?? null,
    kernelFeatures: {
      pti: await trimmed(p('sys/kernel/debug/x86/pti_enabled')), ibpb: await trimmed(p('sys/kernel/debug/x86/ibpb_enabled')),
      ibrs: await trimmed(p('sys/kernel/debug/x86/ibrs_enabled')),
    },
    machineId: await trimmed(p('etc/machine-id')),
    productUuid: await trimmed(p('sys/class/dmi/id/product_uuid')),
    vdsmId: await trimmed(p('etc/vdsm/vdsm.id')),
    dmiPresent: await exists(p('sys/class/dmi/id')),
    hooks: await hookInventory(args.hooksDir ?? p('usr/libexec/vdsm/hooks')),
  };
}

/** The /sys/class/dmi/id files Host.getHardwareInfo reports (src/host/hardware-info.ts maps them). */
export const DMI_FILES: readonly string[] = Object.freeze(['sys_vendor', 'product_name', 'product_version', 'product_serial', 'product_uuid', 'product_family']);

export async function readHardwareFacts(args: { root?: string } = {}): Promise<HardwareRawFacts> {
  const root = args.root ?? '/';
  const dmiDir = join(root, 'sys/class/dmi/id');
  const dmi: Record<string, string> = {};
  const unreadable: string[] = [];
  for (const file of DMI_FILES) {
    try {
      dmi[file] = await readFile(join(dmiDir, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES' || (err as NodeJS.ErrnoException).code === 'EPERM') unreadable.push(file);
    }
  }
  const dt = async (name: string): Promise<string | undefined> => {
    const t = await text(join(root, 'sys/firmware/devicetree/base', name));
    return t === null ? undefined : t.replace(/\0+$/, '').trim();
  };
  const [model, serialNumber] = await Promise.all([dt('model'), dt('serial-number')]);
  return {
    dmi, dmiPresent: await exists(dmiDir), unreadable,
    deviceTree: { ...(model !== undefined ? { model } : {}), ...(serialNumber !== undefined ? { serialNumber } : {}) },
  };
}

/**
 * The QEMU process running a domain: the process whose command line carries `-uuid <uuid>` (libvirt always
 * passes it). Only processes whose name starts with "qemu" have their command line read. null when none.
 */
export async function findQemuPid(args: { uuid: string; root?: string }): Promise<number | null> {
  const p = (rel: string): string => join(args.root ?? '/', rel);
  const want = args.uuid.toLowerCase();
  for (const name of await list(p('proc'))) {
    if (!/^\d+$/.test(name)) continue;
    const comm = await trimmed(p(`proc/${name}/comm`));
    if (comm === null || !comm.startsWith('qemu')) continue;
    const argv = (await text(p(`proc/${name}/cmdline`)))?.split('\0') ?? [];
    const i = argv.indexOf('-uuid');
    if (i >= 0 && argv[i + 1]?.toLowerCase() === want) return Number(name);
  }
  return null;
}

export const ops: AreaOps<'host'> = {
  'host.sample': (args) => readHostSample(args),
  'host.capabilitiesFacts': (args) => readCapabilitiesFacts(args ?? {}),
  'host.hardwareInfo': (args) => readHardwareFacts(args ?? {}),
  'host.qemuPid': (args) => findQemuPid(args),
};
