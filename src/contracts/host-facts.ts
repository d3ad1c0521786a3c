// Plain data the host worker operations return: file contents and small directory facts, unparsed.
// Types only; parsing happens on the main thread in pure functions that tests feed with canned text.

/** Text of a file, or null when it is absent or unreadable. */
export type MaybeText = string | null;

/** host.sample: one host sample (vdsm's HostSample inputs). */
export interface HostRawSample {
  /** Wall clock ms (Date.now()) when the sample was read; vdsm's HostSample uses time.time(). */
  timestampMs: number;
  procStat: string;
  procSelfStat: MaybeText;
  meminfo: string;
  loadavg: MaybeText;
  netDev: MaybeText;
  /** Per interface in /proc/net/dev: sysfs operstate, speed (Mb/s) and flags (hex). */
  nics: Record<string, { operstate: MaybeText; speed: MaybeText; flags: MaybeText }>;
  /** Monitored path -> statfs free figures, null when statfs failed (vdsm then reports "0"). */
  diskFree: Record<string, { bavail: number; bsize: number } | null>;
  /** Content of transparent_hugepage/enabled. */
  thp: MaybeText;
  /** hugepages-<N>kB directory -> counter file -> text. */
  hugepages: Record<string, Record<string, MaybeText>>;
  /** NUMA node id -> its meminfo text and free hugepages per hugepages-<N>kB directory. */
  numaNodes: Record<string, { meminfo: MaybeText; cpulist: MaybeText; freeHugepages: Record<string, MaybeText> }>;
  /** /sys/devices/system/cpu/online */
  cpuOnline: MaybeText;
  /** /sys/kernel/mm/ksm files (each null when KSM is absent); older raw samples may lack the group. */
  ksm?: { run: MaybeText; pagesToScan: MaybeText; mergeAcrossNodes: MaybeText; pagesSharing: MaybeText };
  /** The ksmd kernel thread's pid and its /proc/<pid>/stat, when found (its CPU time gives ksmCpu). */
  ksmd?: { pid: number; stat: string } | null;
  /** KernelPageSize of this process's first mapping, in KiB (memShared counts pages). */
  pageSizeKiB?: number | null;
}

export interface HostSampleArgs {
  /** Paths whose free space is reported in diskStats (vdsm: the temp dir, /var/log, the run dir). */
  monitoredPaths: string[];
  /** Root to read /proc and /sys under (tests); default '/'. */
  root?: string;
  /** ksmd's pid from the previous sample: checked, and /proc searched again only when it is stale. */
  ksmdPid?: number;
}

export interface CpuSysFacts {
  physicalPackageId: MaybeText;
  coreId: MaybeText;
  dieId: MaybeText;
  threadSiblingsList: MaybeText;
}

export interface NodeSysFacts {
  cpulist: MaybeText;
  meminfo: MaybeText;
  distance: MaybeText;
  /** hugepages-<N>kB -> nr_hugepages */
  hugepages: Record<string, MaybeText>;
}

/** One entry of /sys/class/net. */
export interface NetDeviceFacts {
  address: MaybeText;
  mtu: MaybeText;
  speed: MaybeText;
  operstate: MaybeText;
  flags: MaybeText;
  /** ARPHRD type (1 ethernet, 772 loopback ...). */
  type: MaybeText;
  /** The sysfs path resolves under devices/virtual (no physical device). */
  virtual: boolean;
  bridge: { ports: string[]; stpState: MaybeText } | null;
  bond: { slaves: MaybeText; mode: MaybeText; miimon: MaybeText; activeSlave: MaybeText; adAggregatorId: MaybeText } | null;
  /** The bond this device is enslaved to, if any. */
  master: string | null;
  /** /proc/net/vlan/<dev> text when it is a VLAN device. */
  vlan: MaybeText;
  /** /proc/sys/net/ipv6/conf/<dev>/autoconf */
  ipv6autoconf: MaybeText;
  /** `tun`/`tap` etc. from uevent DEVTYPE, when present. */
  devtype: MaybeText;
}

/** os.networkInterfaces() entries, as plain data. */
export interface IfAddress {
  address: string;
  netmask: string;
  family: 'IPv4' | 'IPv6';
  mac: string;
  internal: boolean;
  cidr: string | null;
  scopeid?: number;
}

