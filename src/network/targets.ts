// What a network configuration means for the kernel: one target per device (bridge, VLAN, bond, NIC)
// with its kind, master, MTU, addresses, DHCP clients and default routes. The planner compares these
// targets with a snapshot; the reporting side uses them to tell which devices belong to which network.
import { netmaskToPrefix } from './canonicalize.js';
import { parseBondOptions, southboundDevice, topDevice } from './validate.js';
import type { NetConfig } from './types.js';

export interface DeviceTarget {
  name: string;
  kind: 'bridge' | 'vlan' | 'bond' | 'nic';
  mtu: number;
  /** Bridge or bond this device is a port of. */
  master?: string;
  vlan?: { parent: string; id: number };
  bond?: { options: Record<string, string>; hwaddr?: string };
  bridge?: { stp: boolean };
  /** The network whose addresses live here (top device), if any. */
  network?: string;
  /** Static addresses, 'a.b.c.d/p' and 'x::y/p'. */
  addrs: string[];
  dhcp4: boolean;
  dhcp6: boolean;
  ipv6autoconf: boolean;
  /** Gateway of the IPv4 / IPv6 default route through this device. */
  defaultRoute4?: string;
  defaultRoute6?: string;
}

export interface Targets {
  devices: Map<string, DeviceTarget>;
  /** Nameservers of the default route network (written to resolv.conf), or undefined when none. */
  nameservers?: string[];
}

function nicTarget(name: string): DeviceTarget {
  return { name, kind: 'nic', mtu: 0, addrs: [], dhcp4: false, dhcp6: false, ipv6autoconf: false };
}

function raiseMtu(t: DeviceTarget, mtu: number): void {
  t.mtu = Math.max(t.mtu, mtu);
}

export function buildTargets(cfg: NetConfig): Targets {
  const devices = new Map<string, DeviceTarget>();
  const get = (name: string, make: () => DeviceTarget): DeviceTarget => {
    let t = devices.get(name);
    if (t === undefined) {
      t = make();
      devices.set(name, t);
    }
    return t;
  };
  for (const [bond, attrs] of Object.entries(cfg.bonds)) {
    const opts = parseBondOptions(attrs.options);
    get(bond, () => ({ ...nicTarget(bond), kind: 'bond', bond: { options: opts, ...(attrs.hwaddr !== undefined ? { hwaddr: attrs.hwaddr } : {}) } }));
    for (const nic of attrs.nics) get(nic, () => nicTarget(nic)).master = bond;
  }
  let nameservers: string[] | undefined;
  for (const [name, net] of Object.entries(cfg.networks)) {
    const base = net.nic ?? net.bonding;
    if (base !== undefined) {
      const b = get(base, () => nicTarget(base));
      raiseMtu(b, net.mtu);
      if (b.kind === 'bond') for (const nic of cfg.bonds[base]?.nics ?? []) raiseMtu(devices.get(nic)!, net.mtu);
    }
    const sb = southboundDevice(net);
    if (sb !== undefined && net.vlan !== undefined) {
      const v = get(sb, () => ({ ...nicTarget(sb), kind: 'vlan', vlan: { parent: base!, id: net.vlan! } }));
      raiseMtu(v, net.mtu);
    }
    if (net.bridged) {
      const br = get(name, () => ({ ...nicTarget(name), kind: 'bridge', bridge: { stp: net.stp } }));
      raiseMtu(br, net.mtu);
      if (sb !== undefined) devices.get(sb)!.master = name;
    }
    const top = devices.get(topDevice(name, net))!;
    top.network = name;
    if (net.ipaddr !== undefined && net.netmask !== undefined) top.addrs.push(`${net.ipaddr}/${netmaskToPrefix(net.netmask) ?? 32}`);
    if (net.ipv6addr !== undefined) top.addrs.push(net.ipv6addr);
    top.dhcp4 = net.bootproto === 'dhcp';
    top.dhcp6 = net.dhcpv6;
    top.ipv6autoconf = net.ipv6autoconf;
    if (net.defaultRoute) {
      if (net.gateway !== undefined) top.defaultRoute4 = net.gateway;
      if (net.ipv6gateway !== undefined) top.defaultRoute6 = net.ipv6gateway;
      if (net.nameservers.length > 0) nameservers = [...net.nameservers];
    }
  }
  for (const t of devices.values()) if (t.mtu === 0) t.mtu = 1500;
  return { devices, ...(nameservers !== undefined ? { nameservers } : {}) };
}

/** Creation order: bonds and NICs first, then VLANs over them, then bridges. */
export function orderOf(kind: DeviceTarget['kind']): number {
  return kind === 'nic' ? 0 : kind === 'bond' ? 1 : kind === 'vlan' ? 2 : 3;
}
