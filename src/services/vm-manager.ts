// The VMs this host runs: VM.create / destroy / shutdown / pause / cont carried out through Executor
// operations on libvirt, libvirt domain events applied to each VM's state machine, and a
// |virt|VM_status|<vmId> event sent to the engine on every status change.
import type { VmCreated } from '../contracts/api-types.js';
import type { Logger } from 'pino';
import { errorMessage, Errors, vdsmError, wrapError } from '../errors.js';
import type { GuestAgents } from '../guest/guest-agents.js';
import type { GuestTimeSync, TimeSyncReason } from '../guest/guest-time-sync.js';
import { QEMU_GA_CHANNEL_NAME } from '../guest/ovirt-protocol.js';
import { DestroyFlag, DomainState, Impact, LifecycleEvent, StatsGroup } from '../libvirt/constants.js';
import { ticketedGraphics, vncSaslStep, type ConsoleOptions, type GraphicsTicket } from '../virt/graphics-ticket.js';
import { ConsoleWatch } from '../virt/console-disconnect.js';
import { diskIoTunes, type DiskIoTune } from '../virt/disk-iotune.js';
import { parseQos } from '../virt/vm-qos.js';
import type { CallArgs, ConnOpName, Libvirt } from '../libvirt/client.js';
import { isNoDomain } from '../libvirt/errors.js';
import type { DomainEvent, DomainListEntry } from '../contracts/libvirt-types.js';
import type { OpResult } from '../contracts/operations.js';
import type { Clock, Timers } from '../runtime/clock.js';
import { reconcileWithDomain } from '../virt/domain-state.js';
import { parseDomainXml, type DomainInfo } from '../virt/domain-xml.js';
import { ExitCode, exitInfo, VmExitReason, type ExitInfo } from '../virt/exit-reasons.js';
import type { StatsCache } from '../virt/stats-cache.js';
import { VmContainer, normalizeVmId, type VmCounts, type VmRecord, type VmShortStatus } from '../virt/vm-container.js';
import { buildVmStatsReport, clockTimes, elapsedTime, monitorResponse, statusEventDetails, type GuestInfo, type VcpuTune, type VmReportInput, type VmStatsReport } from '../virt/vm-report.js';
import { slotValues, VmReportCache } from '../virt/vm-report-cache.js';
import { WholeReply, WholeReplyRecording, type WholeReplySource } from '../virt/whole-reply.js';
import { ReportRefresher, type ReportRefresherOptions } from './report-refresher.js';
import { rawJsonArrayOf, rawJsonArrayOfSliced, rawJsonArraySteps, type JsonPieces, type RawJson } from '../runtime/raw-json.js';
import type { ReplyBufferPool } from '../runtime/reply-buffers.js';
import { VmStateMachine, VmStatus, type VmStatusChange, type VmStatusName } from '../virt/vm-state.js';
import { Lifecycle } from '../runtime/lifecycle.js';
import { PowerDown, powerDownMethods } from './power-down.js';
import type { VmHostHooks } from './vm-host-resources.js';
import type { VmHookPoint, VmHooks, VmHookSubject } from '../hooks/vm-hooks.js';
import type { VmRecordStore } from './vm-records.js';
import { storageDrivesOf, withDriveSources, type PreparedDrive } from '../virt/storage-drives.js';
import { DriveRepreparation, recordedDrives } from './recovered-drives.js';
import { HibernationHandleError, hibernationVolumesOf, type HibernationVolumes } from '../virt/migration/hibernation-volumes.js';
import { pickGuestInfo } from '../virt/migration/migration-request.js';
import { VmSnapshots, type SnapshotRequest } from './vm-snapshot.js';
import { VirtJobs, type VirtJobInfo } from './virt-jobs.js';
import type { MemoryVolumeStorage } from './migration/hibernation.js';


/**
 * getAllVmStats over at most this many VMs is read in one go (about 1.5 µs per VM with its text built;
 * a VM without one costs ~40 µs, so even then a few ms): the reply leaves in the request's turn.
 */
const SYNC_READ_VMS = 64;
/** monitorResponse's two JSON texts (vm-report.ts monitorResponse): a read fills one in per VM. */
const MONITOR_RESPONSE_OK = '"0"';
const MONITOR_RESPONSE_DOWN = '"-1"';

export interface Vm extends VmRecord {
  readonly vmId: string;
  readonly state: VmStateMachine;
  xml: string;
  /** Replaced, never modified, when it changes (the serialised report is rebuilt on a new object). */
  domain: DomainInfo;
  /** Replaced, never modified, when it changes (as domain). */
  guest: GuestInfo | undefined;
  /** A powerdown sequence in progress (VM.shutdown). */
  powerdown: { cancel(): void } | undefined;
  /** Stats problems already logged for this VM: each is logged once, not on every getAllVmStats. */
  statsWarned: Set<string>;
  /** The QEMU process id, once found (VM stats `pid`). */
  pid?: number;
  /** libvirt's scheduler values as last read (VM stats vcpuQuota / vcpuPeriod); replaced, never modified. */
  vcpuTune?: VcpuTune;
  /** Disks on storage domains, prepared before launch (poolID/domainID/imageID/volumeID in the metadata). */
  storageDrives: PreparedDrive[];
  /** A recovered VM's drives being prepared again (./recovered-drives.ts): a teardown stops it (never waits for a prepare in flight). */
  drivesRecovering?: DriveRepreparation;
  /**
   * The VM's images released: set by the first release (the domain stopped, VM.destroy, a failed
   * launch), which tears every prepared image down once; later ones await the same promise.
   */
  drivesReleased?: Promise<void>;
  /**
   * The VM released as vdsm's releaseVm does, once per VM life (its domain stopped, VM.destroy, a forced
   * power-off): its images torn down (drivesReleased), then the after_vm_destroy hook; later calls await
   * the same promise, so the hook never runs twice.
   */
  released?: Promise<void>;
  /**
   * Sizes of the VM's file disks by target (VM stats truesize / apparentsize). Replaced, never modified,
   * when a size changes: the cached stats report is rebuilt on a new map.
   */
  driveSizes: ReadonlyMap<string, { apparentsize: number; truesize: number }>;
}

/** A disk in the VM's stats subject: its sizes and, for a storage volume, its image. */
interface DriveDevice {
  name: string;
  truesize: number;
  apparentsize: number;
  imageID?: string;
}

/** The storage side of VM disks (the HSM): prepare images, tear them down, read volume sizes. */
export interface VmDriveStorage {
  prepare(drive: { poolID: string; domainID: string; imageID: string; volumeID: string }): Promise<string>;
  teardown(drive: PreparedDrive): Promise<void>;
  sizes(paths: string[]): Promise<Record<string, { apparentsize: number; truesize: number }>>;
  /** Resolves once a storage pool is connected (at once if one is): a recovered VM's drives are prepared again then. */
  poolConnected?(): Promise<void>;
}

/** VM.create from hibernation volumes (the migration area's MemoryRestorer). */
export interface VmRestorer {
  /** The parameters saved with the VM; undefined when they cannot be read (the VM still comes back). */
  savedParams(vmId: string, volumes: HibernationVolumes): Promise<Record<string, unknown> | undefined>;
  /** libvirt restores the domain from the memory volume. */
  restore(vmId: string, volumes: HibernationVolumes): Promise<void>;
}

/** VM.create's parameters as this agent reads them. */
export interface CreateParams {
  xml?: unknown;
  vmId?: unknown;
  /** Return from hibernation: six UUIDs (VM.hibernate's handle) ... */
  hiberVolHandle?: unknown;
  /** ... or the two volumes (newer engines). */
  memoryDumpVolume?: unknown;
  memoryConfVolume?: unknown;
}

/** One VM's entry in Host.getAllVmIoTunePolicies (vdsm's shape). */
export interface VmIoTunePolicy {
  policy: unknown[];
  current_values: DiskIoTune[];
}

export interface VmManagerOptions {
  /** libvirt calls (a verb's timeout is the client's), domain events and reconnect notices. */
  libvirt: Libvirt;
  records: VmRecordStore;
  statsCache: StatsCache;
  clock: Clock;
  timers: Timers;
  log: Logger;
  /** Sends a JSON-RPC notification to the engine (the RPC server appends notify_time). */
  publish: (method: string, params: Record<string, unknown>) => void;
  /** Address shown in displayInfo when graphics listen on every address. */
  displayIp?: string;
  /** [vars] sys_shutdown_timeout, seconds. */
  sysShutdownTimeoutS: number;
  /** [vars] user_shutdown_timeout, seconds: the grace the oVirt agent gives users before shutting down. */
  userShutdownTimeoutS?: number;
  /** Both guest agents (absent in tests that do not need them). */
  guest?: GuestAgents;
  /** The guest's clock set after it stood still (src/guest/guest-time-sync.ts; absent: never set). */
  timeSync?: Pick<GuestTimeSync, 'sync'>;
  /** [vars] vm_command_timeout, seconds. */
  vmCommandTimeoutS: number;
  /** [vars] guest_lifecycle_event_reply_timeout, ms: how long after_hibernation waits for a restored VM's channel to connect. */
  guestEventWaitMs?: number;
  guestWaitTimeoutMs?: number;
  /** Host-side preparation that needs root (hugepages, channel sockets), through supervdsm. */
  hostHooks?: VmHostHooks;
  /**
   * QEMU's SASL database of VNC passwords (saslpasswd2 through supervdsm): VM.setTicket with fips sets the
   * ticket for vncUsername there. Absent: a fips ticket is refused (error 100) and nothing is removed.
   */
  vncPasswords?: { set(user: string, password: string): Promise<unknown>; remove(user: string): Promise<unknown> };
  /** vdsm's hook scripts (src/hooks/): before_vm_start may rewrite the XML or fail the start. */
  scriptHooks?: Pick<VmHooks, 'run'>;
  /** Rewrites the engine's domain XML before libvirt starts it (fake KVM: the domain type). */
  prepareXml?: (xml: string) => Promise<string>;
  /** Look up a running VM's QEMU pid (in a worker); absent where no QEMU runs (libvirt's test driver). */
  qemuPid?: (vmId: string) => Promise<number | undefined>;
  /** The memory and configuration volumes of memory snapshots (VM.snapshot's snapMemory); without them such a snapshot is refused. */
  memoryVolumes?: Pick<MemoryVolumeStorage, 'prepare' | 'teardown' | 'write'>;
  /** [jobs] autodelete_delay: seconds a finished virt job (a snapshot) stays in Host.getJobs (default 3600). */
  jobsAutodeleteDelayS?: number;
  /** Return from hibernation (VM.create with hiberVolHandle); without it such a create is refused. */
  restorer?: VmRestorer;
  /** Storage for disks given as storage volumes; without it such disks keep the XML's source. */
  drives?: VmDriveStorage;
  /** Whether a VM's monitor can be reached now (libvirt connected, VM answered sampling). */
  monitorReachable?: (vmId: string) => boolean;
  /**
   * True while the RPC server has a big reply queued behind a socket (RpcServer.outputQueued): the
   * background report rebuild waits (up to 50 ms), so its chunks are not each held behind a rebuild slice.
   */
  outputPending?: () => boolean;
  /** How the background report rebuild slices its work (tests drive it; default: 1 ms slices, setImmediate). */
  reportSlices?: Pick<ReportRefresherOptions<Vm>, 'now' | 'sliceMs' | 'yieldToLoop'>;
  /** getAllVmStats replies are assembled in buffers of this pool (the RPC server's, which gives them back). */
  replyBuffers?: ReplyBufferPool;
}

