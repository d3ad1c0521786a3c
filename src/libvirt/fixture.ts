// Node-XML fixtures for libvirt's test driver (test:///<abs path>): N domains with two virtio disks,
// two NICs, both guest-agent channels and a balloon, deterministic UUIDs and names. Every open of the
// file URI gets a private mock hypervisor, which is what isolates tests from each other.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export interface NodeXmlOptions {
  /** number of domains */
  domains: number;
  /** how many run, are paused, are shut off (in that order in the file); running defaults to the rest,
   *  and when running is given without shutoff, the rest are shut off */
  running?: number;
  paused?: number;
  shutoff?: number;
  /** host logical CPUs (default 8) and memory in KiB (default 16 GiB) */
  cpus?: number;
  memoryKiB?: number;
  /** per-domain vCPUs (default 2) and memory in KiB (default 1 GiB) */
  vcpus?: number;
  domainMemoryKiB?: number;
  /** name prefix (default "vm"), names are <prefix>-0001 ... */
  namePrefix?: string;
  /** seed folded into the UUIDs so two fixtures can use disjoint UUIDs (default 0) */
  seed?: number;
}

export interface FixtureDomain {
  index: number;
  uuid: string;
  name: string;
  /** virDomainState the test driver reports after loading: 1 running, 3 paused, 5 shut off */
  state: 1 | 3 | 5;
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Deterministic UUID of domain `index` for a seed. */
export function fixtureUuid(index: number, seed = 0): string {
  return `${hex(seed >>> 0, 8)}-0000-4000-8000-${hex(index, 12)}`;
}

/** The domains a fixture holds, in file order. */
export function fixtureDomains(opts: NodeXmlOptions): FixtureDomain[] {
  const paused = opts.paused ?? 0;
  const shutoff = opts.shutoff ?? (opts.running !== undefined ? opts.domains - opts.running - paused : 0);
  const running = opts.running ?? opts.domains - paused - shutoff;
  if ([running, paused, shutoff].some((n) => n < 0) || running + paused + shutoff !== opts.domains) {
    throw new RangeError(`running ${running} + paused ${paused} + shutoff ${shutoff} must equal domains ${opts.domains}`);
  }
  const prefix = opts.namePrefix ?? 'vm';
  return Array.from({ length: opts.domains }, (_, i) => ({
    index: i,
    uuid: fixtureUuid(i + 1, opts.seed ?? 0),
    name: `${prefix}-${String(i + 1).padStart(4, '0')}`,
    state: i < running ? 1 : i < running + paused ? 3 : 5,
  }));
}

export interface DomainXmlOptions {
  name: string;
  uuid: string;
  vcpus?: number;
  memoryKiB?: number;
  /** test-driver run state (test namespace); omitted = running */
  runstate?: 3 | 5;
  /** MAC suffix seed; defaults to a hash of the uuid's tail */
  macSeed?: number;
}

/** One `<domain type="test">` with 2 virtio disks, 2 NICs, qemu-ga and ovirt-guest-agent channels, balloon. */
export function generateDomainXml(d: DomainXmlOptions): string {
  const mem = d.memoryKiB ?? 1048576;
  const m = d.macSeed ?? parseInt(d.uuid.slice(-6), 16);
  const mac = (nic: number): string => `52:54:00:${hex((m >> 8) & 0xff, 2)}:${hex(m & 0xff, 2)}:${hex(nic, 2)}`;
  const chan = (name: string): string =>
    `      <channel type="unix"><source mode="bind" path="/var/lib/libvirt/qemu/channels/${d.uuid}.${name}"/><target type="virtio" name="${name}"/></channel>`;
  const disk = (dev: string, n: number): string =>
    `      <disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="/rhev/data-center/mnt/${d.uuid}/disk${n}.qcow2"/><target dev="${dev}" bus="virtio"/><serial>${d.uuid.slice(0, 8)}-${n}</serial></disk>`;
  const nic = (n: number): string =>
    `      <interface type="network"><mac address="${mac(n)}"/><source network="default"/><target dev="vnet${n}"/><model type="virtio"/></interface>`;
  return [
    `  <domain type="test" xmlns:test="http://libvirt.org/schemas/domain/test/1.0">`,
    `    <name>${esc(d.name)}</name>`,
    `    <uuid>${d.uuid}</uuid>`,
    `    <memory unit="KiB">${mem}</memory>`,
    `    <currentMemory unit="KiB">${mem}</currentMemory>`,
    `    <vcpu>${d.vcpus ?? 2}</vcpu>`,
    `    <os><type arch="x86_64">hvm</type></os>`,
    `    <devices>`,
    disk('vda', 0),
    disk('vdb', 1),
    nic(0),
    nic(1),
    chan('org.qemu.guest_agent.0'),
    chan('ovirt-guest-agent.0'),
    `      <memballoon model="virtio"/>`,
    `    </devices>`,
    ...(d.runstate !== undefined ? [`    <test:runstate>${d.runstate}</test:runstate>`] : []),
    `  </domain>`,
  ].join('\n');
}

/** The whole `<node>` document. */
export function generateNodeXml(opts: NodeXmlOptions): string {
  const cpus = opts.cpus ?? 8;
  const threads = cpus % 2 === 0 ? 2 : 1;
  const domains = fixtureDomains(opts).map((d) => generateDomainXml({
    name: d.name,
    uuid: d.uuid,
    macSeed: d.index + 1,
    ...(opts.vcpus !== undefined ? { vcpus: opts.vcpus } : {}),
    ...(opts.domainMemoryKiB !== undefined ? { memoryKiB: opts.domainMemoryKiB } : {}),
    ...(d.state === 3 ? { runstate: 3 as const } : d.state === 5 ? { runstate: 5 as const } : {}),
  }));
  return [
    '<node>',
    `  <cpu><mhz>2400</mhz><model>x86_64</model><active>${cpus}</active><nodes>1</nodes><sockets>1</sockets>` +
      `<cores>${cpus / threads}</cores><threads>${threads}</threads></cpu>`,
    `  <memory>${opts.memoryKiB ?? 16777216}</memory>`,
    ...domains,
    '</node>',
    '',
  ].join('\n');
}

/** Write node.xml (or `file`) into dir and return its test-driver URI, test:///<absolute path>. */
export async function writeNodeXml(dir: string, opts: NodeXmlOptions, file = 'node.xml'): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = resolve(join(dir, file));
  await writeFile(path, generateNodeXml(opts));
  return testDriverUri(path);
}

/** The in-process test-driver URI of a node XML file. */
export function testDriverUri(absPath: string): string {
  return `test://${absPath}`;
}
