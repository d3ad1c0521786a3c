// setupNetworks' arguments as the engine sends them (strings for booleans and numbers, `prefix` or
// `netmask`, defaults left out) turned into one canonical form, as vdsm's canonicalize.py does: every
// default filled in, types fixed, IPv6 addresses compressed, bond slaves sorted. What cannot be read
// is refused here with vdsm's network error codes; nothing has been touched yet.
import { isIPv4, isIPv6 } from 'node:net';
import { Errors, vdsmError, type VdsmError } from '../errors.js';
import type { BondAttrs, NetAttrs, NetConfig, RemoveEntry, SetupOptions, SetupRequest } from './types.js';

export const DEFAULT_MTU = 1500;
/** vdsm's CONNECTIVITY_TIMEOUT_DEFAULT, seconds. */
export const CONNECTIVITY_TIMEOUT_DEFAULT = 4;

const NET_KEYS = new Set([
  'nic', 'bonding', 'vlan', 'bridged', 'stp', 'STP', 'mtu', 'bootproto', 'ipaddr', 'netmask', 'prefix', 'gateway', 'ipv6addr',
  'ipv6gateway', 'ipv6autoconf', 'dhcpv6', 'defaultRoute', 'nameservers', 'switch', 'custom', 'hostQos', 'blockingdhcp', 'remove',
  'qos', 'ipv6_ip_enabled', 'remove_sources',
]);
const BOND_KEYS = new Set(['nics', 'options', 'hwaddr', 'switch', 'remove']);

function bad(code: typeof Errors.NET_BAD_PARAMS, text: string): VdsmError {
  return vdsmError(code, text);
}

/** vdsm's conv.tobool: booleans, 'true'/'false' in any case, numbers and numeric strings; else false. */
export function toBool(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'true') return true;
    if (/^[+-]?\d+$/.test(t)) return Number(t) !== 0;
  }
  return false;
}

/** Bridge STP as vdsm's stp_booleanize accepts it. */
function stpBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  const t = String(v).trim().toLowerCase();
  if (['on', 'yes', 'true', '1'].includes(t)) return true;
  if (['off', 'no', 'false', '0'].includes(t)) return false;
  throw bad(Errors.NET_BAD_PARAMS, `"${String(v)}" is not a valid bridge STP value.`);
}

function toInt(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return Number.parseInt(v, 10);
  return undefined;
}

function str(v: unknown, what: string, code = Errors.NET_BAD_PARAMS): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  throw bad(code, `${what} must be a string, got ${JSON.stringify(v)}`);
}

export function prefixToNetmask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

/** Prefix length of a dotted netmask, or undefined when the bits are not contiguous. */
export function netmaskToPrefix(mask: string): number | undefined {
  if (!isIPv4(mask)) return undefined;
  const n = mask.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);
  const inv = ~n >>> 0;
  if ((inv & (inv + 1)) !== 0) return undefined;
  return 32 - Math.log2(inv + 1);
}

