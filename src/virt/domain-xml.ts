// Reads what vdsm needs from a libvirt domain XML: identity, memory, vCPUs, disks, NICs, graphics,
// agent channels, the ovirt-vm metadata, and a device hash that changes whenever a device changes.
import { createHash } from 'node:crypto';
import { attr, child, children, parseXmlTree, text, type XNode } from '../libvirt/xml-tree.js';

export const OVIRT_VM_NS = 'http://ovirt.org/vm/1.0';

export interface DomainDisk {
  device: string; // disk | cdrom | floppy | lun
  type: string; // file | block | network | volume
  target: string; // vda
  bus?: string;
  path?: string;
  serial?: string;
  readonly: boolean;
  format?: string;
  alias?: string;
}

export interface DomainNic {
  mac: string;
  model: string;
  target?: string; // vnet0; the key bulk stats use
  type: string; // bridge | network | direct | hostdev | user ...
  source?: string;
  alias?: string;
}

export interface DomainGraphics {
  type: string; // vnc | spice
  port?: number;
  tlsPort?: number;
  listen?: string;
  autoport?: boolean;
}

export interface DomainChannel {
  type: string; // unix | spicevmc ...
  targetName?: string; // org.qemu.guest_agent.0 | ovirt-guest-agent.0
  path?: string;
  /** libvirt's live XML: whether the guest side of a virtio channel is open ('connected' | 'disconnected'). */
  state?: string;
}

export type OvirtMetadataValue = string | number | boolean;

export interface OvirtVmMetadata {
  /** Simple children of <ovirt-vm:vm>, typed by their type= attribute (int, bool, float). */
  values: Record<string, OvirtMetadataValue>;
  /** <ovirt-vm:device> entries: their attributes plus simple children. */
  devices: Record<string, OvirtMetadataValue>[];
  /** <ovirt-vm:custom>: the VM's custom properties (hook scripts get them as environment variables). */
  custom?: Record<string, OvirtMetadataValue>;
}

export interface DomainInfo {
  uuid: string;
  name: string;
  domainType: string;
  /** Maximum memory, KiB. */
  memoryKiB: number;
  /** Current (balloon target) memory, KiB. */
  currentMemoryKiB: number;
  vcpus: number;
  vcpusCurrent: number;
  machine?: string;
  arch?: string;
  acpi: boolean;
  /** <clock adjustment> seconds as vdsm's timeOffset. */
  timeOffset: string;
  balloon: boolean;
  disks: DomainDisk[];
  nics: DomainNic[];
  graphics: DomainGraphics[];
  channels: DomainChannel[];
  ovirt?: OvirtVmMetadata;
  /** Changes whenever anything under <devices> changes. */
  deviceHash: string;
}

const UNIT_KIB: Record<string, number> = {
  b: 1 / 1024, bytes: 1 / 1024, k: 1, kib: 1, kb: 1000 / 1024, m: 1024, mib: 1024, mb: 1e6 / 1024,
  g: 1024 ** 2, gib: 1024 ** 2, gb: 1e9 / 1024, t: 1024 ** 3, tib: 1024 ** 3, tb: 1e12 / 1024,
};

function memoryKiB(node: XNode | undefined): number | undefined {
  const t = text(node);
  if (t === undefined || t === '') return undefined;
  const unit = (attr(node, 'unit') ?? 'KiB').toLowerCase();
  return Math.floor(Number(t) * (UNIT_KIB[unit] ?? 1));
}

