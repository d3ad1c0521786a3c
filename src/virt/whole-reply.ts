// Host.getAllVmStats of every VM, kept whole between reads (issue 17). Each VM's report is kept as a
// template with holes (vm-report-cache.ts) and a read copies every VM's bytes into one reply buffer and
// fills the holes: ~80 KB copied and ~250 values written per 55-VM read, although between two samples
// nothing but the read-time values changes. Here the last full reply is kept assembled, with where each
// read-time value sits in it (HoleRecord: statusTime and the NICs' sampleTime, the same for every VM of
// one read; each VM's elapsedTime and monitorResponse), and a read:
//
// 1. checks, per VM, that the reply may be served again: the same VMs in the same order (the container's
//    version and each VM object), and each VM's text was built in the VM's current state and guest view
//    (the report cache's view token: a status change, a guest-agent change, a migrating VM all fail
//    this); after a read where every VM passed, the source's stamp (counters of everything this check
//    looks at, and the earliest guest-view deadline) is kept, and while it holds the per-VM checks are
//    skipped: a read of 55 unchanged VMs then costs their read-time values only;
//    texts rebuilt in the same view (a new sample, domain, pid: the background refresh) do not fail it:
//    the refresh ends its walk by assembling a new whole reply off the read path (the VM manager's
//    after() phase, report-refresher.ts), which replaces this one. Until then reads serve the previous
//    sample of every VM, whole, for at most maxStaleMs from the first read that found the texts moved
//    on (then reads assemble, as before). A sample therefore no longer makes the next read assemble
//    1,000 VMs (2.5-10 ms at 1,000 VMs on this kind of machine) on the engine's path;
// 2. takes each VM's read-time values as an assembly would; a value whose width (bytes) differs from the
//    kept one (elapsedTime 9 -> 10 s, monitorResponse 0 <-> -1, a statusTime with one more digit) means
//    an assembly, as does anything in 1;
// 3. writes the values that changed over the kept ones, in place when the kept buffer has no other
//    holder (reply-buffers.ts: no connection still has any of it to write, no reply refers to it), else
//    into a copy (a pooled buffer of the same size) that becomes the kept one.
//
// The result is byte for byte what the assembly gives at the same clock: the same fixed bytes (the same
// templates, in the same order) with the same values in the holes.
//
// Buffer lifetime: the kept reply holds one reference of its pooled buffer (released when another reply
// replaces it); each reply served holds one more, which the server releases once it handed the reply on
// (rpc-server.ts), as for an assembled reply. Values are the texts of numbers (ASCII): one byte per character.
import { HoleRecord, RawJson } from '../runtime/raw-json.js';
import type { ReplyBufferPool } from '../runtime/reply-buffers.js';

/** The read-time slots (vm-report-cache.ts): 0 and 3 are the read's, 1 and 2 each VM's. */
const STATUS_TIME = 0;
const ELAPSED_TIME = 1;
const MONITOR_RESPONSE = 2;
const SAMPLE_TIME = 3;

/** What the kept reply asks of the VM manager per VM on a read. */
export interface WholeReplySource<V> {
  /**
   * The token of the state and guest view the VM's text is built in now (vm-report-cache.ts viewOf): a
   * kept text with the same token may be served, whatever sample it holds; undefined when there is none
   * that may be served (never built, built in another state or guest view, a migrating VM serialised on
   * each read).
   */
  view(vm: V): object | undefined;
  /**
   * A counter of the VMs' texts rebuilt (any sample, domain, state): while it stands, the kept reply
   * holds every VM's newest text. When it moved, the kept reply is still served (the background refresh
   * assembles a new one) for at most `maxStaleMs`.
   */
  content(): number;
  /** The VM's read-time values at `nowMs` (the read's clock): values[1] its elapsedTime, values[2] its monitorResponse (JSON texts). */
  readValues(vm: V, nowMs: number, values: string[]): void;
  /**
   * Taken right after every VM passed the template check: a token that holds() while nothing that check
   * looks at changed (any VM's state, report cache entry or guest view, or the clock passing a guest view's
   * deadline); undefined when no such token can be given. Both or neither.
   */
  stamp?(vms: readonly V[]): unknown;
  holds?(stamp: unknown): boolean;
}

interface VmPart<V> {
  vm: V;
  view: object;
  elapsed: string;
  monitor: string;
  elapsedAt: number[];
  monitorAt: number[];
}

interface Kept<V> {
  buf: Buffer;
  /** The text is buf[start, end); offsets are from start. */
  start: number;
  end: number;
  /** The container's version it was assembled at (VMs added or removed since: assemble). */
  version: number;
  /** The source's stamp after the last read whose every VM passed the view check (undefined: none yet). */
  stamp: unknown;
  /** source.content() when it was assembled, and the read clock of the first read that found it moved. */
  content: number;
  staleSince: number | undefined;
  statusTime: string;
  sampleTime: string;
  statusAt: number[];
  sampleAt: number[];
  vms: VmPart<V>[];
}

