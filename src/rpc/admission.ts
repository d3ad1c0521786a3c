// Who gets a connection slot on the management port. A silent crowd must not lock everyone else out:
// - every accepted socket (TLS handshakes included) counts against one global limit kept below the
//   descriptor limit;
// - sockets still in TLS handshake or protocol detection are bounded too, and when either bound is
//   reached the oldest undetected socket is evicted to make room: a new client always gets in;
// - established connections may use all slots but a reserve, so detection (and with it /health and a
//   new engine connection) always has room; past that, the connection idle the longest (no complete
//   frame or request for the longest time) is evicted, provided it has been idle a while;
// - every time a limit is hit: a warn line (rate-limited) and a `vdsm:rpc:limit` diagnostics message.
// Runtime-free apart from the injected clock: sockets are opaque handles with a close function.
import { channel } from 'node:diagnostics_channel';
import type { Logger } from '../observability/logging.js';
import type { Clock } from '../runtime/clock.js';

/** Published whenever a limit is hit: { limit, action, client, ... }. */
export const rpcLimitChannel = channel('vdsm:rpc:limit');

/** Descriptors kept free for everything else the process opens (files, libvirt, workers, helpers). */
export const FD_RESERVE = 256;
/** Slots established connections may never take: always free for detection (/health, a new engine). */
export const DETECTION_RESERVE_MIN = 16;
/** An established connection is evicted for a newcomer only after this long without a complete frame. */
export const MIN_IDLE_FOR_EVICTION_MS = 10_000;
/** Undetected sockets (TLS handshake or protocol detection) held at most. */
export const MAX_DETECTING = 1024;

export type LimitName = 'connections' | 'detecting' | 'established' | 'memory' | 'frame-deadline' | 'idle' | 'response-size';

export interface LimitHit {
  limit: LimitName;
  /** evicted: another connection was closed to make room; refused: this one was; dropped: closed. */
  action: 'evicted' | 'refused' | 'dropped';
  client: string;
  [key: string]: unknown;
}

/** One admitted socket. */
export interface Slot {
  readonly id: number;
  readonly client: string;
  readonly since: number;
  phase: 'detecting' | 'stomp' | 'http';
  lastActive: number;
  /** Closes the connection (the admission forgets it through release()). */
  close(reason: string): void;
}

export interface AdmissionOptions {
  /** Global bound on admitted sockets. */
  maxConnections: number;
  maxDetecting?: number;
  /** Slots established connections leave free (default max(16, maxConnections / 16)). */
  reserve?: number;
  minIdleForEvictionMs?: number;
  clock: Clock;
  log: Logger;
  onLimit?: (hit: LimitHit) => void;
}

/** The descriptor limit of this process (RLIMIT_NOFILE, soft), from /proc/self/limits text. */
export function parseNofile(limitsText: string): number | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s+/m.exec(limitsText);
  if (!m) return undefined;
  return m[1] === 'unlimited' ? undefined : Number(m[1]);
}

/** The connection bound: the configured one (0 = automatic), never above the descriptor limit minus a reserve. */
export function connectionLimit(configured: number, nofile: number | undefined): number {
  const byFds = nofile === undefined ? Infinity : Math.max(32, nofile - FD_RESERVE);
  const wanted = configured > 0 ? configured : byFds === Infinity ? 16_384 : byFds;
  return Math.min(wanted, byFds);
}

export class Admission {
  readonly maxConnections: number;
  readonly maxDetecting: number;
  readonly reserve: number;
  #o: AdmissionOptions;
  #minIdle: number;
  #nextId = 1;
  /** Insertion order = oldest first. */
  #detecting = new Map<number, Slot>();
  /** Least recently active first (touch() moves a slot to the end). */
  #established = new Map<number, Slot>();
  /** The last slot of #established, when known (a busy connection's frames then move nothing). */
  #newest: Slot | undefined;
  #counts = { admitted: 0, evicted: 0, refused: 0 };
  #logged = new Map<string, { at: number; suppressed: number }>();

  constructor(opts: AdmissionOptions) {
    this.#o = opts;
    this.maxConnections = Math.max(2, opts.maxConnections);
    this.maxDetecting = Math.min(opts.maxDetecting ?? MAX_DETECTING, this.maxConnections);
    this.reserve = Math.min(this.maxConnections - 1, opts.reserve ?? Math.max(DETECTION_RESERVE_MIN, Math.floor(this.maxConnections / 16)));
    this.#minIdle = opts.minIdleForEvictionMs ?? MIN_IDLE_FOR_EVICTION_MS;
  }

  get open(): number {
    return this.#detecting.size + this.#established.size;
  }

