// VM.shutdown's power-down sequence (vdsm keeps it in virt/vmpowerdown.py): ask the guest through each
// method in turn (the oVirt guest agent when it is responsive, then the QEMU guest agent, then ACPI:
// powerDownMethods), give each `timeoutMs` (the oVirt agent also its users' delay) to bring the VM down, and at
// the end either power it off (`force`) or give up and report the VM Up again. The first accepted
// request answers the engine; the rest runs in the background on the injected clock and timers, so a
// test drives it with the manual clock. Cancelled by VM.destroy or by a newer VM.shutdown.
import type { Logger } from 'pino';
import { ShutdownFlag } from '../libvirt/constants.js';
import type { Clock, Timers } from '../runtime/clock.js';

export interface PowerDownMethod {
  /** Which way, and for logs: 'ovirt-guest-agent', 'qemu-guest-agent', 'acpi'. */
  name: string;
  /** virDomainShutdownFlagValues (or reboot flags) for this method; 0 for the oVirt guest agent. */
  flags: number;
  /** Time the guest gets on top of `timeoutMs` after this method (the oVirt agent's delay for its users). */
  graceMs?: number;
}

/** What a VM offers to be asked to go down with. */
export interface PowerDownMeans {
  /** The oVirt guest agent is responsive. */
  ovirtAgent: boolean;
  /** The domain has the QEMU guest agent's channel. */
  qemuAgent: boolean;
  acpi: boolean;
}

/**
 * The ways to ask a guest to go down, in vdsm's order: the oVirt guest agent first (it warns logged-in
 * users and gives them `delayMs`), then the QEMU guest agent, then the ACPI power button.
 */
export function powerDownMethods(means: PowerDownMeans, delayMs: number): PowerDownMethod[] {
  const methods: PowerDownMethod[] = [];
  if (means.ovirtAgent) methods.push({ name: 'ovirt-guest-agent', flags: 0, graceMs: delayMs });
  if (means.qemuAgent) methods.push({ name: 'qemu-guest-agent', flags: ShutdownFlag.GUEST_AGENT });
  if (means.acpi) methods.push({ name: 'acpi', flags: ShutdownFlag.ACPI_POWER_BTN });
  return methods;
}

/** What the sequence does to its VM; the VM manager supplies these. */
export interface PowerDownTarget {
  readonly vmId: string;
  /** Ask the guest to power off (or reboot) through `method`; rejects when the method is unavailable. */
  request(method: PowerDownMethod, reboot: boolean): Promise<void>;
  /** The first request was accepted: the VM is powering down (or rebooting). */
  accepted(method: PowerDownMethod, reboot: boolean): void;
  /** Power the VM off now (the end of a forced shutdown). */
  destroy(): Promise<void>;
  /** Every method timed out and the VM still runs. */
  failed(): void;
  isDown(): boolean;
}

export interface PowerDownOptions {
  methods: readonly PowerDownMethod[];
  /** Time each method gets to bring the VM down (plus the method's `graceMs`). */
  timeoutMs: number;
  reboot: boolean;
  /** Power off at the end instead of giving up. */
  force: boolean;
  clock: Clock;
  timers: Timers;
  log: Logger;
  /** How often the VM's status is looked at while waiting (vdsm: 1 s). */
  pollMs?: number;
}

/** How a sequence ended. */
export type PowerDownOutcome = 'down' | 'rebooting' | 'destroyed' | 'timed-out' | 'cancelled' | 'destroy-failed';

export class PowerDown {
  readonly #t: PowerDownTarget;
  readonly #o: PowerDownOptions;
  #cancelled = false;
  #timer: unknown;
  #wake: (() => void) | undefined;
  #outcome: Promise<PowerDownOutcome> | undefined;

  constructor(target: PowerDownTarget, opts: PowerDownOptions) {
    this.#t = target;
    this.#o = opts;
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** How the background part ended; undefined until the first request was accepted. */
  get outcome(): Promise<PowerDownOutcome> | undefined {
    return this.#outcome;
  }

  /**
   * Try the methods in order until one is accepted, then go on in the background. Resolves once a
   * request was accepted (or, with `force` and none accepted, once the VM was powered off); rejects
   * with the first method's error when none was accepted and `force` is false.
   */
  async start(): Promise<void> {
    const { methods, reboot } = this.#o;
    let firstError: unknown;
    for (const [i, m] of methods.entries()) {
      if (this.#cancelled) return;
      try {
        await this.#t.request(m, reboot);
      } catch (err) {
        firstError ??= err;
        this.#o.log.info({ vmId: this.#t.vmId, method: m.name, err }, 'shutdown method failed, trying the next');
        continue;
      }
      this.#t.accepted(m, reboot);
      this.#outcome = this.#continue(m, methods.slice(i + 1));
      return;
    }
    if (!this.#o.force) throw firstError;
    await this.#t.destroy();
    this.#outcome = Promise.resolve('destroyed');
  }

  /** Stop the sequence: no further request, no power-off, no "timed out". Idempotent. */
  cancel(): void {
    this.#cancelled = true;
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wake?.();
  }

  async #continue(first: PowerDownMethod, rest: readonly PowerDownMethod[]): Promise<PowerDownOutcome> {
    if (this.#o.reboot) return 'rebooting';
    if (await this.#waitDown(first)) return 'down';
    for (const m of rest) {
      if (this.#cancelled) return 'cancelled';
      try {
        await this.#t.request(m, false);
      } catch (err) {
        this.#o.log.info({ vmId: this.#t.vmId, method: m.name, err }, 'shutdown method failed');
        continue;
      }
      if (await this.#waitDown(m)) return 'down';
    }
    if (this.#cancelled) return 'cancelled';
    if (this.#t.isDown()) return 'down';
    if (this.#o.force) {
      try {
        await this.#t.destroy();
        return 'destroyed';
      } catch (err) {
        this.#o.log.error({ vmId: this.#t.vmId, err }, 'forced shutdown failed');
        return 'destroy-failed';
      }
    }
    this.#o.log.warn({ vmId: this.#t.vmId }, 'shutdown timed out; the VM is still running');
    this.#t.failed();
    return 'timed-out';
  }

  /** True once the VM is down; false when `m`'s time passed first or the sequence was cancelled. */
  #waitDown(m: PowerDownMethod): Promise<boolean> {
    const { clock, timers } = this.#o;
    const timeoutMs = this.#o.timeoutMs + (m.graceMs ?? 0);
    const poll = Math.min(this.#o.pollMs ?? 1000, timeoutMs);
    const started = clock.now();
    return new Promise((resolve) => {
      const check = (): void => {
        this.#timer = undefined;
        this.#wake = undefined;
        if (this.#t.isDown()) { resolve(true); return; }
        if (this.#cancelled || clock.now() - started >= timeoutMs) { resolve(false); return; }
        this.#wake = check;
        this.#timer = timers.setTimeout(check, poll);
      };
      check();
    });
  }
}
