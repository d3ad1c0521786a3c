// When to ask each VM's QEMU guest agent what (vdsm's QemuGuestAgentPoller._poller), on plain state and an
// injected clock: the boot-phase checks, the capability check, one period per query, channel state from
// AGENT_LIFECYCLE events (hints accepted only while unknown), one task per VM at a time, a failure
// back-off, and, beyond vdsm, one per-host budget of calls to agents that are failing: a thousand dead
// agents cost at most `probeBudget` timeouts per poll, whatever their number.
import {
  EMPTY_CAPS, QGA_QUERIES, type NetIface, type PeriodName, type QgaCapabilities, type QgaFields, type QgaOutcome, type QgaPlan, type QgaQuery,
} from '../contracts/guest-ops.js';

export { QGA_QUERIES, type PeriodName, type QgaOutcome, type QgaPlan, type QgaQuery };

const DATA_QUERIES = (Object.keys(QGA_QUERIES) as QgaQuery[]).filter((q) => q !== 'info');

/** vdsm's _HOTPLUG_CHECK_PERIOD: file systems and disks are asked again this long after a disk hotplug. */
export const HOTPLUG_CHECK_MS = 10_000;

export interface QgaScheduleOptions {
  /** Period per query group, ms ([guest_agent] qga_*_period). */
  periods: Readonly<Record<PeriodName, number>>;
  /** [guest_agent] qga_polling_period, ms: a query is due up to half a poll early, so it never waits a whole poll late. */
  pollMs: number;
  /** [guest_agent] qga_initial_info_interval, ms: the boot phase. */
  initialIntervalMs: number;
  /** Back-off after the first failure (vdsm's fixed 60 s); doubles per further failure up to backoffMaxMs. */
  backoffMs: number;
  backoffMaxMs: number;
  /** Tasks per poll for VMs whose agent is failing (each may cost a full command timeout). */
  probeBudget: number;
  /** How long data from an agent that stopped answering is still reported. */
  maxAgeMs: number;
}

export type ChannelState = 'connected' | 'disconnected' | 'unknown';

/** What the poller knows of a VM at a poll. */
export interface QgaVmInput {
  vmId: string;
  /** Running in libvirt (not paused, not migrating, not down): only then can the agent answer. */
  running: boolean;
  /** Clock ms the VM started (boot phase). */
  startedAt: number;
  /** Clock ms of the last disk hotplug, if any. */
  lastDiskHotplug?: number;
}

export interface CompleteEffect {
  /** The agent went from answering to failing or back (`failures` counted while failing). */
  health?: { to: 'ok' | 'failing'; failures: number; retryInMs?: number; message?: string };
  /** Capabilities changed (new version or command list). */
  capsChanged?: QgaCapabilities;
  /** The agent's version is known for the first time for this VM. */
  firstCaps?: boolean;
}

interface VmState {
  caps: QgaCapabilities;
  lastCheck: Partial<Record<QgaQuery, number>>;
  /** Clock ms of the last answer / failure (undefined: never). */
  lastSuccessAt: number | undefined;
  lastFailureAt: number | undefined;
  failures: number;
  retryAt: number;
  channel: ChannelState;
  hint: ChannelState;
  inFlight: boolean;
  fields: QgaFields;
  /** Bumped whenever `fields` changes (it is updated in place). */
  revision: number;
}

export class QgaSchedule {
  #o: QgaScheduleOptions;
  #vms = new Map<string, VmState>();
  #probesThisPoll = 0;
  /** Moves on every change of any VM's state that fields(), caps() or revision() could show. */
  #changes = 0;

  constructor(opts: QgaScheduleOptions) {
    this.#o = opts;
  }

  /** libvirt's AGENT_LIFECYCLE event. A disconnected -> connected change clears the failure back-off. */
  channelChanged(vmId: string, state: 'connected' | 'disconnected'): { from: ChannelState } {
    const s = this.#state(vmId);
    const from = s.channel;
    s.channel = state;
    this.#changes++;
    if (state === 'connected' && from !== 'connected') {
      s.failures = 0;
      s.retryAt = 0;
    }
    return { from };
  }

  /** A channel state from elsewhere (the domain XML at recovery): used only while no event said otherwise. */
  channelHint(vmId: string, state: 'connected' | 'disconnected'): void {
    this.#state(vmId).hint = state;
  }

  channel(vmId: string): ChannelState {
    return this.#vms.get(vmId)?.channel ?? 'unknown';
  }

  caps(vmId: string): QgaCapabilities {
    return this.#vms.get(vmId)?.caps ?? EMPTY_CAPS;
  }

  /** vdsm's is_active: a successful call after the last failure. */
  isActive(vmId: string): boolean {
    const s = this.#vms.get(vmId);
    return s?.lastSuccessAt !== undefined && (s.lastFailureAt === undefined || s.lastSuccessAt > s.lastFailureAt);
  }

