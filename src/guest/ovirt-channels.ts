// The main thread's side of the ovirt-guest-agent channels: which VMs have one, their current views, the
// commands the host sends (with the completion wait of lifecycle events), and the log lines: one per
// connection state change and one per kind of bad input per channel, with counts instead of repeats.
import { randomUUID } from 'node:crypto';
import type { Clock, Timers } from '../runtime/clock.js';
import type { ChannelUpdate, ChannelWorkerState, SendReply } from './channel-protocol.js';
import { COOLDOWN_RECONNECT_THRESHOLD } from './channel-listener.js';
import { DedupLog, type LineSink } from './dedup-log.js';
import { REPLY_MIN_API_VERSION, type LifecycleEventType, type OvirtCommand } from './ovirt-protocol.js';
import type { ProblemKind } from './ovirt-session.js';
import { OVIRT_RESPONSIVE_MS, OvirtAgentView } from './ovirt-view.js';

/** What OvirtChannels needs from the thread (ChannelThread, or an in-process fake in tests). */
export interface ChannelTransport {
  add(vmId: string, path: string, apiVersion?: number): void;
  remove(vmId: string): void;
  reboot(vmId: string): void;
  send(vmId: string, cmd: OvirtCommand): Promise<SendReply>;
  describe(): Promise<ChannelWorkerState | undefined>;
  rememberApiVersion?(vmId: string, apiVersion: number): void;
}

export interface LifecycleEventOptions {
  /** The guest's reply to the event (after_* only say so). */
  failure?: boolean;
  /** A before_* event waits this long for the guest's completion (when the agent can reply). */
  waitMs?: number;
  /** Wait this long for a channel that is not connected yet before sending. */
  connectWaitMs?: number;
}

export interface OvirtChannelsOptions {
  transport: ChannelTransport;
  clock: Clock;
  timers: Timers;
  log: LineSink;
  /** How long after its last message the agent counts as responsive (vdsm: 120 s). */
  responsiveMs?: number;
  /** The agent's view of the guest status changed (vdsm's _onGuestStatusChange). */
  onGuestStatus?: (vmId: string, up: boolean) => void;
  /** The agent negotiated another API version (vdsm keeps it in the VM metadata). */
  onApiVersion?: (vmId: string, apiVersion: number) => void;
}

const PROBLEM_TEXT: Readonly<Record<ProblemKind, string>> = {
  oversize: 'guest message over the size limit discarded',
  json: 'guest sent a line that is not JSON',
  'not-object': 'guest sent JSON that is not an object',
  'no-name': 'guest message without __name__',
  'too-deep': 'guest message nested too deeply',
  unknown: 'Unknown message type from the guest',
  invalid: 'guest message with invalid arguments',
  truncated: 'guest message lists cut to their bounds',
};

export class OvirtChannels {
  #o: OvirtChannelsOptions;
  #views = new Map<string, OvirtAgentView>();
  #paths = new Map<string, string>();
  #waiters = new Map<string, () => void>();
  /** Per VM, conditions on its view checked after each update of that VM (until()). */
  #watches = new Map<string, Set<() => void>>();
  #log: DedupLog;
  /** Moves whenever a view is added, removed or updated (GuestAgents' merged views compare it). */
  #changes = 0;

  constructor(opts: OvirtChannelsOptions) {
    this.#o = opts;
    this.#log = new DedupLog(opts.log, () => opts.clock.now());
  }

  get responsiveMs(): number {
    return this.#o.responsiveMs ?? OVIRT_RESPONSIVE_MS;
  }

