// The rules an oVirt engine applies to a host's capabilities before it lets the host into a cluster of a
// given compatibility level, one function per rule, each returning the violations (empty = accepted).
// Read from ovirt-engine's sources (public mirror; names below are repository paths or classes):
//   VBOB = backend/manager/modules/vdsbroker/.../vdsbroker/VdsBrokerObjectsBuilder.java (updateVDSDynamicData)
//   VMS  = backend/manager/modules/vdsbroker/.../monitoring/VirtMonitoringStrategy.java (processSoftwareCapabilities)
//   EMCU = backend/manager/modules/common/.../utils/EmulatedMachineCommonUtils.java (getSupportedByChipset)
//   CFMH = CpuFlagsManagerHandler (findMaxServerCpuByFlags, missingServerCpuFlags)
//   CFG  = packaging/dbscripts/upgrade/pre_upgrade/0000_config.sql (ClusterEmulatedMachines, ServerCPUList,
//          ClusterRequiredRngSourcesDefault per version)
//   EW   = shared/reference/engine-wire.md (SupportedVDSMVersions, clusterLevels, HandleVdsVersion, §3.3, §5.1)

type Obj = Record<string, unknown>;

/** CFG ClusterEmulatedMachines '4.7', and the q35 machine later 4.7 releases moved to (EW §5.1). */
export const CLUSTER_EMULATED_MACHINES_4_7: readonly string[] = [
  'pc-q35-rhel8.5.0', 'pc-q35-4.1', 'pc-i440fx-rhel7.6.0', 'pc-i440fx-2.12', 'pseries-rhel8.5.0', 's390-ccw-virtio-2.12',
];
export const LATER_4_7_Q35 = 'pc-q35-rhel8.6.0';

/** CFG ServerCPUList '4.7', the x86_64 entries: level, name, required flags (what CFMH compares). */
export const SERVER_CPU_LIST_4_7: readonly { level: number; name: string; flags: readonly string[]; vendor: 'intel' | 'amd' }[] = [
  { level: 1, name: 'Intel Nehalem Family', flags: ['vmx', 'nx', 'model_Nehalem'], vendor: 'intel' },
  { level: 2, name: 'Secure Intel Nehalem Family', flags: ['vmx', 'spec_ctrl', 'ssbd', 'md_clear', 'model_Nehalem'], vendor: 'intel' },
  { level: 3, name: 'Intel Westmere Family', flags: ['aes', 'vmx', 'nx', 'model_Westmere'], vendor: 'intel' },
  { level: 4, name: 'Secure Intel Westmere Family', flags: ['aes', 'vmx', 'spec_ctrl', 'ssbd', 'md_clear', 'model_Westmere'], vendor: 'intel' },
  { level: 5, name: 'Intel SandyBridge Family', flags: ['vmx', 'nx', 'model_SandyBridge'], vendor: 'intel' },
  { level: 6, name: 'Secure Intel SandyBridge Family', flags: ['vmx', 'spec_ctrl', 'ssbd', 'md_clear', 'model_SandyBridge'], vendor: 'intel' },
  { level: 7, name: 'Intel IvyBridge Family', flags: ['vmx', 'nx', 'model_IvyBridge'], vendor: 'intel' },
  { level: 8, name: 'Secure Intel IvyBridge Family', flags: ['vmx', 'spec_ctrl', 'ssbd', 'md_clear', 'model_IvyBridge'], vendor: 'intel' },
  { level: 9, name: 'Intel Haswell Family', flags: ['vmx', 'nx', 'model_Haswell-noTSX'], vendor: 'intel' },
  { level: 10, name: 'Secure Intel Haswell Family', flags: ['vmx', 'spec_ctrl', 'ssbd', 'md_clear', 'model_Haswell-noTSX'], vendor: 'intel' },
  { level: 11, name: 'Intel Broadwell Family', flags: ['vmx', 'nx', 'model_Broadwell-noTSX'], vendor: 'intel' },
  { level: 12, name: 'Secure Intel Broadwell Family', flags: ['vmx', 'spec_ctrl', 'ssbd', 'md_clear', 'model_Broadwell-noTSX'], vendor: 'intel' },
  { level: 13, name: 'Intel Skylake Client Family', flags: ['vmx', 'nx', 'model_Skylake-Client'], vendor: 'intel' },
  { level: 14, name: 'Secure Intel Skylake Client Family', flags: ['vmx', 'ssbd', 'md_clear', 'model_Skylake-Client-noTSX-IBRS'], vendor: 'intel' },
  { level: 15, name: 'Intel Skylake Server Family', flags: ['vmx', 'nx', 'model_Skylake-Server'], vendor: 'intel' },
  { level: 16, name: 'Secure Intel Skylake Server Family', flags: ['vmx', 'ssbd', 'md_clear', 'model_Skylake-Server-noTSX-IBRS'], vendor: 'intel' },
  { level: 17, name: 'Intel Cascadelake Server Family', flags: ['vmx', 'model_Cascadelake-Server'], vendor: 'intel' },
  { level: 18, name: 'Secure Intel Cascadelake Server Family', flags: ['vmx', 'model_Cascadelake-Server-noTSX'], vendor: 'intel' },
  { level: 19, name: 'Intel Icelake Server Family', flags: ['vmx', 'model_Icelake-Server-noTSX'], vendor: 'intel' },
  { level: 1, name: 'AMD Opteron G4', flags: ['svm', 'nx', 'model_Opteron_G4'], vendor: 'amd' },
  { level: 2, name: 'AMD Opteron G5', flags: ['svm', 'nx', 'model_Opteron_G5'], vendor: 'amd' },
  { level: 3, name: 'AMD EPYC', flags: ['svm', 'nx', 'model_EPYC'], vendor: 'amd' },
  { level: 4, name: 'Secure AMD EPYC', flags: ['svm', 'nx', 'ibpb', 'ssbd', 'model_EPYC'], vendor: 'amd' },
];

