// Both guest agents behind one door for the VM manager and the API: the QEMU guest agent poller on its own
// executor, the ovirt-guest-agent channels in the vmchannels thread, the merged guest stats, the guest
// status each agent reports, and the guest-agent actions (desktop lock / login / logoff, hc commands,
// the oVirt agent's shutdown) with vdsm's errors.
import { Errors, vdsmError } from '../errors.js';
import type { Clock } from '../runtime/clock.js';
import type { DomainInfo } from '../virt/domain-xml.js';
import type { SendReply } from './channel-protocol.js';
import { mergeGuestInfo, type GuestStats } from './guest-info.js';
import type { OvirtChannels } from './ovirt-channels.js';
import { loginName, OVIRT_CHANNEL_NAMES, QEMU_GA_CHANNEL_NAME, shutdownCommand, type OvirtCommand } from './ovirt-protocol.js';
import type { QgaPoller } from './qga-poller.js';

/** libvirt's virConnectDomainEventAgentLifecycleState. */
export const AgentLifecycleState = { CONNECTED: 1, DISCONNECTED: 2 } as const;

export interface GuestAgentsOptions {
  clock: Clock;
  /** The ovirt-guest-agent side (channels in the vmchannels thread). */
  channels: OvirtChannels;
  /** The QEMU guest agent poller; absent when [guest_agent] enable_qga_poller is false. */
  poller?: QgaPoller | undefined;
  log: { info(fields: Record<string, unknown>, msg: string): void; warn(fields: Record<string, unknown>, msg: string): void };
}

/** The oVirt agent's channel socket in a domain (the current name preferred over the legacy one). */
export function ovirtChannelPath(domain: DomainInfo): string | undefined {
  for (const name of OVIRT_CHANNEL_NAMES) {
    const c = domain.channels.find((ch) => ch.type === 'unix' && ch.targetName === name && ch.path !== undefined && ch.path !== '');
    if (c !== undefined) return c.path;
  }
  return undefined;
}

export function hasQemuGaChannel(domain: DomainInfo): boolean {
  return domain.channels.some((c) => c.targetName === QEMU_GA_CHANNEL_NAME);
}

/** The QEMU agent channel's state in libvirt's live XML, when it says. */
export function qemuGaChannelHint(domain: DomainInfo): 'connected' | 'disconnected' | undefined {
  const s = domain.channels.find((c) => c.targetName === QEMU_GA_CHANNEL_NAME)?.state;
  return s === 'connected' || s === 'disconnected' ? s : undefined;
}

/** The session states in which a hibernated guest's desktop is safe (vdsm waits for one of them). */
const LOCKED_SESSIONS: ReadonlySet<string> = new Set(['Locked', 'LoggedOff']);

export class GuestAgents {
  #o: GuestAgentsOptions;
  /**
   * Per VM, the last merged view, what it was merged from and its JSON: an unchanged view is the same
   * object (the report cache compares by identity). While the sources are the same (the same view at the
   * same update count, the same responsiveness, the same qga fields at the same revision), nothing is merged.
   * `changes` and `until`: the sources' change count when it was last checked, and when it may age.
   */
  #detaches = 0;
  #last = new Map<string, { json: string; stats: GuestStats; from: readonly unknown[]; changes: number; until: number }>();

  constructor(opts: GuestAgentsOptions) {
    this.#o = opts;
  }

  get channels(): OvirtChannels {
    return this.#o.channels;
  }

  get poller(): QgaPoller | undefined {
    return this.#o.poller;
  }

  /** A VM runs (created, or found at recovery): listen on its oVirt agent channel, take the QEMU channel hint. */
  attach(vmId: string, domain: DomainInfo): void {
    const path = ovirtChannelPath(domain);
    if (path !== undefined) {
      const version = domain.ovirt?.values['guestAgentAPIVersion'];
      this.#o.channels.attach(vmId, path, typeof version === 'number' ? version : undefined);
    }
    const hint = qemuGaChannelHint(domain);
    if (hint !== undefined) this.#o.poller?.channelHint(vmId, hint);
  }

  /** The VM is down or gone: close its channel (the poller purges its own data at its next poll). */
  detach(vmId: string): void {
    this.#o.channels.detach(vmId);
    this.#last.delete(vmId);
    this.#detaches++;
  }

  /** libvirt's AGENT_LIFECYCLE event for the QEMU guest agent channel. */
  agentLifecycle(vmId: string, state: number, reason: number): void {
    if (state === AgentLifecycleState.CONNECTED) this.#o.poller?.channelEvent(vmId, 'connected', reason);
    else if (state === AgentLifecycleState.DISCONNECTED) this.#o.poller?.channelEvent(vmId, 'disconnected', reason);
  }

  /** libvirt's REBOOT event: the oVirt agent forgets the logged-in user (vdsm's onReboot). */
  reboot(vmId: string): void {
    this.#o.channels.reboot(vmId);
  }

  ovirtResponsive(vmId: string): boolean {
    return this.#o.channels.isResponsive(vmId);
  }

