// The per-VM status state machine: moved by completed calls (launch, pause, shutdown, destroy ...) and by
// libvirt lifecycle events; it records exit info on Down and tells a listener about every status change.
import { eventTime, type Clock, type Timers } from '../runtime/clock.js';
import { ExitCode, exitInfo, VmExitReason, type ExitInfo, type VmExitReasonCode } from './exit-reasons.js';

/** The VM status strings vdsm reports (the engine matches them with spaces stripped, case-insensitive). */
export const VmStatus = {
  DOWN: 'Down',
  UP: 'Up',
  POWERING_UP: 'Powering up',
  POWERING_DOWN: 'Powering down',
  PAUSED: 'Paused',
  WAIT_FOR_LAUNCH: 'WaitForLaunch',
  MIGRATION_SOURCE: 'Migration Source',
  MIGRATION_DESTINATION: 'Migration Destination',
  SAVING_STATE: 'Saving State',
  RESTORING_STATE: 'Restoring state',
  REBOOT_IN_PROGRESS: 'RebootInProgress',
} as const;

export type VmStatusName = (typeof VmStatus)[keyof typeof VmStatus];

export const ALL_VM_STATUSES: readonly VmStatusName[] = Object.freeze(Object.values(VmStatus));

export function isVmStatus(value: unknown): value is VmStatusName {
  return typeof value === 'string' && (ALL_VM_STATUSES as readonly string[]).includes(value);
}

/** Statuses in which a qemu process exists and the domain answers monitor commands. */
export const RUNNING_STATUSES: ReadonlySet<VmStatusName> = new Set<VmStatusName>([
  VmStatus.UP, VmStatus.POWERING_UP, VmStatus.POWERING_DOWN, VmStatus.PAUSED, VmStatus.REBOOT_IN_PROGRESS,
  VmStatus.MIGRATION_SOURCE, VmStatus.SAVING_STATE,
]);

/** libvirt's virDomainEventType numbers. */
export const LifecycleEvent = {
  DEFINED: 0, UNDEFINED: 1, STARTED: 2, SUSPENDED: 3, RESUMED: 4, STOPPED: 5, SHUTDOWN: 6, PMSUSPENDED: 7, CRASHED: 8,
} as const;
export const StartedDetail = { BOOTED: 0, MIGRATED: 1, RESTORED: 2, FROM_SNAPSHOT: 3, WAKEUP: 4 } as const;
export const SuspendedDetail = {
  PAUSED: 0, MIGRATED: 1, IOERROR: 2, WATCHDOG: 3, RESTORED: 4, FROM_SNAPSHOT: 5, API_ERROR: 6, POSTCOPY: 7, POSTCOPY_FAILED: 8,
} as const;
export const ResumedDetail = { UNPAUSED: 0, MIGRATED: 1, FROM_SNAPSHOT: 2, POSTCOPY: 3 } as const;
export const StoppedDetail = { SHUTDOWN: 0, DESTROYED: 1, CRASHED: 2, MIGRATED: 3, SAVED: 4, FAILED: 5, FROM_SNAPSHOT: 6 } as const;
export const ShutdownDetail = { FINISHED: 0, GUEST: 1, HOST: 2 } as const;
export const PmSuspendedDetail = { MEMORY: 0, DISK: 1 } as const;
export const CrashedDetail = { PANICKED: 0, CRASHLOADED: 1 } as const;

/** vdsm's GUEST_WAIT_TIMEOUT: without word from a guest agent, Powering up becomes Up after this. */
export const GUEST_WAIT_TIMEOUT_MS = 60_000;

const S = VmStatus;

