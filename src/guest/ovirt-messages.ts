// What each ovirt-guest-agent message means for the guest information vdsm reports (vdsm's
// GuestAgent._handleMessage), on plain data. Values are normalized to the types the engine reads, and
// every list is bounded, so whatever a guest sends, what is kept stays small.
import type { DiskUsage, NetIface } from '../contracts/guest-ops.js';
import type { JsonObject, JsonValue } from './guest-json.js';

export type { DiskUsage, NetIface };

/** Entries kept per list (applications, interfaces, addresses, disks, containers). */
export const MAX_LIST_ENTRIES = 10_000;
/** Keys kept per free-form object (os-info, timezone, a container, a disk mapping entry). */
export const MAX_MAP_KEYS = 256;

export type Scalar = string | number | boolean;
export type ScalarMap = Record<string, Scalar>;

/** The oVirt agent's view of the guest, with vdsm's initial values. */
export interface OvirtGuestInfo {
  username: string;
  session: string;
  /** The guest's free RAM in MiB (vdsm keeps it under this name; stats turn it into percent used). */
  memUsage: number;
  guestCPUCount: number;
  guestIPs: string;
  guestFQDN: string;
  appsList: string[];
  disksUsage: DiskUsage[];
  netIfaces: NetIface[];
  memoryStats: Record<string, string>;
  guestName?: string;
  guestOs?: string;
  guestOsInfo?: ScalarMap;
  guestTimezone?: ScalarMap;
  guestContainers?: ScalarMap[];
  /** Wall-clock seconds of the last change of active user. */
  lastLogin?: number;
  lastUser?: string;
  lastLogout?: number;
  /** disks-usage's `mapping` (serial -> device), vdsm's oVirtGuestDiskMapping. */
  diskMapping: Record<string, ScalarMap>;
}

export type OvirtInfoKey = keyof OvirtGuestInfo;

export function initialOvirtInfo(): OvirtGuestInfo {
  return {
    username: 'Unknown', session: 'Unknown', memUsage: 0, guestCPUCount: -1, guestIPs: '', guestFQDN: '',
    appsList: [], disksUsage: [], netIfaces: [], memoryStats: {}, diskMapping: {},
  };
}

/** What applying one message did. */
export interface MessageEffect {
  /** Keys of the info whose value was replaced (maybe by an equal value). */
  changed: OvirtInfoKey[];
  /** heartbeat: the guest is up; `apiVersion` is what the heartbeat carried (undefined: no member). */
  heartbeat?: { apiVersion: unknown; hasApiVersion: boolean };
  /** completion {reply_id}: wakes whoever waits for that lifecycle event. */
  completion?: string;
  /** session-startup / session-shutdown: logged only. */
  note?: string;
  /** Lists cut at MAX_LIST_ENTRIES / MAX_MAP_KEYS. */
  truncated?: boolean;
}

export class InvalidMessage extends Error {
  readonly kind: 'unknown' | 'invalid';
  constructor(kind: 'unknown' | 'invalid', message: string) {
    super(message);
    this.kind = kind;
  }
}

const MEMORY_STAT_KEYS = ['mem_total', 'mem_unused', 'mem_buffers', 'mem_cached', 'swap_in', 'swap_out', 'pageflt', 'majflt'] as const;

const SESSION_STATES: Readonly<Record<string, string>> = {
  'session-logon': 'UserLoggedOn',
  'session-lock': 'Locked',
  'session-unlock': 'Active',
  'session-logoff': 'LoggedOff',
};

/** Bounded normalization helpers; a `cut` flag records that something was dropped. */
class Normalizer {
  cut = false;

  scalarText(v: JsonValue | undefined): string | undefined {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return undefined;
  }

  list(v: JsonValue | undefined, what: string): JsonValue[] {
    if (!Array.isArray(v)) throw new InvalidMessage('invalid', `${what}: expected a list`);
    if (v.length > MAX_LIST_ENTRIES) {
      this.cut = true;
      return v.slice(0, MAX_LIST_ENTRIES);
    }
    return v;
  }

  texts(v: JsonValue | undefined): string[] {
    if (!Array.isArray(v)) return [];
    const out: string[] = [];
    for (const e of v) {
      if (out.length >= MAX_LIST_ENTRIES) {
        this.cut = true;
        break;
      }
      const s = this.scalarText(e);
      if (s !== undefined) out.push(s);
    }
    return out;
  }

  scalarMap(v: JsonValue | undefined): ScalarMap {
    const out: ScalarMap = {};
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return out;
    let n = 0;
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') continue;
      if (n++ >= MAX_MAP_KEYS) {
        this.cut = true;
        break;
      }
      out[k] = x;
    }
    return out;
  }
}

function requireText(args: JsonObject, key: string, msg: string, n: Normalizer): string {
  const v = n.scalarText(args[key]);
  if (v === undefined) throw new InvalidMessage('invalid', `${msg}: "${key}" missing or not a string`);
  return v;
}

/** Python's int() of a number or a decimal string. */
function requireInt(args: JsonObject, key: string, msg: string): number {
  const v = args[key];
  const n = typeof v === 'number' ? Math.trunc(v) : typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v) ? Number.parseInt(v, 10) : Number.NaN;
  if (!Number.isFinite(n)) throw new InvalidMessage('invalid', `${msg}: "${key}" is not an integer`);
  return n;
}

/**
 * Apply guest message `name` to `info` (in place). Throws InvalidMessage for an unknown name or
 * arguments of the wrong shape; `info` is then unchanged.
 */
