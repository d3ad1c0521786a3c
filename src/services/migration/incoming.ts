// One incoming live migration (vdsm's migration destination): the VM record exists from
// VM.migrationCreate on, in Migration Destination, without any libvirt call of ours; the source's
// libvirtd creates the domain here. When libvirt resumes it after migration (or leaves it paused, for a
// VM that was paused), the domain is taken over (live XML, QEMU pid) and, vdsm's 1 s later so that the
// source's downtime report reaches the engine first, the VM goes Up. A domain that stops first, or a
// migration that outlasts [vars] migration_destination_timeout, ends Down as a failed migration.
import { errorMessage } from '../../errors.js';
import { ExitCode, exitInfo, VmExitReason } from '../../virt/exit-reasons.js';
import { LifecycleEvent, ResumedDetail, SuspendedDetail, VmStatus } from '../../virt/vm-state.js';
import type { MigratingVm, MigrationCommon, MigrationGuest, MigrationVms } from './migration-ports.js';

export interface IncomingOptions extends Omit<MigrationCommon, 'publish' | 'libvirt'> {
  vm: MigratingVm;
  vms: MigrationVms;
  /** Gives the incoming slot back (called once). */
  release: () => void;
  /** [vars] migration_destination_timeout. */
  destinationTimeoutMs: number;
  /** vdsm's deliberate pause between libvirt's event and Up (1 s). */
  upDelayMs: number;
  /** Set when the source's engine asked for guest events: the guest hears after_migration once the VM is Up here. */
  guestEvents?: { guest: MigrationGuest; connectWaitMs: number };
}

export type IncomingPhase = 'waiting' | 'arriving' | 'up' | 'failed';

export class IncomingMigration {
  readonly vmId: string;
  readonly startedAt: number;
  #o: IncomingOptions;
  #phase: IncomingPhase = 'waiting';
  #timer: unknown;
  #released = false;
  #endedAt: number | undefined;
  #arrivedAt: number | undefined;

  constructor(opts: IncomingOptions) {
    this.#o = opts;
    this.vmId = opts.vm.vmId;
    this.startedAt = opts.clock.now();
    if (opts.destinationTimeoutMs > 0) this.#timer = opts.timers.setTimeout(() => this.#timedOut(), opts.destinationTimeoutMs);
  }

  get phase(): IncomingPhase {
    return this.#phase;
  }

  get active(): boolean {
    return this.#phase === 'waiting' || this.#phase === 'arriving';
  }

  onLifecycle(type: number, detail: number): void {
    if (this.#phase !== 'waiting') return;
    if (type === LifecycleEvent.RESUMED && (detail === ResumedDetail.MIGRATED || detail === ResumedDetail.POSTCOPY)) void this.#arrive(false);
    else if (type === LifecycleEvent.SUSPENDED && detail === SuspendedDetail.PAUSED) void this.#arrive(true);
  }

  /** The VM went Down (the source aborted, VM.destroy, the timeout): the slot is free again. */
  onVmDown(): void {
    if (!this.active) return;
    this.#end('failed');
  }

  async #arrive(paused: boolean): Promise<void> {
    const o = this.#o;
    this.#phase = 'arriving';
    this.#arrivedAt = o.clock.now();
    try {
      await o.vms.adoptIncomingDomain(o.vm);
    } catch (err) {
      o.log.warn({ vmId: this.vmId, err: errorMessage(err) }, 'could not read the migrated domain; going on with the known XML');
    }
    await new Promise<void>((r) => o.timers.setTimeout(r, o.upDelayMs));
    if (this.#phase !== 'arriving' || o.vm.state.status !== VmStatus.MIGRATION_DESTINATION) return;
    o.vm.state.incomingMigrationFinished(paused);
    o.log.info({ vmId: this.vmId, paused, ms: Math.round(o.clock.now() - this.startedAt) }, 'incoming migration finished');
    this.#end('up');
    void o.vms.runHook?.('after_vm_migrate_destination', o.vm);
    const events = o.guestEvents;
    // The channel to this host's agent is opened as the VM arrives: waited for, so the event is not lost.
    if (events !== undefined) {
      void events.guest.lifecycleEvent(this.vmId, 'after_migration', { connectWaitMs: events.connectWaitMs }).then(
        (sent) => o.log.info({ vmId: this.vmId, sent }, 'after_migration to the oVirt guest agent'),
        () => undefined,
      );
    }
  }

  #timedOut(): void {
    this.#timer = undefined;
    if (!this.active) return;
    const o = this.#o;
    o.log.error({ vmId: this.vmId, timeoutMs: o.destinationTimeoutMs }, 'incoming migration did not finish in time');
    this.#end('failed');
    if (!o.vm.state.isDown) o.vm.state.markDown(exitInfo(ExitCode.ERROR, VmExitReason.MIGRATION_FAILED, 'Migration failed: timed out'), 'migrationTimeout');
  }

  #end(phase: 'up' | 'failed'): void {
    this.#phase = phase;
    this.#endedAt = this.#o.clock.now();
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#released) {
      this.#released = true;
      this.#o.release();
    }
  }

  close(): void {
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  describe(): Record<string, unknown> {
    const now = this.#o.clock.now();
    return {
      vmId: this.vmId,
      direction: 'incoming',
      phase: this.#phase,
      elapsedMs: Math.round((this.#endedAt ?? now) - this.startedAt),
      ...(this.#arrivedAt !== undefined ? { arrivedAfterMs: Math.round(this.#arrivedAt - this.startedAt) } : {}),
    };
  }
}
