// From a kernel snapshot, the configuration whose devices we own now and the configuration wanted, the
// ordered steps that get there: tear down what is no longer wanted, build bonds, VLANs and bridges,
// move ports, set MTUs, addresses, default routes, IPv6 autoconf, DHCP clients and nameservers. The
// same planner serves setupNetworks (old running -> new), rollback (-> old running, with released
// devices put back as the snapshot taken before showed them) and restore-nets (-> the safe one).
import { addrsOf } from './kernel-state.js';
import { bondModeName } from './kernel-state.js';
import { buildTargets, orderOf, type DeviceTarget } from './targets.js';
import type { KernelSnapshot, NetConfig } from './types.js';

export type Step =
  | { kind: 'ip'; args: string[] }
  | { kind: 'sysctl'; dev: string; key: 'autoconf' | 'accept_ra'; value: string }
  | { kind: 'dhcp'; action: 'start' | 'stop'; dev: string; family: 4 | 6; defaultRoute: boolean; blocking?: boolean }
  | { kind: 'resolv'; nameservers: string[] };

export interface PlanOptions {
  /** Devices released by this change are put back as this snapshot shows them (rollback, restore). */
  restore?: KernelSnapshot;
  /** Wait for DHCP leases (restore at boot). */
  blockingDhcp?: boolean;
}

const ip = (...args: (string | number)[]): Step => ({ kind: 'ip', args: args.map(String) });

/** ip -batch takes no per-line -4/-6: a family-specific default destination instead. */
function defaultDst(family: 4 | 6): string {
  return family === 4 ? 'default' : '::/0';
}

/** Global addresses of both families (link-local IPv6 stays: the kernel owns it). */
function flush(dev: string): Step {
  return ip('addr', 'flush', 'dev', dev, 'scope', 'global');
}

function addrKey(a: { local: string; prefixlen: number }): string {
  return `${a.local}/${a.prefixlen}`;
}

function bondArgs(t: DeviceTarget): string[] {
  const out: string[] = [];
  const opts = t.bond?.options ?? {};
  const mode = bondModeName(opts['mode'] ?? 'balance-rr') ?? 'balance-rr';
  out.push('mode', mode);
  for (const [k, v] of Object.entries(opts)) {
    if (k === 'mode') continue;
    if (k === 'arp_ip_target') out.push(k, v.split(',').join(','));
    else out.push(k, v);
  }
  return out;
}

/** Where the kernel device differs from its target in ways that need it recreated. */
function mustRecreate(t: DeviceTarget, snap: KernelSnapshot): boolean {
  const l = snap.links[t.name];
  if (l === undefined) return false;
  if (t.kind === 'vlan') return l.kind !== 'vlan' || l.vlan?.id !== t.vlan!.id || l.vlan?.parent !== t.vlan!.parent;
  if (t.kind === 'bridge') return l.kind !== 'bridge';
  if (t.kind === 'bond') return l.kind !== 'bond' || bondModeName(l.bond?.['mode'] ?? '') !== bondModeName(t.bond?.options['mode'] ?? 'balance-rr');
  return false;
}