  /** The agent's data, while it answers or for maxAgeMs after its last answer; undefined once aged out. */
  fields(vmId: string, now: number): QgaFields | undefined {
    const s = this.#vms.get(vmId);
    if (s?.lastSuccessAt === undefined) return undefined;
    const answering = s.channel === 'connected' && s.failures === 0;
    return answering || now - s.lastSuccessAt < this.#o.maxAgeMs ? s.fields : undefined;
  }

  /**
   * Until when (clock ms) fields(vmId, t) keeps giving what it gives at `now`, if nothing changes (changes
   * stays the same): the moment data of an agent that stopped answering ages out, else Infinity.
   */
  fieldsUntil(vmId: string, now: number): number {
    const s = this.#vms.get(vmId);
    if (s?.lastSuccessAt === undefined || (s.channel === 'connected' && s.failures === 0)) return Infinity;
    const end = s.lastSuccessAt + this.#o.maxAgeMs;
    return now < end ? end : Infinity;
  }

  /**
   * A count that moves whenever any VM's state changes in a way fields(), caps() or revision() could
   * show (a channel event, a poll taking up a hint, a finished task, a VM added or purged): with the same
   * count and a time before fieldsUntil(), every VM's answers are the same as before.
   */
  get changes(): number {
    return this.#changes;
  }

  /** Changes whenever the VM's fields do (they are one object updated in place): -1 for an unknown VM. */
  revision(vmId: string): number {
    return this.#vms.get(vmId)?.revision ?? -1;
  }

  /** Monotonic ms of the last answer to `query` (0: never). */
  lastCheck(vmId: string, query: QgaQuery): number {
    return this.#vms.get(vmId)?.lastCheck[query] ?? 0;
  }