/** Allowed transitions; Down is terminal. A request for any other transition is refused and logged. */
const TRANSITIONS: Readonly<Record<VmStatusName, readonly VmStatusName[]>> = {
  [S.WAIT_FOR_LAUNCH]: [S.POWERING_UP, S.UP, S.PAUSED, S.DOWN],
  [S.POWERING_UP]: [S.UP, S.PAUSED, S.POWERING_DOWN, S.REBOOT_IN_PROGRESS, S.MIGRATION_SOURCE, S.SAVING_STATE, S.DOWN],
  [S.UP]: [S.PAUSED, S.POWERING_DOWN, S.REBOOT_IN_PROGRESS, S.MIGRATION_SOURCE, S.SAVING_STATE, S.DOWN],
  [S.PAUSED]: [S.UP, S.POWERING_DOWN, S.MIGRATION_SOURCE, S.SAVING_STATE, S.DOWN],
  [S.POWERING_DOWN]: [S.UP, S.PAUSED, S.REBOOT_IN_PROGRESS, S.DOWN],
  [S.REBOOT_IN_PROGRESS]: [S.UP, S.POWERING_UP, S.PAUSED, S.POWERING_DOWN, S.DOWN],
  [S.MIGRATION_SOURCE]: [S.UP, S.PAUSED, S.DOWN],
  [S.MIGRATION_DESTINATION]: [S.UP, S.PAUSED, S.DOWN],
  [S.SAVING_STATE]: [S.UP, S.PAUSED, S.DOWN],
  [S.RESTORING_STATE]: [S.UP, S.PAUSED, S.DOWN],
  [S.DOWN]: [],
};

export function canTransition(from: VmStatusName, to: VmStatusName): boolean {
  return TRANSITIONS[from].includes(to);
}

export interface VmStatusChange {
  vmId: string;
  from: VmStatusName;
  to: VmStatusName;
  /** eventTime() (ms) at the change; the wire's statusTime and a good notify_time. */
  statusTime: number;
  /** What moved it: a call name or 'libvirt:<event>/<detail>'. */
  cause: string;
  exitInfo?: ExitInfo;
  pauseCode?: string;
}

export type StatusListener = (change: VmStatusChange) => void;

export interface StateLog {
  warn(msg: string): void;
  debug?(msg: string): void;
}

export interface VmStateOptions {
  clock: Clock;
  timers: Timers;
  onStatusChange?: StatusListener;
  /** Called on every change of status, pause code or exit info (what a VM's report shows of its state). */
  onTouch?: () => void;
  log?: StateLog;
  /** WaitForLaunch for VM.create; Migration Destination / Restoring state for incoming VMs; any status on recovery. */
  initial?: VmStatusName;
  guestWaitTimeoutMs?: number;
  /** Clock ms the VM started (recovery: from the domain's start time); default: now. */
  startedAtMs?: number;
}

export interface VmStateSnapshot {
  vmId: string;
  status: VmStatusName;
  statusTime: number;
  startedAt: number;
  exitInfo?: ExitInfo;
  pauseCode?: string;
  shutdownRequested: boolean;
  destroyRequested: boolean;
}

export class VmStateMachine {
  readonly vmId: string;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #listener: StatusListener | undefined;
  readonly #touch: (() => void) | undefined;
  readonly #log: StateLog | undefined;
  readonly #guestWaitMs: number;
  readonly #startedAt: number;
  #status: VmStatusName;
  #statusTime: number;
  #exitInfo: ExitInfo | undefined;
  #pauseCode: string | undefined;
  #shutdownReason: VmExitReasonCode | undefined;
  #destroyReason: VmExitReasonCode | undefined;
  #crashed = false;
  /** The status the VM had when its release began (Powering down hides it; the exit reason needs it). */
  #statusBeforeRelease: VmStatusName | undefined;
  #guestTimer: unknown;

  constructor(vmId: string, opts: VmStateOptions) {
    this.vmId = vmId;
    this.#clock = opts.clock;
    this.#timers = opts.timers;
    this.#listener = opts.onStatusChange;
    this.#touch = opts.onTouch;
    this.#log = opts.log;
    this.#guestWaitMs = opts.guestWaitTimeoutMs ?? GUEST_WAIT_TIMEOUT_MS;
    this.#status = opts.initial ?? S.WAIT_FOR_LAUNCH;
    this.#startedAt = opts.startedAtMs ?? opts.clock.now();
    this.#statusTime = eventTime(opts.clock);
    if (this.#status === S.POWERING_UP || this.#status === S.REBOOT_IN_PROGRESS) this.#armGuestTimer();
  }

  // Every change of what a report shows of the state goes through these (onTouch).
  #setStatus(v: VmStatusName): void {
    this.#status = v;
    this.#touch?.();
  }

