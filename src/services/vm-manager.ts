// The VMs this host runs: VM.create / destroy / shutdown / pause / cont carried out through Executor
// operations on libvirt, libvirt domain events applied to each VM's state machine, and a
// |virt|VM_status|<vmId> event sent to the engine on every status change.
import type { VmCreated } from '../contracts/api-types.js';
import type { Logger } from 'pino';
import { Errors, vdsmError } from '../errors.js';
import type { GuestAgents } from '../guest/guest-agents.js';
import { QEMU_GA_CHANNEL_NAME } from '../guest/ovirt-protocol.js';
import { DestroyFlag, ShutdownFlag } from '../libvirt/constants.js';
import { isNoDomain, mapLibvirtError } from '../libvirt/errors.js';
import type { DomainEvent } from '../contracts/libvirt-types.js';
import type { Clock, Timers } from '../runtime/clock.js';
import type { Dispatcher } from '../contracts/dispatcher.js';
import type { LibvirtOpName } from '../contracts/libvirt-ops.js';
import type { OpArgs, OpResult } from '../contracts/operations.js';
import { parseDomainXml, type DomainInfo } from '../virt/domain-xml.js';
import { ExitCode, exitInfo, VmExitReason, type ExitInfo } from '../virt/exit-reasons.js';
import type { StatsCache } from '../virt/stats-cache.js';
import { VmContainer, normalizeVmId, type VmRecord, type VmShortStatus } from '../virt/vm-container.js';
import { buildVmStatsReport, statusEventDetails, type VmStatsReport } from '../virt/vm-report.js';
import { VmStateMachine, VmStatus, type VmStatusChange, type VmStatusName } from '../virt/vm-state.js';
import type { VmHostHooks } from './vm-host-resources.js';
import type { VmRecordStore } from './vm-records.js';


export interface Vm extends VmRecord {
  readonly vmId: string;
  readonly state: VmStateMachine;
  xml: string;
  domain: DomainInfo;
  /** A powerdown sequence in progress (VM.shutdown). */
  powerdown: { cancel(): void } | undefined;
  /** Stats problems already logged for this VM: each is logged once, not on every getAllVmStats. */
  statsWarned: Set<string>;
  /** The QEMU process id, once found (VM stats `pid`). */
  pid?: number;
}

export interface LibvirtLink {
  /** The shared connection id, for every worker operation. */
  conn(): number;
  onEvent(cb: (e: DomainEvent) => void): () => void;
}

export interface VmManagerOptions {
  dispatcher: Dispatcher;
  libvirt: LibvirtLink;
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
  /** [vars] vm_command_timeout, seconds. */
  vmCommandTimeoutS: number;
  /** Timeout for each libvirt call made on behalf of a VM verb (ms from task start). */
  callTimeoutMs: number;
  guestWaitTimeoutMs?: number;
  /** Host-side preparation that needs root (hugepages, channel sockets), through supervdsm. */
  hostHooks?: VmHostHooks;
  /** Rewrites the engine's domain XML before libvirt starts it (fake KVM: the domain type). */
  prepareXml?: (xml: string) => Promise<string>;
  /** Look up a running VM's QEMU pid (in a worker); absent where no QEMU runs (libvirt's test driver). */
  qemuPid?: (vmId: string) => Promise<number | undefined>;
}

/** One way to ask a guest to go down: `request` throws when it could not be made; then `waitMs` for Down. */
interface PowerdownMethod {
  name: string;
  waitMs: number;
  request: () => Promise<void>;
}

export interface ShutdownRequest {
  /** Seconds the oVirt agent gives logged-in users before the guest shuts down ([vars] user_shutdown_timeout). */
  delayS?: number;
  message?: string;
  reboot?: boolean;
  timeoutS?: number;
  force?: boolean;
}

export class VmManager {
  readonly container: VmContainer<Vm>;
  #o: VmManagerOptions;
  #unsubscribe: (() => void) | undefined;

  constructor(opts: VmManagerOptions) {
    this.#o = opts;
    this.container = new VmContainer<Vm>(opts.clock);
  }

