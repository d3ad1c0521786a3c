// Host.getCapabilities assembled from plain facts: what host.capabilitiesFacts read from /proc, /sys and
// /etc (in a worker), libvirt's capabilities XML and versions. Pure: the same inputs give the same object.
//
// Threading: all file reading happens in the Executor operation `host.capabilitiesFacts`
// (workers/ops/host.ts); this module never touches the file system.
import type { HostCapabilities } from '../contracts/api-types.js';
import { chooseHostId } from './host-id.js';
import { cpuFlags, parseDomainCapabilities, parseLibvirtCapabilities } from './libvirt-caps.js';
import { cpuTopology, parseCpuinfo, parseCpuList } from './cpu.js';
import { parseMeminfo } from './meminfo.js';
import { parseBootTime } from './proc-stat.js';
import { networkCaps } from './netcaps.js';
import { autoNumaBalancing, hugepageSizeKiB, numaDistances, numaNodes } from './numa.js';
import {
  fipsEnabled, kdumpStatus, kernelArgs, kernelFeatures, kernelFlags, nestedVirtualization, operatingSystem, selinuxStatus,
} from './os-release.js';
import { clusterLevels, DEFAULT_VDSM_VERSION, formatLibvirtVersion, packages2, SUPPORTED_ENGINES, type PackageVersion } from './packages.js';
import type { CapabilitiesRawFacts, MaybeText } from '../contracts/host-facts.js';
import { fakeKvmCapabilities, type FakeKvmArchitecture } from './fake-kvm.js';

export interface CapabilitiesOptions {
  /** vdsm: host_mem_reserve (256) + extra_mem_reserve (65), MiB. */
  reservedMemMiB?: number;
  /** vdsm: guest_ram_overhead (65), MiB. */
  guestOverheadMiB?: number;
  /** vdsm: report_host_threads_as_cores (false). */
  reportHostThreadsAsCores?: boolean;
  /** vdsm's host id (/etc/vdsm/vdsm.id); else the DMI product UUID, else /etc/machine-id as a UUID. */
  hostUuid?: string;
  /** Added to emulatedMachines (a dev host's qemu lacks the RHEL machine types an engine cluster wants). */
  extraEmulatedMachines?: string[];
  /**
   * [vars] fake_kvm_support with fake_kvm_architecture (see fake-kvm.ts): kvmEnabled, the CPU and the
   * emulated machines of that architecture, whatever the hypervisor offers. `realArch` is the host's.
   */
  fakeKvm?: { arch: FakeKvmArchitecture; realArch: string };
}

export interface CapabilitiesInput {
  facts: CapabilitiesRawFacts;
  /** virConnectGetCapabilities() */
  libvirtCapabilitiesXml: string;
  /** virConnectGetDomainCapabilities(), when the driver supports it: gives the usable CPU models. */
  domainCapabilitiesXml?: string;
  /** virConnectGetLibVersion(): number (9000000) or "9.0.0". */
  libvirtVersion: number | string;
  /** virConnectGetVersion() of the hypervisor (qemu), when known. */
  qemuVersion?: number | string;
  vdsmVersion?: PackageVersion;
  spiceServerVersion?: string;
  options?: CapabilitiesOptions;
}

/** vdsm's storage domain versions (ints, the engine casts each). */
export const DOMAIN_VERSIONS: readonly number[] = Object.freeze([0, 2, 3, 4, 5]);

const SUPPORTED_BLOCK_SIZE: Readonly<Record<string, number[]>> = Object.freeze({
  FCP: [512], GLUSTERFS: [0, 512, 4096], ISCSI: [512], LOCALFS: [0, 512, 4096], NFS: [512], POSIXFS: [0, 512, 4096],
});

/** vdsm lists random and hwrng; urandom is left out for engines <= 4.0, as vdsm does. */
export function rngSources(rng: CapabilitiesRawFacts['rng']): string[] {
  const out: string[] = [];
  if (rng.random) out.push('random');
  if (rng.hwrng) out.push('hwrng');
  return out;
}