  /**
   * One poll: the tasks to run now, at most one per VM (a VM whose previous task is still running is
   * skipped), probes of failing agents limited to the budget (the longest-waiting first).
   */
  poll(vms: readonly QgaVmInput[], now: number): QgaPlan[] {
    const plans: QgaPlan[] = [];
    const probes: { plan: QgaPlan; waiting: number }[] = [];
    for (const vm of vms) {
      const s = this.#state(vm.vmId);
      if (s.hint !== 'unknown') {
        if (s.channel === 'unknown') {
          s.channel = s.hint;
          this.#changes++;
        }
        s.hint = 'unknown';
      }
      if (s.inFlight || !vm.running || s.channel !== 'connected') continue;
      const queries = this.#due(vm, s, now);
      if (queries.length === 0) continue;
      const plan: QgaPlan = { vmId: vm.vmId, queries, caps: s.caps, probe: s.failures > 0 };
      if (plan.probe) probes.push({ plan, waiting: now - s.retryAt });
      else plans.push(plan);
    }
    probes.sort((a, b) => b.waiting - a.waiting);
    const granted = probes.slice(0, Math.max(0, this.#o.probeBudget)).map((p) => p.plan);
    this.#probesThisPoll = granted.length;
    for (const p of [...plans, ...granted]) this.#state(p.vmId).inFlight = true;
    return [...plans, ...granted];
  }

  /** Probe tasks granted at the last poll. */
  get probesThisPoll(): number {
    return this.#probesThisPoll;
  }

  /** A task finished (or failed as a whole: discarded, worker crash) for `vmId`. */
  complete(vmId: string, outcome: QgaOutcome, now: number): CompleteEffect {
    const s = this.#vms.get(vmId);
    if (s === undefined) return {}; // purged meanwhile
    s.inFlight = false;
    this.#changes++;
    const effect: CompleteEffect = {};
    // A capability check the agent did not answer is not a check: it is asked again after the back-off
    // (vdsm waits the whole qga_info_period, so an agent hung from the start stayed unknown for 5 minutes),
    // and the capabilities known so far stay.
    if (outcome.caps !== undefined && outcome.failure?.query !== 'info') {
      const before = s.caps;
      s.caps = outcome.caps;
      s.lastCheck.info = now;
      if (before.version !== outcome.caps.version || before.commands.join() !== outcome.caps.commands.join()) effect.capsChanged = outcome.caps;
      if (before.version === null && outcome.caps.version !== null) effect.firstCaps = true;
    }
    for (const q of outcome.done) s.lastCheck[q] = now;
    if (outcome.done.length > 0 || (outcome.caps?.version ?? null) !== null) {
      Object.assign(s.fields, outcome.fields);
      s.revision++;
      s.lastSuccessAt = now;
    }
    if (outcome.failure !== undefined) {
      s.failures++;
      s.lastFailureAt = now;
      const wait = Math.min(this.#o.backoffMaxMs, this.#o.backoffMs * 2 ** Math.min(s.failures - 1, 20));
      s.retryAt = now + wait;
      if (s.failures === 1) effect.health = { to: 'failing', failures: 1, retryInMs: wait, message: outcome.failure.message };
    } else if (s.failures > 0 && (outcome.done.length > 0 || (outcome.caps?.version ?? null) !== null)) {
      effect.health = { to: 'ok', failures: s.failures };
      s.failures = 0;
      s.retryAt = 0;
    }
    return effect;
  }

  /** Forget VMs that are gone (vdsm purges at the end of every poll). Returns the ids dropped. */
  purge(known: ReadonlySet<string>): string[] {
    const gone: string[] = [];
    for (const id of this.#vms.keys()) {
      if (!known.has(id)) {
        this.#vms.delete(id);
        this.#changes++;
        gone.push(id);
      }
    }
    return gone;
  }

  describe(vmId: string, now: number): Record<string, unknown> | undefined {
    const s = this.#vms.get(vmId);
    if (s === undefined) return undefined;
    return {
      channel: s.channel, version: s.caps.version, commands: s.caps.commands.length, failures: s.failures,
      retryInMs: s.retryAt > now ? Math.round(s.retryAt - now) : 0, inFlight: s.inFlight, active: this.isActive(vmId),
      lastAnswerAgeMs: s.lastSuccessAt !== undefined ? Math.round(now - s.lastSuccessAt) : null,
    };
  }

  get size(): number {
    return this.#vms.size;
  }

  #state(vmId: string): VmState {
    let s = this.#vms.get(vmId);
    if (s === undefined) {
      s = { caps: EMPTY_CAPS, lastCheck: {}, lastSuccessAt: undefined, lastFailureAt: undefined, failures: 0, retryAt: 0, channel: 'unknown', hint: 'unknown', inFlight: false, fields: {}, revision: 0 };
      this.#vms.set(vmId, s);
      this.#changes++;
    }
    return s;
  }

  #isDue(s: VmState, q: QgaQuery, now: number): boolean {
    const last = s.lastCheck[q];
    if (last === undefined) return true;
    return now - last >= this.#o.periods[QGA_QUERIES[q].period] - this.#o.pollMs / 2;
  }

  #due(vm: QgaVmInput, s: VmState, now: number): QgaQuery[] {
    const out = new Set<QgaQuery>();
    const booting = now - vm.startedAt < this.#o.initialIntervalMs;
    const backingOff = s.failures > 0 && now < s.retryAt;
    // Boot phase: keep asking who the agent is, and for an address, on every poll until known.
    if (booting && !backingOff) {
      if (s.caps.version === null) out.add('info');
      if (!hasRoutableAddress(s.fields.netIfaces) && (s.caps.version === null || s.caps.commands.includes(QGA_QUERIES.interfaces.command))) out.add('interfaces');
    }
    if (backingOff) return [...out];
    if (this.#isDue(s, 'info', now)) out.add('info');
    // Without a known version there is nothing else to ask (the runner re-checks after a fresh `info`).
    if (s.caps.version === null && !out.has('info')) return [];
    const commands = new Set(s.caps.commands);
    for (const q of DATA_QUERIES) {
      if (s.caps.version !== null && !commands.has(QGA_QUERIES[q].command)) continue;
      const hotplug = (q === 'filesystem' || q === 'disks') && vm.lastDiskHotplug !== undefined
        && now - vm.lastDiskHotplug >= HOTPLUG_CHECK_MS && (s.lastCheck[q] ?? 0) < vm.lastDiskHotplug + HOTPLUG_CHECK_MS;
      if (hotplug || this.#isDue(s, q, now)) out.add(q);
    }
    const order = ['info', ...DATA_QUERIES] as QgaQuery[];
    return order.filter((q) => out.has(q));
  }
}

const LOCAL_IFACES = new Set(['lo', 'docker0']);

function isRoutable(addr: string): boolean {
  const a = addr.toLowerCase().split('%')[0]!;
  if (a.includes(':')) return !(a === '::1' || /^fe[89ab]/.test(a) || a === '::');
  const m = /^(\d+)\.(\d+)\./.exec(a);
  if (m === null) return false;
  const [x, y] = [Number(m[1]), Number(m[2])];
  return !(x === 127 || (x === 169 && y === 254) || x === 0);
}

/** Whether any interface (not lo/docker0) has an address that is neither loopback nor link-local. */
export function hasRoutableAddress(ifaces: readonly NetIface[] | undefined): boolean {
  for (const i of ifaces ?? []) {
    if (LOCAL_IFACES.has(i.name)) continue;
    if ([...i.inet, ...i.inet6].some(isRoutable)) return true;
  }
  return false;
}