  /**
   * A socket was accepted: admit it (making room by evicting the oldest undetected socket or the
   * longest-idle connection) or refuse it. Returns the slot, or undefined when refused (the caller
   * closes the socket).
   */
  admit(client: string, close: (reason: string) => void): Slot | undefined {
    if (this.#detecting.size >= this.maxDetecting) {
      this.#evictOldestDetecting('detecting', client);
    }
    if (this.open >= this.maxConnections && !this.#evictOldestDetecting('connections', client) && !this.#evictIdlest('connections', client)) {
      this.#counts.refused++;
      this.#hit({ limit: 'connections', action: 'refused', client, open: this.open, max: this.maxConnections });
      return undefined;
    }
    const now = this.#o.clock.now();
    const slot: Slot = { id: this.#nextId++, client, since: now, lastActive: now, phase: 'detecting', close };
    this.#detecting.set(slot.id, slot);
    this.#counts.admitted++;
    return slot;
  }

  /**
   * Detection finished. Established connections may not eat the reserve: a new STOMP connection that
   * would, takes the slot of the longest-idle one or is refused (false: the caller closes it). HTTP
   * requests are short-lived and may use the reserve (that is what keeps /health reachable).
   */
  detected(slot: Slot, phase: 'stomp' | 'http'): boolean {
    if (!this.#detecting.delete(slot.id)) return false;
    slot.phase = phase;
    slot.lastActive = this.#o.clock.now();
    if (phase === 'stomp' && this.#established.size >= this.maxConnections - this.reserve && !this.#evictIdlest('established', slot.client)) {
      this.#counts.refused++;
      this.#hit({ limit: 'established', action: 'refused', client: slot.client, established: this.#established.size, max: this.maxConnections - this.reserve });
      return false;
    }
    this.#established.set(slot.id, slot);
    this.#newest = slot;
    return true;
  }

  /** The connection completed a frame or a request. */
  touch(slot: Slot): void {
    if (slot === this.#newest) {
      slot.lastActive = this.#o.clock.now();
      return;
    }
    if (!this.#established.delete(slot.id)) return;
    slot.lastActive = this.#o.clock.now();
    this.#established.set(slot.id, slot);
    this.#newest = slot;
  }

  /** The socket closed (for whatever reason). Idempotent. */
  release(slot: Slot): void {
    this.#detecting.delete(slot.id);
    this.#established.delete(slot.id);
    if (slot === this.#newest) this.#newest = undefined;
  }

  /** Report a limit hit by a connection (memory budget, frame deadline, ...). */
  report(hit: LimitHit): void {
    this.#hit(hit);
  }

  state(): Record<string, unknown> {
    return {
      max: this.maxConnections, reserve: this.reserve, maxDetecting: this.maxDetecting,
      detecting: this.#detecting.size, established: this.#established.size, ...this.#counts,
    };
  }

  /** Close every admitted socket (server shutdown). */
  closeAll(reason: string): void {
    for (const s of [...this.#detecting.values(), ...this.#established.values()]) s.close(reason);
    this.#detecting.clear();
    this.#established.clear();
    this.#newest = undefined;
  }

  #evictOldestDetecting(limit: LimitName, newcomer: string): boolean {
    const oldest = this.#detecting.values().next().value as Slot | undefined;
    if (!oldest) return false;
    this.#evict(oldest, limit, newcomer);
    return true;
  }

  #evictIdlest(limit: LimitName, newcomer: string): boolean {
    const idlest = this.#established.values().next().value as Slot | undefined;
    if (!idlest || this.#o.clock.now() - idlest.lastActive < this.#minIdle) return false;
    this.#evict(idlest, limit, newcomer);
    return true;
  }

  #evict(victim: Slot, limit: LimitName, newcomer: string): void {
    this.release(victim);
    this.#counts.evicted++;
    const idleMs = Math.round(this.#o.clock.now() - victim.lastActive);
    this.#hit({ limit, action: 'evicted', client: victim.client, phase: victim.phase, idleMs, for: newcomer });
    victim.close(`evicted: ${limit} limit reached`);
  }

  /** A warn line per limit and action at most once a second (with the count suppressed meanwhile). */
  #hit(hit: LimitHit): void {
    this.#o.onLimit?.(hit);
    if (rpcLimitChannel.hasSubscribers) rpcLimitChannel.publish(hit);
    const key = `${hit.limit}:${hit.action}`;
    const now = this.#o.clock.now();
    const last = this.#logged.get(key);
    if (last && now - last.at < 1000) {
      last.suppressed++;
      return;
    }
    this.#logged.set(key, { at: now, suppressed: 0 });
    this.#o.log.warn({ ...hit, ...(last?.suppressed ? { suppressed: last.suppressed } : {}) }, `connection limit reached (${hit.limit}): ${hit.action} ${hit.client}`);
  }
}