/** host.capabilitiesFacts: everything getCapabilities reads from the host itself. */
export interface CapabilitiesRawFacts {
  cpuinfo: string;
  cpuOnline: MaybeText;
  cpus: Record<string, CpuSysFacts>;
  nodes: Record<string, NodeSysFacts>;
  meminfo: string;
  procStat: MaybeText;
  osRelease: MaybeText;
  /** Which release marker files exist (vdsm's OS name detection). */
  releaseFiles: { rhevh: boolean; ovirtNode: boolean; fedora: boolean; redhat: boolean; debian: boolean; powerkvm: boolean };
  debianVersion: MaybeText;
  redhatRelease: MaybeText;
  /** os.release() / os.version() */
  kernelRelease: string;
  kernelVersion: string;
  cmdline: MaybeText;
  net: Record<string, NetDeviceFacts>;
  ifaddrs: Record<string, IfAddress[]>;
  routes: MaybeText;
  ipv6Routes: MaybeText;
  supportsIPv6: boolean;
  resolvConf: MaybeText;
  iscsiInitiatorName: MaybeText;
  fcHosts: Record<string, { portName: MaybeText; nodeName: MaybeText; modelName: MaybeText; modelDesc: MaybeText }>;
  rng: { random: boolean; urandom: boolean; hwrng: boolean };
  selinuxEnforce: MaybeText;
  fipsEnabled: MaybeText;
  kvm: boolean;
  kexecCrashLoaded: MaybeText;
  kdumpConf: MaybeText;
  numaBalancing: MaybeText;
  nested: { kvmIntel: MaybeText; kvmAmd: MaybeText };
  hugepageDirs: string[];
  /** Cpus_allowed_list of this process. */
  cpuAffinity: MaybeText;
  /** /sys/kernel/debug/x86/{pti,ibpb,ibrs}_enabled */
  kernelFeatures: { pti: MaybeText; ibpb: MaybeText; ibrs: MaybeText };
  machineId: MaybeText;
  productUuid: MaybeText;
  /** /etc/vdsm/vdsm.id (vdsm's persisted host id; wins over DMI). */
  vdsmId?: MaybeText;
  /** /sys/class/dmi/id exists: the host has DMI data (product_uuid then needs root, i.e. supervdsm). */
  dmiPresent: boolean;
  /** Executable hook scripts per hook point, each with vdsm's checksum (sha256 of its content; vdsm's hooks.installed()). */
  hooks: Record<string, Record<string, { checksum: string }>>;
}

export interface CapabilitiesFactsArgs {
  root?: string;
  /** vdsm's hooks directory (default /usr/libexec/vdsm/hooks). */
  hooksDir?: string;
}

/**
 * host.hardwareInfo: what an unprivileged process can read about the machine. vdsm asks supervdsm to run
 * dmidecode as root; the DMI tables themselves stay with the privileged helper (src/supervdsm/).
 */
export interface HardwareRawFacts {
  /** /sys/class/dmi/id files read (sys_vendor, product_name ... world readable; serial and uuid need root). */
  dmi: Record<string, string>;
  /** /sys/class/dmi/id exists (the firmware has SMBIOS tables the kernel exposes). */
  dmiPresent: boolean;
  /** DMI files that exist but could not be read (permissions: product_serial, product_uuid). */
  unreadable: string[];
  /** Device tree (ARM, POWER): model and serial-number, NUL terminators removed. */
  deviceTree: { model?: string; serialNumber?: string };
}

/** host.hardwareInfo / host.sample / host.capabilitiesFacts take a root only in tests (canned trees). */
export interface HostRootArgs {
  root?: string;
}

/** Operation name -> { args, result } of workers/ops/host.ts. */
export interface HostOps {
  'host.sample': { args: HostSampleArgs; result: HostRawSample };
  'host.capabilitiesFacts': { args: CapabilitiesFactsArgs | undefined; result: CapabilitiesRawFacts };
  'host.hardwareInfo': { args: HostRootArgs | undefined; result: HardwareRawFacts };
  /** The QEMU process running the domain with this UUID (its `-uuid` argument), or null. */
  'host.qemuPid': { args: { uuid: string; root?: string }; result: number | null };
}