/** VBOB: assignBoolValue(kvmEnabled); VMS: false -> NonOperational(KVM_NOT_RUNNING). */
export function kvmEnabledRule(caps: Obj): string[] {
  const v = caps['kvmEnabled'];
  const b = typeof v === 'boolean' ? v : typeof v === 'string' ? v.toLowerCase() === 'true' : undefined;
  return b === true ? [] : [`kvmEnabled must read as true (VMS KVM_NOT_RUNNING), got ${JSON.stringify(v)}`];
}

/** EMCU.chipsetMatches: q35 machines are Q35, every other one (non-x86 too) counts as I440FX. */
function isQ35(machine: string): boolean {
  return machine.includes('q35');
}

/**
 * VMS.hostCompliesWithClusterEmulationMode, for a new cluster (detect mode): the first machine of
 * ClusterEmulatedMachines per chipset that the host supports (EMCU.getSupportedByChipset); the host is
 * NonOperational (EMULATED_MACHINES_INCOMPATIBLE_WITH_CLUSTER_LEVEL) when neither chipset matches. We ask
 * for both, so the cluster can run BIOS (i440fx) and UEFI/Q35 VMs.
 */
export function emulatedMachinesRule(caps: Obj, available: readonly string[] = CLUSTER_EMULATED_MACHINES_4_7): { violations: string[]; i440fx?: string; q35?: string } {
  const em = caps['emulatedMachines'];
  if (!Array.isArray(em) || !em.every((m) => typeof m === 'string')) return { violations: [`emulatedMachines must be an array of strings (VBOB assignStringValueFromArray), got ${JSON.stringify(em)}`] };
  const supported = new Set(em as string[]);
  const q35 = available.find((m) => supported.has(m) && isQ35(m));
  const i440fx = available.find((m) => supported.has(m) && !isQ35(m));
  const violations: string[] = [];
  if (q35 === undefined) violations.push(`no Q35 machine of the cluster level (${available.filter(isQ35).join(', ')}) among ${[...supported].join(', ')}`);
  if (i440fx === undefined) violations.push(`no i440fx machine of the cluster level (${available.filter((m) => !isQ35(m)).join(', ')}) among ${[...supported].join(', ')}`);
  return { violations, ...(i440fx !== undefined ? { i440fx } : {}), ...(q35 !== undefined ? { q35 } : {}) };
}

