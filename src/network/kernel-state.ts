// The kernel's network state from `ip -json` output: links (with their bridge, bond and VLAN details),
// addresses, default routes, plus the per-device sysctls and speeds read from /proc and /sys. Pure:
// whoever can run `ip` (a worker for the agent's reports, the privileged applier before and after a
// change) hands the text here. The same snapshot is what a rollback is compared against.
import type { AddrState, KernelSnapshot, LinkKind, LinkState, NetworkRawFacts, RouteState } from './types.js';

/** `ip` invocations whose output a snapshot is made of (argument vectors, no shell). */
export const SNAPSHOT_COMMANDS = {
  links: ['-json', '-details', 'link', 'show'],
  addrs: ['-json', 'addr', 'show'],
  routes4: ['-json', '-4', 'route', 'show', 'table', 'main'],
  routes6: ['-json', '-6', 'route', 'show', 'table', 'main'],
} as const;

/** ip's "forever" lifetime. */
export const INFINITY_LFT = 4294967295;

const BOND_MODES = ['balance-rr', 'active-backup', 'balance-xor', 'broadcast', '802.3ad', 'balance-tlb', 'balance-alb'] as const;

/** 'active-backup' -> '1'; a number stays as it is. */
export function bondModeNumber(mode: string): string | undefined {
  if (/^[0-6]$/.test(mode)) return mode;
  const i = (BOND_MODES as readonly string[]).indexOf(mode);
  return i >= 0 ? String(i) : undefined;
}

export function bondModeName(mode: string): string | undefined {
  if ((BOND_MODES as readonly string[]).includes(mode)) return mode;
  return /^[0-6]$/.test(mode) ? BOND_MODES[Number(mode)] : undefined;
}

function parseJsonArray(text: string, what: string): Record<string, unknown>[] {
  const t = text.trim();
  if (t === '') return [];
  const v = JSON.parse(t) as unknown;
  if (!Array.isArray(v)) throw new Error(`ip ${what}: expected a JSON array`);
  return v.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null);
}

function kindOf(infoKind: string, linkType: string): LinkKind {
  if (linkType === 'loopback') return 'loopback';
  switch (infoKind) {
    case 'bridge': return 'bridge';
    case 'bond': return 'bond';
    case 'vlan': return 'vlan';
    case 'veth': return 'veth';
    case 'dummy': return 'dummy';
    case '': return 'device';
    default: return 'other';
  }
}

function plainString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function parseLink(j: Record<string, unknown>): LinkState {
  const info = (j['linkinfo'] ?? {}) as Record<string, unknown>;
  const infoKind = typeof info['info_kind'] === 'string' ? info['info_kind'] : '';
  const data = (info['info_data'] ?? {}) as Record<string, unknown>;
  const slaveData = (info['info_slave_data'] ?? {}) as Record<string, unknown>;
  const flags = Array.isArray(j['flags']) ? (j['flags'] as string[]) : [];
  const link: LinkState = {
    name: String(j['ifname']),
    index: Number(j['ifindex']),
    kind: kindOf(infoKind, String(j['link_type'] ?? '')),
    infoKind,
    mtu: Number(j['mtu'] ?? 0),
    address: String(j['address'] ?? ''),
    up: flags.includes('UP'),
    operstate: String(j['operstate'] ?? 'UNKNOWN').toLowerCase(),
  };
  if (typeof j['master'] === 'string') link.master = j['master'];
  if (typeof info['info_slave_kind'] === 'string') link.slaveKind = info['info_slave_kind'];
  if (typeof slaveData['perm_hwaddr'] === 'string') link.permAddress = slaveData['perm_hwaddr'];
  if (infoKind === 'vlan') link.vlan = { id: Number(data['id']), parent: String(j['link'] ?? '') };
  if (infoKind === 'bond') {
    const opts: Record<string, string> = {};
    for (const [k, v] of Object.entries(data)) {
      if (k === 'ad_info' || k === 'active_slave' || v === null || typeof v === 'object') continue;
      opts[k] = plainString(v);
    }
    link.bond = opts;
    if (typeof data['active_slave'] === 'string') link.activeSlave = data['active_slave'];
  }
  if (infoKind === 'bridge') {
    const options: Record<string, string> = {};
    for (const [k, v] of Object.entries(data)) if (v !== null && typeof v !== 'object') options[k] = plainString(v);
    link.bridge = { stp: Number(data['stp_state'] ?? 0) !== 0, options };
  }
  return link;
}