  /** Start applying libvirt events. Idempotent. */
  start(): void {
    this.#unsubscribe ??= this.#o.libvirt.onEvent((e) => this.#onEvent(e));
  }

  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    for (const vm of this.container.values()) {
      vm.powerdown?.cancel();
      vm.state.close();
    }
  }

  /**
   * VM.create: the VM id comes from the domain XML (as in vdsm). Answers at once with WaitForLaunch;
   * the domain is started in a worker and status events follow.
   */
  create(vmParams: { xml?: unknown; vmId?: unknown }): VmCreated {
    if (typeof vmParams.xml !== 'string' || vmParams.xml.trim() === '') throw vdsmError(Errors.MISSING_PARAM, "vmParams.xml: the libvirt domain XML is required");
    let domain: DomainInfo;
    try {
      domain = parseDomainXml(vmParams.xml);
    } catch (err) {
      throw vdsmError(Errors.CREATE, `${Errors.CREATE.message}: ${(err as Error).message}`);
    }
    const vm = this.#newVm(domain, vmParams.xml, VmStatus.WAIT_FOR_LAUNCH);
    this.container.add(vm); // VM_EXISTS (code 4) when the id is taken
    this.#o.statsCache.add(vm.vmId);
    void this.#launch(vm);
    return { vmId: vm.vmId, status: vm.state.status, statusTime: String(vm.state.statusTime), xml: vm.xml };
  }

  /** Adopt a domain found running at start-up (recovery). */
  adopt(domain: DomainInfo, xml: string, status: VmStatusName, startedAtWall?: number): Vm {
    // elapsedTime counts from the start we recorded, not from the re-adoption.
    const vm = this.#newVm(domain, xml, status, startedAtWall);
    this.container.add(vm);
    this.#o.statsCache.add(vm.vmId);
    if (status !== VmStatus.DOWN) this.#findPid(vm);
    if (!vm.state.isDown) this.#o.guest?.attach(vm.vmId, domain);
    void this.#o.records.put({ vmId: vm.vmId, name: domain.name, xml, startedAt: startedAtWall ?? Date.now() });
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
    return vm;
  }

  async destroy(vmId: string): Promise<true> {
    const vm = this.container.require(vmId);
    vm.powerdown?.cancel();
    if (!vm.state.isDown) {
      vm.state.destroyRequested();
      try {
        await this.#call('libvirt.destroy', { uuid: vm.vmId, flags: DestroyFlag.GRACEFUL }, vm.vmId);
      } catch (err) {
        if (!isNoDomain(err)) {
          this.#o.log.error({ vmId: vm.vmId, err }, 'destroy failed');
          throw vdsmError(Errors.DESTROY, `${Errors.DESTROY.message}: ${(err as Error).message}`);
        }
      }
      // A persistent (defined) domain is undefined as well, as vdsm does; a transient one is gone.
      await this.#call('libvirt.undefine', { uuid: vm.vmId, flags: 0 }, vm.vmId).catch(() => undefined);
      vm.state.destroyed();
    }
    this.container.remove(vm.vmId);
    this.#o.statsCache.remove(vm.vmId);
    this.#o.guest?.detach(vm.vmId);
    await this.#o.records.remove(vm.vmId);
    await this.#o.hostHooks?.destroyed(vm);
    return true;
  }

  /**
   * VM.shutdown: ask the guest to power off (or reboot) through the oVirt guest agent when it is
   * responsive (it shows `message` and gives users `delayS`), then the QEMU guest agent, then ACPI, each
   * given `timeoutS` (the oVirt agent delay + timeout) to bring the VM down; with `force`, destroy at the
   * end. Returns once the first request was accepted; the sequence goes on in the background.
   */
  async shutdown(vmId: string, req: ShutdownRequest): Promise<true> {
    const vm = this.container.require(vmId);
    if (vm.state.isDown) throw vdsmError(Errors.NO_VM, { vmId: vm.vmId });
    const timeoutMs = (req.timeoutS ?? this.#o.sysShutdownTimeoutS) * 1000;
    const delayS = req.delayS ?? this.#o.userShutdownTimeoutS ?? 30;
    const reboot = req.reboot === true;
    const methods = this.#powerdownMethods(vm, { reboot, delayS, message: req.message ?? 'System going down', timeoutMs });
    if (methods.length === 0 && !req.force) {
      throw vdsmError(Errors.VM_EXISTS, 'VM without ACPI or active oVirt guest agent. Try Forced Shutdown.');
    }
    vm.powerdown?.cancel();
    let cancelled = false;
    let timer: unknown;
    vm.powerdown = { cancel: () => { cancelled = true; if (timer !== undefined) this.#o.timers.clearTimeout(timer); } };
    const waitDown = (ms: number): Promise<boolean> => new Promise((resolve) => {
      if (vm.state.isDown || cancelled) { resolve(vm.state.isDown); return; }
      const started = this.#o.clock.now();
      const check = (): void => {
        if (vm.state.isDown || cancelled) { resolve(vm.state.isDown); return; }
        if (this.#o.clock.now() - started >= ms) { resolve(false); return; }
        timer = this.#o.timers.setTimeout(check, Math.min(1000, ms));
      };
      check();
    });

    let firstError: unknown;
    for (const [i, m] of methods.entries()) {
      try {
        try {
          await m.request();
        } catch (err) {
          // libvirt's guest-shutdown fails with "End of file from agent socket" when the guest powers off
          // before qemu-ga's reply is read: the request worked. If not, the next method follows after `waitMs`.
          if (!(m.name === 'qemu-guest-agent' && /End of file from agent socket/.test((err as Error).message))) throw err;
          this.#o.log.info({ vmId: vm.vmId, method: m.name, err: (err as Error).message }, 'the guest agent went away while shutting the guest down');
        }
        if (!vm.state.isDown) vm.state.shutdownRequested({ reboot });
        this.#o.log.info({ vmId: vm.vmId, method: m.name, reboot, message: req.message }, reboot ? 'Machine rebooting' : 'Machine shutting down');
        void this.#continuePowerdown(vm, m, methods.slice(i + 1), reboot, req.force === true, waitDown);
        return true;
      } catch (err) {
        firstError ??= err;
        this.#o.log.info({ vmId: vm.vmId, method: m.name, err: (err as Error).message }, 'shutdown method failed, trying the next');
      }
    }
    if (req.force) {
      await this.destroyDomainOnly(vm);
      return true;
    }
    throw mapLibvirtError(firstError, { vmId: vm.vmId });
  }

  /** The ways to ask this guest to go down, in order; each request throws when it could not be made. */
  #powerdownMethods(vm: Vm, o: { reboot: boolean; delayS: number; message: string; timeoutMs: number }): PowerdownMethod[] {
    const methods: PowerdownMethod[] = [];
    const guest = this.#o.guest;
    if (guest !== undefined && guest.ovirtResponsive(vm.vmId)) {
      methods.push({
        name: 'ovirt-guest-agent',
        waitMs: o.delayS * 1000 + o.timeoutMs,
        request: async () => {
          const r = await guest.ovirtShutdown(vm.vmId, o.delayS, o.message, o.reboot);
          if (!r.ok) throw new Error(r.message);
        },
      });
    }
    const op = o.reboot ? 'libvirt.reboot' : 'libvirt.shutdown';
    const libvirtMethod = (name: string, flags: number): PowerdownMethod => ({
      name, waitMs: o.timeoutMs, request: async () => { await this.#call(op, { uuid: vm.vmId, flags }, vm.vmId); },
    });
    if (vm.domain.channels.some((c) => c.targetName === QEMU_GA_CHANNEL_NAME)) methods.push(libvirtMethod('qemu-guest-agent', ShutdownFlag.GUEST_AGENT));
    if (vm.domain.acpi) methods.push(libvirtMethod('acpi', ShutdownFlag.ACPI_POWER_BTN));
    return methods;
  }

  async #continuePowerdown(vm: Vm, first: PowerdownMethod, rest: PowerdownMethod[], reboot: boolean, force: boolean, waitDown: (ms: number) => Promise<boolean>): Promise<void> {
    if (reboot || await waitDown(first.waitMs)) { vm.powerdown = undefined; return; }
    for (const m of rest) {
      if (vm.powerdown === undefined) return;
      try {
        await m.request();
        this.#o.log.info({ vmId: vm.vmId, method: m.name }, 'the guest is still up; asking it to shut down another way');
        if (await waitDown(m.waitMs)) { vm.powerdown = undefined; return; }
      } catch (err) {
        this.#o.log.info({ vmId: vm.vmId, method: m.name, err: (err as Error).message }, 'shutdown method failed');
      }
    }
    if (vm.state.isDown || vm.powerdown === undefined) return;
    if (force) {
      await this.destroyDomainOnly(vm).catch((err: unknown) => this.#o.log.error({ vmId: vm.vmId, err }, 'forced shutdown failed'));
    } else {
      this.#o.log.warn({ vmId: vm.vmId }, 'shutdown timed out; the VM is still running');
      vm.state.shutdownFailed();
    }
    vm.powerdown = undefined;
  }

  /** Forced power-off that keeps the VM in the container as Down (VM.shutdown with force). */
  async destroyDomainOnly(vm: Vm): Promise<void> {
    try {
      await this.#call('libvirt.destroy', { uuid: vm.vmId, flags: 0 }, vm.vmId);
    } catch (err) {
      if (!isNoDomain(err)) throw mapLibvirtError(err, { vmId: vm.vmId });
    }
    vm.state.markDown(exitInfo(ExitCode.NORMAL, VmExitReason.ADMIN_SHUTDOWN), 'forcedShutdown');
  }

  async pause(vmId: string): Promise<{ vmList: Record<string, never> }> {
    const vm = this.#requireRunning(vmId);
    await this.#call('libvirt.suspend', { uuid: vm.vmId }, vm.vmId);
    vm.state.paused();
    return { vmList: {} };
  }

  async cont(vmId: string): Promise<{ vmList: Record<string, never> }> {
    const vm = this.#requireRunning(vmId);
    try {
      await this.#call('libvirt.resume', { uuid: vm.vmId }, vm.vmId);
    } catch (err) {
      throw vdsmError(Errors.UNEXPECTED, `${Errors.UNEXPECTED.message}: ${(err as Error).message}`);
    }
    vm.state.resumed();
    return { vmList: {} };
  }

  /** Record the VM's QEMU pid when it is found; a failed lookup leaves pid 0 in the stats. */
  #findPid(vm: Vm): void {
    this.#o.qemuPid?.(vm.vmId).then((pid) => {
      if (pid !== undefined) vm.pid = pid;
    }, (err: unknown) => this.#o.log.debug({ vmId: vm.vmId, err: (err as Error).message }, 'QEMU pid lookup failed'));
  }

  /** The stats object the engine reads (Host.getAllVmStats element); never calls libvirt. */
  report(vm: Vm): VmStatsReport {
    return buildVmStatsReport({
      state: vm.state.describe(),
      pid: vm.pid,
      domain: vm.domain,
      sample: this.#o.statsCache.get(vm.vmId),
      guest: vm.state.isDown ? undefined : this.#o.guest?.stats(vm.vmId, Math.floor(vm.domain.memoryKiB / 1024)),
      clock: this.#o.clock,
      log: this.#statsLog(vm),
      vmCommandTimeoutS: this.#o.vmCommandTimeoutS,
      ...(this.#o.displayIp !== undefined ? { displayIp: this.#o.displayIp } : {}),
    });
  }

  reports(vmIds?: readonly string[]): VmStatsReport[] {
    const vms = vmIds === undefined || vmIds.length === 0 ? this.container.values() : vmIds.map((id) => this.container.get(id)).filter((v): v is Vm => v !== undefined);
    return vms.map((vm) => this.report(vm));
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
    return { vms: this.container.values().map((vm) => vm.state.describe()) };
  }

  // --- internals -------------------------------------------------------------------------------

  #newVm(domain: DomainInfo, xml: string, initial: VmStatusName, startedAtWall?: number): Vm {
    const vmId = normalizeVmId(domain.uuid);
    // The state machine counts on the monotonic clock: move the wall-clock start onto it.
    const startedAtMs = startedAtWall === undefined ? undefined : this.#o.clock.now() - Math.max(0, Date.now() - startedAtWall);
    const vm: Vm = {
      vmId,
      xml,
      domain,
      powerdown: undefined,
      statsWarned: new Set(),
      state: new VmStateMachine(vmId, {
        clock: this.#o.clock,
        timers: this.#o.timers,
        initial,
        log: { warn: (m) => this.#o.log.warn(m), debug: (m) => this.#o.log.debug(m) },
        ...(this.#o.guestWaitTimeoutMs !== undefined ? { guestWaitTimeoutMs: this.#o.guestWaitTimeoutMs } : {}),
        ...(startedAtMs !== undefined ? { startedAtMs } : {}),
        onStatusChange: (change) => this.#statusChanged(vm, change),
      }),
    };
    return vm;
  }

  async #launch(vm: Vm): Promise<void> {
    try {
      await this.#o.records.put({ vmId: vm.vmId, name: vm.domain.name, xml: vm.xml, startedAt: Date.now() });
      const xml = this.#o.prepareXml !== undefined ? await this.#o.prepareXml(vm.xml) : vm.xml;
      await this.#o.hostHooks?.beforeLaunch(vm);
      await this.#call('libvirt.createXML', { xml, flags: 0 }, vm.vmId);
      await this.#refreshFromLiveXml(vm);
      this.#findPid(vm);
      // The live XML names the channel sockets libvirt picked.
      if (!vm.state.isDown) this.#o.guest?.attach(vm.vmId, vm.domain);
      vm.state.launched();
      this.#o.hostHooks?.started(vm);
      this.#o.log.info({ vmId: vm.vmId, name: vm.domain.name }, 'VM launched');
    } catch (err) {
      this.#o.log.error({ vmId: vm.vmId, err: (err as Error).message }, 'VM launch failed');
      vm.state.launchFailed((err as Error).message);
    }
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
      return await this.#call('libvirt.xmlDesc', { uuid: vm.vmId, flags: 0 }, vm.vmId);
    } catch (err) {
      this.#o.log.warn({ vmId: vm.vmId, err: (err as Error).message }, 'live domain XML unavailable; using the known one');
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
    vm.xml = live;
  }

  #requireRunning(vmId: string): Vm {
    const vm = this.container.require(vmId);
    if (vm.state.isDown) throw vdsmError(Errors.VM_DOWN, { vmId: vm.vmId });
    return vm;
  }

  #call<K extends LibvirtOpName>(op: K, args: Omit<OpArgs<K>, 'conn'>, vmId: string): Promise<OpResult<K>> {
    return this.#o.dispatcher.dispatch(op, { conn: this.#o.libvirt.conn(), ...args } as OpArgs<K>, { timeoutMs: this.#o.callTimeoutMs, discard: true })
      .catch((err: unknown) => { throw isNoDomain(err) ? err : mapLibvirtError(err, { vmId }); });
  }

  #statusChanged(vm: Vm, change: VmStatusChange): void {
    if (change.to === VmStatus.DOWN) this.#o.guest?.detach(vm.vmId);
    const details = statusEventDetails(change, change.to === VmStatus.DOWN ? undefined : this.report(vm));
    this.#o.log.info({ vmId: vm.vmId, from: change.from, to: change.to, cause: change.cause }, 'VM status changed');
    this.#o.publish(`|virt|VM_status|${vm.vmId}`, { [vm.vmId]: details });
  }

  #onEvent(e: DomainEvent): void {
    const vm = this.container.get(e.domain.uuid);
    if (vm === undefined) {
      this.#o.log.debug({ uuid: e.domain.uuid, event: e.event }, 'event for an unknown VM');
      return;
    }
    switch (e.event) {
      case 'lifecycle':
        vm.state.onLifecycleEvent(e.type, e.detail);
        break;
      case 'reboot':
        vm.state.rebooting();
        this.#o.guest?.reboot(vm.vmId);
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