/**
 * CFMH.findMaxServerCpuByFlags: with vmx in the flags the Intel list, else with svm the AMD list, scanned
 * from the highest level down for an entry all of whose flags the host reports. null -> the host cannot
 * join (CPU_TYPE_INCOMPATIBLE_WITH_CLUSTER); the cluster CPU is set from it when the cluster has none.
 */
export function maxServerCpu(cpuFlags: string): (typeof SERVER_CPU_LIST_4_7)[number] | undefined {
  const flags = new Set(cpuFlags.split(','));
  const vendor = flags.has('vmx') ? 'intel' : flags.has('svm') ? 'amd' : undefined;
  if (vendor === undefined) return undefined;
  const list = SERVER_CPU_LIST_4_7.filter((c) => c.vendor === vendor).sort((a, b) => b.level - a.level);
  return list.find((c) => c.flags.every((f) => flags.has(f)));
}

/** CFMH.missingServerCpuFlags: a cluster CPU's flags the host lacks (empty = the host fits that cluster). */
export function missingCpuFlags(cpuName: string, cpuFlags: string): string[] {
  const cpu = SERVER_CPU_LIST_4_7.find((c) => c.name === cpuName);
  if (cpu === undefined) return [`unknown cluster CPU ${cpuName}`];
  const flags = new Set(cpuFlags.split(','));
  return cpu.flags.filter((f) => !flags.has(f));
}

/**
 * VMS.hostCompliesWithRngDeviceSources: the host (VBOB csvToSourcesSet of rngSources, upper-cased) has the
 * cluster's additional sources (CFG ClusterRequiredRngSourcesDefault '4.7' = none) and RANDOM or URANDOM.
 */
export function rngSourcesRule(caps: Obj, additional: readonly string[] = []): string[] {
  const r = caps['rngSources'];
  if (!Array.isArray(r)) return [`rngSources must be an array, got ${JSON.stringify(r)}`];
  const sources = new Set((r as unknown[]).map((x) => String(x).toUpperCase()));
  const out: string[] = [];
  if (!sources.has('RANDOM') && !sources.has('URANDOM')) out.push(`rngSources must include random or urandom (RNG_SOURCES_INCOMPATIBLE_WITH_CLUSTER), got ${JSON.stringify(r)}`);
  for (const a of additional) if (!sources.has(a)) out.push(`rngSources lacks the cluster's ${a}`);
  return out;
}

/** EW §3.3: clusterLevels must contain the cluster level (else NonOperational, and no getHardwareInfo). */
export function clusterLevelRule(caps: Obj, level: string): string[] {
  const l = caps['clusterLevels'];
  return Array.isArray(l) && l.includes(level) ? [] : [`clusterLevels must contain ${level}, got ${JSON.stringify(l)}`];
}

/**
 * EW §3.3/§5.1 (HandleVdsVersion): vdsm's major.minor from packages2 must be one of SupportedVDSMVersions
 * (4.20, 4.30, 4.40, 4.50) or supportedENGINEs must contain the engine's version.
 */
export function versionRule(caps: Obj, engineVersion: string): string[] {
  const vdsm = ((caps['packages2'] as Obj | undefined)?.['vdsm'] as Obj | undefined)?.['version'];
  const mm = typeof vdsm === 'string' ? vdsm.split('.').slice(0, 2).join('.') : undefined;
  const engines = caps['supportedENGINEs'];
  const ok = (mm !== undefined && ['4.20', '4.30', '4.40', '4.50'].includes(mm)) || (Array.isArray(engines) && engines.includes(engineVersion));
  return ok ? [] : [`neither vdsm ${String(vdsm)} nor supportedENGINEs ${JSON.stringify(engines)} is accepted by engine ${engineVersion}`];
}