export interface ShutdownRequest {
  /** Seconds the oVirt agent gives logged-in users before the guest shuts down ([vars] user_shutdown_timeout). */
  delayS?: number;
  message?: string;
  reboot?: boolean;
  timeoutS?: number;
  force?: boolean;
}

/** What the migration service adds to a VM's stats (`migrationProgress` while it migrates out). */
export interface MigrationView {
  progress(vmId: string): number | undefined;
}

/** VmManager's stamp of the view checks (whole-reply.ts): see #templateStamp. */
interface TemplateStamp {
  vms: number;
  views: number;
  guest: number;
  until: number;
}

export class VmManager {
  readonly container: VmContainer<Vm>;
  #o: VmManagerOptions;
  readonly #life = new Lifecycle('VM manager');
  #unsubscribe: (() => void)[] = [];
  /** Per VM, libvirt events that came while its images are released on its domain's stop: applied after, in order. */
  readonly #heldEvents = new WeakMap<Vm, DomainEvent[]>();
  /** Sequence of libvirt state events applied, and per VM the last one: a resync never undoes a newer event. */
  #eventSeq = 0;
  #lastEvent = new Map<string, number>();
  #resyncs = { runs: 0, changed: 0, failed: 0 };
  #statusListeners = new Set<(vm: Vm, change: VmStatusChange) => void>();
  #migrations: MigrationView | undefined;
  /** Each VM's report serialised once per change (Host.getAllVmStats). */
  readonly #reportCache = new VmReportCache();
  /** Per VM, its last elapsedTime and that value's JSON text (read-time slot 1). */
  readonly #elapsedTexts = new WeakMap<Vm, { seconds: number; json: string }>();
  /** Each VM's drives for its stats report, kept while its domain, sizes and storage drives are the same. */
  readonly #driveSubjects = new WeakMap<Vm, { domain: DomainInfo; sizes: Vm['driveSizes']; prepared: number; subject: { drives: DriveDevice[] } }>();
  /** Host.getStats' VM counts, kept until a VM is added or removed (container version) or changes status. */
  #counts: { version: number; counts: VmCounts } | undefined;
  /** Size of the last full getAllVmStats reply (plus a margin): the next one's buffer starts that big. */
  #lastReplyBytes = 4096;
  /** Grows with every change of a VM's state, domain or carried guest info (the kept reply's stamp). */
  #vmChanges = 0;
  /** Rebuilds changed reports in the background, so getAllVmStats reads only fill texts in. */
  readonly #refresher: ReportRefresher<Vm>;
  /** The last getAllVmStats reply of every VM, kept assembled (with a reply pool only). */
  readonly #whole: WholeReply<Vm> | undefined;
  /** What the kept reply asks per VM: the template its text would be filled from now, its read-time values. */
  readonly #wholeSource: WholeReplySource<Vm>;
  /** VM.freeze, VM.thaw, VM.snapshot (./vm-snapshot.ts). */
  readonly #snapshots: VmSnapshots;
  /** The host's virt jobs (VM.snapshot's), for Host.getJobs. */
  readonly #virtJobs: VirtJobs;
  /** Console clients and what to do in the guest when they disconnect (VM.setTicket's disconnect action). */
  readonly #console: ConsoleWatch;

