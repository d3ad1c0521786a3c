// vdsm's fake KVM ([vars] fake_kvm_support, fake_kvm_architecture): a host without usable KVM (libvirt's
// test driver, a VM without nested virtualisation, an unprivileged session daemon) reports itself as a KVM
// host of the given architecture, so an engine adds it and runs VMs on it. vdsm does this in its faqemu
// hook (vdsm_hooks/faqemu/after_get_caps.py, before_vm_start.py) and in cpuarch.effective(): kvmEnabled
// true, the fake architecture's emulated machines, a fake CPU model and its flags; at VM start the domain
// type kvm becomes one the hypervisor offers. Honest about being fake: cpuModel says so.
//
// The machine and CPU lists are refreshed for today's engines: the faqemu lists stop at RHEL 7 machine
// types and Nehalem, which no 4.4+ cluster accepts. Sources of the engine side, per cluster level:
// ClusterEmulatedMachines and ServerCPUList in ovirt-engine packaging/dbscripts/upgrade/pre_upgrade/
// 0000_config.sql (4.7: pc-q35-rhel8.5.0, pc-q35-4.1, pc-i440fx-rhel7.6.0, pc-i440fx-2.12; later
// releases pc-q35-rhel8.6.0, and for 4.8 pc-q35-rhel9.6.0, see shared/reference/engine-wire.md §5.1).

export const FAKE_KVM_ARCHITECTURES = ['x86_64', 'ppc64', 'ppc64le', 'aarch64'] as const;
export type FakeKvmArchitecture = (typeof FAKE_KVM_ARCHITECTURES)[number];

export interface FakeKvmCaps {
  kvmEnabled: 'true';
  cpuModel: string;
  cpuFlags: string;
  emulatedMachines: string[];
}

/** Machine types every cluster level from 4.2 to 4.8 looks for (first match per chipset wins). */
const X86_64_MACHINES: readonly string[] = [
  'pc', 'q35',
  'pc-i440fx-rhel7.3.0', 'pc-i440fx-rhel7.6.0', 'pc-i440fx-2.6', 'pc-i440fx-2.12',
  'pc-q35-rhel8.1.0', 'pc-q35-rhel8.3.0', 'pc-q35-rhel8.4.0', 'pc-q35-rhel8.5.0', 'pc-q35-rhel8.6.0',
  'pc-q35-rhel9.2.0', 'pc-q35-rhel9.4.0', 'pc-q35-rhel9.6.0', 'pc-q35-4.1',
];
const PPC64_MACHINES: readonly string[] = ['pseries', 'pseries-rhel7.6.0', 'pseries-rhel8.1.0', 'pseries-rhel8.3.0', 'pseries-rhel8.4.0', 'pseries-rhel8.5.0', 'pseries-rhel8.6.0', 'pseries-rhel9.2.0'];
const AARCH64_MACHINES: readonly string[] = ['virt', 'virt-rhel8.6.0', 'virt-rhel9.2.0'];

/**
 * The fake Intel CPU: the flags of every "Intel ... Family" and "Secure Intel ... Family" up to Skylake
 * Client in the engine's ServerCPUList (vmx, nx, aes for Westmere, spec_ctrl/ssbd/md_clear for the Secure
 * ones), then one model_<name> per CPU model those families name. The engine picks the highest family
 * whose flags are all present: Secure Intel Skylake Client Family.
 */
const X86_64_FLAGS: readonly string[] = ['vmx', 'nx', 'sse2', 'aes', 'spec_ctrl', 'ssbd', 'md_clear'];
const X86_64_MODELS: readonly string[] = [
  'Conroe', 'Penryn', 'Nehalem', 'Westmere', 'SandyBridge', 'IvyBridge', 'Haswell-noTSX', 'Broadwell-noTSX', 'Skylake-Client', 'Skylake-Client-noTSX-IBRS',
];

export function isFakeKvmArchitecture(arch: string): arch is FakeKvmArchitecture {
  return (FAKE_KVM_ARCHITECTURES as readonly string[]).includes(arch);
}

/**
 * What fake KVM changes in the capabilities. `realFlags` are /proc/cpuinfo's flags, kept (as vdsm does)
 * when the real CPU is of the fake architecture, so nothing the host really has goes missing.
 */
export function fakeKvmCapabilities(arch: FakeKvmArchitecture, realArch: string, realFlags: readonly string[]): FakeKvmCaps {
  switch (arch) {
    case 'x86_64': {
      const flags = [...new Set([...(realArch === 'x86_64' ? realFlags : []), ...X86_64_FLAGS])];
      return {
        kvmEnabled: 'true',
        cpuModel: 'Intel(Fake) CPU',
        cpuFlags: [...flags, ...X86_64_MODELS.map((m) => `model_${m}`)].join(','),
        emulatedMachines: [...X86_64_MACHINES],
      };
    }
    case 'ppc64':
    case 'ppc64le':
      return { kvmEnabled: 'true', cpuModel: 'POWER 9 (fake)', cpuFlags: 'powernv,model_POWER8,model_POWER9', emulatedMachines: [...PPC64_MACHINES] };
    case 'aarch64':
      return { kvmEnabled: 'true', cpuModel: 'AARCH64 (fake)', cpuFlags: '', emulatedMachines: [...AARCH64_MACHINES] };
  }
}

/** Node's process.arch in libvirt's and vdsm's architecture names. */
export function realArchitecture(nodeArch: string): string {
  return ({ x64: 'x86_64', arm64: 'aarch64', ppc64: 'ppc64le', s390x: 's390x', ia32: 'i686' } as Record<string, string>)[nodeArch] ?? nodeArch;
}

export interface DomainTypeChange {
  xml: string;
  from: string;
  to: string;
}

const ROOT_TYPE = /^(\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*)*<domain\b[^>]*?\btype\s*=\s*)(["'])([^"']*)\2/;

/**
 * vdsm's faqemu before_vm_start for a fake KVM host: the engine's `<domain type="kvm">` runs as a type the
 * hypervisor offers for the guest architecture (`offered`, from libvirt's capabilities): unchanged when
 * kvm is offered, else qemu (TCG; the `<cpu>` element goes too, as in the hook, since TCG cannot provide
 * the cluster's CPU model), else test (libvirt's test driver keeps the CPU as written). Undefined when
 * nothing needs to change.
 */
export function fakeKvmDomainXml(xml: string, offered: readonly string[]): DomainTypeChange | undefined {
  const m = ROOT_TYPE.exec(xml);
  if (m === null) return undefined;
  const from = m[3] as string;
  if (from !== 'kvm' || offered.includes('kvm')) return undefined;
  const to = offered.includes('qemu') ? 'qemu' : offered.includes('test') ? 'test' : undefined;
  if (to === undefined) return undefined;
  let out = xml.replace(ROOT_TYPE, `$1$2${to}$2`);
  if (to === 'qemu') out = out.replace(/<cpu\b[^>]*\/>|<cpu\b[^>]*>[\s\S]*?<\/cpu>/g, '');
  return { xml: out, from, to };
}