export function plan(snap: KernelSnapshot, from: NetConfig, to: NetConfig, opts: PlanOptions = {}): Step[] {
  const before = buildTargets(from).devices;
  const after = buildTargets(to);
  const want = after.devices;
  const steps: Step[] = [];
  const exists = new Set(Object.keys(snap.links));

  // 1. DHCP clients and default routes of devices that lose them.
  for (const [name, old] of before) {
    const t = want.get(name);
    if (old.dhcp4 && !(t?.dhcp4 ?? false)) steps.push({ kind: 'dhcp', action: 'stop', dev: name, family: 4, defaultRoute: false });
    if (old.dhcp6 && !(t?.dhcp6 ?? false)) steps.push({ kind: 'dhcp', action: 'stop', dev: name, family: 6, defaultRoute: false });
  }
  // DHCP clients running where no target wants them (a crash left them).
  for (const [dev, d] of Object.entries(snap.dhcp)) {
    const t = want.get(dev);
    if (d.v4 && !(t?.dhcp4 ?? false) && !before.get(dev)?.dhcp4) steps.push({ kind: 'dhcp', action: 'stop', dev, family: 4, defaultRoute: false });
    if (d.v6 && !(t?.dhcp6 ?? false) && !before.get(dev)?.dhcp6) steps.push({ kind: 'dhcp', action: 'stop', dev, family: 6, defaultRoute: false });
  }

  // 2. Tear down virtual devices no longer wanted (or of the wrong kind), bridges first.
  const doomed = [...before.values(), ...[...want.values()].filter((t) => mustRecreate(t, snap))]
    .filter((t) => t.kind !== 'nic' && exists.has(t.name) && (!want.has(t.name) || mustRecreate(want.get(t.name)!, snap)))
    .sort((a, b) => orderOf(b.kind) - orderOf(a.kind));
  const deleted = new Set<string>();
  for (const t of doomed) {
    if (deleted.has(t.name)) continue;
    steps.push(ip('link', 'del', 'dev', t.name));
    deleted.add(t.name);
  }
  const live = (n: string): boolean => exists.has(n) && !deleted.has(n);
  // NICs we owned and no longer want: out of their bridge or bond, their addresses dropped.
  for (const [name, old] of before) {
    if (old.kind !== 'nic' || want.has(name) || !live(name)) continue;
    const l = snap.links[name]!;
    if (l.master !== undefined && !deleted.has(l.master)) steps.push(ip('link', 'set', 'dev', name, 'nomaster'));
    if (addrsOf(snap, name).some((a) => a.scope !== 'link')) {
      steps.push(flush(name));
    }
  }

  // 3. Build, lower devices first: bonds and their slaves, then VLANs and bridges and their ports,
  // then MTU and link state.
  const ordered = [...want.values()].sort((a, b) => orderOf(a.kind) - orderOf(b.kind) || a.name.localeCompare(b.name));
  const create = (t: DeviceTarget): void => {
    const l = live(t.name) ? snap.links[t.name] : undefined;
    if (t.kind === 'bond') {
      if (l === undefined) steps.push(ip('link', 'add', 'name', t.name, 'type', 'bond', ...bondArgs(t)));
      else {
        const changed = Object.entries(t.bond!.options).filter(([k, v]) => k !== 'mode' && l.bond?.[k] !== v);
        if (changed.length > 0) steps.push(ip('link', 'set', 'dev', t.name, 'type', 'bond', ...changed.flat()));
      }
      if (t.bond!.hwaddr !== undefined && l?.address !== t.bond!.hwaddr) steps.push(ip('link', 'set', 'dev', t.name, 'address', t.bond!.hwaddr));
    } else if (t.kind === 'vlan' && l === undefined) {
      steps.push(ip('link', 'add', 'link', t.vlan!.parent, 'name', t.name, 'type', 'vlan', 'id', t.vlan!.id));
    } else if (t.kind === 'bridge') {
      if (l === undefined) steps.push(ip('link', 'add', 'name', t.name, 'type', 'bridge', 'stp_state', t.bridge!.stp ? 1 : 0));
      else if (l.bridge?.stp !== t.bridge!.stp) steps.push(ip('link', 'set', 'dev', t.name, 'type', 'bridge', 'stp_state', t.bridge!.stp ? 1 : 0));
    }
  };
  // A port carries no address of its own; a bond slave must be down to be enslaved.
  const attach = (t: DeviceTarget): void => {
    const l = live(t.name) ? snap.links[t.name] : undefined;
    const curMaster = l?.master !== undefined && !deleted.has(l.master) ? l.master : undefined;
    const hasAddrs = l !== undefined && addrsOf(snap, t.name).some((a) => a.scope !== 'link');
    if (t.master !== curMaster) {
      if (t.master === undefined) steps.push(ip('link', 'set', 'dev', t.name, 'nomaster'));
      else {
        if (hasAddrs) steps.push(flush(t.name));
        const intoBond = want.get(t.master)?.kind === 'bond';
        if (intoBond && (l === undefined || l.up)) steps.push(ip('link', 'set', 'dev', t.name, 'down'));
        if (curMaster !== undefined) steps.push(ip('link', 'set', 'dev', t.name, 'nomaster'));
        steps.push(ip('link', 'set', 'dev', t.name, 'master', t.master));
      }
    } else if (t.master !== undefined && t.network === undefined && hasAddrs) {
      steps.push(flush(t.name));
    }
  };
  const intoBond = (t: DeviceTarget): boolean => t.master !== undefined && want.get(t.master)?.kind === 'bond';
  for (const t of ordered) if (t.kind === 'bond') create(t);
  for (const t of ordered) if (intoBond(t) || (t.kind === 'nic' && t.master === undefined && live(t.name) && snap.links[t.name]!.master !== undefined && !deleted.has(snap.links[t.name]!.master!))) attach(t);
  for (const t of ordered) if (t.kind !== 'bond') create(t);
  for (const t of ordered) if (!intoBond(t) && !(t.kind === 'nic' && t.master === undefined)) attach(t);
  for (const t of ordered) {
    const l = live(t.name) ? snap.links[t.name] : undefined;
    if (l === undefined || l.mtu !== t.mtu) steps.push(ip('link', 'set', 'dev', t.name, 'mtu', t.mtu));
    const enslavedToBond = t.master !== undefined && want.get(t.master)?.kind === 'bond';
    if (l === undefined || !l.up || (enslavedToBond && l.master !== t.master)) steps.push(ip('link', 'set', 'dev', t.name, 'up'));
  }

  // 4. Addresses, IPv6 autoconf, default routes, DHCP clients on the top devices. sysctls and DHCP
  // clients come after every `ip` command, so the commands stay one `ip -batch`.
  const late: Step[] = [];
  for (const t of ordered) {
    if (t.network === undefined && t.master !== undefined) continue;
    const l = live(t.name) ? snap.links[t.name] : undefined;
    const have = l !== undefined ? addrsOf(snap, t.name).filter((a) => a.scope !== 'link') : [];
    if (t.network !== undefined) {
      for (const a of have) {
        if (a.dynamic && ((a.family === 4 && t.dhcp4) || (a.family === 6 && (t.dhcp6 || t.ipv6autoconf)))) continue;
        if (!t.addrs.includes(addrKey(a))) steps.push(ip('addr', 'del', addrKey(a), 'dev', t.name));
      }
      for (const a of t.addrs) {
        if (!have.some((h) => addrKey(h) === a && !h.dynamic)) steps.push(ip('addr', 'replace', a, 'dev', t.name, ...(a.includes(':') ? ['nodad'] : [])));
      }
      const autoconf = t.ipv6autoconf ? '1' : '0';
      const sys = l !== undefined ? snap.sysctl[t.name] : undefined;
      if (sys?.autoconf !== autoconf) late.push({ kind: 'sysctl', dev: t.name, key: 'autoconf', value: autoconf });
      if (sys?.acceptRa !== autoconf) late.push({ kind: 'sysctl', dev: t.name, key: 'accept_ra', value: autoconf });
    }
    for (const [family, gw] of [[4, t.defaultRoute4], [6, t.defaultRoute6]] as const) {
      const cur = snap.routes.find((r) => r.family === family && r.dev === t.name);
      if (gw !== undefined && (cur?.gateway !== gw || !live(t.name) || deleted.has(t.name))) steps.push(ip('route', 'replace', defaultDst(family), 'via', gw, 'dev', t.name));
      if (gw === undefined && cur !== undefined && t.network !== undefined && before.get(t.name)?.[family === 4 ? 'defaultRoute4' : 'defaultRoute6'] !== undefined) {
        steps.push(ip('route', 'del', defaultDst(family), 'dev', t.name));
      }
    }
    const old = before.get(t.name);
    if (t.dhcp4 && (!old?.dhcp4 || !snap.dhcp[t.name]?.v4)) late.push({ kind: 'dhcp', action: 'start', dev: t.name, family: 4, defaultRoute: t.defaultRoute4 !== undefined || isDefaultRouteDhcp(to, t.network), blocking: opts.blockingDhcp === true });
    if (t.dhcp6 && (!old?.dhcp6 || !snap.dhcp[t.name]?.v6)) late.push({ kind: 'dhcp', action: 'start', dev: t.name, family: 6, defaultRoute: isDefaultRouteDhcp(to, t.network), blocking: opts.blockingDhcp === true });
  }

  // 5. Released devices back as they were before the change (rollback and restore only).
  if (opts.restore !== undefined) {
    const back = restoreReleased(opts.restore, before, want, snap, deleted);
    steps.push(...back.filter((x) => x.kind === 'ip'));
    late.unshift(...back.filter((x) => x.kind !== 'ip'));
  }
  steps.push(...late);

  if (after.nameservers !== undefined && JSON.stringify(after.nameservers) !== JSON.stringify(buildTargets(from).nameservers)) {
    steps.push({ kind: 'resolv', nameservers: after.nameservers });
  }
  return steps;
}

