// What the vmchannels thread owes the main thread: per channel, the info fields that changed (latest value
// wins, identical values are not sent again), status, counters and events, taken in batches under a byte
// budget so that a guest resending a large list cannot make the main thread parse megabytes at once.
import { createHash } from 'node:crypto';
import type { ChannelUpdate, ProblemCount } from './channel-protocol.js';
import type { OvirtInfoKey } from './ovirt-messages.js';
import type { ProblemKind } from './ovirt-session.js';

/** Events kept per channel between two posts; older ones are dropped (a completion nobody waits for). */
const MAX_EVENTS = 32;

type Meta = Omit<ChannelUpdate, 'vmId' | 'fields' | 'completions' | 'problems' | 'notes'>;

interface Pending {
  dirty: Set<OvirtInfoKey>;
  meta: Meta;
  completions: string[];
  notes: string[];
  problems: Map<ProblemKind, ProblemCount>;
}

function digest(text: string): string {
  return createHash('sha1').update(text).digest('base64');
}

export class ChannelOutbox {
  #read: (vmId: string, key: OvirtInfoKey) => unknown;
  #pending = new Map<string, Pending>();
  /** vmId -> key -> digest of the JSON last sent. */
  #sent = new Map<string, Map<OvirtInfoKey, string>>();

  /** `read` gives a field's current value when it is about to be sent. */
  constructor(read: (vmId: string, key: OvirtInfoKey) => unknown) {
    this.#read = read;
  }

  /** Channels with something to send. */
  get size(): number {
    return this.#pending.size;
  }

  fields(vmId: string, keys: readonly OvirtInfoKey[]): void {
    const p = this.#entry(vmId);
    for (const k of keys) p.dirty.add(k);
  }

  meta(vmId: string, patch: Meta): void {
    const p = this.#entry(vmId);
    Object.assign(p.meta, patch);
  }

  completion(vmId: string, replyId: string): void {
    push(this.#entry(vmId).completions, replyId);
  }

  note(vmId: string, text: string): void {
    push(this.#entry(vmId).notes, text);
  }

  problem(vmId: string, kind: ProblemKind, detail: string): void {
    const p = this.#entry(vmId);
    const c = p.problems.get(kind);
    if (c === undefined) p.problems.set(kind, { count: 1, detail });
    else c.count++;
  }

  /** The channel is gone: nothing more is sent for it, and a new one starts from scratch. */
  forget(vmId: string): void {
    this.#pending.delete(vmId);
    this.#sent.delete(vmId);
  }

  /** A new connection: every field is sent again once it changes (the main thread may have reset). */
  resend(vmId: string): void {
    this.#sent.delete(vmId);
  }

  /**
   * Updates to post now. Field values count against `budgetBytes`; when it is spent, the remaining
   * channels (and fields) stay pending for the next call. At least one channel is always taken.
   */
  take(budgetBytes: number): ChannelUpdate[] {
    const out: ChannelUpdate[] = [];
    let spent = 0;
    for (const [vmId, p] of this.#pending) {
      if (out.length > 0 && spent >= budgetBytes) break;
      const u: ChannelUpdate = { vmId, ...p.meta };
      let sent = this.#sent.get(vmId);
      for (const key of [...p.dirty]) {
        if (out.length > 0 && spent >= budgetBytes) break;
        p.dirty.delete(key);
        const text = JSON.stringify(this.#read(vmId, key) ?? null);
        const d = digest(text);
        if (sent?.get(key) === d) continue;
        if (sent === undefined) this.#sent.set(vmId, (sent = new Map()));
        sent.set(key, d);
        (u.fields ??= {})[key] = text;
        spent += text.length;
      }
      if (p.completions.length > 0) u.completions = p.completions;
      if (p.notes.length > 0) u.notes = p.notes;
      if (p.problems.size > 0) u.problems = Object.fromEntries(p.problems);
      if (p.dirty.size === 0) this.#pending.delete(vmId);
      else this.#pending.set(vmId, { dirty: p.dirty, meta: {}, completions: [], notes: [], problems: new Map() });
      if (Object.keys(u).length > 1) out.push(u);
    }
    return out;
  }

  #entry(vmId: string): Pending {
    let p = this.#pending.get(vmId);
    if (p === undefined) this.#pending.set(vmId, (p = { dirty: new Set(), meta: {}, completions: [], notes: [], problems: new Map() }));
    return p;
  }
}

function push(list: string[], value: string): void {
  list.push(value);
  if (list.length > MAX_EVENTS) list.splice(0, list.length - MAX_EVENTS);
}
