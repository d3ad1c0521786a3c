// One outgoing live migration (vdsm's SourceThread and MonitorThread, on the main thread without
// threads of their own): the destination agent is pinged and asked for VM.migrationCreate (retrying
// while it has no incoming slot), then libvirt migrates peer to peer. The blocking migrateToURI3 runs
// on the migration Executor and is never taken as the only truth: the outcome is whichever libvirt
// tells first, its STOPPED/MIGRATED event, job statistics saying the job failed, or the call's return.
// A call still blocked after libvirt decided is kept (never discarded: libvirt goes on regardless) and
// shown as lingering in /health.
import { errorMessage, Errors, vdsmError } from '../../errors.js';
import { isNoDomain, libvirtErrorInfo } from '../../libvirt/errors.js';
import { VIR_ERROR_NUMBERS } from '../../libvirt/vir-error-numbers.js';
import { XmlFlag } from '../../libvirt/constants.js';
import type { JobStats } from '../../contracts/migration-ops.js';
import { ConvergenceMonitor, jobEndedInFailure, type ConvergenceAction } from '../../virt/migration/convergence.js';
import {
  isErrorStatus, isMigrateLimit, MIGRATION_DONE, MIGRATION_IN_PROGRESS, statusForDestinationError, statusForMigrateError, statusOf,
  type MigrationStats, type StatusCode,
} from '../../virt/migration/migration-status.js';
import { libvirtMigrateParams, migrationFlags, migrationUris, pickGuestInfo, type MigrateRequest } from '../../virt/migration/migration-request.js';
import { ExitCode, exitInfo, VmExitReason } from '../../virt/exit-reasons.js';
import { LifecycleEvent, StoppedDetail, SuspendedDetail, VmStatus, type VmStatusName } from '../../virt/vm-state.js';
import type { MigratingVm, MigrationCommon, MigrationGuest, MigrationVms, PeerAgent, PeerConnector } from './migration-ports.js';
import { BlockingCall } from './blocking-call.js';
import type { MigrationSlots } from './slots.js';

export interface OutgoingOptions extends MigrationCommon {
  vm: MigratingVm;
  vms: MigrationVms;
  request: MigrateRequest;
  connectPeer: PeerConnector;
  slots: MigrationSlots;
  /** [libvirt] migration_uri template and [vars] ssl. */
  duriTemplate: string;
  ssl: boolean;
  /** [vars] migration_monitor_interval (0 disables the monitor, as in vdsm). */
  monitorIntervalMs: number;
  /** [vars] migration_retry_timeout: wait before asking a busy destination again. */
  retryTimeoutMs: number;
  /** The guest agents: told before the migration and after a failed one when the engine asks (enableGuestEvents). */
  guest?: MigrationGuest;
  /** How long before_migration waits for the guest's reply ([vars] guest_lifecycle_event_reply_timeout). */
  guestEventWaitMs?: number;
}

export type OutgoingPhase = 'preparing' | 'waiting-slot' | 'creating' | 'retry-wait' | 'migrating' | 'succeeded' | 'failed';

type Outcome = { ok: true; how: string } | { ok: false; status: StatusCode | undefined; why: string };

const OPERATION_INVALID = VIR_ERROR_NUMBERS['OPERATION_INVALID'];

/** After libvirt said the domain migrated, how long the source's Down waits for JOB_COMPLETED (the downtime). */
export const DOWNTIME_REPORT_GRACE_MS = 2000;

/** Why a wait ended early: the engine cancelled the migration. */
class Cancelled extends Error {}

export class OutgoingMigration {
  readonly vmId: string;
  readonly request: MigrateRequest;
  readonly startedAt: number;
  #o: OutgoingOptions;
  #phase: OutgoingPhase = 'preparing';
  #status: StatusCode = MIGRATION_IN_PROGRESS;
  #progress = 0;
  #downtime: number | undefined;
  #postcopy = false;
  #priorStatus: VmStatusName;
  #cancel = new AbortController();
  #cancelRequested = false;
  #abortSent = false;
  #peer: PeerAgent | undefined;
  #createdOnDestination = false;
  #holdsSlot = false;
  #guestTold = false;
  #monitor: ConvergenceMonitor;
  #monitorTimer: unknown;
  #tickInFlight = false;
  #lastData: { remaining: number; processed: number } | undefined;
  #lastChangeAt: number;
  readonly #call: BlockingCall;
  #decide: ((o: Outcome) => void) | undefined;
  #stoppedMigrated = false;
  #wakeups: (() => void)[] = [];
  #outcome: Outcome | undefined;
  #endedAt: number | undefined;
  readonly done: Promise<void>;

