// setupNetworks' checks before anything changes (vdsm's netswitch/validator.py and ip/validator.py):
// unknown NICs and bonds, VLAN ids out of range, invalid bond modes and options, conflicting addresses,
// two networks on one underlying device, a NIC used both by a network and a bond. Each failure is
// vdsm's network error code with a sentence naming what is wrong.
import { isIPv4, isIPv6 } from 'node:net';
import { Errors, vdsmError, type ErrorSpec } from '../errors.js';
import { bondModeName, addrsOf } from './kernel-state.js';
import { netmaskToPrefix } from './canonicalize.js';
import { isRemove, type BondAttrs, type KernelSnapshot, type NetAttrs, type NetConfig, type SetupRequest } from './types.js';

export const MAX_VLAN_ID = 4094;
/** IFNAMSIZ - 1 */
export const MAX_NAME_LEN = 15;
const ILLEGAL_NAME = /[:. \t/]/;

/** Bond options the kernel knows (sysfs bonding/ names; `ip link ... type bond` takes the same). */
export const BOND_OPTIONS = new Set([
  'mode', 'miimon', 'updelay', 'downdelay', 'use_carrier', 'arp_interval', 'arp_ip_target', 'arp_validate', 'arp_all_targets',
  'primary', 'primary_reselect', 'fail_over_mac', 'xmit_hash_policy', 'resend_igmp', 'num_grat_arp', 'num_unsol_na',
  'all_slaves_active', 'min_links', 'lp_interval', 'packets_per_slave', 'lacp_rate', 'ad_select', 'ad_actor_sys_prio',
  'ad_user_port_key', 'ad_actor_system', 'tlb_dynamic_lb', 'peer_notify_delay', 'lacp_active', 'arp_missed_max',
]);

function fail(code: ErrorSpec, text: string): never {
  throw vdsmError(code, text);
}

/** Which kernel devices count as NICs (physical ones, plus fake_nics patterns such as veth_*). */
export type NicFilter = (name: string) => boolean;

export function validateBridgeName(name: string): void {
  if (name === '' || name.length > MAX_NAME_LEN || ILLEGAL_NAME.test(name) || name.startsWith('-')) {
    fail(Errors.NET_BAD_BRIDGE, `Bridge name isn't valid: '${name}'`);
  }
}

/** Parsed bond options (vdsm: 'Error parsing bonding options', 'not a valid bonding option'). */
export function parseBondOptions(options: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of options.split(/\s+/).filter((p) => p !== '')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) fail(Errors.NET_BAD_BONDING, `Error parsing bonding options: '${options}'`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (!BOND_OPTIONS.has(key)) fail(Errors.NET_BAD_BONDING, `'${key}' is not a valid bonding option`);
    if (!/^[\w.:,+-]*$/.test(value)) fail(Errors.NET_BAD_BONDING, `Invalid value '${value}' of bonding option ${key}`);
    out[key] = value;
  }
  if (out['mode'] !== undefined && bondModeName(out['mode']) === undefined) {
    fail(Errors.NET_BAD_BONDING, `Invalid bonding mode '${out['mode']}': one of 0-6, balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb`);
  }
  return out;
}

/** The running configuration with the request applied. */
export function desiredConfig(running: NetConfig, req: SetupRequest): NetConfig {
  const out: NetConfig = { networks: { ...running.networks }, bonds: { ...running.bonds } };
  for (const [name, attrs] of Object.entries(req.networks)) {
    if (isRemove(attrs)) delete out.networks[name];
    else out.networks[name] = attrs;
  }
  for (const [name, attrs] of Object.entries(req.bondings)) {
    if (isRemove(attrs)) delete out.bonds[name];
    else out.bonds[name] = attrs;
  }
  return out;
}

/** The device a network's addresses and routes live on (vdsm: the northbound interface). */
export function topDevice(name: string, net: NetAttrs): string {
  if (net.bridged) return name;
  return southboundDevice(net) ?? name;
}

/** NIC, bond, or their VLAN device ('<dev>.<vid>'), as vdsm names VLAN devices. */
export function southboundDevice(net: NetAttrs): string | undefined {
  const base = net.nic ?? net.bonding;
  if (base === undefined) return undefined;
  return net.vlan !== undefined ? `${base}.${net.vlan}` : base;
}

