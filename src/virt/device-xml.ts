// Device XML for hot-plug: the `<interface>` and `<disk>` elements handed to virDomainAttachDeviceFlags /
// DetachDeviceFlags / UpdateDeviceFlags, from what the engine sends. Two forms reach us, as they reach
// vdsm: the engine's own device XML (`params.xml`: `<hotplug><devices><interface .../></devices>
// <metadata>…<ovirt-vm:device …/></metadata></hotplug>`, engines since 4.2, which also create VMs from
// domain XML) and the older device dictionaries (`params.nic` {macAddr, network, nicModel, …},
// `params.drive` {path | domainID/poolID/imageID/volumeID, iface, index, format, …}). Every element is
// written by an XML builder, so no value a client sends can break out of its attribute. Pure: no
// libvirt, no storage.
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';

const OPTIONS = {
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  preserveOrder: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
} as const;

const parser = new XMLParser(OPTIONS);
const builder = new XMLBuilder({ ...OPTIONS, suppressEmptyNode: true });

/** A hot-plug request as the engine sends it: its device XML, or the older device dictionary. */
export interface DeviceRequest {
  xml?: unknown;
  nic?: unknown;
  drive?: unknown;
}

/** The VM definition the device verbs answer (vdsm's `vmList`): its status and its devices now. */
export interface VmDefinition {
  vmId: string;
  status: string;
  statusTime: string;
  devices: Record<string, unknown>[];
}

/** A node of fast-xml-parser's ordered tree: `{tag: children, ':@': attributes}` or `{'#text': …}`. */
type Node = Record<string, unknown> & { ':@'?: Record<string, string> };

/** A device spec the engine sent that cannot be used: the API answers -32602-style with this message. */
export class DeviceSpecError extends Error {}

function tagOf(n: Node): string | undefined {
  return Object.keys(n).find((k) => k !== ':@');
}

function kids(n: Node | undefined): Node[] {
  const tag = n === undefined ? undefined : tagOf(n);
  const v = tag === undefined ? undefined : n![tag];
  return Array.isArray(v) ? (v as Node[]) : [];
}

function named(nodes: Node[], name: string): Node[] {
  return nodes.filter((n) => typeof n === 'object' && n !== null && tagOf(n) === name);
}

function attrOf(n: Node | undefined, name: string): string | undefined {
  return n?.[':@']?.[`@_${name}`];
}

function textOf(n: Node | undefined): string | undefined {
  const t = kids(n).find((c) => Object.hasOwn(c, '#text'));
  return t === undefined ? undefined : String(t['#text']);
}

/** An element: `el('mac', {address: m})`, children after. Undefined attributes are left out. */
function el(tag: string, attrs: Record<string, string | undefined> = {}, children: Node[] = []): Node {
  const a: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) a[`@_${k}`] = v;
  return { [tag]: children, ...(Object.keys(a).length > 0 ? { ':@': a } : {}) };
}

function textEl(tag: string, value: string): Node {
  return { [tag]: [{ '#text': value }] };
}

function build(n: Node): string {
  return builder.build([n]) as string;
}