/** InitiatorName from /etc/iscsi/initiatorname.iscsi; '' when absent (vdsm logs and reports empty). */
export function iscsiInitiatorName(text: MaybeText): string {
  for (const line of (text ?? '').split('\n')) {
    const i = line.indexOf('=');
    if (i >= 0 && line.slice(0, i).trim() === 'InitiatorName') return line.slice(i + 1).trim();
  }
  return '';
}

/** {iSCSI: [{InitiatorName}], FC: [{wwpn, wwnn, model}]}: both arrays, empty when the subsystem is absent. */
export function hbaInventory(raw: Pick<CapabilitiesRawFacts, 'iscsiInitiatorName' | 'fcHosts'>): { iSCSI: { InitiatorName: string }[]; FC: { wwpn: string; wwnn: string; model: string }[] } {
  const name = iscsiInitiatorName(raw.iscsiInitiatorName);
  // vdsm strips every leading '0' and 'x' (str.lstrip("0x")), which is what the engine has stored.
  const strip = (v: MaybeText): string => (v ?? '').trim().replace(/^[0x]+/, '');
  return {
    iSCSI: name !== '' ? [{ InitiatorName: name }] : [],
    FC: Object.values(raw.fcHosts).map((h) => ({
      wwpn: strip(h.portName), wwnn: strip(h.nodeName), model: `${h.modelName ?? 'Unknown'} - ${h.modelDesc ?? 'Unknown'}`,
    })),
  };
}

export function hostUuid(facts: Pick<CapabilitiesRawFacts, 'productUuid' | 'machineId' | 'vdsmId'>, configured?: string): string {
  if (configured !== undefined && configured !== '') return configured;
  return chooseHostId(facts)?.id ?? '';
}

