// The network part of getCapabilities when no host networking service is wired (buildCapabilities on
// its own: tools and unit tests): nics, bondings, bridges, vlans and nameservers from /sys/class/net,
// the routing tables and the interface addresses, and no networks. The agent reports networks from
// src/network/ (ip -json and the running configuration), which overrides these keys.
import type { CapabilitiesRawFacts, IfAddress, MaybeText, NetDeviceFacts } from '../contracts/host-facts.js';

interface DevInfo {
  addr: string;
  netmask: string;
  ipv4addrs: string[];
  ipv6addrs: string[];
  gateway: string;
  ipv6gateway: string;
  ipv4defaultroute: boolean;
  /** A string, as vdsm's schema has it (NetInfoNic.mtu) and vdsm's netinfo sends it. */
  mtu: string;
  ipv6autoconf: boolean;
  dhcpv4: boolean;
  dhcpv6: boolean;
}

export interface NetCaps {
  nics: Record<string, Record<string, unknown>>;
  bondings: Record<string, Record<string, unknown>>;
  bridges: Record<string, Record<string, unknown>>;
  vlans: Record<string, Record<string, unknown>>;
  networks: Record<string, Record<string, unknown>>;
  nameservers: string[];
  supportsIPv6: boolean;
}

function hexToIpv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

/** device -> IPv4 default gateway, from /proc/net/route. */
export function ipv4Gateways(routes: MaybeText): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (routes ?? '').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, gw, , , , , mask] = f as [string, string, string, string, string, string, string, string];
    if (dest === '00000000' && mask === '00000000' && !out.has(iface)) out.set(iface, hexToIpv4(gw));
  }
  return out;
}

function compressIpv6(hex32: string): string {
  const groups = (hex32.match(/.{4}/g) ?? []).map((g) => Number.parseInt(g, 16).toString(16));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

/** device -> IPv6 default gateway, from /proc/net/ipv6_route. */
export function ipv6Gateways(routes: MaybeText): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (routes ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [dest, plen, , , nextHop] = f as [string, string, string, string, string];
    const iface = f[9] as string;
    if (/^0{32}$/.test(dest) && plen === '00' && !/^0{32}$/.test(nextHop) && !out.has(iface)) out.set(iface, compressIpv6(nextHop));
  }
  return out;
}

export function parseNameservers(resolvConf: MaybeText): string[] {
  const out: string[] = [];
  for (const line of (resolvConf ?? '').split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m !== null) out.push(m[1] as string);
  }
  return out;
}

function prefixOf(a: IfAddress): number {
  const c = a.cidr?.split('/')[1];
  return c !== undefined ? Number(c) : a.family === 'IPv4' ? 32 : 128;
}

function devInfo(name: string, dev: NetDeviceFacts, raw: Pick<CapabilitiesRawFacts, 'ifaddrs'>, gw4: Map<string, string>, gw6: Map<string, string>): DevInfo {
  const addrs = raw.ifaddrs[name] ?? [];
  const v4 = addrs.filter((a) => a.family === 'IPv4');
  const v6 = addrs.filter((a) => a.family === 'IPv6');
  const gateway = gw4.get(name) ?? '';
  return {
    addr: v4[0]?.address ?? '',
    netmask: v4[0]?.netmask ?? '',
    ipv4addrs: v4.map((a) => `${a.address}/${prefixOf(a)}`),
    ipv6addrs: v6.map((a) => `${a.address}/${prefixOf(a)}`),
    gateway,
    ipv6gateway: gw6.get(name) ?? '::',
    ipv4defaultroute: gateway !== '',
    mtu: String(Number(dev.mtu ?? '1500') || 1500),
    ipv6autoconf: (dev.ipv6autoconf ?? '').trim() === '1',
    dhcpv4: false,
    dhcpv6: false,
  };
}

/** Physical (or physical-looking) Ethernet devices: what vdsm lists as nics. */
function isNic(dev: NetDeviceFacts): boolean {
  return !dev.virtual && dev.bridge === null && dev.bond === null && dev.vlan === null && (dev.type === null || dev.type === '1');
}

const BOND_MODES: Record<string, string> = {
  'balance-rr': '0', 'active-backup': '1', 'balance-xor': '2', broadcast: '3', '802.3ad': '4', 'balance-tlb': '5', 'balance-alb': '6',
};

function parseVlan(text: string): { iface: string; vlanid: number } | undefined {
  const vid = /VID:\s*(\d+)/.exec(text)?.[1];
  const dev = /Device:\s*(\S+)/.exec(text)?.[1];
  return vid !== undefined && dev !== undefined ? { iface: dev, vlanid: Number(vid) } : undefined;
}

export function networkCaps(raw: Pick<CapabilitiesRawFacts, 'net' | 'ifaddrs' | 'routes' | 'ipv6Routes' | 'resolvConf' | 'supportsIPv6'>): NetCaps {
  const gw4 = ipv4Gateways(raw.routes);
  const gw6 = ipv6Gateways(raw.ipv6Routes);
  const caps: NetCaps = { nics: {}, bondings: {}, bridges: {}, vlans: {}, networks: {}, nameservers: parseNameservers(raw.resolvConf), supportsIPv6: raw.supportsIPv6 };
  for (const [name, dev] of Object.entries(raw.net).sort(([a], [b]) => a.localeCompare(b))) {
    const info = devInfo(name, dev, raw, gw4, gw6);
    if (dev.bridge !== null) {
      caps.bridges[name] = { ...info, ports: dev.bridge.ports, stp: dev.bridge.stpState === '1' ? 'on' : 'off', opts: {} };
    } else if (dev.bond !== null) {
      const modeName = (dev.bond.mode ?? 'balance-rr 0').split(/\s+/);
      const opts: Record<string, string> = { mode: modeName[1] ?? BOND_MODES[modeName[0] ?? ''] ?? '0' };
      if (dev.bond.miimon !== null) opts['miimon'] = dev.bond.miimon;
      caps.bondings[name] = {
        ...info, hwaddr: dev.address ?? '', slaves: (dev.bond.slaves ?? '').split(/\s+/).filter((s) => s !== ''),
        active_slave: dev.bond.activeSlave ?? '', opts, switch: 'legacy',
        ...(dev.bond.adAggregatorId !== null ? { ad_aggregator_id: dev.bond.adAggregatorId } : {}),
      };
    } else if (dev.vlan !== null) {
      const v = parseVlan(dev.vlan);
      if (v !== undefined) caps.vlans[name] = { ...info, iface: v.iface, vlanid: v.vlanid };
    } else if (isNic(dev)) {
      const speed = Number(dev.speed ?? '0');
      caps.nics[name] = { ...info, hwaddr: dev.address ?? '', speed: Number.isInteger(speed) && speed > 0 && dev.operstate === 'up' ? speed : 0 };
    }
  }
  return caps;
}

/**
 * The device holding `address` (vdsm's getDeviceByIP, reported as getCapabilities' lastClientIface: the
 * interface the caller's connection arrives on); '' when no device has it. IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d, how a dual-stack listener sees IPv4 peers) are matched as the IPv4 address.
 */
export function deviceByAddress(ifaddrs: Record<string, IfAddress[]>, address: string | undefined): string {
  if (address === undefined || address === '') return '';
  const want = address.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1').replace(/%.*$/, '');
  for (const [name, addrs] of Object.entries(ifaddrs)) {
    if (addrs.some((a) => a.address.toLowerCase().replace(/%.*$/, '') === want)) return name;
  }
  return '';
}
