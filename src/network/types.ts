// The data of host networking: a network's and a bond's attributes as setupNetworks keeps them (vdsm's
// canonical form, what the running and the safe configuration store), and the kernel's state as
// `ip -json` reports it. Types and constants only.

/** vdsm's switch types; only the Linux bridge ('legacy') is implemented (no OVS on Debian here). */
export type SwitchType = 'legacy';

/** One network, canonical (vdsm's canonicalize.py): every default filled in, types fixed. */
export interface NetAttrs {
  /** Southbound device: exactly one of nic and bonding (a nic-less bridged network has neither). */
  nic?: string;
  bonding?: string;
  /** 802.1Q tag, 0..4094. */
  vlan?: number;
  bridged: boolean;
  /** Spanning tree on the network's bridge (bridged networks only). */
  stp: boolean;
  mtu: number;
  bootproto: 'none' | 'dhcp';
  ipaddr?: string;
  netmask?: string;
  gateway?: string;
  /** 'address/prefixlen', compressed. */
  ipv6addr?: string;
  ipv6gateway?: string;
  ipv6autoconf: boolean;
  dhcpv6: boolean;
  defaultRoute: boolean;
  nameservers: string[];
  switch: SwitchType;
  /** Free-form properties the engine passes (bridge_opts ...), kept as given. */
  custom?: Record<string, string>;
}

/** One bond, canonical. */
export interface BondAttrs {
  /** Sorted. */
  nics: string[];
  /** 'mode=4 miimon=100' (space separated name=value), '' for the kernel defaults. */
  options: string;
  hwaddr?: string;
  switch: SwitchType;
}

export interface RemoveEntry {
  remove: true;
}

/** What the running and the safe configuration hold. */
export interface NetConfig {
  networks: Record<string, NetAttrs>;
  bonds: Record<string, BondAttrs>;
}

/** A setupNetworks request after canonicalization. */
export interface SetupRequest {
  networks: Record<string, NetAttrs | RemoveEntry>;
  bondings: Record<string, BondAttrs | RemoveEntry>;
}

export interface SetupOptions {
  /** Roll back unless the engine is seen again within connectivityTimeout seconds. */
  connectivityCheck: boolean;
  connectivityTimeout: number;
  /** Persist as the safe configuration once applied (and confirmed). */
  commitOnSuccess: boolean;
}

export function isRemove(v: unknown): v is RemoveEntry {
  return typeof v === 'object' && v !== null && (v as { remove?: unknown }).remove === true;
}

// ---- the kernel, as `ip -json` shows it ----

export type LinkKind = 'bridge' | 'bond' | 'vlan' | 'veth' | 'dummy' | 'loopback' | 'device' | 'other';

export interface LinkState {
  name: string;
  index: number;
  kind: LinkKind;
  /** info_kind as ip reports it ('' for a physical device). */
  infoKind: string;
  master?: string;
  /** 'bridge' or 'bond' when enslaved. */
  slaveKind?: string;
  mtu: number;
  address: string;
  /** The permanent MAC of a bond slave (ip: perm_hwaddr). */
  permAddress?: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  operstate: string;
  vlan?: { id: number; parent: string };
  /** Bond options as ip reports them (mode name, miimon ...), values as strings. */
  bond?: Record<string, string>;
  activeSlave?: string;
  bridge?: { stp: boolean; options: Record<string, string> };
}

export interface AddrState {
  dev: string;
  family: 4 | 6;
  local: string;
  prefixlen: number;
  scope: string;
  /** A lease: finite lifetimes (DHCP, SLAAC). */
  dynamic: boolean;
  validLft: number;
  preferredLft: number;
  noprefixroute: boolean;
  nodad: boolean;
}

export interface RouteState {
  family: 4 | 6;
  dst: string;
  gateway?: string;
  dev: string;
  metric?: number;
  protocol?: string;
}

/** Per-device sysctls setupNetworks changes. */
export interface DevSysctl {
  /** /proc/sys/net/ipv6/conf/<dev>/autoconf, accept_ra, disable_ipv6 */
  autoconf?: string;
  acceptRa?: string;
  disableIpv6?: string;
}

export interface KernelSnapshot {
  links: Record<string, LinkState>;
  addrs: AddrState[];
  /** Default routes of the main tables (what setupNetworks touches). */
  routes: RouteState[];
  sysctl: Record<string, DevSysctl>;
  /** Link speed in Mb/s from sysfs (0 unknown). */
  speeds: Record<string, number>;
  /** Devices with a DHCP client of ours running, per family. */
  dhcp: Record<string, { v4: boolean; v6: boolean }>;
}

/** The raw text the snapshot is parsed from (what a worker or the helper reads). */
export interface NetworkRawFacts {
  links: string;
  addrs: string;
  routes4: string;
  routes6: string;
  sysctl: Record<string, DevSysctl>;
  speeds: Record<string, string | null>;
  dhcp: Record<string, { v4: boolean; v6: boolean }>;
}