  /** Start listening on a VM's channel socket. Re-attaching the same path is a no-op. */
  attach(vmId: string, path: string, apiVersion?: number): void {
    if (this.#paths.get(vmId) === path) return;
    this.#paths.set(vmId, path);
    this.#views.set(vmId, new OvirtAgentView(vmId, apiVersion ?? 0));
    this.#changes++;
    this.#o.transport.add(vmId, path, apiVersion);
  }

  detach(vmId: string): void {
    if (!this.#paths.delete(vmId)) return;
    this.#views.delete(vmId);
    this.#changes++;
    this.#o.transport.remove(vmId);
    for (const check of this.#watches.get(vmId) ?? []) check();
    this.#log.forget(`${vmId}:`, 'info', { vmId }, 'ovirt-guest-agent channel closed; occurrences while it was open');
  }

  /**
   * A count that moves whenever any view is attached, detached or updated: with the same count, every
   * view and everything it says is the same (responsiveness aside, which ages with time: see
   * OvirtAgentView.responsiveUntil).
   */
  get changes(): number {
    return this.#changes;
  }

  has(vmId: string): boolean {
    return this.#views.has(vmId);
  }

  view(vmId: string): OvirtAgentView | undefined {
    return this.#views.get(vmId);
  }

  isResponsive(vmId: string): boolean {
    return this.#views.get(vmId)?.isResponsive(this.#o.clock.now(), this.responsiveMs) ?? false;
  }

  reboot(vmId: string): void {
    this.#o.transport.reboot(vmId);
  }

  /**
   * Resolves true as soon as `holds` is true of the VM's view (checked now and after each update of that
   * VM), false when `waitMs` passed first, the channel was detached or `signal` aborted. Nothing polls:
   * the check runs when an update arrives.
   */
  until(vmId: string, holds: (view: OvirtAgentView) => boolean, waitMs: number, signal?: AbortSignal): Promise<boolean> {
    const first = this.#views.get(vmId);
    if (first === undefined || signal?.aborted === true) return Promise.resolve(false);
    if (holds(first)) return Promise.resolve(true);
    if (waitMs <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let set = this.#watches.get(vmId);
      if (set === undefined) this.#watches.set(vmId, (set = new Set()));
      const end = (ok: boolean): void => {
        this.#o.timers.clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        set.delete(check);
        if (set.size === 0 && this.#watches.get(vmId) === set) this.#watches.delete(vmId);
        resolve(ok);
      };
      const check = (): void => {
        const view = this.#views.get(vmId);
        if (view !== first) end(false);
        else if (holds(view)) end(true);
      };
      const aborted = (): void => end(false);
      const timer = this.#o.timers.setTimeout(() => end(false), waitMs);
      signal?.addEventListener('abort', aborted, { once: true });
      set.add(check);
    });
  }

  /** Send a command; the reply says whether it went out (not whether the guest acted on it). */
  async send(vmId: string, cmd: OvirtCommand): Promise<SendReply> {
    if (!this.#views.has(vmId)) return { ok: false, reason: 'no-channel', message: 'the VM has no ovirt-guest-agent channel' };
    const r = await this.#o.transport.send(vmId, cmd);
    const what = cmd.name === 'hc' ? cmd.command : cmd.name;
    if (r.ok) this.#o.log.debug({ vmId, command: what }, 'sent to the ovirt-guest-agent');
    else this.#o.log.info({ vmId, command: what, reason: r.reason, err: r.message }, 'ovirt-guest-agent command not sent');
    return r;
  }

  /**
   * vdsm's lifecycle events (before/after migration or hibernation). A `before_*` event with `waitMs`
   * waits for the guest's `completion` when the agent can reply (responsive, API >= 3). Resolves true
   * when the guest confirmed, false otherwise (not sent, no reply capability, or timed out). With
   * `connectWaitMs`, a channel not connected yet (a VM that just arrived or was restored) is waited for
   * that long first, so the event is not dropped for being sent a moment too early.
   */
  async lifecycleEvent(vmId: string, type: LifecycleEventType, opts: LifecycleEventOptions = {}): Promise<boolean> {
    if (opts.connectWaitMs !== undefined && this.#views.get(vmId)?.connected === false) {
      await this.until(vmId, (v) => v.connected, opts.connectWaitMs);
    }
    const view = this.#views.get(vmId);
    if (view === undefined) return false;
    const canReply = view.isResponsive(this.#o.clock.now(), this.responsiveMs) && view.apiVersion >= REPLY_MIN_API_VERSION;
    const wait = canReply && opts.waitMs !== undefined && type.startsWith('before_');
    const replyId = wait ? randomUUID() : undefined;
    let done: Promise<boolean> = Promise.resolve(false);
    if (replyId !== undefined) {
      done = new Promise<boolean>((resolve) => {
        const timer = this.#o.timers.setTimeout(() => {
          this.#waiters.delete(replyId);
          resolve(false);
        }, opts.waitMs!);
        this.#waiters.set(replyId, () => {
          this.#o.timers.clearTimeout(timer);
          this.#waiters.delete(replyId);
          resolve(true);
        });
      });
    }
    const r = await this.send(vmId, { name: 'lifecycle-event', args: { type, ...(opts.failure ? { failure: true } : {}), ...(replyId !== undefined ? { reply_id: replyId } : {}) } });
    if (!r.ok && replyId !== undefined) this.#waiters.get(replyId)?.call(undefined);
    return r.ok ? done : false;
  }

  describe(): Promise<ChannelWorkerState | undefined> {
    return this.#o.transport.describe();
  }

  /** Apply a batch of updates from the thread. */
  apply(items: readonly ChannelUpdate[]): void {
    for (const u of items) {
      const view = this.#views.get(u.vmId);
      if (view === undefined) continue; // detached meanwhile
      const c = view.apply(u);
      this.#changes++;
      const vmId = u.vmId;
      const path = this.#paths.get(vmId);
      if (c.connected === true) this.#log.change(`${vmId}:conn`, 'connected', 'info', { vmId, path }, 'ovirt-guest-agent channel connected');
      else if (c.connected === false && this.#log.state(`${vmId}:conn`) === 'connected') {
        this.#log.change(`${vmId}:conn`, 'disconnected', 'info', { vmId, path, reason: c.reason }, 'ovirt-guest-agent channel disconnected; reconnecting');
      }
      if (c.connectFailures !== undefined && c.connectFailures >= COOLDOWN_RECONNECT_THRESHOLD) {
        this.#log.change(`${vmId}:conn`, 'unreachable', 'warn', { vmId, path, failures: c.connectFailures, err: c.reason },
          'cannot connect to the ovirt-guest-agent channel; retrying at the guest agent timeout');
      }
      for (const [kind, p] of c.problems) {
        const key = `${vmId}:${kind}`;
        this.#log.once(key, kind === 'truncated' ? 'info' : 'warn', { vmId, kind, detail: p.detail, count: p.count }, `${PROBLEM_TEXT[kind]} (further ones are counted, not logged)`, p.count);
      }
      for (const note of c.notes) this.#o.log.debug({ vmId }, note);
      for (const id of c.completions) this.#waiters.get(id)?.call(undefined);
      if (c.apiVersion !== undefined) {
        this.#o.log.info({ vmId, apiVersion: c.apiVersion }, 'Guest API version changed');
        this.#o.transport.rememberApiVersion?.(vmId, c.apiVersion);
        this.#o.onApiVersion?.(vmId, c.apiVersion);
      }
      if (c.guestStatus !== undefined) this.#o.onGuestStatus?.(vmId, c.guestStatus);
      const watches = this.#watches.get(vmId);
      if (watches !== undefined) for (const check of [...watches]) check();
    }
  }

  /** Counts of bad input per VM and kind (for describe and tests). */
  problemCount(vmId: string, kind: ProblemKind): number {
    return this.#log.count(`${vmId}:${kind}`);
  }

  logStats(): { lines: number; suppressed: number; keys: number } {
    return this.#log.stats;
  }
}