function intAttr(node: XNode | undefined, name: string): number | undefined {
  const v = attr(node, name);
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function typedValue(node: XNode): OvirtMetadataValue {
  const raw = text(node) ?? '';
  switch (attr(node, 'type')) {
    case 'int': return Number.parseInt(raw, 10);
    case 'float': return Number.parseFloat(raw);
    case 'bool': return raw.toLowerCase() === 'true';
    default: return raw;
  }
}

/** Children of a metadata element whose only content is text, keyed without the namespace prefix. */
function simpleValues(node: XNode, prefix: string, into: Record<string, OvirtMetadataValue>): void {
  for (const [key, value] of Object.entries(node)) {
    if (!key.startsWith(prefix) || !Array.isArray(value)) continue;
    const local = key.slice(prefix.length);
    if (local === 'device') continue;
    for (const c of children(node, key)) {
      const nested = Object.keys(c).some((k) => !k.startsWith('@_') && k !== '#text');
      if (!nested) into[local] = typedValue(c);
    }
  }
}

function parseOvirtMetadata(metadata: XNode | undefined): OvirtVmMetadata | undefined {
  if (metadata === undefined) return undefined;
  for (const key of Object.keys(metadata)) {
    if (!key.endsWith(':vm') && key !== 'vm') continue;
    const vm = child(metadata, key);
    if (vm === undefined) continue;
    const nsPrefix = key.slice(0, key.length - 2); // 'ovirt-vm:' or ''
    const declared = attr(vm, nsPrefix === '' ? 'xmlns' : `xmlns:${nsPrefix.slice(0, -1)}`);
    if (declared !== undefined && declared !== OVIRT_VM_NS) continue;
    const values: Record<string, OvirtMetadataValue> = {};
    simpleValues(vm, nsPrefix, values);
    const devices = children(vm, `${nsPrefix}device`).map((d) => {
      const entry: Record<string, OvirtMetadataValue> = {};
      for (const [k, v] of Object.entries(d)) if (k.startsWith('@_') && typeof v === 'string') entry[k.slice(2)] = v;
      simpleValues(d, nsPrefix, entry);
      return entry;
    });
    const customNode = child(vm, `${nsPrefix}custom`);
    if (customNode === undefined) return { values, devices };
    const custom: Record<string, OvirtMetadataValue> = {};
    simpleValues(customNode, nsPrefix, custom);
    return { values, devices, custom };
  }
  return undefined;
}

function parseDisk(d: XNode): DomainDisk {
  const source = child(d, 'source');
  const path = attr(source, 'file') ?? attr(source, 'dev') ?? attr(source, 'name') ?? attr(source, 'volume');
  const serial = text(child(d, 'serial'));
  const format = attr(child(d, 'driver'), 'type');
  const alias = attr(child(d, 'alias'), 'name');
  const bus = attr(child(d, 'target'), 'bus');
  return {
    device: attr(d, 'device') ?? 'disk',
    type: attr(d, 'type') ?? 'file',
    target: attr(child(d, 'target'), 'dev') ?? '',
    readonly: child(d, 'readonly') !== undefined,
    ...(bus !== undefined ? { bus } : {}),
    ...(path !== undefined ? { path } : {}),
    ...(serial !== undefined && serial !== '' ? { serial } : {}),
    ...(format !== undefined ? { format } : {}),
    ...(alias !== undefined ? { alias } : {}),
  };
}

function parseNic(n: XNode): DomainNic {
  const source = child(n, 'source');
  const target = attr(child(n, 'target'), 'dev');
  const src = attr(source, 'bridge') ?? attr(source, 'network') ?? attr(source, 'dev');
  const alias = attr(child(n, 'alias'), 'name');
  return {
    mac: attr(child(n, 'mac'), 'address') ?? '',
    model: attr(child(n, 'model'), 'type') ?? '',
    type: attr(n, 'type') ?? '',
    ...(target !== undefined ? { target } : {}),
    ...(src !== undefined ? { source: src } : {}),
    ...(alias !== undefined ? { alias } : {}),
  };
}

function parseGraphics(g: XNode): DomainGraphics {
  const listenNode = child(g, 'listen');
  const listen = attr(g, 'listen') ?? attr(listenNode, 'address') ?? attr(listenNode, 'network');
  const port = intAttr(g, 'port');
  const tlsPort = intAttr(g, 'tlsPort');
  const autoport = attr(g, 'autoport');
  return {
    type: attr(g, 'type') ?? '',
    ...(port !== undefined ? { port } : {}),
    ...(tlsPort !== undefined ? { tlsPort } : {}),
    ...(listen !== undefined ? { listen } : {}),
    ...(autoport !== undefined ? { autoport: autoport === 'yes' } : {}),
  };
}

function parseChannel(c: XNode): DomainChannel {
  const target = child(c, 'target');
  const targetName = attr(target, 'name');
  const path = attr(child(c, 'source'), 'path');
  const state = attr(target, 'state');
  return {
    type: attr(c, 'type') ?? '', ...(targetName !== undefined ? { targetName } : {}), ...(path !== undefined ? { path } : {}),
    ...(state !== undefined ? { state } : {}),
  };
}

/** A decimal string like Python's hash(): the engine only compares it for change. */
export function hashOf(value: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(value ?? null)).digest();
  return digest.readBigInt64BE(0).toString();
}

export function parseDomainXml(xml: string): DomainInfo {
  const doc = parseXmlTree(xml);
  const dom = child(doc, 'domain');
  if (dom === undefined) throw new Error('not a libvirt domain XML: no <domain> element');
  const uuid = (text(child(dom, 'uuid')) ?? '').toLowerCase();
  if (uuid === '') throw new Error('domain XML has no <uuid>');
  const devices = child(dom, 'devices');
  const vcpu = child(dom, 'vcpu');
  const vcpus = Number(text(vcpu) ?? '1') || 1;
  const memory = memoryKiB(child(dom, 'memory')) ?? 0;
  const osType = child(child(dom, 'os'), 'type');
  const clock = child(dom, 'clock');
  const machine = attr(osType, 'machine');
  const arch = attr(osType, 'arch');
  const ovirt = parseOvirtMetadata(child(dom, 'metadata'));
  const balloonNode = child(devices, 'memballoon');
  return {
    uuid,
    name: text(child(dom, 'name')) ?? '',
    domainType: attr(dom, 'type') ?? 'kvm',
    memoryKiB: memory,
    currentMemoryKiB: memoryKiB(child(dom, 'currentMemory')) ?? memory,
    vcpus,
    vcpusCurrent: intAttr(vcpu, 'current') ?? vcpus,
    ...(machine !== undefined ? { machine } : {}),
    ...(arch !== undefined ? { arch } : {}),
    acpi: child(child(dom, 'features'), 'acpi') !== undefined,
    timeOffset: attr(clock, 'adjustment') ?? '0',
    balloon: balloonNode !== undefined && attr(balloonNode, 'model') !== 'none',
    disks: children(devices, 'disk').map(parseDisk),
    nics: children(devices, 'interface').map(parseNic),
    graphics: children(devices, 'graphics').map(parseGraphics),
    channels: children(devices, 'channel').map(parseChannel),
    ...(ovirt !== undefined ? { ovirt } : {}),
    deviceHash: hashOf(devices),
  };
}

/** Paths of the guest-agent sockets: qemu-ga and the oVirt agent, when the domain has them. */
export function agentSockets(info: DomainInfo): { qemuGa?: string; ovirtGa?: string } {
  const find = (name: string): string | undefined => info.channels.find((c) => c.type === 'unix' && c.targetName === name)?.path;
  const qemuGa = find('org.qemu.guest_agent.0');
  const ovirtGa = find('ovirt-guest-agent.0') ?? find('com.redhat.rhevm.vdsm');
  return { ...(qemuGa !== undefined ? { qemuGa } : {}), ...(ovirtGa !== undefined ? { ovirtGa } : {}) };
}