  constructor(opts: OutgoingOptions) {
    this.#o = opts;
    this.vmId = opts.vm.vmId;
    this.request = opts.request;
    this.startedAt = opts.clock.now();
    this.#call = new BlockingCall(opts.clock);
    this.#lastChangeAt = this.startedAt;
    this.#priorStatus = opts.vm.state.status;
    this.#monitor = new ConvergenceMonitor(opts.request.schedule);
    let finished!: () => void;
    this.done = new Promise((r) => (finished = r));
    // The VM is Migration Source from the engine's call on (its VM_status event goes out now).
    opts.vm.state.migrationStarted();
    void this.#run().finally(finished);
  }

  get phase(): OutgoingPhase {
    return this.#phase;
  }

  /** Still migrating, as far as the engine is concerned (a lingering libvirt call does not count). */
  get active(): boolean {
    return this.#phase !== 'succeeded' && this.#phase !== 'failed';
  }

  /** The libvirt call is still blocked although the outcome is known. */
  get lingering(): boolean {
    return !this.active && this.#call.running;
  }

  /** VM.getMigrationStatus. */
  stats(): MigrationStats {
    const s: MigrationStats = { status: { ...this.#status }, progress: this.#progress };
    if (this.#downtime !== undefined) {
      s.downtime = this.#downtime;
      s.progress = 100;
    }
    return s;
  }

  /**
   * VM.migrateCancel: stops a migration in any phase. Before libvirt has a job the waits end at once;
   * during the job libvirt is asked to abort it (again at the next tick if the job had not started yet).
   */
  async cancel(): Promise<void> {
    if (!this.active) throw vdsmError(Errors.MIG_CANCEL);
    this.#cancelRequested = true;
    this.#o.log.info({ vmId: this.vmId, phase: this.#phase }, 'migration cancel requested');
    if (this.#phase !== 'migrating') {
      this.#cancel.abort(new Cancelled('Migration canceled'));
      return;
    }
    await this.#abortJob('cancel');
  }

  /** VM.migrateChangeParams: a new bandwidth cap, in MiB/s. */
  async setMaxBandwidth(mibs: number): Promise<void> {
    if (!this.active) throw vdsmError(Errors.MIG_NOT_IN_PROGRESS);
    this.request.maxBandwidth = mibs;
    if (this.#phase !== 'migrating') return; // used when the call starts
    try {
      await this.#o.libvirt.call('migration.setMaxSpeed', { uuid: this.vmId, bandwidthMiBs: mibs });
    } catch (err) {
      if (libvirtErrorInfo(err)?.virCode === OPERATION_INVALID || isNoDomain(err)) throw vdsmError(Errors.MIG_NOT_IN_PROGRESS);
      throw err;
    }
  }

  // ---- libvirt's word ---------------------------------------------------------------------------

  /** JOB_COMPLETED: the data is over; downtime_net is the guest's pause as the engine reports it. */
  onJobCompleted(stats: Record<string, unknown>): void {
    if (this.#phase !== 'migrating' && this.#phase !== 'succeeded') return;
    const key = this.#postcopy ? 'downtime' : 'downtime_net';
    const d = stats[key] ?? stats['downtime'];
    if (typeof d === 'number') this.#downtime = Math.round(d);
    this.#o.log.info({ vmId: this.vmId, timeElapsedMs: stats['time_elapsed'], downtimeMs: stats['downtime'], downtimeNetMs: stats['downtime_net'], dataTotal: stats['data_total'], iterations: stats['memory_iteration'] }, 'migration job completed');
    this.#progress = 100;
    this.#publishProgress();
    this.#wake();
  }

  onLifecycle(type: number, detail: number): void {
    if (type === LifecycleEvent.STOPPED && detail === StoppedDetail.MIGRATED) {
      this.#stoppedMigrated = true;
      this.#settle({ ok: true, how: 'libvirt:STOPPED/MIGRATED' });
    }
    else if (type === LifecycleEvent.SUSPENDED && detail === SuspendedDetail.POSTCOPY) {
      this.#postcopy = true;
      this.#monitor.stop();
    }
  }

  /** The VM went Down another way (destroyed, crashed) while migrating (our own Down(4) ends it first). */
  onVmDown(cause: string): void {
    const why = `the VM went down (${cause})`;
    if (this.#phase !== 'migrating') this.#cancel.abort(new Error(why));
    this.#settle({ ok: false, status: undefined, why });
  }

  // ---- the flow ---------------------------------------------------------------------------------

  async #run(): Promise<void> {
    const o = this.#o;
    const vm = o.vm;
    try {
      const machineParams = await this.#machineParams();
      // vdsm's before_vm_migrate_source: a failed script fails the migration before the destination hears of it.
      await o.vms.runFailingHook?.('before_vm_migrate_source', { vmId: this.vmId, xml: machineParams['_srcDomXML'] as string, domain: vm.domain });
      this.#peer = await o.connectPeer(this.request.dstHost, this.request.dstPort);
      await this.#cancellable(this.#peer.ping());
      await this.#createOnDestination(machineParams);
      const destinationXml = await o.libvirt.call('libvirt.xmlDesc', { uuid: this.vmId, flags: XmlFlag.MIGRATABLE });
      this.#throwIfCancelled();
      this.#phase = 'migrating';
      const { duri, muri } = migrationUris(this.request, o.duriTemplate, o.ssl);
      const graphics = vm.domain.graphics.some((g) => g.type === 'spice') ? 'spice' : 'vnc';
      const params = libvirtMigrateParams(this.request, { muri, destinationXml, graphics });
      const flags = migrationFlags(this.request, vm.domain.ovirt?.values['clusterVersion'] as string | undefined);
      for (const a of this.#monitor.init()) await this.#perform(a);
      const outcome = new Promise<Outcome>((resolve) => (this.#decide = resolve));
      if (this.#outcome !== undefined) this.#decide!(this.#outcome);
      this.#armMonitor();
      o.log.info({ vmId: this.vmId, duri, muri, flags, bandwidth: this.request.maxBandwidth, schedule: this.request.engineSchedule ? 'engine' : 'vdsm legacy' }, 'starting migration');
      this.#startCall(duri, params, flags);
      const result = await outcome;
      if (result.ok) await this.#succeed(result.how);
      else await this.#recover(result.status, result.why);
    } catch (err) {
      const status = err instanceof Cancelled ? statusOf(Errors.MIG_CANCEL, 'Migration canceled') : (err as { migrationStatus?: StatusCode }).migrationStatus;
      await this.#recover(status, this.#outcome !== undefined && !this.#outcome.ok ? this.#outcome.why : errorMessage(err));
    }
  }

  /** vdsm's migration parameters for the destination: the live XML, the engine's XML and guest info. */
  async #machineParams(): Promise<Record<string, unknown>> {
    const vm = this.#o.vm;
    const live = await this.#o.vms.liveXml(vm);
    const report = this.#o.vms.report(vm);
    const params: Record<string, unknown> = {
      vmId: this.vmId,
      _srcDomXML: live,
      xml: vm.xml,
      elapsedTimeOffset: Number(report['elapsedTime'] ?? 0),
      enableGuestEvents: this.request.enableGuestEvents,
      migrationDest: 'libvirt',
    };
    // Guest information, so the destination reports it before its own agents have spoken.
    return { ...params, ...pickGuestInfo(report) };
  }

  async #createOnDestination(machineParams: Record<string, unknown>): Promise<void> {
    const o = this.#o;
    if (this.request.outgoingLimit !== undefined) o.slots.setBound(this.request.outgoingLimit);
    for (;;) {
      this.#phase = 'waiting-slot';
      await o.slots.acquire(this.#cancel.signal);
      this.#holdsSlot = true;
      this.#throwIfCancelled();
      await this.#tellGuestBefore();
      this.#phase = 'creating';
      const t0 = o.clock.now();
      try {
        await this.#cancellable(this.#peer!.migrationCreate(this.vmId, machineParams, this.request.incomingLimit));
        this.#createdOnDestination = true;
        // vdsm leaves the destination's preparation out of the migration's time.
        o.log.info({ vmId: this.vmId, ms: Math.round(o.clock.now() - t0) }, 'destination VM created');
        return;
      } catch (err) {
        if (err instanceof Cancelled) throw err;
        const status = statusForDestinationError(err);
        if (!isMigrateLimit(status)) throw Object.assign(new Error(`migration destination error: ${status.message}`), { migrationStatus: status });
        this.#status = status;
        this.#releaseSlot();
        this.#phase = 'retry-wait';
        o.log.info({ vmId: this.vmId, retryMs: o.retryTimeoutMs }, 'migration destination busy; trying again later');
        await this.#cancellable(new Promise<void>((r) => o.timers.setTimeout(r, o.retryTimeoutMs)));
        this.#status = MIGRATION_IN_PROGRESS;
      }
    }
  }

  /**
   * vdsm's order: with a slot held and before the destination is asked, the oVirt guest agent hears
   * before_migration (when the engine asked for guest events) and gets [vars]
   * guest_lifecycle_event_reply_timeout to confirm; once per migration, not again on a busy destination's retry.
   */
  async #tellGuestBefore(): Promise<void> {
    const o = this.#o;
    if (this.#guestTold || !this.request.enableGuestEvents || o.guest === undefined) return;
    this.#guestTold = true;
    const confirmed = await this.#cancellable(o.guest.lifecycleEvent(this.vmId, 'before_migration', { waitMs: o.guestEventWaitMs ?? 0 }).catch(() => false));
    o.log.info({ vmId: this.vmId, confirmed }, 'before_migration to the oVirt guest agent');
  }

  #startCall(duri: string, params: Record<string, string | number>, flags: number): void {
    const o = this.#o;
    this.#call.track(o.libvirt.migrate({ uuid: this.vmId, duri, params, flags })).then(
      () => {
        this.#wake();
        if (this.#outcome !== undefined && !this.#outcome.ok) o.log.error({ vmId: this.vmId }, 'libvirt completed a migration reported failed before');
        this.#settle({ ok: true, how: 'migrateToURI3 returned' });
      },
      (err: unknown) => {
        this.#wake();
        if (this.#outcome !== undefined) {
          o.log.info({ vmId: this.vmId, err: errorMessage(err), blockedMs: this.#call.blockedMs }, 'the migration call returned after its outcome was known');
          return;
        }
        const mapped = statusForMigrateError(err);
        this.#settle({ ok: false, status: this.#cancelRequested && mapped.code === Errors.MIGRATE.vdsmCode ? undefined : mapped, why: errorMessage(err) });
      },
    );
  }

  #settle(o: Outcome): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = o;
    this.#decide?.(o);
  }

  async #succeed(how: string): Promise<void> {
    const o = this.#o;
    this.#stopMonitor();
    this.#releaseSlot();
    this.#progress = 100;
    this.#status = { ...MIGRATION_DONE };
    this.#phase = 'succeeded';
    this.#endedAt = o.clock.now();
    // vdsm's order: the downtime report, then the source's Down. libvirt sends JOB_COMPLETED just after
    // STOPPED/MIGRATED; its event can reach us after the call's return (they travel on different threads).
    await this.#until(() => this.#downtime !== undefined, DOWNTIME_REPORT_GRACE_MS);
    if (this.#downtime === undefined) o.log.warn({ vmId: this.vmId, graceMs: DOWNTIME_REPORT_GRACE_MS }, 'no JOB_COMPLETED from libvirt: the source is Down without a downtime report');
    if (!this.#stoppedMigrated) {
      // The call returned first, or the event was lost to a reconnect: the domain's own state says it.
      const gone = await o.libvirt.call('libvirt.state', { uuid: this.vmId }).then((st) => st.state === 5, (err: unknown) => isNoDomain(err));
      if (!gone) o.log.error({ vmId: this.vmId }, 'migrateToURI3 returned success but the domain still runs here');
    }
    if (o.vm.state.migrationSucceeded()) o.log.info({ vmId: this.vmId, how, ms: Math.round(this.#endedAt - this.startedAt), downtime: this.#downtime }, 'migration succeeded');
    else if (!o.vm.state.isDown) o.vm.state.markDown(exitInfo(ExitCode.NORMAL, VmExitReason.MIGRATION_SUCCEEDED), 'migrated');
    this.#peer?.close();
    void o.vms.runHook?.('after_vm_migrate_source', o.vm);
  }

  /** vdsm's _recover: the error status, the destination's VM destroyed, the VM back as it was. */
  async #recover(status: StatusCode | undefined, why: string): Promise<void> {
    const o = this.#o;
    this.#outcome ??= { ok: false, status, why };
    this.#stopMonitor();
    this.#releaseSlot();
    this.#cancel.abort(new Cancelled('migration ended'));
    if (status !== undefined && (isErrorStatus(status) || !isErrorStatus(this.#status))) this.#status = status;
    if (this.#cancelRequested && !isErrorStatus(this.#status)) this.#status = statusOf(Errors.MIG_CANCEL, 'Migration canceled');
    if (!isErrorStatus(this.#status)) this.#status = statusOf(Errors.MIGRATE);
    o.log.error({ vmId: this.vmId, why, status: this.#status, callBlocked: this.#call.running }, 'migration failed');
    if (this.#createdOnDestination && this.#peer !== undefined) {
      await this.#peer.destroy(this.vmId).catch((err: unknown) => o.log.warn({ vmId: this.vmId, err: errorMessage(err) }, 'could not destroy the VM on the migration destination'));
    }
    this.#peer?.close();
    this.#phase = 'failed';
    this.#endedAt = o.clock.now();
    if (!o.vm.state.isDown) {
      o.vm.state.migrationFailed(this.#priorStatus === VmStatus.PAUSED ? VmStatus.PAUSED : VmStatus.UP);
      // vdsm's after_migration_failure: the guest that heard before_migration learns it stays here.
      if (this.#guestTold && o.guest !== undefined) {
        void o.guest.lifecycleEvent(this.vmId, 'after_migration', { failure: true }).then(
          (sent) => o.log.info({ vmId: this.vmId, sent }, 'after_migration (failure) to the oVirt guest agent'),
          () => undefined,
        );
      }
    }
  }

  // ---- the monitor ------------------------------------------------------------------------------

  #armMonitor(): void {
    const ms = this.#o.monitorIntervalMs;
    if (ms <= 0 || !this.active) return;
    this.#monitorTimer = this.#o.timers.setTimeout(() => {
      this.#monitorTimer = undefined;
      void this.#tick().finally(() => this.#armMonitor());
    }, ms);
  }

  #stopMonitor(): void {
    if (this.#monitorTimer !== undefined) this.#o.timers.clearTimeout(this.#monitorTimer);
    this.#monitorTimer = undefined;
  }

  async #tick(): Promise<void> {
    if (this.#tickInFlight || this.#outcome !== undefined) return;
    this.#tickInFlight = true;
    try {
      const stats = await this.#o.libvirt.call('migration.jobStats', { uuid: this.vmId, flags: 0 });
      if (this.#outcome !== undefined) return;
      this.#observe(stats);
      if (jobEndedInFailure(stats)) {
        // QEMU's migration failed or was cancelled: the guest cannot end up on the destination, whatever
        // the blocked call does next (it may wait for the destination for a long time).
        this.#settle({ ok: false, status: this.#cancelRequested || this.#abortSent ? statusOf(Errors.MIG_CANCEL, 'Migration canceled') : undefined, why: `libvirt reports the migration job ${stats.type === 5 ? 'cancelled' : 'failed'}` });
        return;
      }
      const t = this.#monitor.tick(stats);
      if (!t.ongoing) return;
      if (this.#cancelRequested && !this.#abortSent) await this.#abortJob('cancel');
      if (t.progress > this.#progress) this.#progress = t.progress;
      if (t.stalling) this.#o.log.warn({ vmId: this.vmId, remainingMiB: Math.floor(t.dataRemaining / 2 ** 20), lowmarkMiB: Math.floor(t.lowmark / 2 ** 20), iteration: t.iteration }, 'Migration stalling: remaining data above its low-water mark');
      this.#o.log.info({ vmId: this.vmId, progress: this.#progress, iteration: t.iteration, remainingMiB: Math.floor(t.dataRemaining / 2 ** 20), elapsedMs: stats['time_elapsed'] }, 'migration progress');
      this.#publishProgress();
      for (const a of t.actions) await this.#perform(a);
    } catch (err) {
      // No job yet or any more, or the domain is gone: the events and the call tell the rest.
      const info = libvirtErrorInfo(err);
      if (info?.virCode !== OPERATION_INVALID && !isNoDomain(err)) this.#o.log.warn({ vmId: this.vmId, err: errorMessage(err) }, 'migration job statistics unavailable');
    } finally {
      this.#tickInFlight = false;
    }
  }

  /** Remember when the data last moved (a migration that moves nothing is stuck). */
  #observe(stats: JobStats): void {
    const remaining = typeof stats['data_remaining'] === 'number' ? stats['data_remaining'] : 0;
    const processed = typeof stats['data_processed'] === 'number' ? stats['data_processed'] : 0;
    if (this.#lastData === undefined || this.#lastData.remaining !== remaining || this.#lastData.processed !== processed) {
      this.#lastData = { remaining, processed };
      this.#lastChangeAt = this.#o.clock.now();
    }
  }

  async #perform(a: ConvergenceAction): Promise<void> {
    const o = this.#o;
    try {
      switch (a.name) {
        case 'setDowntime':
          o.log.info({ vmId: this.vmId, downtimeMs: Number(a.params[0]) }, 'setting the migration downtime');
          await o.libvirt.call('migration.setMaxDowntime', { uuid: this.vmId, downtimeMs: Number(a.params[0]) });
          break;
        case 'abort':
          o.log.warn({ vmId: this.vmId }, 'Aborting migration (convergence schedule)');
          this.#monitor.stop();
          await this.#abortJob('schedule');
          break;
        case 'postcopy':
          o.log.info({ vmId: this.vmId }, 'switching the migration to post-copy');
          await o.libvirt.call('migration.startPostCopy', { uuid: this.vmId });
          this.#monitor.stop();
          break;
      }
    } catch (err) {
      o.log.warn({ vmId: this.vmId, action: a.name, err: errorMessage(err) }, 'convergence action failed');
    }
  }

  async #abortJob(why: 'cancel' | 'schedule'): Promise<void> {
    try {
      await this.#o.libvirt.call('migration.abortJob', { uuid: this.vmId });
      this.#abortSent = true;
    } catch (err) {
      // No job yet: migrateToURI3 has not started it. The next tick aborts it once it shows.
      if (libvirtErrorInfo(err)?.virCode === OPERATION_INVALID) {
        this.#o.log.info({ vmId: this.vmId, why }, 'no migration job to abort yet');
        return;
      }
      if (why === 'cancel' && isNoDomain(err)) throw vdsmError(Errors.MIG_CANCEL);
      throw err;
    }
  }

  #publishProgress(): void {
    const details: Record<string, unknown> = { progress: this.#downtime !== undefined ? 100 : this.#progress, postcopy: this.#postcopy };
    if (this.#downtime !== undefined) details['downtime'] = this.#downtime;
    this.#o.publish(`|virt|VM_migration_status|${this.vmId}`, { [this.vmId]: details });
  }

  // ---- helpers ----------------------------------------------------------------------------------

  #throwIfCancelled(): void {
    if (this.#cancel.signal.aborted) throw this.#cancel.signal.reason;
  }

  /** Race a step against the engine's cancel. */
  #cancellable<T>(p: Promise<T>): Promise<T> {
    const signal = this.#cancel.signal;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
        (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
      );
    });
  }

  /** Resolve once `cond()` holds (checked whenever libvirt tells something) or after `ms`. */
  #until(cond: () => boolean, ms: number): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = this.#o.timers.setTimeout(() => resolve(), ms);
      const check = (): void => {
        if (cond()) {
          this.#o.timers.clearTimeout(timer);
          resolve();
        } else this.#wakeups.push(check);
      };
      this.#wakeups.push(check);
    });
  }

  #wake(): void {
    for (const w of this.#wakeups.splice(0)) w();
  }

  #releaseSlot(): void {
    if (!this.#holdsSlot) return;
    this.#holdsSlot = false;
    this.#o.slots.release();
  }

  /** /health: where it is, whether the data still moves, whether a libvirt call is blocked. */
  describe(stuckAfterMs: number): Record<string, unknown> {
    const now = this.#o.clock.now();
    const call = this.#call.describe(now);
    const sinceChange = Math.round(now - this.#lastChangeAt);
    return {
      vmId: this.vmId,
      direction: 'outgoing',
      destination: `${this.request.dstHost}:${this.request.dstPort}`,
      phase: this.#phase,
      status: this.#status,
      progress: this.stats().progress,
      ...(this.#downtime !== undefined ? { downtime: this.#downtime } : {}),
      elapsedMs: Math.round((this.#endedAt ?? now) - this.startedAt),
      cancelRequested: this.#cancelRequested,
      call,
      ...(this.active ? { sinceDataMovedMs: sinceChange } : {}),
      stuck: (this.#phase === 'migrating' && sinceChange >= stuckAfterMs) || this.lingering,
      lingering: this.lingering,
      ...(this.#outcome !== undefined && !this.#outcome.ok ? { failure: this.#outcome.why } : {}),
    };
  }
}
