// What the migration service needs from the rest of the agent, as narrow interfaces: libvirt calls on
// the right Executor, the destination agent over its own JSON-RPC client, and the VMs. The composition
// root (src/app/agent.ts) provides them; tests give real ones or say why not.
import type { VmHookPoint, VmHookSubject } from '../../hooks/vm-hooks.js';
import type { Logger } from 'pino';
import type { DomainEvent } from '../../contracts/libvirt-types.js';
import type { OpArgs, OpResult } from '../../contracts/operations.js';
import type { Clock, Timers } from '../../runtime/clock.js';
import type { DomainInfo } from '../../virt/domain-xml.js';
import type { GuestInfo, VmStatsReport } from '../../virt/vm-report.js';
import type { VmStateMachine, VmStatusChange } from '../../virt/vm-state.js';

/** Short libvirt calls a migration makes besides migrateToURI3. */
export type ShortOp =
  | 'migration.jobStats' | 'migration.abortJob' | 'migration.setMaxDowntime' | 'migration.setMaxSpeed'
  | 'migration.startPostCopy' | 'libvirt.xmlDesc' | 'libvirt.state' | 'libvirt.suspend' | 'libvirt.resume';

export type NoConn<K extends ShortOp | 'migration.migrateToURI3' | 'migration.save' | 'migration.restore' | 'migration.saveImageXml'> = Omit<OpArgs<K>, 'conn'>;

export interface MigrationLibvirt {
  /** A short call on the periodic Executor, timed out and discarded if it hangs: never behind a migration. */
  call<K extends ShortOp>(op: K, args: NoConn<K>): Promise<OpResult<K>>;
  /**
   * migrateToURI3 on the migration Executor: no timeout, never discarded. It returns when libvirt is
   * done, which may be never while the destination hangs; the outcome is also read from events and
   * job statistics, so nobody waits on this promise alone.
   */
  migrate(args: NoConn<'migration.migrateToURI3'>): Promise<null>;
  /** Hibernation's virDomainSaveFlags on the migration Executor, like migrate: no timeout, never discarded. */
  save(args: NoConn<'migration.save'>): Promise<null>;
  /** virDomainRestoreFlags on the migration Executor (as long as save; never discarded either). */
  restore(args: NoConn<'migration.restore'>): Promise<null>;
  /** The domain XML in a save file, on the migration Executor (a read of the volume: a hung storage blocks it). */
  saveImageXml(args: NoConn<'migration.saveImageXml'>): Promise<string>;
  onEvent(cb: (e: DomainEvent) => void): () => void;
}

/** The destination agent, reached over JSON-RPC/STOMP (TLS with the host certificate when [vars] ssl). */
export interface PeerAgent {
  ping(): Promise<void>;
  /** VM.migrationCreate; rejects with the destination's error (code and message) or a transport error. */
  migrationCreate(vmId: string, params: Record<string, unknown>, incomingLimit: number | undefined): Promise<unknown>;
  destroy(vmId: string): Promise<void>;
  close(): void;
}

export type PeerConnector = (host: string, port: number) => Promise<PeerAgent>;

/** A VM as the migration service sees it (the VmManager's Vm satisfies it). */
export interface MigratingVm {
  readonly vmId: string;
  readonly state: VmStateMachine;
  xml: string;
  domain: DomainInfo;
  guest: GuestInfo | undefined;
}

/** The VMs (VmManager). */
export interface MigrationVms {
  get(vmId: string): MigratingVm | undefined;
  /** The stats object the engine reads (guest info travels from it to the destination). */
  report(vm: MigratingVm): VmStatsReport;
  /** libvirt's live XML (the known XML when libvirt cannot answer). */
  liveXml(vm: MigratingVm): Promise<string>;
  /** A VM record for an incoming migration: Migration Destination, no libvirt call. */
  addIncoming(domain: DomainInfo, xml: string, o: { elapsedTimeOffsetS?: number; guest?: GuestInfo }): MigratingVm;
  /** The incoming domain runs here now: take libvirt's live XML and QEMU's pid. */
  adoptIncomingDomain(vm: MigratingVm): Promise<void>;
  /** vdsm's hook scripts whose failures are only logged (src/hooks/); never rejects. */
  runHook?(point: VmHookPoint, vm: VmHookSubject): Promise<void>;
  /** vdsm's hook scripts whose failure fails the operation (hookError, 78). */
  runFailingHook?(point: VmHookPoint, vm: VmHookSubject): Promise<string>;
  /** Every status change of every VM. */
  onStatusChange(cb: (vm: MigratingVm, change: VmStatusChange) => void): () => void;
}

export interface MigrationCommon {
  libvirt: MigrationLibvirt;
  clock: Clock;
  timers: Timers;
  log: Logger;
  /** A JSON-RPC notification to the engine. */
  publish: (method: string, params: Record<string, unknown>) => void;
}

/** vdsm's lifecycle events to the oVirt guest agent around a migration or hibernation. */
export type GuestLifecycleEvent = 'before_migration' | 'after_migration' | 'before_hibernation' | 'after_hibernation';

/** What migrations and hibernations ask of the guest agents (GuestAgents and its oVirt channels). */
export interface MigrationGuest {
  ovirtResponsive(vmId: string): boolean;
  desktopLock(vmId: string): Promise<unknown>;
  /**
   * Resolves true once the oVirt agent reports the guest's session Locked or LoggedOff, false after
   * `waitMs` (or when `signal` aborts). Event-driven: the agent's own report ends the wait.
   */
  sessionLocked(vmId: string, waitMs: number, signal?: AbortSignal): Promise<boolean>;
  /**
   * Send a lifecycle event; a before_* event with `waitMs` waits for the guest's completion; with
   * `connectWaitMs`, a channel not connected yet is waited for first. true when the guest confirmed.
   */
  lifecycleEvent(vmId: string, type: GuestLifecycleEvent, opts: { failure?: boolean; waitMs?: number; connectWaitMs?: number }): Promise<boolean>;
}
