// Kernel snapshots for the host-networking unit tests, written as `ip -json` prints them (iproute2 6.1)
// so the parser is exercised too: a host with two physical NICs and a spare veth, optionally a bond
// with a VLAN and a bridge on top.
import { parseSnapshot } from '../../src/network/kernel-state.js';
import type { KernelSnapshot, NetworkRawFacts } from '../../src/network/types.js';

interface Dev {
  name: string;
  kind?: string;
  master?: string;
  slaveKind?: string;
  mtu?: number;
  up?: boolean;
  vlan?: { id: number; parent: string };
  bond?: Record<string, unknown>;
  stp?: number;
  addrs?: string[];
}

export function rawFacts(devs: Dev[], routes: { dev: string; gateway: string }[] = []): NetworkRawFacts {
  const links = devs.map((d, i) => ({
    ifindex: i + 1, ifname: d.name, flags: d.up === false ? ['BROADCAST'] : ['BROADCAST', 'UP'], mtu: d.mtu ?? 1500,
    operstate: d.up === false ? 'DOWN' : 'UP', link_type: d.name === 'lo' ? 'loopback' : 'ether', address: `52:54:00:00:00:${(i + 16).toString(16)}`,
    ...(d.master !== undefined ? { master: d.master } : {}),
    ...(d.vlan !== undefined ? { link: d.vlan.parent } : {}),
    ...(d.kind !== undefined || d.slaveKind !== undefined ? {
      linkinfo: {
        ...(d.kind !== undefined ? { info_kind: d.kind } : {}),
        ...(d.kind === 'vlan' ? { info_data: { protocol: '802.1Q', id: d.vlan!.id } } : {}),
        ...(d.kind === 'bond' ? { info_data: { mode: 'active-backup', miimon: 100, ...(d.bond ?? {}) } } : {}),
        ...(d.kind === 'bridge' ? { info_data: { forward_delay: 1500, stp_state: d.stp ?? 0 } } : {}),
        ...(d.slaveKind !== undefined ? { info_slave_kind: d.slaveKind, info_slave_data: d.slaveKind === 'bond' ? { perm_hwaddr: `52:54:00:aa:00:${(i + 16).toString(16)}` } : {} } : {}),
      },
    } : {}),
  }));
  const addrs = devs.map((d) => ({
    ifname: d.name,
    addr_info: (d.addrs ?? []).map((a) => {
      const [local, plen] = a.split('/') as [string, string];
      return { family: local.includes(':') ? 'inet6' : 'inet', local, prefixlen: Number(plen), scope: local.startsWith('fe80') ? 'link' : 'global', valid_life_time: 4294967295, preferred_life_time: 4294967295 };
    }),
  }));
  return {
    links: JSON.stringify(links), addrs: JSON.stringify(addrs),
    routes4: JSON.stringify(routes.filter((r) => !r.gateway.includes(':')).map((r) => ({ dst: 'default', gateway: r.gateway, dev: r.dev, flags: [] }))),
    routes6: JSON.stringify(routes.filter((r) => r.gateway.includes(':')).map((r) => ({ dst: 'default', gateway: r.gateway, dev: r.dev, metric: 1024, flags: [], pref: 'medium' }))),
    sysctl: Object.fromEntries(devs.map((d) => [d.name, { autoconf: '1', acceptRa: '1', disableIpv6: '0' }])),
    speeds: Object.fromEntries(devs.map((d) => [d.name, d.kind === undefined ? '1000' : null])),
    dhcp: {},
  };
}

/** lo, eth0 (192.0.2.10/24, default route), eth1, eth2, veth_x1. */
export function plainHost(): KernelSnapshot {
  return parseSnapshot(rawFacts([
    { name: 'lo', addrs: ['127.0.0.1/8'] },
    { name: 'eth0', addrs: ['192.0.2.10/24', 'fe80::1/64'] },
    { name: 'eth1' }, { name: 'eth2' },
    { name: 'veth_x1', kind: 'veth' },
  ], [{ dev: 'eth0', gateway: '192.0.2.1' }]));
}

export const FAKE_NICS = ['veth_*', 'dummy_*'];