function isDefaultRouteDhcp(cfg: NetConfig, network: string | undefined): boolean {
  return network !== undefined && cfg.networks[network]?.defaultRoute === true && cfg.networks[network]?.bootproto === 'dhcp';
}

/** Devices that existed in `orig`, are not wanted any more, and were changed: their old state back. */
function restoreReleased(orig: KernelSnapshot, before: Map<string, DeviceTarget>, want: Map<string, DeviceTarget>, snap: KernelSnapshot, deleted: Set<string>): Step[] {
  const steps: Step[] = [];
  const candidates = new Set<string>([...before.keys()].filter((n) => !want.has(n)));
  for (const name of [...candidates].sort()) {
    const o = orig.links[name];
    if (o === undefined || o.kind === 'bridge' || o.kind === 'vlan' || o.kind === 'bond') continue;
    const cur = deleted.has(name) ? undefined : snap.links[name];
    if (cur === undefined) continue;
    if (o.master !== undefined && o.master !== cur.master && orig.links[o.master] !== undefined && snap.links[o.master] !== undefined) steps.push(ip('link', 'set', 'dev', name, 'master', o.master));
    if (cur.mtu !== o.mtu) steps.push(ip('link', 'set', 'dev', name, 'mtu', o.mtu));
    // Always: a bond closes its slaves when it lets them go, so the state now says nothing.
    steps.push(ip('link', 'set', 'dev', name, o.up ? 'up' : 'down'));
    for (const a of addrsOf(orig, name).filter((x) => x.scope !== 'link' && !x.dynamic)) {
      steps.push(ip('addr', 'replace', addrKey(a), 'dev', name, ...(a.noprefixroute ? ['noprefixroute'] : []), ...(a.family === 6 ? ['nodad'] : [])));
    }
    for (const r of orig.routes.filter((x) => x.dev === name)) {
      steps.push(ip('route', 'replace', defaultDst(r.family), ...(r.gateway !== undefined ? ['via', r.gateway] : []), 'dev', name, ...(r.metric !== undefined ? ['metric', r.metric] : [])));
    }
    const s = orig.sysctl[name];
    const now = snap.sysctl[name];
    if (s?.autoconf !== undefined && s.autoconf !== now?.autoconf) steps.push({ kind: 'sysctl', dev: name, key: 'autoconf', value: s.autoconf });
    if (s?.acceptRa !== undefined && s.acceptRa !== now?.acceptRa) steps.push({ kind: 'sysctl', dev: name, key: 'accept_ra', value: s.acceptRa });
  }
  return steps;
}

/** Devices a configuration touches (reported and compared before and after a rollback). */
export function devicesOf(...cfgs: NetConfig[]): string[] {
  const out = new Set<string>();
  for (const c of cfgs) for (const n of buildTargets(c).devices.keys()) out.add(n);
  return [...out].sort();
}