function validateAddresses(name: string, net: NetAttrs): void {
  if (net.ipaddr !== undefined) {
    if (!isIPv4(net.ipaddr)) fail(Errors.NET_BAD_ADDR, `Bad IPv4 address '${net.ipaddr}' for network ${name}`);
    if (net.bootproto === 'dhcp') fail(Errors.NET_BAD_ADDR, `Static and dynamic IPv4 addresses can not be configured at the same time (network ${name})`);
    if (net.netmask === undefined) fail(Errors.NET_BAD_ADDR, `Network ${name}: an IPv4 address needs a netmask or a prefix`);
  } else if (net.netmask !== undefined || net.gateway !== undefined) {
    fail(Errors.NET_BAD_ADDR, `Network ${name}: a netmask or gateway without an IPv4 address`);
  }
  if (net.netmask !== undefined && netmaskToPrefix(net.netmask) === undefined) fail(Errors.NET_BAD_ADDR, `Bad netmask '${net.netmask}' for network ${name}`);
  if (net.gateway !== undefined && !isIPv4(net.gateway)) fail(Errors.NET_BAD_ADDR, `Bad gateway '${net.gateway}' for network ${name}`);
  if (net.ipv6addr !== undefined && net.dhcpv6) fail(Errors.NET_BAD_ADDR, `Static and dynamic IPv6 addresses can not be configured at the same time (network ${name})`);
  for (const ns of net.nameservers) {
    if (!isIPv4(ns) && !isIPv6(ns)) fail(Errors.NET_BAD_ADDR, `Bad nameserver address '${ns}' for network ${name}`);
  }
  if (net.nameservers.length > 0 && !net.defaultRoute) fail(Errors.NET_BAD_PARAMS, `Name servers may only be defined on the default host network (network ${name})`);
}

function validateNetwork(name: string, net: NetAttrs, req: SetupRequest, snap: KernelSnapshot, isNic: NicFilter): void {
  if (name === '') fail(Errors.NET_BAD_BRIDGE, 'Empty network names are not valid');
  if (net.bridged) validateBridgeName(name);
  else if (/[\s/]/.test(name) || name.length > 255) fail(Errors.NET_BAD_BRIDGE, `Network name isn't valid: '${name}'`);
  if (net.vlan !== undefined && (net.vlan < 0 || net.vlan > MAX_VLAN_ID)) fail(Errors.NET_BAD_VLAN, `VLAN id out of range: ${net.vlan}, must be 0..${MAX_VLAN_ID}`);
  if (net.mtu < 68 || net.mtu > 65535) fail(Errors.NET_BAD_PARAMS, `MTU ${net.mtu} of network ${name} is out of range (68..65535)`);
  if (net.nic !== undefined) {
    if (!isNic(net.nic) || snap.links[net.nic] === undefined) fail(Errors.NET_BAD_NIC, `Nic ${net.nic} does not exist`);
    const master = snap.links[net.nic]!.master;
    const masterLink = master !== undefined ? snap.links[master] : undefined;
    const bond = masterLink?.kind === 'bond' ? master! : undefined;
    const released = bond !== undefined && (isRemove(req.bondings[bond]) || (req.bondings[bond] !== undefined && !(req.bondings[bond] as BondAttrs).nics.includes(net.nic)));
    if (bond !== undefined && !released) fail(Errors.NET_USED_NIC, `nic ${net.nic} already enslaved to ${bond}`);
  }
  if (net.bonding !== undefined) {
    const inReq = req.bondings[net.bonding];
    const exists = snap.links[net.bonding]?.kind === 'bond';
    if ((inReq === undefined && !exists) || isRemove(inReq)) fail(Errors.NET_BAD_BONDING, `Bond ${net.bonding} does not exist`);
  }
  if (net.nic === undefined && net.bonding === undefined && !net.bridged) fail(Errors.NET_BAD_PARAMS, `southbound device not specified for non-bridged network "${name}"`);
  if (net.nic === undefined && net.bonding === undefined && net.vlan !== undefined) fail(Errors.NET_BAD_VLAN, `Network ${name}: a VLAN needs a nic or a bonding`);
  validateAddresses(name, net);
}

function validateBond(name: string, bond: BondAttrs, snap: KernelSnapshot, isNic: NicFilter): void {
  if (!/^bond\w+$/.test(name) || name.length > MAX_NAME_LEN) fail(Errors.NET_BAD_BONDING, `'${name}' is not a valid bonding device name`);
  if (bond.nics.length === 0) fail(Errors.NET_BAD_NIC, `Missing nics attribute (bond ${name})`);
  for (const nic of bond.nics) {
    if (!isNic(nic) || snap.links[nic] === undefined) fail(Errors.NET_BAD_NIC, `Nic ${nic} does not exist (bond ${name})`);
  }
  parseBondOptions(bond.options);
  if (bond.hwaddr !== undefined && !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(bond.hwaddr)) fail(Errors.NET_BAD_BONDING, `Bad hwaddr '${bond.hwaddr}' for bond ${name}`);
}

