// What getCapabilities takes from libvirt's capabilities XML (emulated machines, host CPU model and
// features, TSC counter) and, when given, the domain capabilities XML (usable CPU models).
import { Errors, vdsmError } from '../errors.js';
import { attr, children as kids, child as kid, parseXmlTree, text as nodeText, type XNode } from '../libvirt/xml-tree.js';

/** Text content, '' when the node is missing. */
const text = (node: XNode | undefined): string => nodeText(node) ?? '';

export interface LibvirtHostCaps {
  /** Host CPU architecture (libvirt's name, e.g. x86_64). */
  arch: string;
  cpuModel?: string;
  cpuVendor?: string;
  cpuFeatures: string[];
  tscFrequency: string;
  tscScaling: boolean;
  /** Emulated machine types for the host's architecture, canonical names included, de-duplicated. */
  emulatedMachines: string[];
  /** Every guest architecture -> machines (for diagnostics). */
  machinesByArch: Record<string, string[]>;
  /** Domain types libvirt can run for the host's architecture (qemu = TCG, kvm, test ...). */
  domainTypes: string[];
}

export function parseLibvirtCapabilities(xml: string): LibvirtHostCaps {
  const doc = parseXmlTree(xml);
  const caps = kid(doc, 'capabilities');
  if (caps === undefined) throw vdsmError(Errors.HOST_FACTS, 'not a libvirt capabilities XML: no <capabilities> element');
  const host = kid(caps, 'host');
  const cpu = kid(host, 'cpu');
  const arch = text(kid(cpu, 'arch'));
  const counter = kids(cpu, 'counter').find((c) => attr(c, 'name') === 'tsc');
  const machinesByArch: Record<string, string[]> = {};
  const domainTypes: string[] = [];
  for (const guest of kids(caps, 'guest')) {
    for (const a of kids(guest, 'arch')) {
      const name = attr(a, 'name') ?? '';
      if (name === arch) {
        for (const d of kids(a, 'domain')) {
          const type = attr(d, 'type');
          if (type !== undefined && !domainTypes.includes(type)) domainTypes.push(type);
        }
      }
      const machines = machinesByArch[name] ?? (machinesByArch[name] = []);
      const all = [...kids(a, 'machine'), ...kids(a, 'domain').flatMap((d) => kids(d, 'machine'))];
      for (const m of all) {
        for (const v of [text(m), attr(m, 'canonical')]) if (v !== undefined && v !== '' && !machines.includes(v)) machines.push(v);
      }
    }
  }
  const model = text(kid(cpu, 'model'));
  const vendor = text(kid(cpu, 'vendor'));
  return {
    arch,
    ...(model !== '' ? { cpuModel: model } : {}),
    ...(vendor !== '' ? { cpuVendor: vendor } : {}),
    cpuFeatures: kids(cpu, 'feature').map((f) => attr(f, 'name') ?? '').filter((n) => n !== ''),
    tscFrequency: attr(counter, 'frequency') ?? '',
    tscScaling: attr(counter, 'scaling') === 'yes',
    emulatedMachines: machinesByArch[arch] ?? [],
    machinesByArch,
    domainTypes,
  };
}

export interface DomainCpuCaps {
  /** CPU models the hypervisor can run on this host (usable='yes'). */
  usableModels: string[];
  /** host-model features libvirt requires (arch capabilities included). */
  hostModelFeatures: string[];
}

/** vdsm's compatible_cpu_models / cpu_features come from the domain capabilities. */
export function parseDomainCapabilities(xml: string): DomainCpuCaps {
  const doc = parseXmlTree(xml);
  const dc = kid(doc, 'domainCapabilities');
  const modes = kids(kid(dc, 'cpu'), 'mode');
  const custom = modes.find((m) => attr(m, 'name') === 'custom');
  const hostModel = modes.find((m) => attr(m, 'name') === 'host-model');
  return {
    usableModels: kids(custom, 'model').filter((m) => attr(m, 'usable') === 'yes').map(text).filter((t) => t !== ''),
    hostModelFeatures: kids(hostModel, 'feature').filter((f) => attr(f, 'policy') === 'require').map((f) => attr(f, 'name') ?? '').filter((n) => n !== ''),
  };
}

/**
 * cpuFlags: kernel flags plus libvirt features (de-duplicated, first appearance order), spec_ctrl when an
 * -IBRS model is usable, then one model_<name> entry per usable CPU model.
 */
export function cpuFlags(kernelFlags: readonly string[], libvirtFeatures: readonly string[], models: readonly string[]): string {
  const seen = new Set<string>();
  const flags: string[] = [];
  for (const f of [...kernelFlags, ...libvirtFeatures]) {
    if (!seen.has(f)) {
      seen.add(f);
      flags.push(f);
    }
  }
  if (models.some((m) => m.endsWith('-IBRS')) && !seen.has('spec_ctrl')) flags.push('spec_ctrl');
  return [...flags, ...models.map((m) => `model_${m}`)].join(',');
}