function parseAddrs(rows: Record<string, unknown>[]): AddrState[] {
  const out: AddrState[] = [];
  for (const row of rows) {
    const dev = String(row['ifname']);
    for (const a of (row['addr_info'] ?? []) as Record<string, unknown>[]) {
      const family = a['family'] === 'inet' ? 4 : a['family'] === 'inet6' ? 6 : undefined;
      if (family === undefined || typeof a['local'] !== 'string') continue;
      const valid = Number(a['valid_life_time'] ?? INFINITY_LFT);
      const preferred = Number(a['preferred_life_time'] ?? INFINITY_LFT);
      out.push({
        dev, family, local: a['local'], prefixlen: Number(a['prefixlen']), scope: String(a['scope'] ?? 'global'),
        dynamic: a['dynamic'] === true || valid !== INFINITY_LFT, validLft: valid, preferredLft: preferred,
        noprefixroute: a['noprefixroute'] === true, nodad: a['nodad'] === true,
      });
    }
  }
  return out;
}

function parseDefaultRoutes(rows: Record<string, unknown>[], family: 4 | 6): RouteState[] {
  const out: RouteState[] = [];
  for (const r of rows) {
    if (r['dst'] !== 'default' || typeof r['dev'] !== 'string') continue;
    if (r['type'] !== undefined && r['type'] !== 'unicast') continue;
    out.push({
      family, dst: 'default', dev: r['dev'],
      ...(typeof r['gateway'] === 'string' ? { gateway: r['gateway'] } : {}),
      ...(typeof r['metric'] === 'number' ? { metric: r['metric'] } : {}),
      ...(typeof r['protocol'] === 'string' ? { protocol: r['protocol'] } : {}),
    });
  }
  return out;
}

export function parseSnapshot(raw: NetworkRawFacts): KernelSnapshot {
  const links: Record<string, LinkState> = {};
  for (const j of parseJsonArray(raw.links, 'link')) {
    const l = parseLink(j);
    links[l.name] = l;
  }
  const speeds: Record<string, number> = {};
  for (const [dev, text] of Object.entries(raw.speeds)) {
    const n = Number((text ?? '').trim());
    speeds[dev] = Number.isInteger(n) && n > 0 ? n : 0;
  }
  return {
    links,
    addrs: parseAddrs(parseJsonArray(raw.addrs, 'addr')),
    routes: [...parseDefaultRoutes(parseJsonArray(raw.routes4, 'route'), 4), ...parseDefaultRoutes(parseJsonArray(raw.routes6, 'route -6'), 6)],
    sysctl: raw.sysctl,
    speeds,
    dhcp: raw.dhcp,
  };
}

export function addrsOf(snap: KernelSnapshot, dev: string, family?: 4 | 6): AddrState[] {
  return snap.addrs.filter((a) => a.dev === dev && (family === undefined || a.family === family));
}

/** Names of the devices enslaved to `master`, sorted. */
export function portsOf(snap: KernelSnapshot, master: string): string[] {
  return Object.values(snap.links).filter((l) => l.master === master).map((l) => l.name).sort();
}

/**
 * The state of these devices in a comparable form: what a rollback must restore. Volatile fields
 * (operstate, counters, lifetimes still counting down, link-local addresses the kernel regenerates)
 * are left out.
 */
export function comparableState(snap: KernelSnapshot, devices?: Iterable<string>): Record<string, unknown> {
  const names = devices === undefined ? Object.keys(snap.links) : [...devices];
  const out: Record<string, unknown> = {};
  for (const name of names.sort()) {
    const l = snap.links[name];
    if (l === undefined) { out[name] = null; continue; }
    out[name] = {
      kind: l.infoKind, master: l.master ?? null, mtu: l.mtu, up: l.up,
      ...(l.vlan ? { vlan: l.vlan } : {}),
      ...(l.bond ? { bondMode: l.bond['mode'] } : {}),
      ...(l.bridge ? { stp: l.bridge.stp } : {}),
      addrs: addrsOf(snap, name).filter((a) => !(a.family === 6 && a.scope === 'link')).map((a) => `${a.local}/${a.prefixlen}${a.dynamic ? ' dynamic' : ''}`).sort(),
      routes: snap.routes.filter((r) => r.dev === name).map((r) => `${r.dst} via ${r.gateway ?? '-'}`).sort(),
      sysctl: snap.sysctl[name] ?? {},
    };
  }
  return out;
}
