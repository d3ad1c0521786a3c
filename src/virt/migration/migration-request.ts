// VM.migrate's parameters as the engine sends them (after the argument rules turned its "true"/"500"
// strings into booleans and numbers), checked once, and what libvirt gets from them: vdsm's flag set,
// the destination URIs and the typed migration parameters. Pure.
import { MigrateFlag, MigrateParam, type MigrateParams } from '../../contracts/migration-ops.js';
import { legacySchedule, parseSchedule, ScheduleError, wantsPostCopy, type ConvergenceSchedule } from './convergence.js';

/** The engine's `params` of VM.migrate (names and JSON types of vdsm's schema). */
export interface EngineMigrateParams {
  vmId?: string | null;
  src?: string | null;
  dst?: string | null;
  dstqemu?: string | null;
  mode?: string | null;
  /** mode "file" (hibernation): where the memory state and the parameters go (hibernation-volumes.ts). */
  hiberVolHandle?: string | null;
  method?: string | null;
  tunneled?: boolean | null;
  abortOnError?: boolean | null;
  autoConverge?: boolean | null;
  compressed?: boolean | null;
  encrypted?: boolean | null;
  zerocopy?: boolean | null;
  enableGuestEvents?: boolean | null;
  consoleAddress?: string | null;
  downtime?: number | null;
  maxBandwidth?: number | null;
  parallel?: number | null;
  incomingLimit?: number | null;
  outgoingLimit?: number | null;
  convergenceSchedule?: unknown;
  cpusets?: string[] | null;
  numaNodesets?: string[] | null;
}

/** The configuration a request falls back on ([vars] and [addresses] keys). */
export interface MigrateDefaults {
  managementPort: number;
  /** [vars] migration_max_bandwidth, MiB/s. */
  maxBandwidth: number;
  /** [vars] migration_downtime, ms (the legacy schedule's last step). */
  downtime: number;
  /** [vars] migration_downtime_steps. */
  downtimeSteps: number;
}

export interface MigrateRequest {
  /** The destination agent's host (IPv6 without brackets) and port. */
  dstHost: string;
  dstPort: number;
  /** Where QEMU sends the data when it is not the agent's address (a migration network). */
  dstqemu: string | undefined;
  tunneled: boolean;
  abortOnError: boolean;
  autoConverge: boolean;
  compressed: boolean;
  encrypted: boolean;
  zerocopy: boolean;
  enableGuestEvents: boolean;
  consoleAddress: string | undefined;
  /** MiB/s; 0 = libvirt's default (unlimited). */
  maxBandwidth: number;
  /** Parallel connections; undefined = off. */
  parallel: number | undefined;
  incomingLimit: number | undefined;
  outgoingLimit: number | undefined;
  schedule: ConvergenceSchedule;
  /** False when the engine sent none and vdsm's own schedule is used (the "Legacy" policy). */
  engineSchedule: boolean;
  cpusets: string[] | undefined;
  numaNodesets: string[] | undefined;
}

/** A request vdsm would refuse or fail on; the caller turns it into a parameter error. */
export class MigrateRequestError extends Error {}

/** vdsm's host[:port] rule (rfc3986 host, optional port); IPv6 literals come in brackets. */
export function splitHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const m = /^(.+?)(?::(\d+))?$/.exec(text.trim());
  if (m === null || m[1] === undefined) throw new MigrateRequestError(`dst: expected host[:port], got ${JSON.stringify(text)}`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!(port > 0 && port < 65536)) throw new MigrateRequestError(`dst: port out of range in ${JSON.stringify(text)}`);
  const host = m[1].startsWith('[') && m[1].endsWith(']') ? m[1].slice(1, -1) : m[1];
  return { host, port };
}

/** An address as a URI host: IPv6 literals in brackets (vdsm's normalize_literal_addr). */
export function uriHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

const positive = (v: number | null | undefined): number | undefined => (typeof v === 'number' && v > 0 ? v : undefined);
/** A string parameter; absent, null and '' all mean "not given". */
const given = (v: string | null | undefined): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function parseMigrateRequest(p: EngineMigrateParams, d: MigrateDefaults): MigrateRequest {
  const dst = given(p.dst);
  if (dst === undefined) throw new MigrateRequestError('dst: the destination host[:port] is required');
  const { host, port } = splitHostPort(dst, d.managementPort);
  let schedule: ConvergenceSchedule;
  let engineSchedule = false;
  if (p.convergenceSchedule !== undefined && p.convergenceSchedule !== null) {
    try {
      schedule = parseSchedule(p.convergenceSchedule);
    } catch (err) {
      throw new MigrateRequestError((err as ScheduleError).message);
    }
    engineSchedule = true;
  } else {
    schedule = legacySchedule(positive(p.downtime) ?? d.downtime, d.downtimeSteps);
  }
  return {
    dstHost: host,
    dstPort: port,
    dstqemu: given(p.dstqemu),
    tunneled: p.tunneled === true,
    abortOnError: p.abortOnError === true,
    autoConverge: p.autoConverge === true,
    compressed: p.compressed === true,
    encrypted: p.encrypted === true,
    zerocopy: p.zerocopy === true,
    enableGuestEvents: p.enableGuestEvents === true,
    consoleAddress: given(p.consoleAddress),
    maxBandwidth: positive(p.maxBandwidth) ?? d.maxBandwidth,
    parallel: positive(p.parallel),
    incomingLimit: positive(p.incomingLimit),
    outgoingLimit: positive(p.outgoingLimit),
    schedule,
    engineSchedule,
    cpusets: Array.isArray(p.cpusets) ? p.cpusets : undefined,
    numaNodesets: Array.isArray(p.numaNodesets) ? p.numaNodesets : undefined,
  };
}