export function applyGuestMessage(info: OvirtGuestInfo, name: string, args: JsonObject, nowWallS: number): MessageEffect {
  const n = new Normalizer();
  const done = (changed: OvirtInfoKey[], extra: Partial<MessageEffect> = {}): MessageEffect => ({ changed, ...extra, ...(n.cut ? { truncated: true } : {}) });
  switch (name) {
    case 'heartbeat': {
      const freeRam = requireInt(args, 'free-ram', name);
      const changed: OvirtInfoKey[] = ['memUsage'];
      const stat = args['memory-stat'];
      let memoryStats = info.memoryStats;
      if (stat !== null && typeof stat === 'object' && !Array.isArray(stat)) {
        memoryStats = { ...info.memoryStats };
        for (const k of MEMORY_STAT_KEYS) {
          const v = n.scalarText(stat[k]);
          if (v === undefined) continue;
          memoryStats[k] = v;
          if (k === 'mem_unused') memoryStats['mem_free'] = v;
        }
        changed.push('memoryStats');
      }
      info.memUsage = freeRam;
      info.memoryStats = memoryStats;
      return done(changed, { heartbeat: { apiVersion: args['apiVersion'], hasApiVersion: 'apiVersion' in args } });
    }
    case 'host-name':
      info.guestName = requireText(args, 'name', name, n);
      return done(['guestName']);
    case 'os-version':
      info.guestOs = requireText(args, 'version', name, n);
      return done(['guestOs']);
    case 'os-info':
      info.guestOsInfo = n.scalarMap(args);
      return done(['guestOsInfo']);
    case 'timezone':
      info.guestTimezone = n.scalarMap(args);
      return done(['guestTimezone']);
    case 'network-interfaces': {
      const ifaces: NetIface[] = [];
      for (const raw of n.list(args['interfaces'], name)) {
        if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) continue;
        ifaces.push({ name: n.scalarText(raw['name']) ?? '', hw: n.scalarText(raw['hw']) ?? '', inet: n.texts(raw['inet']), inet6: n.texts(raw['inet6']) });
      }
      info.netIfaces = ifaces;
      // The pre-4.2 field: every IPv4 address, space separated.
      info.guestIPs = ifaces.flatMap((i) => i.inet).join(' ');
      return done(['netIfaces', 'guestIPs']);
    }
    case 'applications':
      info.appsList = n.texts(n.list(args['applications'], name));
      return done(['appsList']);
    case 'active-user': {
      const user = requireText(args, 'name', name, n);
      if (user !== info.username && !(user === 'Unknown' && info.username === 'None')) {
        info.username = user;
        info.lastLogin = nowWallS;
        return done(['username', 'lastLogin']);
      }
      return done([]);
    }
    case 'session-logon':
    case 'session-lock':
    case 'session-unlock':
    case 'session-logoff':
      info.session = SESSION_STATES[name]!;
      return done(['session']);
    case 'session-startup':
      return done([], { note: 'Guest system is started or restarted' });
    case 'session-shutdown':
      return done([], { note: 'Guest system shuts down' });
    case 'uninstalled':
      info.appsList = [];
      return done(['appsList'], { note: 'guest agent was uninstalled' });
    case 'fqdn':
      info.guestFQDN = requireText(args, 'fqdn', name, n);
      return done(['guestFQDN']);
    case 'containers': {
      const list = n.list(args['list'], name);
      info.guestContainers = list.map((c) => n.scalarMap(c));
      return done(['guestContainers']);
    }
    case 'disks-usage': {
      const disks: DiskUsage[] = [];
      for (const d of n.list(args['disks'], name)) {
        if (d === null || typeof d !== 'object' || Array.isArray(d)) continue;
        disks.push({ path: n.scalarText(d['path']) ?? '', fs: n.scalarText(d['fs']) ?? '', total: n.scalarText(d['total']) ?? '', used: n.scalarText(d['used']) ?? '' });
      }
      const mapping: Record<string, ScalarMap> = {};
      const raw = args['mapping'];
      if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
        let count = 0;
        for (const [serial, entry] of Object.entries(raw)) {
          if (count++ >= MAX_LIST_ENTRIES) {
            n.cut = true;
            break;
          }
          mapping[serial] = n.scalarMap(entry);
        }
      }
      info.disksUsage = disks;
      info.diskMapping = mapping;
      return done(['disksUsage', 'diskMapping']);
    }
    case 'number-of-cpus':
      info.guestCPUCount = requireInt(args, 'count', name);
      return done(['guestCPUCount']);
    case 'completion': {
      const id = args['reply_id'];
      return done([], { completion: typeof id === 'string' ? id : String(id ?? '') });
    }
    default:
      throw new InvalidMessage('unknown', `Unknown message type ${name}`);
  }
}

/** vdsm's onReboot: the logged-in user is gone until the guest says otherwise. */
export function applyReboot(info: OvirtGuestInfo, nowWallS: number): OvirtInfoKey[] {
  info.lastUser = info.username;
  info.username = 'Unknown';
  info.lastLogout = nowWallS;
  return ['lastUser', 'username', 'lastLogout'];
}

/** vdsm's channel timeout: no word for guest_agent_timeout seconds, so the memory figure is stale. */
export function applyChannelTimeout(info: OvirtGuestInfo): OvirtInfoKey[] {
  info.memUsage = 0;
  return ['memUsage'];
}