/** Expand an IPv6 address to 8 groups of 4 hex digits (for comparison and compression). */
function expandIpv6(addr: string): string[] {
  let text = addr.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const o = v4[1]!.split('.').map(Number);
    text = text.slice(0, v4.index) + `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0'));
}

/** RFC 5952 text of an IPv6 address (what Python's ipaddress prints). */
export function compressIpv6(addr: string): string {
  const groups = expandIpv6(addr).map((g) => Number.parseInt(g, 16).toString(16));
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function canonicalIpv6WithPrefix(v: unknown): string {
  const text = str(v, 'ipv6addr', Errors.NET_BAD_ADDR);
  const [addr, plen] = text.split('/') as [string, string | undefined];
  const prefix = plen === undefined ? 128 : toInt(plen);
  if (!isIPv6(addr) || prefix === undefined || prefix < 0 || prefix > 128) throw bad(Errors.NET_BAD_ADDR, `Invalid IPv6 address: ${text}`);
  return `${compressIpv6(addr)}/${prefix}`;
}

function canonicalRemove(name: string, attrs: Record<string, unknown>): RemoveEntry | undefined {
  if (!('remove' in attrs) || !toBool(attrs['remove'])) return undefined;
  const extra = Object.keys(attrs).filter((k) => k !== 'remove' && k !== 'custom');
  if (extra.length > 0) throw bad(Errors.NET_BAD_PARAMS, `Cannot specify any attribute when removing (except custom)): ${name} has ${extra.join(', ')}`);
  return { remove: true };
}

function plainObject(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(Errors.NET_BAD_PARAMS, `${what} must be an object`);
  return v as Record<string, unknown>;
}

/** One network's attributes, canonical (hostNameservers: the host's, for a static default-route network). */
export function canonicalizeNetwork(name: string, raw: unknown, hostNameservers: readonly string[]): NetAttrs | RemoveEntry {
  const attrs = plainObject(raw, `network ${name}`);
  const removal = canonicalRemove(name, attrs);
  if (removal !== undefined) return removal;
  for (const key of Object.keys(attrs)) {
    if (!NET_KEYS.has(key)) throw bad(Errors.NET_BAD_PARAMS, `Unknown attribute ${JSON.stringify(key)} of network ${name}`);
  }
  const out: NetAttrs = {
    bridged: 'bridged' in attrs ? toBool(attrs['bridged']) : true,
    stp: false,
    mtu: DEFAULT_MTU,
    bootproto: 'none',
    ipv6autoconf: toBool(attrs['ipv6autoconf']),
    dhcpv6: toBool(attrs['dhcpv6']),
    defaultRoute: toBool(attrs['defaultRoute']),
    nameservers: [],
    switch: 'legacy',
  };
  let nic = attrs['nic'];
  if (Array.isArray(nic)) {
    // The schema's NetworkAttributes.nic is a list of one device name.
    if (nic.length !== 1) throw bad(Errors.NET_BAD_BONDING, `Multiple nics require a bonding device (network ${name})`);
    nic = nic[0];
  }
  if (nic !== undefined && nic !== null && nic !== '') out.nic = str(nic, 'nic', Errors.NET_BAD_NIC);
  if (attrs['bonding'] !== undefined && attrs['bonding'] !== null && attrs['bonding'] !== '') out.bonding = str(attrs['bonding'], 'bonding', Errors.NET_BAD_BONDING);
  if (out.nic !== undefined && out.bonding !== undefined) throw bad(Errors.NET_BAD_PARAMS, `Network ${name} names both a nic and a bonding`);
  const vlan = attrs['vlan'];
  if (vlan !== undefined && vlan !== null && vlan !== '') {
    const id = toInt(vlan);
    if (id === undefined) throw bad(Errors.NET_BAD_VLAN, 'VLAN id must be a number between 0 and 4094');
    out.vlan = id;
  }
  if ('mtu' in attrs) {
    const mtu = toInt(attrs['mtu']);
    if (mtu === undefined) throw bad(Errors.NET_BAD_PARAMS, `Invalid MTU ${JSON.stringify(attrs['mtu'])} for network ${name}`);
    out.mtu = mtu;
  }
  if (out.bridged) {
    const stp = 'stp' in attrs ? attrs['stp'] : attrs['STP'];
    out.stp = stp === undefined ? false : stpBool(stp);
  }
  const bootproto = attrs['bootproto'];
  if (bootproto !== undefined && bootproto !== null && bootproto !== 'none' && bootproto !== '') {
    if (bootproto !== 'dhcp') throw bad(Errors.NET_BAD_PARAMS, `Unsupported bootproto ${JSON.stringify(bootproto)} (none or dhcp)`);
    out.bootproto = 'dhcp';
  }
  if (attrs['ipaddr'] !== undefined && attrs['ipaddr'] !== '') out.ipaddr = str(attrs['ipaddr'], 'ipaddr', Errors.NET_BAD_ADDR);
  const prefix = attrs['prefix'];
  if (prefix !== undefined && prefix !== null && prefix !== '') {
    if (attrs['netmask'] !== undefined && attrs['netmask'] !== '') throw bad(Errors.NET_BAD_PARAMS, 'Both PREFIX and NETMASK supplied');
    const p = toInt(prefix);
    if (p === undefined || p < 0 || p > 32) throw bad(Errors.NET_BAD_ADDR, `Bad prefix: ${String(prefix)}`);
    out.netmask = prefixToNetmask(p);
  } else if (attrs['netmask'] !== undefined && attrs['netmask'] !== '') {
    out.netmask = str(attrs['netmask'], 'netmask', Errors.NET_BAD_ADDR);
  }
  if (attrs['gateway'] !== undefined && attrs['gateway'] !== '') out.gateway = str(attrs['gateway'], 'gateway', Errors.NET_BAD_ADDR);
  if (attrs['ipv6addr'] !== undefined && attrs['ipv6addr'] !== '') out.ipv6addr = canonicalIpv6WithPrefix(attrs['ipv6addr']);
  const gw6 = attrs['ipv6gateway'];
  // '::' is the engine's "no IPv6 gateway" (HostSetupNetworksVDSCommand.selectIpv6Gateway).
  if (gw6 !== undefined && gw6 !== '' && gw6 !== '::') {
    const text = str(gw6, 'ipv6gateway', Errors.NET_BAD_ADDR);
    if (!isIPv6(text)) throw bad(Errors.NET_BAD_ADDR, `Invalid IPv6 gateway: ${text}`);
    out.ipv6gateway = compressIpv6(text);
  }
  if ('nameservers' in attrs) {
    const ns = attrs['nameservers'];
    if (!Array.isArray(ns) || !ns.every((x) => typeof x === 'string')) throw bad(Errors.NET_BAD_PARAMS, `nameservers of network ${name} must be a list of addresses`);
    out.nameservers = [...ns];
  } else if (out.defaultRoute && out.bootproto !== 'dhcp') {
    // Only the default route network carries the host's nameservers (vdsm _canonicalize_nameservers).
    out.nameservers = [...hostNameservers];
  }
  const sw = attrs['switch'];
  if (sw !== undefined && sw !== 'legacy') throw bad(Errors.NET_BAD_PARAMS, `Switch type ${JSON.stringify(sw)} is not supported (only legacy: Linux bridges)`);
  const custom = attrs['custom'];
  if (custom !== undefined && custom !== null) {
    const c = plainObject(custom, `custom of network ${name}`);
    if (Object.keys(c).length > 0) out.custom = Object.fromEntries(Object.entries(c).map(([k, v]) => [k, String(v)]));
  }
  return out;
}

export function canonicalizeBond(name: string, raw: unknown): BondAttrs | RemoveEntry {
  const attrs = plainObject(raw, `bond ${name}`);
  const removal = canonicalRemove(name, attrs);
  if (removal !== undefined) return removal;
  for (const key of Object.keys(attrs)) {
    if (!BOND_KEYS.has(key)) throw bad(Errors.NET_BAD_BONDING, `Unknown attribute ${JSON.stringify(key)} of bond ${name}`);
  }
  const nics = attrs['nics'];
  if (nics !== undefined && (!Array.isArray(nics) || !nics.every((n) => typeof n === 'string'))) throw bad(Errors.NET_BAD_BONDING, `nics of bond ${name} must be a list of device names`);
  const sw = attrs['switch'];
  if (sw !== undefined && sw !== 'legacy') throw bad(Errors.NET_BAD_PARAMS, `Switch type ${JSON.stringify(sw)} is not supported (only legacy)`);
  const options = attrs['options'];
  return {
    nics: [...((nics as string[] | undefined) ?? [])].sort(),
    options: options === undefined || options === null ? '' : str(options, 'options', Errors.NET_BAD_BONDING).trim().split(/\s+/).filter((o) => o !== '').join(' '),
    ...(typeof attrs['hwaddr'] === 'string' && attrs['hwaddr'] !== '' ? { hwaddr: (attrs['hwaddr']).toLowerCase() } : {}),
    switch: 'legacy',
  };
}

/**
 * The whole request. A new default-route network takes the role from the running network that had it
 * (that one is re-set with defaultRoute false, as vdsm's _canonicalize_ip_default_route does).
 */
export function canonicalizeRequest(networks: unknown, bondings: unknown, running: NetConfig, hostNameservers: readonly string[]): SetupRequest {
  const nets = plainObject(networks ?? {}, 'networks');
  const bonds = plainObject(bondings ?? {}, 'bondings');
  const req: SetupRequest = { networks: {}, bondings: {} };
  for (const [name, attrs] of Object.entries(nets)) req.networks[name] = canonicalizeNetwork(name, attrs, hostNameservers);
  for (const [name, attrs] of Object.entries(bonds)) req.bondings[name] = canonicalizeBond(name, attrs);
  const withDefault = Object.entries(req.networks).filter(([, a]) => !('remove' in a) && a.defaultRoute).map(([n]) => n);
  if (withDefault.length > 1) throw bad(Errors.NET_BAD_PARAMS, 'Only a single default route network is allowed.');
  if (withDefault.length === 1) {
    for (const [name, attrs] of Object.entries(running.networks)) {
      if (attrs.defaultRoute && !(name in req.networks)) {
        const { nameservers: _drop, ...rest } = attrs;
        req.networks[name] = { ...rest, nameservers: [], defaultRoute: false };
      }
    }
  }
  return req;
}

export function canonicalizeOptions(raw: unknown): SetupOptions {
  const o = raw === undefined || raw === null ? {} : plainObject(raw, 'options');
  const timeout = 'connectivityTimeout' in o ? toInt(o['connectivityTimeout']) : CONNECTIVITY_TIMEOUT_DEFAULT;
  if (timeout === undefined || timeout < 0) throw bad(Errors.NET_BAD_PARAMS, `connectivityTimeout must be a number of seconds, got ${JSON.stringify(o['connectivityTimeout'])}`);
  return {
    // vdsm: tobool(options.get('connectivityCheck', True))
    connectivityCheck: 'connectivityCheck' in o ? toBool(o['connectivityCheck']) : true,
    connectivityTimeout: timeout,
    commitOnSuccess: toBool(o['commitOnSuccess']),
  };
}