/** What one assembly wrote, VM by VM: recorded by the VM manager's put, handed to keep(). */
export class WholeReplyRecording<V> {
  readonly holes = new HoleRecord();
  readonly vms: { vm: V; view: object; from: number; to: number }[] = [];
  /** False once a VM was written without a template (serialised as a whole): such a reply is not kept. */
  usable = true;
  #from = 0;

  /** A VM's text is about to be written. */
  begin(): void {
    this.#from = this.holes.count;
  }

  /** The VM's text was written, filled from a template of `view` (undefined: serialised whole, not keepable). */
  end(vm: V, view: object | undefined): void {
    if (view === undefined) this.usable = false;
    else this.vms.push({ vm, view, from: this.#from, to: this.holes.count });
  }
}

export interface WholeReplyState {
  /** Reads assembled VM by VM (nothing kept, or the kept reply did not fit), and of them and the background ones kept. */
  assembled: number;
  kept: number;
  /** Replies assembled by the background refresh after it rebuilt texts (not for a read). */
  background: number;
  /** Reads served from the kept reply: every value the same, values written in place, into a copy. */
  reused: number;
  /** Of those, reads whose per-VM view checks were skipped (the source's stamp held). */
  stamped: number;
  /** Of those, reads served while VM texts newer than the kept reply's were waiting for its re-assembly. */
  stale: number;
  /** Reads assembled because the kept reply had been stale for longer than maxStaleMs. */
  staleAssembled: number;
  patched: number;
  copied: number;
  /** Size of the kept reply's text (0: none). */
  bytes: number;
}

/** Write the ASCII text `s` over bytes of the same width, from its character `from` on (the ones before are there). */
function putAscii(buf: Buffer, at: number, s: string, from: number): void {
  for (let i = from; i < s.length; i++) buf[at + i] = s.charCodeAt(i);
}

/** Where two texts of the same length first differ (clock values differ in their last digits). */
function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

export interface WholeReplyOptions {
  /** Longest a kept reply is served after the VMs' texts moved on (read clock; default 2,000 ms). */
  maxStaleMs?: number;
}

export class WholeReply<V> {
  readonly #pool: ReplyBufferPool;
  readonly #maxStaleMs: number;
  #kept: Kept<V> | undefined;
  /** Per read, each VM's new values (kept between reads: no arrays per read). */
  #elapsed: string[] = [];
  #monitor: string[] = [];
  #state = { assembled: 0, kept: 0, background: 0, reused: 0, patched: 0, copied: 0, stamped: 0, stale: 0, staleAssembled: 0 };

  constructor(pool: ReplyBufferPool, opts: WholeReplyOptions = {}) {
    this.#pool = pool;
    this.#maxStaleMs = opts.maxStaleMs ?? 2_000;
  }

  get pool(): ReplyBufferPool {
    return this.#pool;
  }

  /**
   * The kept reply with this read's values, or undefined when the read must be assembled (then record
   * the assembly and keep() it). `nowMs` and `values`: the read's clock and slot values (slotValues),
   * [1] and [2] overwritten.
   */
  serve(vms: readonly V[], version: number, nowMs: number, values: string[], source: WholeReplySource<V>): RawJson | undefined {
    const k = this.#kept;
    if (k === undefined || k.version !== version || k.vms.length !== vms.length) return undefined;
    const statusTime = values[STATUS_TIME]!;
    const sampleTime = values[SAMPLE_TIME]!;
    if ((k.statusAt.length > 0 && statusTime.length !== k.statusTime.length) || (k.sampleAt.length > 0 && sampleTime.length !== k.sampleTime.length)) return undefined;
    const elapsed = this.#elapsed;
    const monitor = this.#monitor;
    // Texts rebuilt since the assembly (a new sample): served as kept until the background re-assembly
    // replaces it, at most maxStaleMs from the first read that saw them.
    const content = source.content();
    const stale = content !== k.content;
    if (stale) {
      k.staleSince ??= nowMs;
      if (nowMs - k.staleSince > this.#maxStaleMs) {
        this.#state.staleAssembled++;
        return undefined;
      }
    }
    let changed = statusTime !== k.statusTime || sampleTime !== k.sampleTime;
    // Nothing any VM's view depends on changed since the last read that checked them all: skip the checks.
    const stamped = k.stamp !== undefined && source.holds !== undefined && source.holds(k.stamp);
    for (let i = 0; i < vms.length; i++) {
      const part = k.vms[i]!;
      const vm = vms[i]!;
      if (part.vm !== vm || (!stamped && source.view(vm) !== part.view)) return undefined;
      source.readValues(vm, nowMs, values);
      const e = values[ELAPSED_TIME]!;
      const m = values[MONITOR_RESPONSE]!;
      // A VM without such a hole (a Down VM has neither) takes any value.
      if (e !== part.elapsed && part.elapsedAt.length > 0) {
        if (e.length !== part.elapsed.length) return undefined;
        changed = true;
      }
      if (m !== part.monitor && part.monitorAt.length > 0) {
        if (m.length !== part.monitor.length) return undefined;
        changed = true;
      }
      elapsed[i] = e;
      monitor[i] = m;
    }
    if (stamped) this.#state.stamped++;
    else k.stamp = source.stamp?.(vms);
    if (stale) this.#state.stale++;
    let buf = k.buf;
    if (this.#pool.holders(buf) !== 1) {
      // Some connection still writes it, or a reply refers to it: never written to; a copy becomes the kept one.
      const copy = this.#pool.acquire(buf.length);
      buf.copy(copy, k.start, k.start, k.end);
      this.#pool.release(buf);
      k.buf = buf = copy;
      this.#state.copied++;
    } else if (changed) this.#state.patched++;
    else this.#state.reused++;
    // A copy holds the kept values too: in every case only what differs from them is written.
    if (statusTime !== k.statusTime) {
      const from = firstDifference(statusTime, k.statusTime);
      for (const at of k.statusAt) putAscii(buf, k.start + at, statusTime, from);
      k.statusTime = statusTime;
    }
    if (sampleTime !== k.sampleTime) {
      const from = firstDifference(sampleTime, k.sampleTime);
      for (const at of k.sampleAt) putAscii(buf, k.start + at, sampleTime, from);
      k.sampleTime = sampleTime;
    }
    for (let i = 0; i < k.vms.length; i++) {
      const part = k.vms[i]!;
      const e = elapsed[i]!;
      const m = monitor[i]!;
      if (e !== part.elapsed) {
        for (const at of part.elapsedAt) putAscii(buf, k.start + at, e, 0);
        part.elapsed = e;
      }
      if (m !== part.monitor) {
        for (const at of part.monitorAt) putAscii(buf, k.start + at, m, 0);
        part.monitor = m;
      }
    }
    // The reply's own reference: the server releases it once the reply was handed on.
    this.#pool.retain(buf);
    return new RawJson(undefined, buf, k.start, k.end, true);
  }

  /**
   * An assembled reply (recorded in `rec`) becomes the kept one, if it can be: every VM filled from a
   * template, its bytes in a pooled buffer, one statusTime and one sampleTime throughout and one
   * elapsedTime and monitorResponse per VM. The previous kept reply is let go in any case. `at`: the
   * container's version and source.content() it was assembled at; `background`: assembled by the
   * refresh, not for a read (counted apart). The caller keeps its own reference of the buffer.
   */
  keep(rec: WholeReplyRecording<V>, raw: RawJson, at: { version: number; content: number; background?: boolean }): void {
    const { version, content } = at;
    if (at.background === true) this.#state.background++;
    else this.#state.assembled++;
    this.drop();
    const region = raw.region;
    const holes = rec.holes;
    if (!rec.usable || !holes.exact || region === undefined || !raw.pooled || !this.#pool.held(region.buf)) return;
    const statusAt: number[] = [];
    const sampleAt: number[] = [];
    let statusTime: string | undefined;
    let sampleTime: string | undefined;
    const vms: VmPart<V>[] = [];
    for (const v of rec.vms) {
      const part: VmPart<V> = { vm: v.vm, view: v.view, elapsed: '', monitor: '', elapsedAt: [], monitorAt: [] };
      for (let h = v.from; h < v.to; h++) {
        const value = holes.values[h]!;
        const at = holes.offsets[h]!;
        switch (holes.slots[h]) {
          case STATUS_TIME:
            if ((statusTime ??= value) !== value) return;
            statusAt.push(at);
            break;
          case SAMPLE_TIME:
            if ((sampleTime ??= value) !== value) return;
            sampleAt.push(at);
            break;
          case ELAPSED_TIME:
            if (part.elapsedAt.length > 0 && part.elapsed !== value) return;
            part.elapsed = value;
            part.elapsedAt.push(at);
            break;
          case MONITOR_RESPONSE:
            if (part.monitorAt.length > 0 && part.monitor !== value) return;
            part.monitor = value;
            part.monitorAt.push(at);
            break;
          default:
            return;
        }
      }
      vms.push(part);
    }
    // A slot no VM has (no NICs: no sampleTime) is never compared nor written.
    this.#pool.retain(region.buf);
    this.#kept = {
      buf: region.buf, start: region.start, end: region.end, version, stamp: undefined, content, staleSince: undefined,
      statusTime: statusTime ?? '', sampleTime: sampleTime ?? '', statusAt, sampleAt, vms,
    };
    this.#state.kept++;
  }

  /** Whether a reply is kept that was assembled at this container version and source.content(). */
  holdsNewest(version: number, content: number): boolean {
    const k = this.#kept;
    return k !== undefined && k.version === version && k.content === content;
  }

  /** Let the kept reply go (its buffer returns to the pool once nobody else holds it). */
  drop(): void {
    const k = this.#kept;
    if (k === undefined) return;
    this.#kept = undefined;
    this.#pool.release(k.buf);
  }

  describe(): WholeReplyState {
    return { ...this.#state, bytes: this.#kept === undefined ? 0 : this.#kept.end - this.#kept.start };
  }
}
