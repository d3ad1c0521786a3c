// The privileged half of host networking: one setupNetworks change as a transaction. It checks the
// request against the running configuration and the kernel (nothing changes on bad input), writes a
// journal, applies the plan with iproute2, and on any failure rolls the whole change back. A change
// that waits for the engine's connectivity check stays pending until commit() or rollback(), and rolls
// itself back when neither comes in time (the agent died). setSafeNetworkConfig is persist();
// restore-nets is restore(). One change at a time.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { errorMessage, Errors, vdsmError, VdsmError } from '../errors.js';
import { canonicalizeOptions, canonicalizeRequest } from './canonicalize.js';
import { ConfigStore, sameConfig, type PendingChange } from './config-store.js';
import { comparableState } from './kernel-state.js';
import type { NetSystem } from './net-system.js';
import { devicesOf, plan, type Step } from './planner.js';
import { topDevice, validateRequest, type NicFilter } from './validate.js';
import type { KernelSnapshot, NetConfig } from './types.js';

/** setupNetworks' arguments as the engine sent them (checked and canonicalized here). */
export interface SetupArgs {
  networks: Record<string, unknown>;
  bondings: Record<string, unknown>;
  options: Record<string, unknown>;
}

export interface SetupResult {
  txId: string;
  /** True when the change waits for commit() or rollback() (connectivityCheck). */
  pending: boolean;
  /** Seconds the agent has to confirm (connectivityTimeout). */
  timeoutS: number;
  steps: number;
}

export interface RollbackResult {
  txId: string;
  reason: string;
  /** The touched devices as the kernel showed them before the change and after the rollback. */
  before: Record<string, unknown>;
  after: Record<string, unknown>;
  errors: string[];
}

export interface ApplierOptions {
  system: NetSystem;
  store: ConfigStore;
  /** Which kernel devices are NICs (physical, plus [vars] fake_nics patterns). */
  nicFilter: (snap: KernelSnapshot) => NicFilter;
  /** The host's nameservers (resolv.conf), for a static default-route network that names none. */
  hostNameservers: () => Promise<string[]>;
  log: Logger;
  /** Extra time past connectivityTimeout before a pending change rolls itself back. */
  guardMs?: number;
}

interface Pending {
  change: PendingChange;
  commitOnSuccess: boolean;
  guard: NodeJS.Timeout | undefined;
}

export class NetworkApplier {
  #o: ApplierOptions;
  #queue: Promise<unknown> = Promise.resolve();
  #pending: Pending | undefined;
  /** Resolves when the pending change is settled (commit or rollback): the next change waits on it. */
  #settled: Promise<void> = Promise.resolve();
  #settle: (() => void) | undefined;

  constructor(opts: ApplierOptions) {
    this.#o = opts;
  }

  /** Run `fn` after every earlier call and after any pending change is settled. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(() => this.#settled).then(fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  setup(args: SetupArgs): Promise<SetupResult> {
    return this.#serial(() => this.#setup(args));
  }

  async #setup(args: SetupArgs): Promise<SetupResult> {
    const { system, store, log } = this.#o;
    const options = canonicalizeOptions(args.options);
    const running = await store.running();
    const snap = await system.snapshot();
    const req = canonicalizeRequest(args.networks, args.bondings, running, await this.#o.hostNameservers());
    const desired = validateRequest(req, running, snap, this.#o.nicFilter(snap));
    const steps = plan(snap, running, desired);
    const change: PendingChange = { txId: randomUUID(), startedAt: Date.now(), from: running, desired, before: snap };
    log.info({ txId: change.txId, networks: Object.keys(req.networks), bondings: Object.keys(req.bondings), options, steps: steps.length }, 'setupNetworks: applying');
    await store.setPending(change);
    try {
      await this.#execute(steps, false);
    } catch (err) {
      log.error({ txId: change.txId, err: errorMessage(err) }, 'setupNetworks: a step failed, rolling back the whole change');
      await this.#rollback(change, `failed: ${errorMessage(err)}`);
      throw err instanceof VdsmError ? err : vdsmError(Errors.NET_FAILED_IFUP, errorMessage(err));
    }
    if (!options.connectivityCheck) {
      await this.#commit(change, options.commitOnSuccess);
      return { txId: change.txId, pending: false, timeoutS: 0, steps: steps.length };
    }
    this.#settled = new Promise((resolve) => { this.#settle = resolve; });
    const guardMs = options.connectivityTimeout * 1000 + (this.#o.guardMs ?? 30_000);
    const p: Pending = { change, commitOnSuccess: options.commitOnSuccess, guard: undefined };
    p.guard = setTimeout(() => {
      if (this.#pending !== p) return;
      log.warn({ txId: change.txId }, 'setupNetworks: no confirmation from the agent in time, rolling back');
      void this.rollback(change.txId, 'no confirmation from the agent').catch((err: unknown) => log.error({ err }, 'rollback failed'));
    }, guardMs);
    this.#pending = p;
    log.info({ txId: change.txId, timeoutS: options.connectivityTimeout }, 'setupNetworks: applied; waiting for the engine to reach the host');
    return { txId: change.txId, pending: true, timeoutS: options.connectivityTimeout, steps: steps.length };
  }

  /** The engine reached the host: keep the change. */
  async commit(txId: string): Promise<void> {
    const p = this.#take(txId);
    await this.#commit(p.change, p.commitOnSuccess).finally(() => this.#settleNow());
  }