/** "4.7" >= 4.2 (the engine's clusterVersion metadata); absent means a current cluster. */
export function clusterAtLeast(version: string | undefined, major: number, minor: number): boolean {
  if (version === undefined || version === '') return true;
  const [a, b] = version.split('.').map((x) => Number(x));
  if (!Number.isFinite(a) || !Number.isFinite(b)) return true;
  return a! > major || (a === major && b! >= minor);
}

/** vdsm's flags: LIVE | PEER2PEER, plus what the request asks for; never UNSAFE, never storage copy. */
export function migrationFlags(r: MigrateRequest, clusterVersion: string | undefined): number {
  let flags = MigrateFlag.LIVE | MigrateFlag.PEER2PEER;
  if (r.tunneled) flags |= MigrateFlag.TUNNELLED;
  if (r.abortOnError) flags |= MigrateFlag.ABORT_ON_ERROR;
  if (r.compressed) flags |= MigrateFlag.COMPRESSED;
  if (r.autoConverge) flags |= MigrateFlag.AUTO_CONVERGE;
  if (r.encrypted) flags |= MigrateFlag.TLS;
  if (r.parallel !== undefined) flags |= MigrateFlag.PARALLEL;
  if (clusterAtLeast(clusterVersion, 4, 2)) flags |= MigrateFlag.PERSIST_DEST;
  if (r.zerocopy) flags |= MigrateFlag.ZEROCOPY;
  if (wantsPostCopy(r.schedule)) flags |= MigrateFlag.POSTCOPY;
  return flags;
}

/**
 * The destination libvirt URI from `[libvirt] migration_uri` ({host}, {transport} = tls with [vars] ssl,
 * else tcp; vdsm hard-codes qemu+tls|tcp://{host}/system) and QEMU's data URI (tcp://dstqemu or host).
 */
export function migrationUris(r: MigrateRequest, template: string, ssl: boolean): { duri: string; muri: string } {
  const duri = template.replaceAll('{transport}', ssl ? 'tls' : 'tcp').replaceAll('{host}', uriHost(r.dstHost));
  return { duri, muri: `tcp://${uriHost(r.dstqemu ?? r.dstHost)}` };
}

/** migrateToURI3's parameters, as vdsm sets them. */
export function libvirtMigrateParams(r: MigrateRequest, o: { muri: string; destinationXml: string; graphics: 'vnc' | 'spice' }): MigrateParams {
  const params: MigrateParams = {};
  if (r.maxBandwidth > 0) params[MigrateParam.BANDWIDTH] = r.maxBandwidth;
  if (r.parallel !== undefined) params[MigrateParam.PARALLEL_CONNECTIONS] = r.parallel;
  if (!r.tunneled) params[MigrateParam.URI] = o.muri;
  if (r.consoleAddress !== undefined) params[MigrateParam.GRAPHICS_URI] = `${o.graphics}://${r.consoleAddress}`;
  // The certificate check uses the host's own name, not a migration network address.
  if (r.encrypted) params[MigrateParam.TLS_DESTINATION] = uriHost(r.dstHost);
  params[MigrateParam.DEST_XML] = o.destinationXml;
  return params;
}

/** Guest information the source sends along in VM.migrationCreate (the destination reports it until its own agents speak). */
export const GUEST_INFO_KEYS = ['username', 'session', 'guestFQDN', 'guestIPs', 'netIfaces', 'guestOs', 'guestOsInfo', 'guestTimezone', 'guestName', 'appsList', 'guestCPUCount', 'disksUsage'] as const;

/** The guest-information keys present in `from` (a VM report on the source, migrationCreate's params on the destination). */
export function pickGuestInfo(from: Record<string, unknown>): Record<string, unknown> {
  const g: Record<string, unknown> = {};
  for (const k of GUEST_INFO_KEYS) if (from[k] !== undefined) g[k] = from[k];
  return g;
}