  /** Either agent has something to say now: the oVirt agent is responsive, or qemu-ga's data has not aged out. */
  speaks(vmId: string): boolean {
    return this.ovirtResponsive(vmId) || this.#o.poller?.fields(vmId) !== undefined;
  }

  /**
   * The guest part of the VM's stats: both agents merged with vdsm's rules. While the merged view stays
   * the same, the same object is returned, so the VM's serialised report is not rebuilt for it.
   *
   * getAllVmStats asks for every VM on every read: while neither agent side changed anything (their
   * change counts) and no data aged (before the view's `until`: the oVirt agent turning unresponsive,
   * qemu-ga's data of an agent that stopped answering aging out), the last view is returned without
   * looking at the sources at all.
   */
  stats(vmId: string, memSizeMiB: number): GuestStats {
    const changes = this.#changes();
    const now = this.#o.clock.now();
    const last = this.#last.get(vmId);
    if (last !== undefined && last.changes === changes && now < last.until && last.from[0] === memSizeMiB) return last.stats;
    const channels = this.#o.channels;
    const poller = this.#o.poller;
    const view = channels.view(vmId);
    const qga = poller?.fields(vmId);
    const version = poller?.caps(vmId).version;
    const responsive = view?.isResponsive(now, channels.responsiveMs);
    const revision = qga === undefined ? undefined : poller?.revision(vmId);
    const until = Math.min(view?.responsiveUntil(now, channels.responsiveMs) ?? Infinity, poller?.fieldsUntil(vmId, now) ?? Infinity);
    // An unchanged source is not merged and serialised again (compared field by field: no array per VM per read).
    if (last !== undefined) {
      const f = last.from;
      if (f[0] === memSizeMiB && f[1] === view && f[2] === view?.updates && f[3] === responsive && f[4] === qga && f[5] === revision && f[6] === version) {
        last.changes = changes;
        last.until = until;
        return last.stats;
      }
    }
    const from = [memSizeMiB, view, view?.updates, responsive, qga, revision, version];
    const stats = mergeGuestInfo({
      memSizeMiB,
      ...(view !== undefined ? { ovirt: { info: view.info(), responsive: responsive === true } } : {}),
      ...(qga !== undefined ? { qga } : {}),
      ...(version !== undefined ? { qgaVersion: version } : {}),
    });
    const json = JSON.stringify(stats);
    if (last !== undefined && last.json === json) {
      last.from = from;
      last.changes = changes;
      last.until = until;
      return last.stats;
    }
    this.#last.set(vmId, { json, stats, from, changes, until });
    return stats;
  }

  /**
   * A number that grows with every change stats() could show (either agent side, a VM detached): while
   * it stays and the clock is before a VM's untilOf(), stats() of that VM (same memory size) returns the
   * object it returned last.
   */
  get version(): number {
    return this.#changes() + this.#detaches;
  }

  /** Clock ms until which the VM's last stats() stands without a change (-Infinity: none yet). */
  untilOf(vmId: string): number {
    return this.#last.get(vmId)?.until ?? -Infinity;
  }

  /** The clock stats() ages its views by. */
  now(): number {
    return this.#o.clock.now();
  }

  /** Both sides' change counts in one number (each only grows). */
  #changes(): number {
    return this.#o.channels.changes + (this.#o.poller?.changes ?? 0);
  }

  /**
   * Resolves true once the oVirt agent reports the guest's session Locked or LoggedOff (after a
   * desktopLock), false after `waitMs`, when the channel goes or `signal` aborts.
   */
  sessionLocked(vmId: string, waitMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.#o.channels.until(vmId, (view) => LOCKED_SESSIONS.has(view.get('session')), waitMs, signal);
  }

  // --- actions (vdsm's VM.desktop* verbs): the command goes out if it can; error 19 unless the agent is responsive ---

  desktopLock(vmId: string): Promise<true> {
    return this.#desktop(vmId, { name: 'lock-screen' });
  }

  desktopLogin(vmId: string, domain: string, username: string, password: string): Promise<true> {
    return this.#desktop(vmId, { name: 'login', args: { username: loginName(domain, username), password } });
  }

  desktopLogoff(vmId: string): Promise<true> {
    return this.#desktop(vmId, { name: 'log-off' });
  }

  desktopSendHcCommand(vmId: string, message: string): Promise<true> {
    return this.#desktop(vmId, { name: 'hc', command: message });
  }

  /** VM.shutdown through the oVirt agent: the user gets `delayS` and `message` before the guest powers off. */
  ovirtShutdown(vmId: string, delayS: number, message: string, reboot: boolean): Promise<SendReply> {
    return this.#o.channels.send(vmId, shutdownCommand(delayS, message, reboot));
  }

  async #desktop(vmId: string, cmd: OvirtCommand): Promise<true> {
    await this.#o.channels.send(vmId, cmd);
    if (!this.#o.channels.isResponsive(vmId)) throw vdsmError(Errors.GUEST_AGENT_NONRESPONSIVE);
    return true;
  }

}
