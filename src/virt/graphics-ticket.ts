// VM.setTicket's device XML: the VM's first graphics device as libvirt's live domain XML has it, with the
// console password (`passwd`), its expiry (`passwdValidTo`) and, for SPICE, what happens to clients
// already connected (`connected`). libvirt's virDomainUpdateDeviceFlags takes the whole element and
// changes only those attributes; everything else (ports, listen addresses, channels) must match the live
// device, which is why the element is taken from the live XML and written back otherwise unchanged.
// Pure: no libvirt, no clock (the caller passes `now`).
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

/** existingConnAction values vdsm's schema accepts (libvirt's `connected` attribute). */
export const CONNECTION_ACTIONS = ['disconnect', 'keep', 'fail'] as const;
export type ConnectionAction = (typeof CONNECTION_ACTIONS)[number];

export interface GraphicsTicket {
  /** The one-time console password. Never logged. */
  password: string;
  /** Seconds the password stays valid; 0 or less: no expiry (a previous one is removed). */
  ttlS: number;
  /** Clients already connected (SPICE only; libvirt's VNC accepts only "keep", so vdsm sets it for SPICE). */
  existingConnAction?: ConnectionAction | undefined;
}

export interface TicketedGraphics {
  /** `vnc` or `spice`. */
  type: string;
  /** The `<graphics>` element to hand to virDomainUpdateDeviceFlags. Holds the password. */
  xml: string;
  /** The passwdValidTo written, when the ticket expires. */
  validTo?: string;
}

const OPTIONS = {
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  preserveOrder: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
} as const;

const parser = new XMLParser(OPTIONS);
const builder = new XMLBuilder({ ...OPTIONS, suppressEmptyNode: true });

type OrderedNode = Record<string, unknown> & { ':@'?: Record<string, string> };

function childrenNamed(nodes: unknown, name: string): OrderedNode[] {
  if (!Array.isArray(nodes)) return [];
  return (nodes as OrderedNode[]).filter((n) => typeof n === 'object' && n !== null && Object.hasOwn(n, name));
}

/** libvirt's passwdValidTo form: UTC, seconds, no zone (`2026-12-07T10:00:00`). */
export function passwdValidTo(nowMs: number, ttlS: number): string {
  return new Date(nowMs + ttlS * 1000).toISOString().slice(0, 19);
}

/**
 * The first `<graphics>` device of `domainXml` (of `graphicsType` when given: VM.updateDevice) with the
 * ticket applied, as vdsm's setTicket does (it sets the ticket on the first graphics device); undefined
 * when the domain has none.
 */
export function ticketedGraphics(domainXml: string, ticket: GraphicsTicket, nowMs: number, graphicsType?: string): TicketedGraphics | undefined {
  const tree = parser.parse(domainXml) as unknown;
  const domain = childrenNamed(tree, 'domain')[0];
  const devices = childrenNamed(domain?.['domain'], 'devices')[0];
  const graphics = childrenNamed(devices?.['devices'], 'graphics').find((g) => graphicsType === undefined || g[':@']?.['@_type'] === graphicsType);
  if (graphics === undefined) return undefined;
  const attrs: Record<string, string> = { ...(graphics[':@'] ?? {}) };
  const type = attrs['@_type'] ?? '';
  attrs['@_passwd'] = ticket.password;
  let validTo: string | undefined;
  if (ticket.ttlS > 0) {
    validTo = passwdValidTo(nowMs, ticket.ttlS);
    attrs['@_passwdValidTo'] = validTo;
  } else {
    delete attrs['@_passwdValidTo'];
  }
  if (ticket.existingConnAction !== undefined && type === 'spice') attrs['@_connected'] = ticket.existingConnAction;
  const xml = builder.build([{ graphics: graphics['graphics'], ':@': attrs }]) as string;
  return { type, xml, ...(validTo !== undefined ? { validTo } : {}) };
}

/** The engine's console options that act on the host (vdsm's setTicket params and updateDevice's disconnectAction). */
export interface ConsoleOptions {
  /** What happens in the guest when the console client disconnects (./console-disconnect.ts); LOCK_SCREEN when absent. */
  disconnectAction?: string | undefined;
  /** params.vncUsername: the SASL user of the VNC console. */
  vncUsername?: string | undefined;
  /** params.fips: "true" / "false" (or absent). */
  fips?: unknown;
}

/** What a VNC ticket does to QEMU's SASL password database (vdsm's saslpasswd2 use in setTicket). */
export type VncSaslStep = { op: 'set'; user: string } | { op: 'remove'; user: string } | undefined;

/**
 * vdsm's check of params.fips for a VNC ticket and what follows from it: with fips "true" the ticket's
 * password is set for vncUsername in QEMU's SASL database (VNC with SASL, as a FIPS host needs), otherwise
 * vncUsername's entry is removed (none when there is no user to remove). Throws a message and whether it
 * is vdsm's MissingParameter (a bad fips value) or a GeneralException (fips without vncUsername).
 */
export function vncSaslStep(opts: ConsoleOptions): VncSaslStep | { error: 'missing-param' | 'general'; message: string } {
  if (opts.fips !== undefined && opts.fips !== 'true' && opts.fips !== 'false') {
    return { error: 'missing-param', message: 'fips param should either be "true", "false" or non-existent' };
  }
  const user = typeof opts.vncUsername === 'string' ? opts.vncUsername : '';
  if (opts.fips === 'true') {
    if (user === '') return { error: 'general', message: 'FIPS mode requires vncUsername' };
    return { op: 'set', user };
  }
  return user === '' ? undefined : { op: 'remove', user };
}