  constructor(opts: VmManagerOptions) {
    this.#o = opts;
    this.container = new VmContainer<Vm>(opts.clock);
    this.#whole = opts.replyBuffers !== undefined ? new WholeReply<Vm>(opts.replyBuffers) : undefined;
    this.#console = new ConsoleWatch({
      timers: opts.timers,
      log: opts.log,
      // VM stats carry the console client's address (vdsm's clientIp): the report is built again.
      clientChanged: () => {
        this.#vmChanges++;
        this.#refresher.schedule();
      },
      actions: {
        // As vdsm: the lock and the logoff go to the oVirt guest agent; a reboot or shutdown is VM.shutdown
        // with the users' delay and the system timeout, forced at the end.
        lockScreen: (vmId) => opts.guest?.desktopLock(vmId) ?? Promise.reject(new Error('no guest agents')),
        logoff: (vmId) => opts.guest?.desktopLogoff(vmId) ?? Promise.reject(new Error('no guest agents')),
        powerDown: (vmId, reboot) => this.shutdown(vmId, {
          delayS: opts.userShutdownTimeoutS ?? 30, timeoutS: opts.sysShutdownTimeoutS, reboot, force: true,
          message: reboot ? 'Scheduled reboot on disconnect' : 'Scheduled shutdown on disconnect',
        }),
        isGone: (vmId) => {
          const vm = this.container.get(vmId);
          return vm === undefined || vm.state.isDown;
        },
      },
    });
    this.#wholeSource = {
      view: (vm) => (this.#migrationProgress(vm) !== undefined ? undefined : this.#reportCache.viewOf(vm, vm.state, this.#guestInfo(vm))),
      content: () => this.#reportCache.changes,
      readValues: (vm, nowMs, values) => this.#readValues(vm, nowMs, values),
      stamp: (vms) => this.#templateStamp(vms),
      holds: (stamp) => this.#templateStampHolds(stamp as TemplateStamp),
    };
    this.#refresher = new ReportRefresher<Vm>({
      items: () => this.container.values(),
      refresh: (vm) => {
        if (this.#migrationProgress(vm) === undefined) this.#reportCache.refresh(vm, this.#reportInput(vm));
      },
      clock: opts.clock,
      ...(opts.outputPending !== undefined ? { busy: opts.outputPending, pause: () => new Promise<void>((resolve) => opts.timers.setTimeout(resolve, 1)) } : {}),
      ...opts.reportSlices,
      onError: (vm, err) => this.#o.log.warn({ vmId: vm.vmId, err }, 'VM stats report refresh failed'),
      // A walk that rebuilt texts ends by assembling the whole reply from them, so the engine's next
      // getAllVmStats is served kept rather than assembling every VM itself (whole-reply.ts).
      after: () => this.#reassemble(),
      onAfterError: (err) => this.#o.log.warn({ err }, 'getAllVmStats reply assembly after a report refresh failed; reads assemble it'),
    });
    this.#virtJobs = new VirtJobs({
      timers: opts.timers,
      autodeleteDelayS: opts.jobsAutodeleteDelayS ?? 3600,
      // vdsm's event when a job finishes: the engine may follow a job by it instead of polling Host.getJobs.
      onFinished: (job) => opts.publish(`|jobs|status|${job.id}`, { ...job }),
    });
    this.#snapshots = new VmSnapshots({
      libvirt: opts.libvirt, log: opts.log, drives: opts.drives, clock: opts.clock, timers: opts.timers, jobs: this.#virtJobs,
      requireRunning: (vmId) => this.#requireRunning(vmId),
      syncGuestTime: (vm) => this.#syncGuestTime(vm, 'snapshot'),
      adoptLiveXml: (vm) => this.#adoptChangedDisks(vm),
      memoryVolumes: opts.memoryVolumes,
      machineParams: async (vm) => {
        const report = this.report(vm);
        return { vmId: vm.vmId, _srcDomXML: await this.liveXml(vm), xml: vm.xml, elapsedTimeOffset: Number(report['elapsedTime'] ?? 0), ...pickGuestInfo(report) };
      },
    });
  }

  /** Start applying libvirt events and resyncing after reconnects. Idempotent (src/runtime/lifecycle.ts). */
  start(): void {
    this.#life.startSync(() => {
      this.#unsubscribe = [
        this.#o.libvirt.onEvent((e) => this.#onEvent(e)),
        this.#o.libvirt.onReconnect(() => void this.resync()),
      ];
    });
  }

  /** Stop listening; cancel power-down sequences and the VMs' timers. Idempotent. */
  close(): void {
    const vms = this.container.values();
    this.#life.closeSync(() => {
      for (const off of this.#unsubscribe.splice(0)) off();
    });
    this.#refresher.close();
    this.#snapshots.close();
    this.#virtJobs.close();
    this.#console.close();
    this.#whole?.drop();
    // A VM adopted or created before start() has timers too.
    for (const vm of vms) {
      vm.powerdown?.cancel();
      vm.state.close();
    }
  }


  /**
   * VM.create: the VM id comes from the domain XML (as in vdsm). Answers with WaitForLaunch once the VM
   * is recorded in the state directory (a VM that could not be recorded is not created: ERR_STATE_WRITE);
   * the domain is started in a worker and status events follow.
   */
  async create(vmParams: CreateParams): Promise<VmCreated> {
    if (typeof vmParams.xml !== 'string' || vmParams.xml.trim() === '') throw vdsmError(Errors.MISSING_PARAM, "vmParams.xml: the libvirt domain XML is required");
    let domain: DomainInfo;
    try {
      domain = parseDomainXml(vmParams.xml);
    } catch (err) {
      throw wrapError(Errors.CREATE, err);
    }
    let volumes: HibernationVolumes | undefined;
    try {
      volumes = hibernationVolumesOf(vmParams as Record<string, unknown>);
    } catch (err) {
      if (err instanceof HibernationHandleError) throw vdsmError(Errors.INVALID_PARAMETER, `${Errors.INVALID_PARAMETER.message}: ${err.message}`);
      throw err;
    }
    let saved: Record<string, unknown> | undefined;
    if (volumes !== undefined) {
      if (this.#o.restorer === undefined) throw vdsmError(Errors.CREATE, `${Errors.CREATE.message}: this agent has no storage to restore a hibernated VM from`);
      if (this.container.get(domain.uuid) !== undefined) throw vdsmError(Errors.VM_EXISTS);
      saved = await this.#o.restorer.savedParams(normalizeVmId(domain.uuid), volumes);
    }
    // A restored VM's elapsedTime goes on from where it was saved (vdsm's elapsedTimeOffset).
    const offsetS = Number(saved?.['elapsedTimeOffset']);
    const startedAtWall = Number.isFinite(offsetS) && offsetS > 0 ? Date.now() - offsetS * 1000 : undefined;
    const vm = this.#newVm(domain, vmParams.xml, volumes !== undefined ? VmStatus.RESTORING_STATE : VmStatus.WAIT_FOR_LAUNCH, startedAtWall);
    const savedGuest = saved !== undefined ? pickGuestInfo(saved) : {};
    if (Object.keys(savedGuest).length > 0) vm.guest = savedGuest as GuestInfo;
    this.#vmChanges++;
    this.container.add(vm); // VM_EXISTS (code 4) when the id is taken
    try {
      await this.#o.records.put({ vmId: vm.vmId, name: vm.domain.name, xml: vm.xml, startedAt: Date.now() });
    } catch (err) {
      this.container.remove(vm.vmId);
      vm.state.close();
      this.#o.log.error({ vmId: vm.vmId, err: errorMessage(err) }, 'VM not created: it could not be recorded');
      throw err;
    }
    this.#o.statsCache.add(vm.vmId);
    void (volumes !== undefined ? this.#restore(vm, volumes) : this.#launch(vm));
    return { vmId: vm.vmId, status: vm.state.status, statusTime: String(vm.state.statusTime), xml: vm.xml };
  }

  /**
   * Adopt a domain found running at start-up (recovery). Its record is written best effort: libvirt is
   * the truth for a running VM, so a full disk is logged (and retried by later writes), not fatal.
   */
  adopt(domain: DomainInfo, xml: string, status: VmStatusName, startedAtWall?: number): Vm {
    // elapsedTime counts from the start we recorded, not from the re-adoption.
    const vm = this.#newVm(domain, xml, status, startedAtWall);
    this.container.add(vm);
    this.#o.statsCache.add(vm.vmId);
    if (status !== VmStatus.DOWN) {
      this.#findPid(vm);
      void this.readVcpuTune(vm);
    }
    if (!vm.state.isDown) this.#o.guest?.attach(vm.vmId, domain);
    this.#recoverDrives(vm, status !== VmStatus.DOWN);
    if (status === VmStatus.DOWN && vm.storageDrives.length > 0) void this.#releaseDrives(vm);
    // A snapshot job the previous agent left running (its state in the domain's metadata): listed and ended here.
    if (status !== VmStatus.DOWN) this.#snapshots.recover(vm, xml);
    void this.#o.records.remember({ vmId: vm.vmId, name: domain.name, xml, startedAt: startedAtWall ?? Date.now() });
    // vdsm tells the engine about every recovered VM; the event is held until recovery completes.
    const details = this.report(vm);
    this.#o.publish(`|virt|VM_status|${vm.vmId}`, { [vm.vmId]: details });
    if (status !== VmStatus.DOWN) this.#o.hostHooks?.started(vm);
    return vm;
  }

  /** A VM we ran that is gone from libvirt after a restart: keep it as Down until VM.destroy. */
  adoptDown(domain: DomainInfo, xml: string, info: ExitInfo): Vm {
    const vm = this.#newVm(domain, xml, VmStatus.WAIT_FOR_LAUNCH);
    this.container.add(vm);
    vm.state.markDown(info, 'recovery'); // its Down event is held until recovery completes
    // Its images were prepared by the previous process: not prepared again, and released now as for any
    // VM whose domain stopped (VM.destroy then does not tear them down again).
    this.#recoverDrives(vm, false);
    if (vm.storageDrives.length > 0) void this.#releaseDrives(vm);
    return vm;
  }

  /**
   * VM.migrationCreate on a destination: the VM record in Migration Destination, no libvirt call (the
   * source's libvirtd creates the domain). `elapsedTimeOffsetS` keeps elapsedTime counting from the
   * original start; `guest` is what the source's agents knew, reported until ours speak.
   */
  addIncoming(domain: DomainInfo, xml: string, o: { elapsedTimeOffsetS?: number; guest?: GuestInfo } = {}): Vm {
    const startedAtWall = Date.now() - Math.max(0, (o.elapsedTimeOffsetS ?? 0) * 1000);
    const vm = this.#newVm(domain, xml, VmStatus.MIGRATION_DESTINATION, startedAtWall);
    vm.guest = o.guest;
    this.#vmChanges++;
    this.container.add(vm); // VM_EXISTS (code 4) when the id is taken
    this.#o.statsCache.add(vm.vmId);
    // Not awaited (the engine waits for migrationCreate's answer); a record that cannot be written only
    // costs the recovery of this VM after a restart of this agent, and is logged.
    this.#o.records.put({ vmId: vm.vmId, name: domain.name, xml, startedAt: startedAtWall })
      .catch((err: unknown) => this.#o.log.error({ vmId: vm.vmId, err: errorMessage(err) }, 'could not record the incoming VM'));
    return vm;
  }

  /** The incoming domain runs here now: take libvirt's live XML (ports, channel paths), QEMU's pid, the guest agents' channels. */
  async adoptIncomingDomain(vm: Vm): Promise<void> {
    await this.#refreshFromLiveXml(vm);
    this.#findPid(vm);
    void this.readVcpuTune(vm);
    // The live XML names this host's channel sockets: our agents listen from now on.
    if (!vm.state.isDown) this.#o.guest?.attach(vm.vmId, vm.domain);
  }

  get(vmId: string): Vm | undefined {
    return this.container.get(vmId);
  }

  /** Every VM status change, after its VM_status event went out. Returns the unsubscribe function. */
  onStatusChange(cb: (vm: Vm, change: VmStatusChange) => void): () => void {
    this.#statusListeners.add(cb);
    return () => this.#statusListeners.delete(cb);
  }

  /** The migration service, for `migrationProgress` in the stats of a migrating VM. */
  setMigrationView(view: MigrationView): void {
    this.#migrations = view;
  }

  /**
   * VM.destroy. The VM is forgotten on disk first: a destroy that cannot be recorded does not happen
   * (ERR_STATE_WRITE, the VM untouched), and one that libvirt refuses puts the record back.
   */
  async destroy(vmId: string): Promise<true> {
    const vm = this.container.require(vmId);
    // vdsm's before_vm_destroy, for a VM that still runs; its failures are only logged.
    if (!vm.state.isDown) await this.runHook('before_vm_destroy', vm);
    const record = this.#o.records.get(vm.vmId);
    await this.#o.records.remove(vm.vmId);
    vm.powerdown?.cancel();
    if (!vm.state.isDown) {
      // An incoming VM never ran here (the guest is still the source's): no graceful SIGTERM wait, which a
      // hung incoming QEMU would make last 10 s before the forced destroy's own.
      const graceful = vm.state.status !== VmStatus.MIGRATION_DESTINATION;
      vm.state.destroyRequested();
      // As vdsm's releaseVm: Powering down (no event) before the domain is destroyed, until Down. A
      // destroy libvirt refuses leaves it so, as vdsm's does.
      vm.state.releasing();
      try {
        await this.#call('libvirt.destroy', { uuid: vm.vmId, flags: graceful ? DestroyFlag.GRACEFUL : DestroyFlag.DEFAULT });
      } catch (err) {
        if (!isNoDomain(err) && graceful) {
          // As vdsm: SIGTERM alone did not end QEMU (a stopped or wedged process ignores it): SIGKILL.
          this.#o.log.warn({ vmId: vm.vmId, err: errorMessage(err) }, 'graceful destroy failed; destroying forcefully');
          try {
            await this.#call('libvirt.destroy', { uuid: vm.vmId, flags: DestroyFlag.DEFAULT });
          } catch (err2) {
            if (!isNoDomain(err2)) {
              this.#o.log.error({ vmId: vm.vmId, err: err2 }, 'destroy failed');
              if (record) await this.#o.records.put(record).catch((e: unknown) => this.#o.log.error({ vmId: vm.vmId, err: errorMessage(e) }, 'could not record the VM again after a failed destroy'));
              throw wrapError(Errors.DESTROY, err2, { vmId: vm.vmId });
            }
          }
        } else if (!isNoDomain(err)) {
          this.#o.log.error({ vmId: vm.vmId, err }, 'destroy failed');
          if (record) await this.#o.records.put(record).catch((e: unknown) => this.#o.log.error({ vmId: vm.vmId, err: errorMessage(e) }, 'could not record the VM again after a failed destroy'));
          throw wrapError(Errors.DESTROY, err, { vmId: vm.vmId });
        }
      }
      // A persistent (defined) domain is undefined as well, as vdsm does; a transient one is gone.
      await this.#call('libvirt.undefine', { uuid: vm.vmId, flags: 0 }).catch(() => undefined);
      // As vdsm's releaseVm: the images are torn down and after_vm_destroy has run before the VM is
      // reported Down. A prepare still in flight (a launch, a recovered VM's) is not waited for: it tears
      // its image down when it returns.
      await this.#releaseVm(vm);
      vm.state.destroyed();
    } else {
      // Down already: a persistent domain migrated away (PERSIST_DEST) or shut down leaves its definition.
      await this.#call('libvirt.undefine', { uuid: vm.vmId, flags: 0 }).catch(() => undefined);
    }
    // Released when its domain stopped already (the same promise): nothing is torn down twice and
    // after_vm_destroy does not run again. A VM that went Down otherwise (migrated away, hibernated, a
    // failed launch) had its images released then; its after_vm_destroy runs here, as vdsm's.
    await this.#releaseVm(vm);
    this.container.remove(vm.vmId);
    this.#lastEvent.delete(vm.vmId);
    this.#o.statsCache.remove(vm.vmId);
    this.#o.guest?.detach(vm.vmId);
    await this.#o.hostHooks?.destroyed(vm);
    return true;
  }

  /**
   * Run a hook point's scripts for a VM whose failures only get logged (the after_* points,
   * before_vm_destroy): never rejects. Raising points go through `scriptHooks.run` themselves.
   */
  async runHook(point: VmHookPoint, vm: VmHookSubject, params?: Record<string, string>): Promise<void> {
    if (this.#o.scriptHooks === undefined) return;
    try {
      await this.#o.scriptHooks.run(point, vm, params);
    } catch (err) {
      this.#o.log.warn({ vmId: vm.vmId, hook: point, err: errorMessage(err) }, 'hook point failed');
    }
  }

  /** Run a hook point whose failure fails the operation (hookError, code 78): resolves to the scripts' XML. */
  async runFailingHook(point: VmHookPoint, vm: VmHookSubject, params?: Record<string, string>): Promise<string> {
    if (this.#o.scriptHooks === undefined) return vm.xml;
    return this.#o.scriptHooks.run(point, vm, params);
  }

  /**
   * VM.shutdown: ask the guest to power off (or reboot) through the oVirt guest agent when it is
   * responsive (it shows `message` and gives users `delayS`), then the QEMU guest agent, then ACPI, each
   * given `timeoutS` (the oVirt agent delay + timeout) to bring the VM down; with `force`, destroy at the
   * end. Returns once the first request was accepted; the sequence (./power-down.ts) goes on in the background.
   */
  async shutdown(vmId: string, req: ShutdownRequest): Promise<true> {
    const vm = this.container.require(vmId);
    if (vm.state.isDown) throw vdsmError(Errors.NO_VM, { vmId: vm.vmId });
    const guest = this.#o.guest;
    const delayS = req.delayS ?? this.#o.userShutdownTimeoutS ?? 30;
    const message = req.message ?? 'System going down';
    const methods = powerDownMethods({
      ovirtAgent: guest?.ovirtResponsive(vm.vmId) === true,
      qemuAgent: vm.domain.channels.some((c) => c.targetName === QEMU_GA_CHANNEL_NAME),
      acpi: vm.domain.acpi,
    }, delayS * 1000);
    if (methods.length === 0 && !req.force) {
      throw vdsmError(Errors.VM_EXISTS, 'VM without ACPI or active oVirt guest agent. Try Forced Shutdown.');
    }
    vm.powerdown?.cancel();
    const log = this.#o.log;
    const sequence = new PowerDown({
      vmId: vm.vmId,
      request: async (m, reboot) => {
        if (m.name === 'ovirt-guest-agent') {
          const r = await guest?.ovirtShutdown(vm.vmId, delayS, message, reboot);
          if (r?.ok !== true) throw new Error(r?.message ?? 'the oVirt guest agent is gone');
          return;
        }
        try {
          await this.#call(reboot ? 'libvirt.reboot' : 'libvirt.shutdown', { uuid: vm.vmId, flags: m.flags });
        } catch (err) {
          // libvirt's guest-shutdown fails with "End of file from agent socket" when the guest powers off
          // before qemu-ga's reply is read: the request worked. If not, the next method follows.
          if (!(m.name === 'qemu-guest-agent' && /End of file from agent socket/.test(errorMessage(err)))) throw err;
          log.info({ vmId: vm.vmId, method: m.name, err: errorMessage(err) }, 'the guest agent went away while shutting the guest down');
        }
      },
      accepted: (m, reboot) => {
        if (!vm.state.isDown) vm.state.shutdownRequested({ reboot });
        log.info({ vmId: vm.vmId, method: m.name, reboot, message: req.message }, reboot ? 'Machine rebooting' : 'Machine shutting down');
      },
      destroy: () => this.destroyDomainOnly(vm),
      failed: () => vm.state.shutdownFailed(),
      isDown: () => vm.state.isDown,
    }, {
      methods, timeoutMs: (req.timeoutS ?? this.#o.sysShutdownTimeoutS) * 1000, reboot: req.reboot === true, force: req.force === true,
      clock: this.#o.clock, timers: this.#o.timers, log,
    });
    vm.powerdown = sequence;
    try {
      await sequence.start();
    } catch (err) {
      if (vm.powerdown === sequence) vm.powerdown = undefined;
      throw err;
    }
    void sequence.outcome?.then(() => { if (vm.powerdown === sequence) vm.powerdown = undefined; });
    return true;
  }

  /** Forced power-off that keeps the VM in the container as Down (VM.shutdown with force). */
  async destroyDomainOnly(vm: Vm): Promise<void> {
    // As vdsm's forced shutdown (doDestroy): the STOPPED event this causes is ours, an admin shutdown
    // whichever of it and this call ends first; Powering down (no event) until Down.
    vm.state.destroyRequested(VmExitReason.ADMIN_SHUTDOWN);
    vm.state.releasing();
    try {
      await this.#call('libvirt.destroy', { uuid: vm.vmId, flags: 0 });
    } catch (err) {
      if (!isNoDomain(err)) throw err;
    }
    // vdsm's forced shutdown destroys the VM through releaseVm: its after_vm_destroy runs now, not again at VM.destroy.
    await this.#releaseVm(vm);
    vm.state.markDown(exitInfo(ExitCode.NORMAL, VmExitReason.ADMIN_SHUTDOWN), 'forcedShutdown');
  }

  async pause(vmId: string): Promise<{ vmList: Record<string, never> }> {
    const vm = this.#requireRunning(vmId);
    await this.runFailingHook('before_vm_pause', vm);
    await this.#call('libvirt.suspend', { uuid: vm.vmId });
    vm.state.paused();
    await this.runHook('after_vm_pause', vm);
    return { vmList: {} };
  }

  async cont(vmId: string): Promise<{ vmList: Record<string, never> }> {
    const vm = this.#requireRunning(vmId);
    await this.runFailingHook('before_vm_cont', vm);
    try {
      await this.#call('libvirt.resume', { uuid: vm.vmId });
    } catch (err) {
      throw wrapError(Errors.UNEXPECTED, err);
    }
    vm.state.resumed();
    // Not waited for (vdsm sets the time before answering): an agent that does not answer must not hold VM.cont.
    this.#syncGuestTime(vm, 'cont');
    await this.runHook('after_vm_cont', vm);
    return { vmList: {} };
  }

  /**
   * VM.setTicket (and VM.updateDevice with deviceType graphics, which names the graphics type): the
   * console password (and its expiry) on the VM's first graphics device (of that type), through
   * virDomainUpdateDeviceFlags on the live domain. The password travels only in the device XML handed to
   * the worker; it is never logged. `console`: for VNC, fips / vncUsername (the ticket in QEMU's SASL
   * database, or the user's entry removed); once the ticket is set, its disconnect action applies.
   */
  async setTicket(vmId: string, ticket: GraphicsTicket, graphicsType?: string, hookParams: Record<string, string> = {}, console: ConsoleOptions = {}): Promise<true> {
    const vm = this.#requireRunning(vmId);
    const live = await this.#call('libvirt.xmlDesc', { uuid: vm.vmId, flags: 0 });
    const device = ticketedGraphics(live, ticket, Date.now(), graphicsType);
    // VM.updateDevice names the graphics type and answers vdsm's updateDevice error when there is none.
    if (device === undefined) throw graphicsType === undefined ? vdsmError(Errors.TICKET, 'no graphics devices configured') : vdsmError(Errors.UPDATE_DEVICE, `Failed to update device: no ${graphicsType} graphics device`);
    if (device.type === 'vnc') await this.#vncSasl(vm, console, ticket.password);
    // The hook scripts get the VM's XML (never the password) and the engine's console options.
    await this.runHook('before_vm_set_ticket', vm, hookParams);
    try {
      await this.#call('libvirt.updateDeviceFlags', { uuid: vm.vmId, xml: device.xml, flags: Impact.LIVE });
    } catch (err) {
      if (isNoDomain(err)) throw vdsmError(Errors.NO_VM, { vmId: vm.vmId });
      throw wrapError(Errors.TICKET, err);
    }
    this.#console.setAction(vm.vmId, console.disconnectAction);
    this.#o.log.info({ vmId: vm.vmId, graphics: device.type, disconnectAction: this.#console.action(vm.vmId), ...(device.validTo !== undefined ? { validTo: device.validTo } : {}) }, 'console ticket set');
    await this.runHook('after_vm_set_ticket', vm, hookParams);
    return true;
  }

  /** A VNC ticket's SASL side (vdsm's saslpasswd2 calls): the password set for fips, else the user removed. */
  async #vncSasl(vm: Vm, console: ConsoleOptions, password: string): Promise<void> {
    const step = vncSaslStep(console);
    if (step === undefined) return;
    if ('error' in step) throw vdsmError(step.error === 'missing-param' ? Errors.MISSING_PARAM : Errors.GENERAL, step.message);
    const db = this.#o.vncPasswords;
    if (db === undefined) {
      if (step.op === 'set') throw vdsmError(Errors.GENERAL, 'fips: no SASL database for VNC passwords ([supervdsm] enable is false)');
      return;
    }
    try {
      if (step.op === 'set') await db.set(step.user, password);
      else await db.remove(step.user);
    } catch (err) {
      throw vdsmError(Errors.GENERAL, `VNC SASL password ${step.op === 'set' ? 'not set' : 'not removed'} for ${step.user}: ${errorMessage(err)}`);
    }
    this.#o.log.info({ vmId: vm.vmId, vncUsername: step.user, sasl: step.op }, step.op === 'set' ? 'VNC SASL password set' : 'VNC SASL user removed');
  }

  /** VM.reset: a hardware reset of the running guest (virDomainReset); the VM stays Up. */
  async reset(vmId: string): Promise<true> {
    const vm = this.#requireRunning(vmId);
    try {
      await this.#call('libvirt.reset', { uuid: vm.vmId, flags: 0 });
    } catch (err) {
      if (isNoDomain(err)) throw vdsmError(Errors.NO_VM, { vmId: vm.vmId });
      throw wrapError(Errors.RESET_FAILED, err);
    }
    this.#o.log.info({ vmId: vm.vmId }, 'VM reset');
    return true;
  }

  /** VM.freeze: the guest's file systems frozen through its agent (./vm-snapshot.ts). */
  freeze(vmId: string): Promise<true> {
    return this.#snapshots.freeze(vmId);
  }

  /** VM.thaw: the guest's file systems thawed through its agent. */
  thaw(vmId: string): Promise<true> {
    return this.#snapshots.thaw(vmId);
  }

  /** VM.snapshot: checked, then run as the virt job `snapshot_vm` in the background; `true` at once. */
  snapshot(vmId: string, req: SnapshotRequest): true {
    return this.#snapshots.snapshot(vmId, req);
  }

  /** Host.getJobs' virt jobs: the snapshot jobs (running, or finished within the autodelete delay). */
  snapshotJobs(ids?: readonly string[]): Record<string, VirtJobInfo> {
    return this.#virtJobs.info(ids);
  }

  /**
   * libvirt moved the VM's disks (a snapshot): its live XML becomes the VM's XML, the record on disk
   * follows (so a restart recovers the VM on its new volumes; a write that fails is logged), sizes are read again.
   */
  async #adoptChangedDisks(vm: Vm): Promise<void> {
    await this.#refreshFromLiveXml(vm);
    const startedAt = this.#o.records.get(vm.vmId)?.startedAt ?? Date.now();
    await this.#o.records.put({ vmId: vm.vmId, name: vm.domain.name, xml: vm.xml, startedAt })
      .catch((err: unknown) => this.#o.log.error({ vmId: vm.vmId, err: errorMessage(err) }, 'could not record the VM\'s new volumes'));
    await this.refreshDriveSizes([vm]);
  }

  /** Record the VM's QEMU pid when it is found; a failed lookup leaves pid 0 in the stats. */
  #findPid(vm: Vm): void {
    this.#o.qemuPid?.(vm.vmId).then((pid) => {
      if (pid !== undefined) {
        vm.pid = pid;
        this.#refresher.schedule();
      }
    }, (err: unknown) => this.#o.log.debug({ vmId: vm.vmId, err }, 'QEMU pid lookup failed'));
  }

  /**
   * Read libvirt's scheduler values into the VM's stats (vcpuQuota / vcpuPeriod), as vdsm does when the
   * domain is set up and after VM.setCpuTuneQuota / setCpuTunePeriod (libvirt may adjust what was set).
   * Where they cannot be read (an unprivileged libvirtd has no cgroups) the last values stay, logged.
   */
  async readVcpuTune(vm: Vm): Promise<void> {
    try {
      const p = await this.#call('libvirt.schedulerParameters', { uuid: vm.vmId, flags: 0 });
      const tune: VcpuTune = { ...(typeof p['vcpu_quota'] === 'number' ? { vcpu_quota: p['vcpu_quota'] } : {}), ...(typeof p['vcpu_period'] === 'number' ? { vcpu_period: p['vcpu_period'] } : {}) };
      if (tune.vcpu_quota === vm.vcpuTune?.vcpu_quota && tune.vcpu_period === vm.vcpuTune?.vcpu_period) return;
      vm.vcpuTune = tune;
      this.#refresher.schedule();
    } catch (err) {
      this.#o.log.debug({ vmId: vm.vmId, err: errorMessage(err) }, 'scheduler parameters not read');
    }
  }

  /** The stats object the engine reads (Host.getAllVmStats element); never calls libvirt. */
  report(vm: Vm): VmStatsReport {
    const report = buildVmStatsReport(this.#reportInput(vm));
    const progress = this.#migrationProgress(vm);
    if (progress !== undefined) report['migrationProgress'] = progress;
    return report;
  }

  /**
   * What every VM's view check (#wholeSource.view) just saw, as counters: any VM's state (status,
   * pause code, exit info), domain or carried guest info (#vmChanges), any report cache view, either guest
   * agent side, and the earliest guest-view deadline of the VMs (guest views age with time alone). While
   * all stand, each VM's check gives what it gave. Undefined while a VM carries the guest info of its
   * source (an incoming migration: it is dropped by the check itself once our agents speak).
   */
  #templateStamp(vms: readonly Vm[]): TemplateStamp | undefined {
    const agents = this.#o.guest;
    let until = Infinity;
    for (const vm of vms) {
      if (vm.state.isDown) continue;
      if (vm.guest !== undefined) return undefined;
      if (agents !== undefined) until = Math.min(until, agents.untilOf(vm.vmId));
    }
    return { vms: this.#vmChanges, views: this.#reportCache.views, guest: agents?.version ?? 0, until };
  }

  #templateStampHolds(s: TemplateStamp): boolean {
    const agents = this.#o.guest;
    return s.vms === this.#vmChanges && s.views === this.#reportCache.views && s.guest === (agents?.version ?? 0) && (agents === undefined || agents.now() < s.until);
  }

  /** A migrating VM's progress, percent; it moves with every read, so such a report is never cached. */
  #migrationProgress(vm: Vm): number | undefined {
    return vm.state.status === VmStatus.MIGRATION_SOURCE ? this.#migrations?.progress(vm.vmId) : undefined;
  }

  /**
   * Our agents' merged view of the guest; for an incoming VM, what the source's agents knew until ours
   * speak (as vdsm). Undefined for a VM that is Down: vdsm's defaults.
   */
  #guestInfo(vm: Vm): GuestInfo | undefined {
    if (vm.state.isDown) return undefined;
    const agents = this.#o.guest;
    if (agents === undefined) return vm.guest;
    if (vm.guest !== undefined) {
      if (!agents.speaks(vm.vmId)) return vm.guest;
      vm.guest = undefined;
      this.#vmChanges++;
    }
    return agents.stats(vm.vmId, Math.floor(vm.domain.memoryKiB / 1024));
  }

  #reportInput(vm: Vm): VmReportInput {
    return {
      state: vm.state.describe(),
      pid: vm.pid,
      vcpuTune: vm.vcpuTune,
      domain: vm.domain,
      ...(vm.driveSizes.size > 0 ? { subject: this.#driveSubject(vm) } : {}),
      sample: this.#o.statsCache.get(vm.vmId),
      guest: this.#guestInfo(vm),
      clock: this.#o.clock,
      log: this.#statsLog(vm),
      vmCommandTimeoutS: this.#o.vmCommandTimeoutS,
      ...(this.#o.monitorReachable ? { monitorReachable: this.#o.monitorReachable(vm.vmId) } : {}),
      // An incoming domain is libvirt's until it runs here: no stats are expected from it.
      monitorable: vm.state.status !== VmStatus.MIGRATION_DESTINATION,
      ...(this.#o.displayIp !== undefined ? { displayIp: this.#o.displayIp } : {}),
      clientIp: this.#console.clientIp(vm.vmId),
    };
  }

  /** The same object while nothing it is made of changed (the report cache compares inputs by ===). */
  #driveSubject(vm: Vm): { drives: DriveDevice[] } {
    const m = this.#driveSubjects.get(vm);
    if (m !== undefined && m.domain === vm.domain && m.sizes === vm.driveSizes && m.prepared === vm.storageDrives.length) return m.subject;
    const subject = { drives: this.#driveDevices(vm) };
    this.#driveSubjects.set(vm, { domain: vm.domain, sizes: vm.driveSizes, prepared: vm.storageDrives.length, subject });
    return subject;
  }

  /** The VM's disks with their sizes and, for storage volumes, their image (VM stats `disks`). */
  #driveDevices(vm: Vm): DriveDevice[] {
    return vm.domain.disks.filter((d) => d.target !== '').map((d) => {
      const size = vm.driveSizes.get(d.target);
      const imageID = vm.storageDrives.find((s) => s.name === d.target)?.imageID;
      return { name: d.target, truesize: size?.truesize ?? 0, apparentsize: size?.apparentsize ?? 0, ...(imageID !== undefined ? { imageID } : {}) };
    });
  }

  reports(vmIds?: readonly string[]): VmStatsReport[] {
    return this.#select(vmIds).map((vm) => this.report(vm));
  }

  /**
   * The same reports as JSON text, from each VM's report serialised once per change with the read-time
   * fields (statusTime, elapsedTime, monitorResponse, the NICs' sampleTime) filled in. A VM whose new
   * sample (or domain, pid, drive sizes) the background refresh has not reached yet is served its
   * previous text, whole: a read may show the previous sample for as long as one background rebuild takes
   * (report-refresher.ts); a read of every VM served from the kept reply, every VM's previous sample until
   * the walk's after() phase assembled the new one (at most 2 s: whole-reply.ts). A VM whose state or
   * guest view changed is rebuilt here: neither is ever stale.
   */
  reportsJson(vmIds?: readonly string[]): RawJson | Promise<RawJson> {
    const vms = this.#select(vmIds);
    // The fields that move with the clock, taken once for the read; per VM only elapsedTime and
    // monitorResponse differ. `values` is reused: each text copies them as it is filled.
    const { nowMs, values } = this.#readTimes();
    // Every VM: the buffer starts as big as the last such reply (a few VMs: small, it grows if needed).
    const all = vmIds === undefined || vmIds.length === 0;
    const done = (raw: RawJson): RawJson => {
      if (all) this.#lastReplyBytes = raw.sizeHint + (raw.sizeHint >> 4);
      this.#refresher.afterRead();
      return raw;
    };
    // Every VM: the last such reply again, with this read's values, when nothing else changed (whole-reply.ts).
    const whole = all ? this.#whole : undefined;
    const version = this.container.version;
    if (whole !== undefined) {
      const served = whole.serve(vms, version, nowMs, values, this.#wholeSource);
      if (served !== undefined) return done(served);
    }
    const rec = whole !== undefined ? new WholeReplyRecording<Vm>() : undefined;
    // The texts this read rebuilds are in the reply; any other rebuilt meanwhile (a single VM's read
    // between slices) makes the kept reply stale.
    let content = this.#reportCache.changes;
    const put = (vm: Vm, into: JsonPieces): void => {
      if (this.#putReport(vm, nowMs, values, into, rec)) content++;
    };
    const capacity = all ? this.#lastReplyBytes : undefined;
    const kept = (raw: RawJson): RawJson => {
      if (rec !== undefined) whole!.keep(rec, raw, { version, content });
      return done(raw);
    };
    // A short list in one go: no promise, the reply leaves in the request's turn.
    // Every VM's reply is big: its buffer comes from the pool (a few VMs' stays a plain small one).
    const pool = all ? this.#o.replyBuffers : undefined;
    if (vms.length <= SYNC_READ_VMS) return kept(rawJsonArrayOf(vms, put, capacity, pool, rec?.holes));
    const release = this.#refresher.hold();
    // In slices of ~2 ms, so other connections' requests are answered in between.
    return rawJsonArrayOfSliced(vms, put, { ...(capacity !== undefined ? { capacity } : {}), ...(pool ? { pool } : {}), ...(rec ? { holes: rec.holes } : {}) })
      .finally(release).then(kept);
  }

  /**
   * The clock of one getAllVmStats read (or background assembly), taken once: its ms and the hole values
   * (slot 0 statusTime and 3 sampleTime are the read's; 1 and 2 are each VM's, written per VM).
   */
  #readTimes(): { nowMs: number; values: string[] } {
    const now = clockTimes(this.#o.clock);
    return { nowMs: now.nowMs, values: slotValues({ statusTime: now.statusTime, elapsedTime: '', monitorResponse: '', sampleTime: now.sampleTime }) };
  }

  /**
   * One VM's text of a getAllVmStats read, with the read's `values` (recorded in `rec` for a kept
   * reply); true when its text had to be built first (one report cache change).
   */
  #putReport(vm: Vm, nowMs: number, values: string[], into: JsonPieces, rec: WholeReplyRecording<Vm> | undefined): boolean {
    rec?.begin();
    let built = false;
    if (this.#migrationProgress(vm) !== undefined) into.text(JSON.stringify(this.report(vm)));
    else {
      this.#readValues(vm, nowMs, values);
      if (!this.#reportCache.readInto(vm, vm.state, this.#guestInfo(vm), values, into)) {
        this.#reportCache.buildInto(vm, this.#reportInput(vm), into);
        built = true;
      }
    }
    rec?.end(vm, this.#wholeSource.view(vm));
    return built;
  }

  /**
   * The refresher's after() phase: a walk went round every VM, so assemble the whole getAllVmStats reply
   * from the texts now, in its slices, and keep it (whole-reply.ts): the next read is served from it
   * instead of assembling every VM on the engine's path. Nothing when there is no kept reply to serve
   * (no pool) or the kept one holds the newest texts already. Given up (the buffer goes back) when the
   * walk goes again or the VMs changed meanwhile.
   */
  *#reassemble(): Generator<void, void, void> {
    const whole = this.#whole;
    const pool = this.#o.replyBuffers;
    if (whole === undefined || pool === undefined) return;
    const version = this.container.version;
    let content = this.#reportCache.changes;
    if (whole.holdsNewest(version, content)) return;
    const vms = this.#select(undefined);
    const { nowMs, values } = this.#readTimes();
    const rec = new WholeReplyRecording<Vm>();
    const put = (vm: Vm, into: JsonPieces): void => {
      if (this.#putReport(vm, nowMs, values, into, rec)) content++;
    };
    const raw = yield* rawJsonArraySteps(vms, put, { capacity: this.#lastReplyBytes, pool, holes: rec.holes });
    const region = raw.region;
    if (this.container.version === version) whole.keep(rec, raw, { version, content, background: true });
    // keep() took a reference of its own: this builder's goes.
    if (raw.pooled && region !== undefined) pool.release(region.buf);
  }

  /**
   * Set the VM's elapsedTime and monitorResponse (slots 1 and 2) in `values`, without its sample's
   * records. Nothing is allocated per read: elapsedTime's text is kept per VM until the second changes,
   * monitorResponse is one of two constants.
   */
  #readValues(vm: Vm, nowMs: number, values: string[]): void {
    const monitorable = vm.state.status !== VmStatus.MIGRATION_DESTINATION;
    const statsAge = (nowMs - this.#o.statsCache.lastSeen(vm.vmId)) / 1000;
    // elapsedTime(nowMs, startedAt) as a number: its text is made only when the second changes.
    const seconds = Math.max(0, Math.floor((nowMs - vm.state.startedAt) / 1000));
    let text = this.#elapsedTexts.get(vm);
    if (text === undefined || text.seconds !== seconds) this.#elapsedTexts.set(vm, (text = { seconds, json: `"${elapsedTime(nowMs, vm.state.startedAt)}"` }));
    values[1] = text.json;
    values[2] = monitorResponse(monitorable, statsAge, this.#o.monitorReachable?.(vm.vmId), this.#o.vmCommandTimeoutS) === '-1' ? MONITOR_RESPONSE_DOWN : MONITOR_RESPONSE_OK;
  }

  /**
   * A new sample arrived: rebuild the reports it changed in the background, a slice at a time (a new
   * call during a walk restarts it). Reads in the meantime serve the previous texts.
   */
  refreshReports(): void {
    this.#refresher.schedule();
  }

  /** Resolves when no background report rebuild runs (tests, benches). */
  reportsSettled(): Promise<void> {
    return this.#refresher.idle();
  }

  describeReports(): { cache: ReturnType<VmReportCache['describe']>; refresh: ReturnType<ReportRefresher<Vm>['describe']>; whole?: ReturnType<WholeReply<Vm>['describe']> } {
    return { cache: this.#reportCache.describe(), refresh: this.#refresher.describe(), ...(this.#whole ? { whole: this.#whole.describe() } : {}) };
  }

  #select(vmIds?: readonly string[]): Vm[] {
    return vmIds === undefined || vmIds.length === 0 ? this.container.values() : vmIds.map((id) => this.container.get(id)).filter((v): v is Vm => v !== undefined);
  }

  /**
   * Host.getStats' VM counts (vmCount, vmActive, vmMigrating, ...): counted once per change (a VM
   * added, removed or changing status), not on every request.
   */
  vmCounts(): VmCounts {
    const version = this.container.version;
    if (this.#counts === undefined || this.#counts.version !== version) this.#counts = { version, counts: Object.freeze(this.container.counts()) };
    return this.#counts.counts;
  }

  /** VM.getStats: the stats object of one VM (NO_VM when unknown). */
  reportOf(vmId: string): VmStatsReport {
    return this.report(this.container.require(vmId));
  }

  /** VM.getInfo: the short status, statusTime when the status last changed. */
  info(vmId: string): VmShortStatus {
    const vm = this.container.require(vmId);
    return { vmId: vm.vmId, status: vm.state.status, statusTime: String(vm.state.statusTime) };
  }

  /** Host.getVMList: the short status of these VMs (every VM when empty), statusTime taken now. */
  shortList(vmIds?: readonly string[]): VmShortStatus[] {
    return this.container.shortList(vmIds);
  }

  /** Host.dumpxmls: libvirt's live domain XML per VM. */
  async liveXmls(vmIds?: readonly string[]): Promise<Record<string, string>> {
    const vms = this.container.list(vmIds);
    const xmls = await Promise.all(vms.map((vm) => this.liveXml(vm)));
    return Object.fromEntries(vms.map((vm, i) => [vm.vmId, xmls[i]!]));
  }

  /**
   * Host.getAllVmIoTunePolicies: per running VM, its I/O tune policy (what VM.updateVmPolicy kept in the
   * domain metadata) and each disk's current limits, both from libvirt's live XML. A VM libvirt cannot describe is left out, as vdsm leaves out a VM whose query fails.
   */
  async ioTunePolicies(): Promise<Record<string, VmIoTunePolicy>> {
    const vms = this.running();
    const out: Record<string, VmIoTunePolicy> = {};
    await Promise.all(vms.map(async (vm) => {
      try {
        const live = await this.#call('libvirt.xmlDesc', { uuid: vm.vmId, flags: 0 });
        out[vm.vmId] = { policy: parseQos(live).ioTune, current_values: diskIoTunes(live) };
      } catch (err) {
        this.#o.log.debug({ vmId: vm.vmId, err }, 'I/O tune values unavailable');
      }
    }));
    return out;
  }

  /**
   * A guest agent changed its word on the guest (vdsm's _onGuestStatusChange): Up moves a booting or
   * rebooting VM to Up; either way the engine gets a VM_status event with the guest's stats.
   */
  guestStatusChanged(vmId: string, up: boolean, cause: string): void {
    const vm = this.container.get(vmId);
    if (vm === undefined || vm.state.isDown) return;
    // A status change publishes its own event (with the guest stats in it).
    if (up && vm.state.guestUp(cause)) return;
    this.#o.publish(`|virt|VM_status|${vm.vmId}`, { [vm.vmId]: this.report(vm) });
  }

  /** VMs whose stats sampling makes sense (running in libvirt). */
  running(): Vm[] {
    return this.container.values().filter((vm) => !vm.state.isDown && vm.state.status !== VmStatus.WAIT_FOR_LAUNCH);
  }

  state(): Record<string, unknown> {
    return { lifecycle: this.#life.state, vms: this.container.values().map((vm) => vm.state.describe()), resyncs: { ...this.#resyncs } };
  }

  /**
   * After a libvirt reconnect: events sent while the connection was down are lost, so each VM's status
   * is brought in line with libvirt's list (paused, resumed, shutting down, gone), which sends the
   * engine the status events it missed. A VM that got an event of its own since the resync started is
   * left alone (that event is newer than the list). Returns the ids whose status moved.
   */
  async resync(): Promise<string[]> {
    const started = this.#eventSeq;
    this.#resyncs.runs++;
    let domains: DomainListEntry[];
    try {
      domains = await this.#domainStates();
    } catch (err) {
      this.#resyncs.failed++;
      this.#o.log.warn({ err }, 'VM resync after the libvirt reconnect failed; the next reconnect retries');
      return [];
    }
    const byId = new Map(domains.map((d) => [normalizeVmId(d.uuid), d]));
    const changed: string[] = [];
    for (const vm of this.container.values()) {
      if ((this.#lastEvent.get(vm.vmId) ?? 0) > started) continue;
      const before = vm.state.status;
      if (reconcileWithDomain(vm.state, byId.get(vm.vmId))) {
        changed.push(vm.vmId);
        this.#o.log.info({ vmId: vm.vmId, from: before, to: vm.state.status }, 'VM status resynced with libvirt');
      }
    }
    this.#resyncs.changed += changed.length;
    this.#o.log.info({ vms: this.container.size, changed: changed.length }, 'VM states resynced after the libvirt reconnect');
    return changed;
  }

  // --- internals -------------------------------------------------------------------------------

  /**
   * Every domain's state as libvirt knows it once it has caught up with its QEMUs. A libvirtd that just
   * started reconnects to each running QEMU in the background and corrects the state it had saved
   * (a VM resumed meanwhile turns running) without sending an event; until then listAllDomains answers
   * from the saved state. The balloon stats group needs QEMU's monitor, so libvirt answers for a domain
   * only after its reconnect; when that call fails, the plain list is the best there is.
   */
  async #domainStates(): Promise<DomainListEntry[]> {
    try {
      const records = await this.#call('libvirt.getAllDomainStats', { stats: StatsGroup.STATE | StatsGroup.BALLOON, flags: 0 });
      return records.map((r) => ({ uuid: r.uuid, name: r.name, id: r.id, state: Number(r.stats['state.state']), reason: Number(r.stats['state.reason']) }));
    } catch (err) {
      this.#o.log.warn({ err }, 'domain stats unavailable for the resync; using the domain list');
      return this.#call('libvirt.listAllDomains', { flags: 0, withState: true });
    }
  }

  #newVm(domain: DomainInfo, xml: string, initial: VmStatusName, startedAtWall?: number): Vm {
    const vmId = normalizeVmId(domain.uuid);
    // The state machine counts on the monotonic clock: move the wall-clock start onto it.
    const startedAtMs = startedAtWall === undefined ? undefined : this.#o.clock.now() - Math.max(0, Date.now() - startedAtWall);
    const vm: Vm = {
      vmId,
      xml,
      domain,
      guest: undefined,
      powerdown: undefined,
      statsWarned: new Set(),
      storageDrives: [],
      driveSizes: new Map(),
      state: new VmStateMachine(vmId, {
        clock: this.#o.clock,
        timers: this.#o.timers,
        initial,
        log: { warn: (m) => this.#o.log.warn(m), debug: (m) => this.#o.log.debug(m) },
        ...(this.#o.guestWaitTimeoutMs !== undefined ? { guestWaitTimeoutMs: this.#o.guestWaitTimeoutMs } : {}),
        ...(startedAtMs !== undefined ? { startedAtMs } : {}),
        onStatusChange: (change) => this.#statusChanged(vm, change),
        onTouch: () => this.#vmChanges++,
      }),
    };
    return vm;
  }

  async #launch(vm: Vm): Promise<void> {
    try {
      // Disks on storage volumes: prepared now, and the record keeps the XML that points at them.
      if (await this.#prepareDrives(vm)) await this.#o.records.put({ vmId: vm.vmId, name: vm.domain.name, xml: vm.xml, startedAt: Date.now() });
      let xml = this.#o.prepareXml !== undefined ? await this.#o.prepareXml(vm.xml) : vm.xml;
      // The scripts' XML is what libvirt starts; a failed script fails the launch (hookError), as vdsm.
      if (this.#o.scriptHooks !== undefined) xml = await this.#o.scriptHooks.run('before_vm_start', { vmId: vm.vmId, xml, domain: vm.domain });
      await this.#o.hostHooks?.beforeLaunch(vm);
      // VM.destroy came while the launch waited (vdsm's DestroyedOnStartupError): no domain is started.
      if (vm.drivesReleased !== undefined || vm.state.isDown) throw new Error('the VM was destroyed while it was starting');
      await this.#call('libvirt.createXML', { xml, flags: 0 });
      await this.#adoptRunningDomain(vm);
      vm.state.launched();
      this.#o.hostHooks?.started(vm);
      this.#o.log.info({ vmId: vm.vmId, name: vm.domain.name }, 'VM launched');
      await this.runHook('after_vm_start', vm);
    } catch (err) {
      this.#o.log.error({ vmId: vm.vmId, err }, 'VM launch failed');
      await this.#releaseDrives(vm);
      vm.state.launchFailed(errorMessage(err));
    }
  }

  /** The domain runs (launched or restored): its live XML, QEMU pid and guest agent channels taken up. */
  async #adoptRunningDomain(vm: Vm): Promise<void> {
    await this.#refreshFromLiveXml(vm);
    this.#findPid(vm);
    void this.readVcpuTune(vm);
    // The live XML names the channel sockets libvirt picked.
    if (!vm.state.isDown) this.#o.guest?.attach(vm.vmId, vm.domain);
  }

  /**
   * Return from hibernation: the VM's disks prepared, libvirt restores the domain from the memory volume,
   * the domain runs (resumed when the image was saved paused, as vdsm's hibernation leaves it), Up; the
   * oVirt guest agent hears after_hibernation. On failure, Down with vdsm's "Wake up from hibernation
   * failed" message, and a domain that did come back is destroyed.
   */
  async #restore(vm: Vm, volumes: HibernationVolumes): Promise<void> {
    let restored = false;
    try {
      if (await this.#prepareDrives(vm)) await this.#o.records.put({ vmId: vm.vmId, name: vm.domain.name, xml: vm.xml, startedAt: Date.now() });
      await this.#o.hostHooks?.beforeLaunch(vm);
      // As vdsm: before_vm_start too (its XML unused), then before_vm_dehibernate; a failed script fails the restore.
      await this.runFailingHook('before_vm_start', vm);
      await this.runFailingHook('before_vm_dehibernate', vm, { FROM_SNAPSHOT: 'False' });
      await this.#o.restorer!.restore(vm.vmId, volumes);
      restored = true;
      if (vm.state.isDown) {
        // VM.destroy came while libvirt restored it: the domain that came back goes too.
        await this.#call('libvirt.destroy', { uuid: vm.vmId, flags: 0 }).catch((e: unknown) => this.#o.log.warn({ vmId: vm.vmId, err: e }, 'could not destroy the domain restored after VM.destroy'));
        await this.#releaseDrives(vm);
        return;
      }
      await this.#adoptRunningDomain(vm);
      const st = await this.#call('libvirt.state', { uuid: vm.vmId });
      if (st.state === DomainState.PAUSED) await this.#call('libvirt.resume', { uuid: vm.vmId });
      vm.state.restored();
      this.#o.hostHooks?.started(vm);
      this.#o.log.info({ vmId: vm.vmId, name: vm.domain.name }, 'VM restored from hibernation');
      void this.runHook('after_vm_dehibernate', vm, { FROM_SNAPSHOT: 'False' });
      void this.#o.guest?.channels.lifecycleEvent(vm.vmId, 'after_hibernation', { connectWaitMs: this.#o.guestEventWaitMs ?? 0 }).then(
        (sent) => this.#o.log.info({ vmId: vm.vmId, sent }, 'after_hibernation to the oVirt guest agent'),
        () => undefined,
      );
      this.#syncGuestTime(vm, 'restore');
    } catch (err) {
      this.#o.log.error({ vmId: vm.vmId, err }, 'VM restore from hibernation failed');
      if (!vm.state.isDown) vm.state.markDown(exitInfo(ExitCode.ERROR, VmExitReason.GENERIC_ERROR, `Wake up from hibernation failed:${errorMessage(err)}`), 'restoreFailed');
      if (restored) await this.#call('libvirt.destroy', { uuid: vm.vmId, flags: 0 }).catch((e: unknown) => this.#o.log.warn({ vmId: vm.vmId, err: e }, 'could not destroy the half-restored domain'));
      await this.#releaseDrives(vm);
    }
  }

  /**
   * The guest's clock stood still (hibernated, paused, its memory written by a snapshot): set it to the
   * host's through the QEMU guest agent when `reason` asks for it ([vars] time_sync_*), as vdsm's
   * syncGuestTime. Runs on the guest-agent executor, not waited for; failures are logged there.
   */
  #syncGuestTime(vm: Vm, reason: TimeSyncReason): void {
    // sync() never rejects: it logs what went wrong.
    void this.#o.timeSync?.sync(vm.vmId, reason);
  }

  /** Prepare the disks that name storage volumes and point the XML at them (vdsm's prepareVolumePath). */
  async #prepareDrives(vm: Vm): Promise<boolean> {
    const wanted = storageDrivesOf(vm.domain);
    if (wanted.length === 0 || this.#o.drives === undefined) return false;
    const paths = new Map<string, string>();
    for (const d of wanted) {
      let path: string;
      try {
        path = await this.#o.drives.prepare(d);
      } finally {
        // VM.destroy did not wait for this prepare (it may hang on its storage): its image goes now.
        if (vm.drivesReleased !== undefined) await this.#teardownAbandoned(vm, { ...d, path: '' });
      }
      if (vm.drivesReleased !== undefined) throw new Error('the VM was destroyed while its storage drives were prepared');
      vm.storageDrives.push({ ...d, path });
      paths.set(d.name, path);
      this.#o.log.info({ vmId: vm.vmId, drive: d.name, path }, 'storage volume prepared for the VM');
    }
    vm.xml = withDriveSources(vm.xml, paths);
    vm.domain = parseDomainXml(vm.xml);
    this.#vmChanges++;
    await this.refreshDriveSizes([vm]);
    return true;
  }

  /**
   * A re-adopted VM's storage drives, from its domain XML's metadata; a running one's images are
   * prepared again in the background (./recovered-drives.ts).
   */
  #recoverDrives(vm: Vm, prepare: boolean): void {
    if (this.#o.drives === undefined) return;
    vm.storageDrives.push(...recordedDrives(vm.domain));
    if (vm.storageDrives.length === 0) return;
    this.#o.log.info({ vmId: vm.vmId, drives: vm.storageDrives.map((d) => d.name) }, 'storage drives of the recovered VM taken from its domain metadata');
    if (prepare) vm.drivesRecovering = new DriveRepreparation(vm.storageDrives, this.#o.drives, { vmId: vm.vmId, log: this.#o.log });
  }

  /**
   * Release the VM's images once (vdsm's releaseVm: its domain stopped, VM.destroy, a failed launch):
   * every later call gets the first one's promise, so nothing is torn down twice. Never rejects.
   */
  #releaseDrives(vm: Vm): Promise<void> {
    vm.drivesReleased ??= this.#teardownDrives(vm);
    return vm.drivesReleased;
  }

  /**
   * vdsm's releaseVm, once per VM life: a VM not Down reads Powering down (no event), its images are
   * released (the same promise as #releaseDrives), then the after_vm_destroy hook runs with the VM's XML
   * and custom properties, as at VM.destroy. Never rejects (the hook's failures are logged).
   */
  #releaseVm(vm: Vm): Promise<void> {
    if (vm.released === undefined) {
      vm.state.releasing();
      vm.released = this.#releaseDrives(vm).then(() => this.runHook('after_vm_destroy', vm));
    }
    return vm.released;
  }

  /**
   * A recovered VM's re-preparation is stopped, not waited for (a prepare in flight tears its own image
   * down when it returns: ./recovered-drives.ts); each prepared image is torn down.
   */
  async #teardownDrives(vm: Vm): Promise<void> {
    vm.drivesRecovering?.stop();
    const drives = vm.storageDrives.splice(0);
    for (const d of drives) {
      try {
        await this.#o.drives?.teardown(d);
        this.#o.log.info({ vmId: vm.vmId, drive: d.name, domainID: d.domainID, imageID: d.imageID }, 'storage volume of the VM torn down');
      } catch (err) {
        this.#o.log.warn({ vmId: vm.vmId, drive: d.name, err }, 'image teardown failed');
      }
    }
  }

  /** A drive whose prepare returned after the VM's images were released: torn down (whatever the prepare's outcome). */
  async #teardownAbandoned(vm: Vm, d: PreparedDrive): Promise<void> {
    try {
      await this.#o.drives?.teardown(d);
      this.#o.log.info({ vmId: vm.vmId, drive: d.name, domainID: d.domainID, imageID: d.imageID }, 'storage volume prepared after the VM was destroyed: torn down');
    } catch (err) {
      this.#o.log.warn({ vmId: vm.vmId, drive: d.name, err }, 'image teardown failed');
    }
  }

  /**
   * Read the sizes of the VMs' file disks (vdsm's UpdateVolumes, every [irs] vol_size_sample_interval):
   * what VM stats report as truesize and apparentsize.
   */
  async refreshDriveSizes(vms: Vm[] = this.running()): Promise<void> {
    if (this.#o.drives === undefined) return;
    const byPath = new Map<string, { vm: Vm; name: string }[]>();
    for (const vm of vms) {
      for (const d of vm.domain.disks) {
        if (d.path === undefined || d.target === '' || d.type !== 'file' || d.device !== 'disk') continue;
        byPath.set(d.path, [...(byPath.get(d.path) ?? []), { vm, name: d.target }]);
      }
    }
    if (byPath.size === 0) return;
    const sizes = await this.#o.drives.sizes([...byPath.keys()]);
    const changed = new Map<Vm, Map<string, { apparentsize: number; truesize: number }>>();
    for (const [path, users] of byPath) {
      const s = sizes[path];
      if (s === undefined) continue;
      for (const u of users) {
        const old = u.vm.driveSizes.get(u.name);
        if (old !== undefined && old.apparentsize === s.apparentsize && old.truesize === s.truesize) continue;
        let next = changed.get(u.vm);
        if (next === undefined) changed.set(u.vm, (next = new Map(u.vm.driveSizes)));
        next.set(u.name, s);
      }
    }
    for (const [vm, next] of changed) vm.driveSizes = next;
    if (changed.size > 0) this.#refresher.schedule();
  }

  /**
   * A VM's stats log: a missing key (the test driver has no balloon stats, a guest without a balloon
   * driver neither) would otherwise be logged for every VM on every getAllVmStats.
   */
  #statsLog(vm: Vm): { warn(msg: string): void; error(msg: string): void } {
    const once = (level: 'warn' | 'error') => (msg: string): void => {
      if (vm.statsWarned.has(msg)) return;
      vm.statsWarned.add(msg);
      this.#o.log[level]({ vmId: vm.vmId }, `${msg} (logged once per VM)`);
    };
    return { warn: once('warn'), error: once('error') };
  }

  /**
   * libvirt's live domain XML of a VM (Host.dumpxmls); the XML last known for a VM libvirt no longer
   * runs, or when libvirt cannot answer.
   */
  async liveXml(vm: Vm): Promise<string> {
    if (vm.state.isDown) return vm.xml;
    try {
      return await this.#call('libvirt.xmlDesc', { uuid: vm.vmId, flags: 0 });
    } catch (err) {
      this.#o.log.warn({ vmId: vm.vmId, err }, 'live domain XML unavailable; using the known one');
      return vm.xml;
    }
  }

  /**
   * Take libvirt's live XML once the domain runs, as vdsm does: it holds what the engine left to libvirt
   * (VNC/SPICE ports under autoport, channel socket paths), which displayInfo must show.
   */
  async #refreshFromLiveXml(vm: Vm): Promise<void> {
    const live = await this.liveXml(vm);
    if (live === vm.xml) return;
    vm.domain = parseDomainXml(live);
    this.#vmChanges++;
    this.#refresher.schedule();
    vm.xml = live;
  }

  /** A VM that is not Down (NO_VM when unknown, VM_DOWN when down): the device verbs' precondition. */
  requireRunning(vmId: string): Vm {
    return this.#requireRunning(vmId);
  }

  /**
   * A device was plugged or unplugged (./vm-devices.ts): libvirt's live XML becomes the VM's (its
   * devices in VM stats, getVMFullList and Host.dumpxmls), the record keeps it for recovery (best
   * effort, as adopt does) and the disks' sizes are read again.
   */
  async devicesChanged(vm: Vm): Promise<void> {
    await this.#refreshFromLiveXml(vm);
    void this.#o.records.remember({ vmId: vm.vmId, name: vm.domain.name, xml: vm.xml, startedAt: this.#o.records.get(vm.vmId)?.startedAt ?? Date.now() });
    this.#driveSubjects.delete(vm);
    await this.refreshDriveSizes([vm]).catch((err: unknown) => this.#o.log.debug({ vmId: vm.vmId, err }, 'drive sizes not read after the device change'));
    this.#refresher.schedule();
  }

  #requireRunning(vmId: string): Vm {
    const vm = this.container.require(vmId);
    if (vm.state.isDown) throw vdsmError(Errors.VM_DOWN, { vmId: vm.vmId });
    return vm;
  }

  #call<K extends ConnOpName>(op: K, args: CallArgs<K>): Promise<OpResult<K>> {
    return this.#o.libvirt.call(op, args);
  }

  #statusChanged(vm: Vm, change: VmStatusChange): void {
    this.#counts = undefined;
    if (change.to === VmStatus.DOWN) {
      this.#o.guest?.detach(vm.vmId);
      this.#console.forget(vm.vmId);
      // Down without a stop event first (migrated away, hibernated, found stopped by a resync): released now.
      if (vm.storageDrives.length > 0 && vm.drivesReleased === undefined) void this.#releaseDrives(vm);
    }
    const details = statusEventDetails(change, change.to === VmStatus.DOWN ? undefined : this.report(vm));
    this.#o.log.info({ vmId: vm.vmId, from: change.from, to: change.to, cause: change.cause }, 'VM status changed');
    this.#o.publish(`|virt|VM_status|${vm.vmId}`, { [vm.vmId]: details });
    for (const cb of this.#statusListeners) {
      try {
        cb(vm, change);
      } catch (err) {
        this.#o.log.error({ vmId: vm.vmId, err }, 'VM status listener failed');
      }
    }
  }

  #onEvent(e: DomainEvent): void {
    const vm = this.container.get(e.domain.uuid);
    if (vm === undefined) {
      this.#o.log.debug({ uuid: e.domain.uuid, event: e.event }, 'event for an unknown VM');
      return;
    }
    if (e.event === 'lifecycle' || e.event === 'reboot') this.#lastEvent.set(vm.vmId, ++this.#eventSeq);
    const held = this.#heldEvents.get(vm);
    if (held !== undefined) {
      held.push(e);
      return;
    }
    if (e.event === 'lifecycle' && e.type === LifecycleEvent.STOPPED && vm.state.stopMeansDown(e.detail)) {
      // As vdsm's _onQemuDeath -> releaseVm: the VM reads Powering down, its images are released and
      // after_vm_destroy runs, then it is reported Down, so an engine that sees Down (and runs the VM
      // again, here or elsewhere) never races our teardown. The VM's later events wait behind it, in
      // order. Each teardown is bounded by the storage timeout, the hook by [vars] hook_timeout.
      const queue = [e];
      this.#heldEvents.set(vm, queue);
      void this.#releaseVm(vm).then(() => {
        this.#heldEvents.delete(vm);
        for (const q of queue) this.#applyEvent(vm, q);
      });
      return;
    }
    this.#applyEvent(vm, e);
  }

  #applyEvent(vm: Vm, e: DomainEvent): void {
    switch (e.event) {
      case 'lifecycle':
        vm.state.onLifecycleEvent(e.type, e.detail);
        break;
      case 'reboot':
        vm.state.rebooting();
        this.#o.guest?.reboot(vm.vmId);
        break;
      case 'graphics':
        this.#o.log.debug({ vmId: vm.vmId, phase: e.phase, remote: e.remote, authScheme: e.authScheme }, 'graphics event');
        this.#console.onGraphics(vm.vmId, e.phase, e.remote);
        break;
      case 'agent-lifecycle':
        this.#o.guest?.agentLifecycle(vm.vmId, e.state, e.reason);
        // state 1 = connected: the QEMU guest agent answers, so the guest is up.
        if (e.state === 1) vm.state.guestUp();
        break;
      default:
        this.#o.log.debug({ vmId: vm.vmId, event: e.event }, 'libvirt event');
    }
  }
}