  #setPauseCode(v: string | undefined): void {
    this.#pauseCode = v;
    this.#touch?.();
  }

  #setExitInfo(v: ExitInfo | undefined): void {
    this.#exitInfo = v;
    this.#touch?.();
  }

  get status(): VmStatusName {
    return this.#status;
  }

  get statusTime(): number {
    return this.#statusTime;
  }

  get exitInfo(): ExitInfo | undefined {
    return this.#exitInfo;
  }

  get pauseCode(): string | undefined {
    return this.#pauseCode;
  }

  /** Clock ms when this VM object was created (vdsm's start time for elapsedTime). */
  get startedAt(): number {
    return this.#startedAt;
  }

  get isDown(): boolean {
    return this.#status === S.DOWN;
  }

  // --- calls (each means the libvirt side of the action has completed) ---

  /** The domain was created and started. */
  launched(): boolean {
    return this.#moveTo(S.POWERING_UP, 'launched');
  }

  /**
   * Creating or starting the domain failed. After VM.destroy was asked for, the failure is the destroy's
   * own doing (it killed the domain under the still running create), so the VM ends as destroyed.
   */
  launchFailed(message?: string): boolean {
    if (this.#destroyReason !== undefined) return this.#down(exitInfo(ExitCode.NORMAL, this.#destroyReason), 'destroy');
    return this.#down(exitInfo(ExitCode.ERROR, VmExitReason.LIBVIRT_START_FAILED, message), 'launchFailed');
  }

  /** A guest agent says the guest is up (or the powering-up window passed). `cause` names which. */
  guestUp(cause = 'guestUp'): boolean {
    if (this.#status !== S.POWERING_UP && this.#status !== S.REBOOT_IN_PROGRESS && this.#status !== S.WAIT_FOR_LAUNCH) return false;
    return this.#moveTo(S.UP, cause);
  }

  /** VM.shutdown accepted: the guest was asked to power off (or reboot). */
  shutdownRequested(opts: { reboot?: boolean } = {}): boolean {
    this.#shutdownReason = VmExitReason.ADMIN_SHUTDOWN;
    return this.#moveTo(opts.reboot === true ? S.REBOOT_IN_PROGRESS : S.POWERING_DOWN, 'shutdown');
  }

  /** Every shutdown method timed out and the VM is still running: back to Up. */
  shutdownFailed(): boolean {
    this.#shutdownReason = undefined;
    if (this.#status !== S.POWERING_DOWN) return false;
    return this.#moveTo(S.UP, 'shutdownFailed');
  }

  /** VM.destroy started: a STOPPED event from now on is our own doing. */
  destroyRequested(reason: VmExitReasonCode = VmExitReason.ADMIN_SHUTDOWN): void {
    this.#destroyReason = reason;
  }

  /**
   * The VM's resources are being released (vdsm's releaseVm: VM.destroy, or its domain stopped): it
   * reads Powering down until it is Down, as vdsm's does. vdsm sets that status without an event, so no
   * listener hears it (the reports show it); a VM already Down stays so, and a paused one reads Paused
   * (vdsm shows a VM whose guest CPUs are stopped as Paused). Returns whether the status changed.
   */
  releasing(): boolean {
    if (this.#status === S.DOWN || this.#status === S.PAUSED || this.#status === S.POWERING_DOWN) return false;
    this.#statusBeforeRelease = this.#status;
    this.#cancelGuestTimer();
    this.#setPauseCode(undefined);
    this.#setStatus(S.POWERING_DOWN);
    this.#statusTime = eventTime(this.#clock);
    this.#log?.debug?.(`vm ${this.vmId}: ${this.#statusBeforeRelease} -> ${S.POWERING_DOWN} (release, no event)`);
    return true;
  }

  /** The domain is gone after our destroy (whichever of this and the STOPPED event comes first wins). */
  destroyed(): boolean {
    return this.#down(exitInfo(ExitCode.NORMAL, this.#destroyReason ?? VmExitReason.ADMIN_SHUTDOWN), 'destroy');
  }

  paused(pauseCode = 'NOERR', cause = 'pause'): boolean {
    this.#setPauseCode(pauseCode);
    return this.#moveTo(S.PAUSED, cause);
  }

  resumed(cause = 'cont'): boolean {
    return this.#moveTo(S.UP, cause);
  }

  /** libvirt's REBOOT event (a separate event id): the guest is rebooting. */
  rebooting(): boolean {
    return this.#moveTo(S.REBOOT_IN_PROGRESS, 'libvirt:reboot');
  }

  migrationStarted(): boolean {
    return this.#moveTo(S.MIGRATION_SOURCE, 'migrate');
  }

  /**
   * An outgoing migration succeeded: libvirt said the domain migrated (STOPPED/MIGRATED, or the call
   * returned and the domain is gone here). Down with exitReason 4, sent by the migration service after
   * the downtime report, as vdsm orders them.
   */
  migrationSucceeded(): boolean {
    if (this.#status !== S.MIGRATION_SOURCE) return false;
    return this.#down(exitInfo(ExitCode.NORMAL, VmExitReason.MIGRATION_SUCCEEDED), 'migrated');
  }

  /** An outgoing migration failed or was cancelled: the VM runs here as it did before (Up or Paused). */
  migrationFailed(to: typeof S.UP | typeof S.PAUSED = S.UP): boolean {
    if (this.#status !== S.MIGRATION_SOURCE) return false;
    return this.#moveTo(to, 'migrationFailed');
  }

  /**
   * An incoming migration is over: the domain runs here (resumed after migration, or paused when the VM
   * was paused on the source). The migration service calls this, vdsm's 1 s after libvirt's event.
   */
  incomingMigrationFinished(paused = false): boolean {
    if (this.#status !== S.MIGRATION_DESTINATION) return false;
    if (paused) this.#setPauseCode('NOERR');
    return this.#moveTo(paused ? S.PAUSED : S.UP, 'migrated');
  }

  /** Hibernation started: the VM is Saving State until its memory is on storage (or the save failed). */
  savingStarted(): boolean {
    return this.#moveTo(S.SAVING_STATE, 'hibernate');
  }

  /**
   * The memory state and the parameters are on storage: Down with exitReason 5 (SaveState succeeded), sent
   * by the hibernation after the configuration volume is written, as vdsm orders them.
   */
  saveSucceeded(): boolean {
    if (this.#status !== S.SAVING_STATE) return false;
    return this.#down(exitInfo(ExitCode.NORMAL, VmExitReason.SAVE_STATE_SUCCEEDED), 'hibernated');
  }

  /** The save failed: the VM runs here again (Up, or Paused when it was paused before). */
  saveFailed(to: typeof S.UP | typeof S.PAUSED = S.UP): boolean {
    if (this.#status !== S.SAVING_STATE) return false;
    if (to === S.PAUSED) this.#setPauseCode('NOERR');
    return this.#moveTo(to, 'hibernationFailed');
  }

  /** A VM restored from hibernation runs (or is paused, as it was saved): Restoring state -> Up / Paused. */
  restored(paused = false): boolean {
    if (this.#status !== S.RESTORING_STATE) return false;
    if (paused) this.#setPauseCode('NOERR');
    return this.#moveTo(paused ? S.PAUSED : S.UP, 'restored');
  }

  /** Recovery and other paths where the coordinator knows the outcome (e.g. the domain vanished). */
  markDown(info: ExitInfo, cause = 'markDown'): boolean {
    return this.#down(info, cause);
  }

  // --- libvirt lifecycle events ---

  /** Whether libvirt's STOPPED event with `detail` makes this VM Down now (false while it is already Down). */
  stopMeansDown(detail: number): boolean {
    if (this.#status === S.DOWN) return false;
    // Migrated away: the migration service reports Down (4) once the downtime report went out.
    if (detail === StoppedDetail.MIGRATED && this.#status === S.MIGRATION_SOURCE && this.#destroyReason === undefined) return false;
    // Saved: the hibernation reports Down (5) once the VM's parameters are on storage too.
    if (detail === StoppedDetail.SAVED && this.#status === S.SAVING_STATE && this.#destroyReason === undefined) return false;
    return true;
  }

  onLifecycleEvent(event: number, detail: number): boolean {
    const cause = `libvirt:${event}/${detail}`;
    switch (event) {
      case LifecycleEvent.STARTED:
        if (detail === StartedDetail.BOOTED) return this.#moveTo(S.POWERING_UP, cause);
        // Incoming migration and restore stay put until RESUMED; a wake-up or snapshot revert runs.
        if (detail === StartedDetail.WAKEUP || detail === StartedDetail.FROM_SNAPSHOT) return this.#moveTo(S.UP, cause);
        return false;
      case LifecycleEvent.SUSPENDED:
        return this.#onSuspended(detail, cause);
      case LifecycleEvent.RESUMED:
        if (this.#status === S.MIGRATION_SOURCE) return false; // resumed after a failed outgoing migration step
        // An incoming domain runs: the migration service reports Up once it has taken the domain over.
        if (this.#status === S.MIGRATION_DESTINATION) return false;
        // Hibernation's own pause/resume and a restored domain: the hibernation decides (restored / saveFailed).
        if (this.#status === S.SAVING_STATE || this.#status === S.RESTORING_STATE) return false;
        // QEMU starts with its CPUs stopped and libvirt resumes them before STARTED/BOOTED: that first
        // RESUMED means the guest starts booting, not that it is up.
        if (this.#status === S.WAIT_FOR_LAUNCH || this.#status === S.POWERING_UP) return this.#moveTo(S.POWERING_UP, cause);
        this.#setPauseCode(undefined);
        return this.#moveTo(S.UP, cause);
      case LifecycleEvent.STOPPED:
        return this.stopMeansDown(detail) ? this.#down(this.#stopReason(detail), cause) : false;
      case LifecycleEvent.SHUTDOWN:
        // The guest finished its shutdown sequence; STOPPED follows.
        return this.#status === S.DOWN ? false : this.#moveTo(S.POWERING_DOWN, cause);
      case LifecycleEvent.PMSUSPENDED:
        this.#setPauseCode('NOERR');
        return this.#moveTo(S.PAUSED, cause);
      case LifecycleEvent.CRASHED:
        // A guest panic; what follows (STOPPED, or a pause) depends on <on_crash>.
        this.#crashed = true;
        return false;
      default:
        return false; // DEFINED, UNDEFINED: no status meaning
    }
  }

  #onSuspended(detail: number, cause: string): boolean {
    if (this.#status === S.MIGRATION_DESTINATION) return false; // a paused VM arriving: see incomingMigrationFinished
    // Hibernation pauses the VM itself; a restored image may start paused: neither is a user-visible pause.
    if (this.#status === S.SAVING_STATE || this.#status === S.RESTORING_STATE) return false;
    switch (detail) {
      case SuspendedDetail.MIGRATED:
      case SuspendedDetail.POSTCOPY:
        return false; // part of a migration, not a user-visible pause
      case SuspendedDetail.IOERROR:
        this.#setPauseCode('EIO');
        break;
      case SuspendedDetail.API_ERROR:
        this.#setPauseCode('EOTHER');
        break;
      case SuspendedDetail.POSTCOPY_FAILED:
        this.#setPauseCode('POSTCOPY');
        break;
      default:
        this.#setPauseCode('NOERR');
    }
    return this.#moveTo(S.PAUSED, cause);
  }

  /** Exit info for a STOPPED event, given what we asked for and what we were doing. */
  #stopReason(detail: number): ExitInfo {
    if (this.#destroyReason !== undefined) return exitInfo(ExitCode.NORMAL, this.#destroyReason);
    // The incoming domain went away before it ran here (the source aborted, QEMU failed).
    if ((this.#statusBeforeRelease ?? this.#status) === S.MIGRATION_DESTINATION) return exitInfo(ExitCode.ERROR, VmExitReason.MIGRATION_FAILED);
    if (this.#shutdownReason !== undefined && (detail === StoppedDetail.SHUTDOWN || detail === StoppedDetail.DESTROYED)) {
      return exitInfo(ExitCode.NORMAL, this.#shutdownReason);
    }
    if (detail === StoppedDetail.SHUTDOWN && !this.#crashed) return exitInfo(ExitCode.NORMAL, VmExitReason.USER_SHUTDOWN);
    if (detail === StoppedDetail.DESTROYED) return exitInfo(ExitCode.ERROR, VmExitReason.HOST_SHUTDOWN);
    if (detail === StoppedDetail.FAILED) return exitInfo(ExitCode.ERROR, VmExitReason.LOST_QEMU_CONNECTION);
    return exitInfo(ExitCode.ERROR, VmExitReason.GENERIC_ERROR);
  }

  #down(info: ExitInfo, cause: string): boolean {
    if (this.#status === S.DOWN) return false; // one Down, one event: later STOPPED/destroy are no-ops
    this.#setExitInfo(info);
    return this.#moveTo(S.DOWN, cause);
  }

  #moveTo(to: VmStatusName, cause: string): boolean {
    const from = this.#status;
    if (from === to) return false;
    if (!canTransition(from, to)) {
      this.#log?.warn(`vm ${this.vmId}: ignoring transition ${from} -> ${to} (${cause})`);
      return false;
    }
    this.#setStatus(to);
    this.#statusTime = eventTime(this.#clock);
    if (to !== S.PAUSED) this.#setPauseCode(undefined);
    this.#cancelGuestTimer();
    if (to === S.POWERING_UP || to === S.REBOOT_IN_PROGRESS) this.#armGuestTimer();
    const change: VmStatusChange = { vmId: this.vmId, from, to, statusTime: this.#statusTime, cause };
    if (to === S.DOWN && this.#exitInfo !== undefined) change.exitInfo = this.#exitInfo;
    if (to === S.PAUSED && this.#pauseCode !== undefined) change.pauseCode = this.#pauseCode;
    this.#log?.debug?.(`vm ${this.vmId}: ${from} -> ${to} (${cause})`);
    this.#listener?.(change);
    return true;
  }

  #armGuestTimer(): void {
    this.#guestTimer = this.#timers.setTimeout(() => {
      this.#guestTimer = undefined;
      if (this.#status === S.POWERING_UP || this.#status === S.REBOOT_IN_PROGRESS) this.#moveTo(S.UP, 'guestWaitTimeout');
    }, this.#guestWaitMs);
  }

  #cancelGuestTimer(): void {
    if (this.#guestTimer !== undefined) {
      this.#timers.clearTimeout(this.#guestTimer);
      this.#guestTimer = undefined;
    }
  }

  /** Stop the timers (the VM object is being dropped). Idempotent. */
  close(): void {
    this.#cancelGuestTimer();
  }

  describe(): VmStateSnapshot {
    return {
      vmId: this.vmId,
      status: this.#status,
      statusTime: this.#statusTime,
      startedAt: this.#startedAt,
      ...(this.#exitInfo !== undefined ? { exitInfo: this.#exitInfo } : {}),
      ...(this.#pauseCode !== undefined ? { pauseCode: this.#pauseCode } : {}),
      shutdownRequested: this.#shutdownReason !== undefined,
      destroyRequested: this.#destroyReason !== undefined,
    };
  }
}