/**
 * Every check of a request against the running configuration and the kernel; throws the first failure.
 * Returns the configuration the request leads to.
 */
export function validateRequest(req: SetupRequest, running: NetConfig, snap: KernelSnapshot, isNic: NicFilter): NetConfig {
  for (const [name, attrs] of Object.entries(req.networks)) {
    if (isRemove(attrs)) {
      if (running.networks[name] === undefined) fail(Errors.NET_BAD_BRIDGE, `Cannot delete network '${name}': It doesn't exist in the system`);
    } else {
      validateNetwork(name, attrs, req, snap, isNic);
    }
  }
  for (const [name, attrs] of Object.entries(req.bondings)) {
    if (isRemove(attrs)) {
      if (running.bonds[name] === undefined && snap.links[name]?.kind !== 'bond') fail(Errors.NET_BAD_BONDING, `Cannot remove bonding ${name}: it does not exist`);
    } else {
      validateBond(name, attrs, snap, isNic);
    }
  }
  const desired = desiredConfig(running, req);
  for (const [bond] of Object.entries(req.bondings).filter(([, a]) => isRemove(a))) {
    const users = Object.entries(desired.networks).filter(([, n]) => n.bonding === bond).map(([n]) => n);
    if (users.length > 0) fail(Errors.NET_USED_BOND, `Cannot remove bonding ${bond}: used by network (${users.join(', ')}).`);
  }
  // One network per (device, vlan): two untagged networks on a NIC, or two with one tag, cannot share it.
  const usage = new Map<string, string>();
  for (const [name, net] of Object.entries(desired.networks)) {
    const base = net.nic ?? net.bonding;
    if (base === undefined) continue;
    const key = `${base}\u0000${net.vlan ?? ''}`;
    const other = usage.get(key);
    if (other !== undefined) {
      fail(Errors.NET_BAD_PARAMS, `multiple networks/similar vlans cannot be defined on a single underlying device: ${name} and ${other} both on ${base}${net.vlan !== undefined ? ` vlan ${net.vlan}` : ''}`);
    }
    usage.set(key, name);
  }
  const slaves = new Map<string, string>();
  for (const [bond, attrs] of Object.entries(desired.bonds)) {
    for (const nic of attrs.nics) {
      const other = slaves.get(nic);
      if (other !== undefined) fail(Errors.NET_USED_NIC, `Nic ${nic} is a slave of both ${other} and ${bond}`);
      slaves.set(nic, bond);
    }
  }
  const shared = Object.entries(desired.networks).filter(([, n]) => n.nic !== undefined && slaves.has(n.nic));
  if (shared.length > 0) fail(Errors.NET_USED_NIC, `Nics with multiple usages: ${shared.map(([n, a]) => `${a.nic} (network ${n}, bond ${slaves.get(a.nic!)})`).join(', ')}`);
  validateAddressConflicts(desired, snap);
  return desired;
}

/** Devices the desired networks take over: their top devices and southbound devices (and bond slaves). */
export function acquiredDevices(cfg: NetConfig): Set<string> {
  const out = new Set<string>();
  for (const [name, net] of Object.entries(cfg.networks)) {
    out.add(topDevice(name, net));
    const sb = southboundDevice(net);
    if (sb !== undefined) out.add(sb);
    if (net.nic !== undefined) out.add(net.nic);
    if (net.bonding !== undefined) out.add(net.bonding);
  }
  for (const [bond, attrs] of Object.entries(cfg.bonds)) {
    out.add(bond);
    for (const nic of attrs.nics) out.add(nic);
  }
  return out;
}

function validateAddressConflicts(desired: NetConfig, snap: KernelSnapshot): void {
  const acquired = acquiredDevices(desired);
  const seen = new Map<string, string>();
  for (const [name, net] of Object.entries(desired.networks)) {
    const addrs = [...(net.ipaddr !== undefined ? [net.ipaddr] : []), ...(net.ipv6addr !== undefined ? [net.ipv6addr.split('/')[0]!] : [])];
    for (const addr of addrs) {
      const other = seen.get(addr);
      if (other !== undefined) fail(Errors.NET_BAD_ADDR, `Address ${addr} is requested for both network ${other} and network ${name}`);
      seen.set(addr, name);
      for (const dev of Object.keys(snap.links)) {
        if (acquired.has(dev)) continue;
        if (addrsOf(snap, dev).some((a) => a.local === addr)) fail(Errors.NET_BAD_ADDR, `Address ${addr} of network ${name} is already in use on ${dev}`);
      }
    }
  }
}