function parse(xml: string, what: string): Node[] {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new DeviceSpecError(`${what}: not well-formed XML (${valid.err.msg}, line ${valid.err.line})`);
  try {
    return parser.parse(xml) as Node[];
  } catch (err) {
    throw new DeviceSpecError(`${what}: not well-formed XML (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** The oVirt metadata of one device (`<ovirt-vm:device>`): its attributes and simple children, no prefix. */
export type DeviceMetadata = Record<string, string>;

export interface EngineDevice {
  /** The device element, as the engine wrote it (re-serialised). */
  xml: string;
  /** Its `<ovirt-vm:device>` entry (for a disk: poolID, domainID, imageID, volumeID), when sent. */
  metadata?: DeviceMetadata;
  /** The device's custom properties (`<ovirt-vm:custom>` of its entry): the hook scripts' environment. */
  custom?: Record<string, string>;
}

/** A name the environment can carry: the device's custom properties become variables of that name. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The custom properties of a device (the dictionary's `custom` or the metadata's `<ovirt-vm:custom>`)
 * as environment strings; names that are no identifiers and values with NUL are left out.
 */
export function deviceCustom(custom: unknown): Record<string, string> {
  const env: Record<string, string> = {};
  if (typeof custom !== 'object' || custom === null || Array.isArray(custom)) return env;
  for (const [k, v] of Object.entries(custom)) {
    if (!ENV_NAME.test(k) || !['string', 'number', 'boolean'].includes(typeof v)) continue;
    const t = String(v);
    if (!t.includes('\0')) env[k] = t;
  }
  return env;
}

function customOf(entry: Node | undefined): Record<string, string> | undefined {
  const c = kids(entry).find((n) => /(^|:)custom$/.test(tagOf(n) ?? ''));
  if (c === undefined) return undefined;
  const values = metadataOf(c);
  return Object.keys(values).length > 0 ? deviceCustom(values) : undefined;
}

function metadataOf(node: Node): DeviceMetadata {
  const out: DeviceMetadata = {};
  for (const [k, v] of Object.entries(node[':@'] ?? {})) if (!k.startsWith('@_xmlns')) out[k.slice(2)] = v;
  for (const c of kids(node)) {
    const tag = tagOf(c);
    if (tag === undefined || tag === '#text') continue;
    const local = tag.includes(':') ? tag.slice(tag.indexOf(':') + 1) : tag;
    const t = textOf(c);
    if (t !== undefined && kids(c).every((g) => Object.hasOwn(g, '#text'))) out[local] = t;
  }
  return out;
}

/**
 * The one `<tag>` device of the engine's `<hotplug>` (or `<hotunplug>`) document, and the metadata
 * device entry that goes with it (for a disk the one whose `name` is the disk's target; otherwise the
 * first). DeviceSpecError when the document has no such device or more than one.
 */
export function engineDevice(xml: string, tag: 'interface' | 'disk'): EngineDevice {
  if (typeof xml !== 'string' || xml.trim() === '') throw new DeviceSpecError('xml: the device XML is empty');
  const top = parse(xml, 'xml').filter((n) => tagOf(n) !== '?xml' && tagOf(n) !== '#text');
  if (top.length !== 1) throw new DeviceSpecError('xml: one root element expected');
  const root = top[0]!;
  const devices = named(kids(root), 'devices')[0];
  const found = named(kids(devices), tag);
  if (found.length !== 1) throw new DeviceSpecError(`xml: exactly one <${tag}> under <devices> expected, found ${found.length}`);
  const device = found[0]!;
  const metadata = named(kids(root), 'metadata')[0];
  const vm = kids(metadata).find((n) => /(^|:)vm$/.test(tagOf(n) ?? ''));
  const nodes = kids(vm).filter((n) => /(^|:)device$/.test(tagOf(n) ?? ''));
  const entries = nodes.map(metadataOf);
  const target = attrOf(named(kids(device), 'target')[0], 'dev');
  const index = tag === 'disk' ? (() => { const i = entries.findIndex((m) => m['name'] === target); return i >= 0 ? i : entries.length === 1 ? 0 : -1; })() : entries.length > 0 ? 0 : -1;
  const meta = index >= 0 ? entries[index] : undefined;
  const custom = index >= 0 ? customOf(nodes[index]) : undefined;
  return { xml: build(device), ...(meta !== undefined ? { metadata: meta } : {}), ...(custom !== undefined ? { custom } : {}) };
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

function truthy(v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null || v === '') return dflt;
  if (typeof v === 'boolean') return v;
  return /^(true|yes|on|1)$/i.test(String(v));
}

/** vdsm's nicModel names: `pv` is virtio. */
function nicModel(v: unknown): string {
  const m = str(v) ?? 'virtio';
  if (m === 'pv') return 'virtio';
  if (!NAME.test(m)) throw new DeviceSpecError(`nic.nicModel: not a NIC model: ${JSON.stringify(m)}`);
  return m;
}

export interface NicSpec {
  xml: string;
  mac: string;
}

/**
 * An `<interface type="bridge">` from the engine's NIC dictionary: `macAddr` (required), `network` (the
 * host bridge of that name, as VM.create's domains use it; '' leaves the NIC unlinked on no bridge, which
 * libvirt refuses for type bridge, so '' is an error here), `nicModel` (default virtio; `pv` is virtio),
 * `linkActive` (default true), `filter`, `bootOrder`, `alias` (libvirt keeps only `ua-` user aliases).
 */
export function nicXmlFromParams(nic: Record<string, unknown>): NicSpec {
  const mac = str(nic['macAddr']);
  if (mac === undefined || !MAC.test(mac)) throw new DeviceSpecError(`nic.macAddr: a MAC address is required, got ${JSON.stringify(nic['macAddr'])}`);
  const network = str(nic['network']);
  if (network === undefined || network === '') throw new DeviceSpecError('nic.network: the network (host bridge) is required');
  const children: Node[] = [
    el('mac', { address: mac.toLowerCase() }),
    el('model', { type: nicModel(nic['nicModel']) }),
    el('source', { bridge: network }),
    el('link', { state: truthy(nic['linkActive'], true) ? 'up' : 'down' }),
  ];
  const filter = str(nic['filter']);
  if (filter !== undefined && filter !== '') children.push(el('filterref', { filter }));
  const boot = str(nic['bootOrder']);
  if (boot !== undefined && boot !== '') {
    if (!/^[1-9]\d*$/.test(boot)) throw new DeviceSpecError(`nic.bootOrder: a positive integer, got ${JSON.stringify(boot)}`);
    children.push(el('boot', { order: boot }));
  }
  const alias = str(nic['alias']);
  if (alias !== undefined && alias.startsWith('ua-')) children.push(el('alias', { name: alias }));
  return { xml: build(el('interface', { type: 'bridge' }, children)), mac: mac.toLowerCase() };
}

/** The MAC address of an `<interface>` element (lower case), or undefined. */
export function macOf(interfaceXml: string): string | undefined {
  const n = named(parse(interfaceXml, 'interface'), 'interface')[0];
  return attrOf(named(kids(n), 'mac')[0], 'address')?.toLowerCase();
}

/** The `<alias name>` of a device element (libvirt names every live device), or undefined. */
export function deviceAlias(deviceXml: string): string | undefined {
  const n = parse(deviceXml, 'device').find((c) => tagOf(c) !== '?xml' && tagOf(c) !== '#text');
  return attrOf(named(kids(n), 'alias')[0], 'name');
}

/** What identifies a disk of the domain: any that is given must match. */
export interface DiskMatch {
  alias?: string;
  target?: string;
  path?: string;
  serial?: string;
}

/** The identity of a `<disk>` element (alias, target dev, source path, serial). */
export function diskIdentity(diskXml: string): DiskMatch {
  const n = named(parse(diskXml, 'disk'), 'disk')[0];
  return identityOf(n);
}

function identityOf(n: Node | undefined): DiskMatch {
  const source = named(kids(n), 'source')[0];
  const alias = attrOf(named(kids(n), 'alias')[0], 'name');
  const target = attrOf(named(kids(n), 'target')[0], 'dev');
  const path = attrOf(source, 'file') ?? attrOf(source, 'dev') ?? attrOf(source, 'name');
  const serial = textOf(named(kids(n), 'serial')[0]);
  return {
    ...(alias !== undefined ? { alias } : {}), ...(target !== undefined ? { target } : {}),
    ...(path !== undefined ? { path } : {}), ...(serial !== undefined && serial !== '' ? { serial } : {}),
  };
}

function devicesOf(domainXml: string): Node[] {
  const domain = named(parse(domainXml, 'domain'), 'domain')[0];
  return kids(named(kids(domain), 'devices')[0]);
}

/** The live `<interface>` with this MAC address, as libvirt wrote it (what DetachDeviceFlags matches best). */
export function liveInterface(domainXml: string, mac: string): string | undefined {
  const n = named(devicesOf(domainXml), 'interface').find((i) => attrOf(named(kids(i), 'mac')[0], 'address')?.toLowerCase() === mac.toLowerCase());
  return n === undefined ? undefined : build(n);
}

/**
 * The live `<disk>` the match names: by alias when given, otherwise by target, then path, then serial
 * (the first of those given decides). Its target dev comes with it.
 */
export function liveDisk(domainXml: string, match: DiskMatch): { xml: string; target: string; path?: string } | undefined {
  const disks = named(devicesOf(domainXml), 'disk');
  const key = (['alias', 'target', 'path', 'serial'] as const).find((k) => match[k] !== undefined);
  if (key === undefined) return undefined;
  const n = disks.find((d) => identityOf(d)[key] === match[key]);
  if (n === undefined) return undefined;
  const id = identityOf(n);
  return { xml: build(n), target: id.target ?? '', ...(id.path !== undefined ? { path: id.path } : {}) };
}

/** vdsm's drive interfaces and the target prefixes libvirt names their disks with. */
const BUS_PREFIX: Record<string, string> = { virtio: 'vd', scsi: 'sd', sata: 'sd', ide: 'hd', usb: 'sd', fdc: 'fd' };

/** `vd` + index as letters (0 a, 25 z, 26 aa), as libvirt and vdsm name disks. */
export function targetName(prefix: string, index: number): string {
  let n = index;
  let s = '';
  do {
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return prefix + s;
}

export interface DriveSpec {
  xml: string;
  target: string;
  /** Set when the drive names a storage volume: prepared before the plug, torn down after the unplug. */
  volume?: { poolID: string; domainID: string; imageID: string; volumeID: string };
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** The volume a drive dictionary (or disk metadata) names, when it names one; DeviceSpecError when half named. */
export function volumeOf(d: Record<string, unknown>): DriveSpec['volume'] {
  const ids = ['domainID', 'imageID', 'volumeID'].map((k) => d[k]);
  if (ids.every((v) => v === undefined)) return undefined;
  const poolID = d['poolID'] ?? '00000000-0000-0000-0000-000000000000';
  for (const [k, v] of Object.entries({ domainID: ids[0], imageID: ids[1], volumeID: ids[2], poolID })) {
    if (typeof v !== 'string' || !UUID.test(v)) throw new DeviceSpecError(`drive.${k}: a UUID is required, got ${JSON.stringify(v)}`);
  }
  return { poolID: poolID as string, domainID: ids[0] as string, imageID: ids[1] as string, volumeID: ids[2] as string };
}

/**
 * A `<disk>` from the engine's drive dictionary. The source is `path` or, for a storage volume
 * (domainID/imageID/volumeID), the prepared volume's path passed in `preparedPath`. `iface` (virtio,
 * scsi, sata, ide; default virtio), `name` (target dev) or else `index` (else the first free target of
 * that bus in `usedTargets`), `format` (cow -> qcow2, raw), `device` (disk, lun, cdrom), `readonly`,
 * `serial`, `shared` (-> shareable), `propagateErrors` (on -> error_policy enospace, else stop),
 * `diskType` (block for a device node; file otherwise), `alias` (`ua-` only).
 */
export function driveXmlFromParams(drive: Record<string, unknown>, usedTargets: ReadonlySet<string>, preparedPath?: string): DriveSpec {
  const volume = volumeOf(drive);
  const path = preparedPath ?? str(drive['path']);
  if (path === undefined || path === '' || path.includes('\0')) throw new DeviceSpecError('drive.path: a path (or domainID, imageID and volumeID) is required');
  const bus = str(drive['iface']) ?? 'virtio';
  const prefix = BUS_PREFIX[bus];
  if (prefix === undefined) throw new DeviceSpecError(`drive.iface: one of ${Object.keys(BUS_PREFIX).join(', ')}, got ${JSON.stringify(bus)}`);
  let target = str(drive['name']);
  if (target !== undefined && target !== '') {
    if (!/^[a-z]{2,3}[a-z]+$/.test(target)) throw new DeviceSpecError(`drive.name: not a disk target: ${JSON.stringify(target)}`);
  } else {
    const index = str(drive['index']);
    if (index !== undefined && index !== '') {
      if (!/^\d{1,4}$/.test(index)) throw new DeviceSpecError(`drive.index: a small integer, got ${JSON.stringify(index)}`);
      target = targetName(prefix, Number(index));
    } else {
      let i = 0;
      while (usedTargets.has(targetName(prefix, i))) i++;
      target = targetName(prefix, i);
    }
  }
  if (usedTargets.has(target)) throw new DeviceSpecError(`drive: the VM already has a disk ${target}`);
  const device = str(drive['device']) ?? 'disk';
  if (!['disk', 'lun', 'cdrom'].includes(device)) throw new DeviceSpecError(`drive.device: disk, lun or cdrom, got ${JSON.stringify(device)}`);
  const fmt = str(drive['format']) ?? 'raw';
  if (!['cow', 'raw', 'qcow2'].includes(fmt)) throw new DeviceSpecError(`drive.format: cow or raw, got ${JSON.stringify(fmt)}`);
  const block = str(drive['diskType']) === 'block' || (drive['diskType'] === undefined && path.startsWith('/dev/'));
  const children: Node[] = [
    el('source', block ? { dev: path } : { file: path }),
    el('target', { dev: target, bus }),
    el('driver', { name: 'qemu', type: fmt === 'raw' ? 'raw' : 'qcow2', cache: 'none', error_policy: truthy(drive['propagateErrors'], false) ? 'enospace' : 'stop', io: block ? 'native' : 'threads' }),
  ];
  const serial = str(drive['serial']);
  if (serial !== undefined && serial !== '') children.push(textEl('serial', serial));
  if (truthy(drive['readonly'], device === 'cdrom')) children.push(el('readonly'));
  if (truthy(drive['shared'], false) && drive['shared'] !== 'none') children.push(el('shareable'));
  const alias = str(drive['alias']);
  if (alias !== undefined && alias.startsWith('ua-')) children.push(el('alias', { name: alias }));
  const xml = build(el('disk', { type: block ? 'block' : 'file', device, snapshot: 'no' }, children));
  return { xml, target, ...(volume !== undefined ? { volume } : {}) };
}

/**
 * The `<disk>` element of an engine device with its source pointed at a prepared volume (a storage
 * image named in the metadata), as VM.create does for the domain's disks.
 */
export function withSource(diskXml: string, path: string): string {
  const n = named(parse(diskXml, 'disk'), 'disk')[0];
  if (n === undefined) throw new DeviceSpecError('xml: no <disk>');
  const attrs = { ...(n[':@'] ?? {}), '@_type': 'file' };
  const rest = kids(n).filter((c) => tagOf(c) !== 'source');
  return build({ disk: [el('source', { file: path }), ...rest], ':@': attrs });
}

/**
 * VM.changeCD: the live CD-ROM (or floppy) drive with a new medium, or none (`path` ''), for
 * virDomainUpdateDeviceFlags. The drive is the live one whose target is `target`, else the first of
 * that device type.
 */
export function changedMedium(domainXml: string, device: 'cdrom' | 'floppy', path: string, target?: string): { xml: string; target: string } | undefined {
  const drives = named(devicesOf(domainXml), 'disk').filter((d) => (attrOf(d, 'device') ?? 'disk') === device);
  const n = (target !== undefined ? drives.find((d) => identityOf(d).target === target) : undefined) ?? (target === undefined ? drives[0] : undefined);
  if (n === undefined) return undefined;
  const id = identityOf(n);
  const rest = kids(n).filter((c) => tagOf(c) !== 'source' && tagOf(c) !== 'driver' && tagOf(c) !== 'backingStore');
  const block = path.startsWith('/dev/');
  const children = path === '' ? rest : [el('driver', { name: 'qemu', type: 'raw' }), el('source', block ? { dev: path } : { file: path }), ...rest];
  const attrs = { ...(n[':@'] ?? {}), '@_type': block ? 'block' : 'file' };
  return { xml: build({ disk: children, ':@': attrs }), target: id.target ?? '' };
}