  /** Undo a pending change (the connectivity check failed, or the agent asked). */
  async rollback(txId: string, reason: string): Promise<RollbackResult> {
    const p = this.#take(txId);
    return this.#rollback(p.change, reason).finally(() => this.#settleNow());
  }

  #take(txId: string): Pending {
    const p = this.#pending;
    if (p === undefined || p.change.txId !== txId) throw vdsmError(Errors.NET_BAD_PARAMS, `No pending network change ${txId}`);
    clearTimeout(p.guard);
    this.#pending = undefined;
    return p;
  }

  #settleNow(): void {
    const s = this.#settle;
    this.#settle = undefined;
    this.#settled = Promise.resolve();
    s?.();
  }

  async #commit(change: PendingChange, persist: boolean): Promise<void> {
    await this.#o.store.setRunning(change.desired);
    await this.#o.store.clearPending();
    if (persist) await this.#o.store.persist();
    this.#o.log.info({ txId: change.txId, persisted: persist }, 'setupNetworks: committed');
  }

  async #rollback(change: PendingChange, reason: string): Promise<RollbackResult> {
    const { system, store, log } = this.#o;
    const snap = await system.snapshot();
    const steps = plan(snap, change.desired, change.from, { restore: change.before });
    const errors = await this.#execute(steps, true);
    await store.setRunning(change.from);
    await store.clearPending();
    const devices = devicesOf(change.desired, change.from);
    const after = await system.snapshot();
    const result = { txId: change.txId, reason, before: comparableState(change.before, devices), after: comparableState(after, devices), errors };
    const same = JSON.stringify(result.before) === JSON.stringify(result.after);
    log[same && errors.length === 0 ? 'warn' : 'error']({ txId: change.txId, reason, restored: same, errors }, 'setupNetworks: rolled back');
    return result;
  }

  /** Run steps in order, `ip` runs batched; without force the first failure throws. Returns failures. */
  async #execute(steps: readonly Step[], force: boolean): Promise<string[]> {
    const { system } = this.#o;
    const errors: string[] = [];
    let batch: string[][] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const lines = batch;
      batch = [];
      const r = await system.ipBatch(lines, force);
      if (!r.ok) {
        const line = r.failedLine !== undefined ? lines[r.failedLine - 1] : undefined;
        const text = `ip ${line?.join(' ') ?? '-batch'}: ${r.stderr}`;
        if (!force) throw new Error(text);
        errors.push(text);
      }
    };
    for (const step of steps) {
      if (step.kind === 'ip') {
        batch.push(step.args);
        continue;
      }
      await flush();
      try {
        if (step.kind === 'sysctl') await system.sysctl(step.dev, step.key, step.value);
        else if (step.kind === 'dhcp' && step.action === 'start') await system.dhcpStart(step.dev, step.family, { defaultRoute: step.defaultRoute, blocking: step.blocking === true });
        else if (step.kind === 'dhcp') await system.dhcpStop(step.dev, step.family);
        else await system.writeResolv(step.nameservers);
      } catch (err) {
        if (!force) throw err;
        errors.push(errorMessage(err));
      }
    }
    await flush();
    return errors;
  }

  /** Host.setSafeNetworkConfig. */
  persist(): Promise<NetConfig> {
    return this.#serial(async () => {
      const cfg = await this.#o.store.persist();
      this.#o.log.info({ networks: Object.keys(cfg.networks), bonds: Object.keys(cfg.bonds) }, 'network configuration persisted as safe');
      return cfg;
    });
  }

  /**
   * restore-nets: undo a change a crash left half done (its journal), then make the kernel match the
   * safe configuration: networks and bonds added since are removed, changed ones set back.
   */
  restore(opts: { blockingDhcp?: boolean } = {}): Promise<{ rolledBack: boolean; steps: number; errors: string[]; config: NetConfig }> {
    return this.#serial(async () => {
      const { system, store, log } = this.#o;
      const pending = await store.pending();
      let rolledBack = false;
      if (pending !== undefined) {
        log.warn({ txId: pending.txId, startedAt: new Date(pending.startedAt).toISOString() }, 'restore-nets: a network change was left unfinished; rolling it back');
        await this.#rollback(pending, 'unfinished at restore-nets');
        rolledBack = true;
      }
      const recorded = await store.running();
      const safe = await store.safe();
      const snap = await system.snapshot();
      // At boot the running configuration describes the previous boot: only what the kernel really has
      // is ours to take down (a NIC whose bridge is gone keeps the address the distribution gave it).
      const running = presentIn(recorded, snap);
      const steps = plan(snap, running, safe, { ...(pending !== undefined ? { restore: pending.before } : {}), blockingDhcp: opts.blockingDhcp ?? true });
      const errors = await this.#execute(steps, true);
      if (!sameConfig(recorded, safe) || steps.length > 0) log.info({ removed: Object.keys(running.networks).filter((n) => !(n in safe.networks)), steps: steps.length, errors }, 'restore-nets: safe configuration restored');
      await store.setRunning(safe);
      await store.markRestored();
      return { rolledBack, steps: steps.length, errors, config: safe };
    });
  }

  /**
   * A journal this process did not write (a previous supervdsmd died mid-change): nobody can confirm
   * that change any more, so it is rolled back. Returns undefined when there was none.
   */
  recover(): Promise<RollbackResult | undefined> {
    return this.#serial(async () => {
      if (this.#pending !== undefined) return undefined;
      const pending = await this.#o.store.pending();
      if (pending === undefined) return undefined;
      this.#o.log.warn({ txId: pending.txId, startedAt: new Date(pending.startedAt).toISOString() }, 'a network change was left unfinished by a previous process; rolling it back');
      return this.#rollback(pending, 'left unfinished by a previous process');
    });
  }

  /** For /health and vdsm-tool: the change in flight, if any. */
  state(): Record<string, unknown> {
    const p = this.#pending;
    return p === undefined ? { pending: null } : { pending: { txId: p.change.txId, startedAt: new Date(p.change.startedAt).toISOString() } };
  }
}

/** The networks and bonds of `cfg` whose devices exist in the kernel. */
export function presentIn(cfg: NetConfig, snap: KernelSnapshot): NetConfig {
  const out: NetConfig = { networks: {}, bonds: {} };
  for (const [name, attrs] of Object.entries(cfg.bonds)) if (snap.links[name]?.kind === 'bond') out.bonds[name] = attrs;
  for (const [name, net] of Object.entries(cfg.networks)) {
    const top = topDevice(name, net);
    if (snap.links[top] === undefined || (net.bonding !== undefined && out.bonds[net.bonding] === undefined)) continue;
    // A bridgeless untagged network lives on the NIC itself, which always exists: it is there only if
    // its static address is.
    const onNic = !net.bridged && net.vlan === undefined;
    if (onNic && net.ipaddr !== undefined && !snap.addrs.some((a) => a.dev === top && a.local === net.ipaddr)) continue;
    out.networks[name] = net;
  }
  return out;
}