export function buildCapabilities(input: CapabilitiesInput): HostCapabilities & Record<string, unknown> {
  const { facts } = input;
  const o = input.options ?? {};
  const topo = cpuTopology(facts);
  const cpu = parseCpuinfo(facts.cpuinfo);
  const lv = parseLibvirtCapabilities(input.libvirtCapabilitiesXml);
  const dom = input.domainCapabilitiesXml !== undefined ? parseDomainCapabilities(input.domainCapabilitiesXml) : undefined;
  const models = dom !== undefined && dom.usableModels.length > 0 ? dom.usableModels : lv.cpuModel !== undefined ? [lv.cpuModel] : [];
  const libvirtVersion = formatLibvirtVersion(input.libvirtVersion);
  const qemuVersion = input.qemuVersion !== undefined ? formatLibvirtVersion(input.qemuVersion) : undefined;
  const kernel = kernelFlags(facts.kernelRelease, facts.kernelVersion);
  const meminfo = parseMeminfo(facts.meminfo);
  const net = networkCaps(facts);
  const vdsm = input.vdsmVersion ?? DEFAULT_VDSM_VERSION;
  let bootTime: string | undefined;
  try {
    bootTime = facts.procStat !== null ? String(parseBootTime(facts.procStat)) : undefined;
  } catch {
    bootTime = undefined; // vdsm leaves the key out when btime is missing
  }
  const fake = o.fakeKvm !== undefined ? fakeKvmCapabilities(o.fakeKvm.arch, o.fakeKvm.realArch, cpu.flags) : undefined;
  const machines = fake !== undefined ? fake.emulatedMachines : [...lv.emulatedMachines];
  for (const m of o.extraEmulatedMachines ?? []) if (!machines.includes(m)) machines.push(m);

  return {
    // vdsm only checks that /dev/kvm exists. When libvirt's QEMU driver offers no kvm domain type for
    // this architecture (an unprivileged session daemon, a /dev/kvm it cannot open), VMs here run
    // under TCG: KVM is not usable, whatever the device node says.
    kvmEnabled: fake?.kvmEnabled ?? (facts.kvm && (!lv.domainTypes.includes('qemu') || lv.domainTypes.includes('kvm')) ? 'true' : 'false'),
    cpuCores: String(o.reportHostThreadsAsCores === true ? topo.threads : topo.cores),
    cpuThreads: String(topo.threads),
    cpuSockets: String(topo.sockets),
    onlineCpus: topo.onlineCpus.join(','),
    cpuTopology: topo.table,
    cpuSpeed: cpu.speed,
    cpuModel: fake?.cpuModel ?? cpu.model,
    cpuFlags: fake?.cpuFlags ?? cpuFlags(cpu.flags, dom?.hostModelFeatures ?? lv.cpuFeatures, models),
    vdsmToCpusAffinity: facts.cpuAffinity !== null ? parseCpuList(facts.cpuAffinity) : topo.onlineCpus,
    version_name: 'Snow Man',
    software_version: vdsm.version,
    software_revision: vdsm.release,
    supportedENGINEs: [...SUPPORTED_ENGINES],
    clusterLevels: clusterLevels(libvirtVersion, qemuVersion),
    ...net,
    ovnConfigured: false,
    hooks: facts.hooks,
    operatingSystem: operatingSystem(facts),
    uuid: hostUuid(facts, o.hostUuid),
    packages2: packages2({
      kernel: kernel.version, vdsm, libvirt: libvirtVersion,
      ...(qemuVersion !== undefined ? { qemu: qemuVersion } : {}),
      ...(input.spiceServerVersion !== undefined ? { spiceServer: input.spiceServerVersion } : {}),
    }),
    realtimeKernel: kernel.realtime,
    kernelArgs: kernelArgs(facts.cmdline),
    ...(bootTime !== undefined ? { bootTime } : {}),
    nestedVirtualization: nestedVirtualization(facts.nested),
    emulatedMachines: machines,
    ISCSIInitiatorName: iscsiInitiatorName(facts.iscsiInitiatorName),
    HBAInventory: hbaInventory(facts),
    vmTypes: ['kvm'],
    memSize: String(Math.floor((meminfo['MemTotal'] ?? 0) / 1024)),
    reservedMem: String(o.reservedMemMiB ?? 321),
    guestOverhead: String(o.guestOverheadMiB ?? 65),
    rngSources: rngSources(facts.rng),
    numaNodes: numaNodes(facts),
    numaNodeDistance: numaDistances(facts),
    autoNumaBalancing: autoNumaBalancing(facts.numaBalancing),
    selinux: selinuxStatus(facts.selinuxEnforce),
    // Features vdsm-node does not implement are reported off, so the engine does not offer them.
    liveSnapshot: 'false',
    liveMerge: 'false',
    kdumpStatus: kdumpStatus(facts.kexecCrashLoaded, facts.kdumpConf),
    deferred_preallocation: false,
    hostdevPassthrough: 'false',
    additionalFeatures: [],
    hostedEngineDeployed: false,
    hugepages: facts.hugepageDirs.map(hugepageSizeKiB).filter(Number.isFinite).sort((a, b) => a - b),
    kernelFeatures: kernelFeatures(facts.kernelFeatures),
    vncEncrypted: false,
    backupEnabled: false,
    coldBackupEnabled: false,
    clearBitmapsEnabled: false,
    fipsEnabled: fipsEnabled(facts.fipsEnabled),
    tscFrequency: lv.tscFrequency,
    tscScaling: lv.tscScaling,
    domain_versions: [...DOMAIN_VERSIONS],
    supported_block_size: { ...SUPPORTED_BLOCK_SIZE },
    cd_change_pdiv: false,
    refresh_disk_supported: false,
    netConfigDirty: 'False',
    // vdsm's bridge adds the device the call arrived on; HostService fills it in per call.
    lastClientIface: '',
  };
}

