// The network part of Host.getCapabilities as vdsm's netinfo reports it, from a kernel snapshot and the
// running configuration: nics, bondings, vlans, bridges, and the networks vdsm owns (with `switch`,
// which the engine requires), each with its addresses, gateways, MTU (a string, as vdsm sends it) and
// DHCP state. Pure.
import { prefixToNetmask } from './canonicalize.js';
import { addrsOf, bondModeNumber, portsOf } from './kernel-state.js';
import { southboundDevice, topDevice, type NicFilter } from './validate.js';
import type { NetCaps } from '../host/netcaps.js';
import type { KernelSnapshot, LinkState, NetConfig } from './types.js';

/** The network keys of the capabilities: the same shape the sysfs-based report fills (host/netcaps.ts). */
export type NetInfoReport = NetCaps;

/** [vars] fake_nics: comma-separated patterns. */
export function fakeNicPatterns(value: string): string[] {
  return value.split(',').map((p) => p.trim()).filter((p) => p !== '');
}

/** vdsm's [vars] fake_nics: fnmatch patterns of virtual devices reported as NICs (tests, dummies). */
export function nicFilter(fakeNics: readonly string[]): (snap: KernelSnapshot) => NicFilter {
  const patterns = fakeNics.map((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`));
  return (snap) => (name) => {
    const l = snap.links[name];
    if (l === undefined || l.kind === 'loopback') return false;
    if (l.kind === 'device') return true;
    return (l.kind === 'veth' || l.kind === 'dummy') && patterns.some((p) => p.test(name));
  };
}

function devInfo(snap: KernelSnapshot, dev: string, running: NetConfig): Record<string, unknown> {
  const l = snap.links[dev];
  const v4 = addrsOf(snap, dev, 4);
  const v6 = addrsOf(snap, dev, 6).filter((a) => a.scope !== 'link');
  const gw4 = snap.routes.find((r) => r.family === 4 && r.dev === dev)?.gateway;
  const gw6 = snap.routes.find((r) => r.family === 6 && r.dev === dev)?.gateway;
  const net = Object.entries(running.networks).find(([n, a]) => topDevice(n, a) === dev)?.[1];
  return {
    addr: v4[0]?.local ?? '',
    netmask: v4[0] !== undefined ? prefixToNetmask(v4[0].prefixlen) : '',
    ipv4addrs: v4.map((a) => `${a.local}/${a.prefixlen}`),
    ipv6addrs: v6.map((a) => `${a.local}/${a.prefixlen}`),
    gateway: gw4 ?? '',
    ipv6gateway: gw6 ?? '::',
    ipv4defaultroute: gw4 !== undefined,
    mtu: String(l?.mtu ?? 1500),
    dhcpv4: (snap.dhcp[dev]?.v4 ?? false) || net?.bootproto === 'dhcp' || v4.some((a) => a.dynamic),
    dhcpv6: (snap.dhcp[dev]?.v6 ?? false) || net?.dhcpv6 === true,
    ipv6autoconf: snap.sysctl[dev]?.autoconf === '1',
  };
}

function speedOf(snap: KernelSnapshot, l: LinkState): number {
  return l.operstate === 'up' ? snap.speeds[l.name] ?? 0 : 0;
}

function bondOpts(l: LinkState, configured: string | undefined): Record<string, string> {
  const opts: Record<string, string> = { mode: bondModeNumber(l.bond?.['mode'] ?? '') ?? '0' };
  if (l.bond?.['miimon'] !== undefined && l.bond['miimon'] !== '0') opts['miimon'] = l.bond['miimon'];
  for (const pair of (configured ?? '').split(/\s+/).filter((p) => p.includes('='))) {
    const [k, v] = pair.split('=', 2) as [string, string];
    if (k !== 'mode') opts[k] = l.bond?.[k] ?? v;
  }
  return opts;
}

export function buildNetInfo(snap: KernelSnapshot, running: NetConfig, isNic: NicFilter, nameservers: string[]): NetInfoReport {
  const report: NetInfoReport = { nics: {}, bondings: {}, vlans: {}, bridges: {}, networks: {}, nameservers, supportsIPv6: true };
  for (const l of Object.values(snap.links).sort((a, b) => a.name.localeCompare(b.name))) {
    const info = devInfo(snap, l.name, running);
    if (l.kind === 'bridge') {
      report.bridges[l.name] = { ...info, ports: portsOf(snap, l.name), stp: l.bridge?.stp === true ? 'on' : 'off', opts: { ...(l.bridge?.options ?? {}) } };
    } else if (l.kind === 'bond') {
      report.bondings[l.name] = {
        ...info, hwaddr: l.address, slaves: portsOf(snap, l.name), active_slave: l.activeSlave ?? '',
        opts: bondOpts(l, running.bonds[l.name]?.options), switch: 'legacy', speed: speedOf(snap, l),
      };
    } else if (l.kind === 'vlan' && l.vlan !== undefined) {
      report.vlans[l.name] = { ...info, iface: l.vlan.parent, vlanid: l.vlan.id };
    } else if (isNic(l.name)) {
      report.nics[l.name] = {
        ...info, hwaddr: l.permAddress ?? l.address, speed: speedOf(snap, l),
        ...(l.slaveKind === 'bond' && l.permAddress !== undefined ? { permhwaddr: l.permAddress } : {}),
      };
    }
  }
  for (const [name, net] of Object.entries(running.networks)) {
    const top = topDevice(name, net);
    if (snap.links[top] === undefined) continue;
    const sb = southboundDevice(net);
    report.networks[name] = {
      ...devInfo(snap, top, running),
      iface: top, bridged: net.bridged, switch: 'legacy',
      southbound: sb ?? '',
      ...(net.vlan !== undefined ? { vlanid: net.vlan } : {}),
      ...(net.bonding !== undefined ? { bond: net.bonding } : {}),
      ...(net.nic !== undefined ? { nics: [net.nic] } : {}),
      ...(net.bridged ? { ports: portsOf(snap, top), stp: net.stp ? 'on' : 'off' } : {}),
      nameservers: [...net.nameservers],
    };
  }
  return report;
}
