// The main thread's copy of one VM's ovirt-guest-agent state, kept up to date from the vmchannels
// thread's updates. Field values arrive as JSON text and are parsed as they arrive: the thread's byte
// budget per post bounds that work per main-loop turn, where parsing on first read would pile every
// changed list of every VM into the one getAllVmStats call that reads them.
import type { ChannelUpdate, ProblemCount } from './channel-protocol.js';
import { initialOvirtInfo, type OvirtGuestInfo, type OvirtInfoKey } from './ovirt-messages.js';
import type { ProblemKind } from './ovirt-session.js';

/** vdsm's isResponsive(): a message within the last 120 s. */
export const OVIRT_RESPONSIVE_MS = 120_000;

interface Cell {
  /** Length of the JSON text it came as (for describe()). */
  bytes: number;
  value: unknown;
}

export interface ViewChange {
  /** The guest's status per this agent changed (a heartbeat after silence, or a channel timeout). */
  guestStatus?: boolean;
  connected?: boolean;
  completions: string[];
  problems: [ProblemKind, ProblemCount][];
  notes: string[];
  apiVersion?: number;
  reason?: string;
  connectFailures?: number;
}

export class OvirtAgentView {
  readonly vmId: string;
  #cells = new Map<OvirtInfoKey, Cell>();
  #lastMessageAt = 0;
  #connected = false;
  #guestUp = false;
  #apiVersion = 0;
  #throttled = 0;
  #updates = 0;

  constructor(vmId: string, apiVersion = 0) {
    this.vmId = vmId;
    this.#apiVersion = apiVersion;
  }

  get lastMessageAt(): number {
    return this.#lastMessageAt;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Updates applied so far: info() changes only when this does. */
  get updates(): number {
    return this.#updates;
  }

  /** Up per the last heartbeat, until a channel timeout (vdsm's guestStatus Up / None). */
  get guestUp(): boolean {
    return this.#guestUp;
  }

  get apiVersion(): number {
    return this.#apiVersion;
  }

  isResponsive(now: number, windowMs = OVIRT_RESPONSIVE_MS): boolean {
    return this.#lastMessageAt > 0 && now - this.#lastMessageAt < windowMs;
  }

  /** Until when isResponsive(t, windowMs) keeps its answer at `now` without an update: Infinity unless it is responsive. */
  responsiveUntil(now: number, windowMs = OVIRT_RESPONSIVE_MS): number {
    return this.isResponsive(now, windowMs) ? this.#lastMessageAt + windowMs : Infinity;
  }

  apply(u: ChannelUpdate): ViewChange {
    this.#updates++;
    const change: ViewChange = { completions: u.completions ?? [], problems: Object.entries(u.problems ?? {}) as [ProblemKind, ProblemCount][], notes: u.notes ?? [] };
    for (const [key, text] of Object.entries(u.fields ?? {}) as [OvirtInfoKey, string][]) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        value = undefined; // the thread wrote it with JSON.stringify: cannot happen, and then the default stands
      }
      this.#cells.set(key, { bytes: text.length, value });
    }
    if (u.lastMessageAt !== undefined && u.lastMessageAt > this.#lastMessageAt) this.#lastMessageAt = u.lastMessageAt;
    if (u.connected !== undefined && u.connected !== this.#connected) {
      this.#connected = u.connected;
      change.connected = u.connected;
    }
    if (u.guestUp !== undefined && u.guestUp !== this.#guestUp) {
      this.#guestUp = u.guestUp;
      change.guestStatus = u.guestUp;
    }
    if (u.apiVersion !== undefined && u.apiVersion !== this.#apiVersion) {
      this.#apiVersion = u.apiVersion;
      change.apiVersion = u.apiVersion;
    }
    if (u.throttled !== undefined) this.#throttled = u.throttled;
    if (u.reason !== undefined) change.reason = u.reason;
    if (u.connectFailures !== undefined) change.connectFailures = u.connectFailures;
    return change;
  }

  get<K extends OvirtInfoKey>(key: K): OvirtGuestInfo[K] {
    const cell = this.#cells.get(key);
    if (cell === undefined || cell.value === undefined || cell.value === null) return initialOvirtInfo()[key];
    return cell.value as OvirtGuestInfo[K];
  }

  /** Every field, defaults filled in. */
  info(): OvirtGuestInfo {
    const out = initialOvirtInfo() as unknown as Record<string, unknown>;
    for (const key of this.#cells.keys()) {
      const v = this.get(key);
      if (v !== undefined && v !== null) out[key] = v;
    }
    return out as unknown as OvirtGuestInfo;
  }

  describe(now: number): Record<string, unknown> {
    return {
      connected: this.#connected, guestUp: this.#guestUp, apiVersion: this.#apiVersion, throttled: this.#throttled, updates: this.#updates,
      lastMessageAgeMs: this.#lastMessageAt > 0 ? Math.round(now - this.#lastMessageAt) : null,
      fieldBytes: [...this.#cells.values()].reduce((n, c) => n + c.bytes, 0),
    };
  }
}
