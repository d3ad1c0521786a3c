// The guest's clock set to the host's after the guest stood still (vdsm's syncGuestTime): virDomainSetTime
// through the QEMU guest agent, on the guest-agent executor. Best effort: it never throws, and an agent
// that does not answer costs a parked task on that executor, never a verb or the caller.
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { CallArgs, ConnOpName } from '../libvirt/client.js';
import type { DispatchOptions } from '../contracts/dispatcher.js';
import type { OpResult } from '../contracts/operations.js';
import { VirErrorCode } from '../libvirt/constants.js';
import { isNoDomain, libvirtErrorInfo } from '../libvirt/errors.js';

/**
 * Why the clock is set. `restore`: a VM back from hibernation (or a memory snapshot), always, as vdsm's
 * restore resumes with the time sync asked for. `cont`: VM.cont, when [vars] time_sync_cont_enable.
 * `snapshot`: the end of a snapshot job, when [vars] time_sync_snapshot_enable.
 */
export type TimeSyncReason = 'restore' | 'cont' | 'snapshot';

/** What became of one sync (vdsm's log levels follow it: debug for the expected misses, error otherwise). */
export type TimeSyncOutcome = 'set' | 'skipped' | 'agentUnresponsive' | 'unsupported' | 'noDomain' | 'failed';

export interface GuestTimeSyncOptions {
  /** The guest-agent executor's libvirt client (its setTime runs on the agent connection). */
  libvirt: { call<K extends ConnOpName>(op: K, args: CallArgs<K>, opts?: DispatchOptions): Promise<OpResult<K>> };
  log: Logger;
  /** The host's wall clock, ms since the epoch (Date.now; injected in tests). */
  wallClock?: () => number;
  /** [vars] time_sync_cont_enable. */
  onCont: boolean;
  /** [vars] time_sync_snapshot_enable. */
  onSnapshot: boolean;
  /** Bound of one call on the executor (the agent's own timeout in libvirt comes first). */
  timeoutMs: number;
}

/** A wall-clock time in ms as virDomainSetTime's seconds and nanoseconds. */
export function setTimeArgs(ms: number): { seconds: number; nseconds: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nseconds: Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1_000_000)) };
}

export class GuestTimeSync {
  readonly #o: GuestTimeSyncOptions;

  constructor(opts: GuestTimeSyncOptions) {
    this.#o = opts;
  }

  /** Whether `reason` sets the clock under this configuration. */
  wanted(reason: TimeSyncReason): boolean {
    switch (reason) {
      case 'restore':
        return true;
      case 'cont':
        return this.#o.onCont;
      case 'snapshot':
        return this.#o.onSnapshot;
    }
  }

  /** Set VM `vmId`'s clock to the host's if `reason` asks for it. Never rejects. */
  async sync(vmId: string, reason: TimeSyncReason): Promise<TimeSyncOutcome> {
    if (!this.wanted(reason)) return 'skipped';
    const t = setTimeArgs((this.#o.wallClock ?? Date.now)());
    const log = this.#o.log;
    try {
      await this.#o.libvirt.call('guest.setTime', { uuid: vmId, ...t }, { timeoutMs: this.#o.timeoutMs, discard: false });
    } catch (err) {
      const outcome = classify(err);
      const fields = { vmId, reason, err: errorMessage(err) };
      if (outcome === 'failed') log.error(fields, 'Failed to set the guest time');
      else log.debug({ ...fields, outcome }, 'Failed to set the guest time');
      return outcome;
    }
    log.debug({ vmId, reason, seconds: t.seconds, nseconds: t.nseconds }, 'guest time updated');
    return 'set';
  }
}

function classify(err: unknown): TimeSyncOutcome {
  if (isNoDomain(err)) return 'noDomain';
  const code = libvirtErrorInfo(err)?.virCode;
  if (code === VirErrorCode.AGENT_UNRESPONSIVE) return 'agentUnresponsive';
  if (code === VirErrorCode.NO_SUPPORT || code === VirErrorCode.OPERATION_UNSUPPORTED) return 'unsupported';
  return 'failed';
}
