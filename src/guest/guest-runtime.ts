// Builds the guest-agent parts from the configuration and owns their lifecycle: the `qgapoller` Executor
// ([guest_agent] periodic_workers, periodic_task_per_worker, max_workers; its threads start with the first
// task), the vmchannels thread, the QEMU agent poller on the guest-agent libvirt connection (a typed
// LibvirtClient over the qgapoller executor), and the GuestAgents door over both. One Lifecycle
// (src/runtime/lifecycle.ts): start() runs the thread, startPolling() then starts the poller; every step idempotent.
import type { Logger } from 'pino';
import type { VdsmConfig } from '../config/index.js';
import type { DispatchOptions, Dispatcher } from '../contracts/dispatcher.js';
import type { OpArgs, OpName, OpResult } from '../contracts/operations.js';
import { errorMessage } from '../errors.js';
import { LibvirtClient, type ConnectionSource } from '../libvirt/client.js';
import type { Clock, Timers } from '../runtime/clock.js';
import { Executor } from '../runtime/executor/executor.js';
import { Lifecycle } from '../runtime/lifecycle.js';
import type { Scheduler } from '../runtime/scheduler.js';
import type { DomainInfo } from '../virt/domain-xml.js';
import { VmStatus, type VmStatusName } from '../virt/vm-state.js';
import { DEFAULT_READ_BUDGET } from './channel-listener.js';
import type { ChannelWorkerConfig } from './channel-protocol.js';
import { ChannelThread } from './channel-thread.js';
import { GuestAgents, hasQemuGaChannel } from './guest-agents.js';
import { GuestTimeSync } from './guest-time-sync.js';
import { MAX_MESSAGE_BYTES } from './line-framer.js';
import { OvirtChannels } from './ovirt-channels.js';
import { QgaPoller } from './qga-poller.js';
import type { QgaVmInput } from './qga-schedule.js';

/** What the runtime needs to know of a VM. */
export interface GuestVm {
  vmId: string;
  domain: DomainInfo;
  status: VmStatusName;
  /** Clock ms the VM started. */
  startedAt: number;
}

export interface GuestRuntimeOptions {
  config: VdsmConfig;
  scheduler: Scheduler;
  clock: Clock;
  timers: Timers;
  log: (name: string) => Logger;
  /** The libvirt connection manager: the poller's calls go on its guest-agent connection (never the main one). */
  connections: ConnectionSource;
  vms: () => Iterable<GuestVm>;
  /** A guest agent's word on the guest changed (the VM manager moves the status and tells the engine). */
  onGuestStatus: (vmId: string, up: boolean, cause: string) => void;
  /** The host's wall clock for the time sync, ms since the epoch (Date.now by default). */
  wallClock?: () => number;
}

/** Statuses in which the guest's CPUs run, so its agent can answer. */
const RUNNING: ReadonlySet<VmStatusName> = new Set([VmStatus.POWERING_UP, VmStatus.UP, VmStatus.POWERING_DOWN, VmStatus.REBOOT_IN_PROGRESS]);

/** How often the vmchannels thread posts changes, and how much per post. */
const FLUSH_MS = 50;
const FLUSH_BUDGET_BYTES = 512 * 1024;

export class GuestRuntime {
  readonly agents: GuestAgents;
  readonly executor: Executor;
  readonly thread: ChannelThread;
  readonly poller: QgaPoller | undefined;
  /** The guest's clock set after it stood still (restore, VM.cont, snapshots). */
  readonly timeSync: GuestTimeSync;
  #o: GuestRuntimeOptions;
  readonly #life = new Lifecycle<{ stuckThreads: number }>('guest agents');
  #polling = false;
  #graceMs = 0;

  constructor(opts: GuestRuntimeOptions) {
    this.#o = opts;
    // Keys read as cfg.guest_agent.<key>: the configuration key audit greps for that.
    const cfg = opts.config;
    const log = opts.log('virt.guestagent');
    this.executor = new Executor({
      name: 'qgapoller',
      workersCount: cfg.guest_agent.periodic_workers,
      maxWorkers: Math.max(cfg.guest_agent.max_workers, cfg.guest_agent.periodic_workers),
      maxTasks: cfg.guest_agent.periodic_workers * cfg.guest_agent.periodic_task_per_worker,
      scheduler: opts.scheduler,
      log: opts.log('Executor.qgapoller'),
      clock: opts.clock,
      opsModules: ['guest'],
    });
    const config: ChannelWorkerConfig = {
      timeoutMs: cfg.vars.guest_agent_timeout * 1000,
      flushMs: FLUSH_MS,
      flushBudgetBytes: FLUSH_BUDGET_BYTES,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      readBudget: DEFAULT_READ_BUDGET,
      tickMs: 1000,
    };
    // The thread delivers to the channels object, which sends through the thread: tie the knot late.
    const late: { channels?: OvirtChannels } = {};
    this.thread = new ChannelThread({
      config,
      niceIncrement: 5,
      timers: opts.timers,
      onUpdates: (items) => late.channels?.apply(items),
      onRestart: (err) => log.error({ err: errorMessage(err) }, 'vmchannels thread died; restarted, every channel reconnects'),
    });
    const channels = new OvirtChannels({
      transport: this.thread,
      clock: opts.clock,
      timers: opts.timers,
      log: opts.log('virt.guestagent.ovirt'),
      responsiveMs: cfg.guest_agent.guest_info_max_age * 1000,
      onGuestStatus: (vmId, up) => opts.onGuestStatus(vmId, up, up ? 'ovirtGuestAgentUp' : 'ovirtGuestAgentTimeout'),
    });
    late.channels = channels;
    // The executor's threads start with the first task: a host without VMs (or without qemu-ga) pays none.
    // The poller's tasks start it only while polling; a time sync whenever the runtime runs.
    const executor = this.executor;
    const startingOnFirstTask = (why: string, allowed: () => boolean): Dispatcher & { state(): unknown } => ({
      dispatch: <K extends OpName>(op: K, args: OpArgs<K>, o?: DispatchOptions): Promise<OpResult<K>> => {
        if (!executor.running && allowed() && this.#life.running) {
          this.#o.log('virt.guestagent').info({ workers: cfg.guest_agent.periodic_workers }, `Starting the qgapoller executor: ${why}`);
          executor.start();
        }
        return executor.dispatch(op, args, o);
      },
      state: () => executor.state(),
    });
    const lazy = startingOnFirstTask('the first VM with a QEMU guest agent', () => this.#polling);
    this.poller = cfg.guest_agent.enable_qga_poller ? new QgaPoller({
      libvirt: new LibvirtClient({ dispatcher: lazy, connections: opts.connections }),
      executor: lazy,
      scheduler: opts.scheduler,
      clock: opts.clock,
      log: opts.log('virt.guestagent.qga'),
      vms: () => this.#qgaVms(),
      known: () => new Set([...opts.vms()].map((v) => v.vmId)),
      config: {
        pollMs: cfg.guest_agent.qga_polling_period * 1000,
        taskTimeoutMs: cfg.guest_agent.qga_task_timeout * 1000,
        commandTimeoutS: cfg.guest_agent.qga_command_timeout,
        periods: {
          info: cfg.guest_agent.qga_info_period * 1000, sysinfo: cfg.guest_agent.qga_sysinfo_period * 1000, users: cfg.guest_agent.qga_active_users_period * 1000,
          disk: cfg.guest_agent.qga_disk_info_period * 1000, cpu: cfg.guest_agent.qga_cpu_info_period * 1000,
        },
        initialIntervalMs: cfg.guest_agent.qga_initial_info_interval * 1000,
        probeBudget: cfg.guest_agent.qga_probe_budget,
        maxAgeMs: cfg.guest_agent.guest_info_max_age * 1000,
        backoffMs: cfg.guest_agent.qga_failure_backoff * 1000,
        backoffMaxMs: cfg.guest_agent.qga_failure_backoff * 5000,
      },
      onFirstCaps: (vmId) => opts.onGuestStatus(vmId, true, 'qemuGuestAgentUp'),
    }) : undefined;
    this.agents = new GuestAgents({ clock: opts.clock, channels, poller: this.poller, log });
    // The time sync runs on this executor too (an agent that does not answer parks its task here), with
    // or without the poller.
    this.timeSync = new GuestTimeSync({
      libvirt: new LibvirtClient({ dispatcher: startingOnFirstTask('the first guest time sync', () => true), connections: opts.connections }),
      log: opts.log('virt.guestagent.time'),
      ...(opts.wallClock !== undefined ? { wallClock: opts.wallClock } : {}),
      onCont: cfg.vars.time_sync_cont_enable,
      onSnapshot: cfg.vars.time_sync_snapshot_enable,
      timeoutMs: cfg.guest_agent.qga_task_timeout * 1000,
    });
  }

  /** The vmchannels thread (channels of recovered VMs attach before polling starts). */
  start(): void {
    this.#life.startSync(() => this.thread.start());
  }

  /** Start polling QEMU guest agents (after libvirt is connected and recovery is done). */
  startPolling(): void {
    if (!this.#life.running || this.#polling) return;
    this.#polling = true;
    if (this.poller === undefined) {
      this.#o.log('virt.guestagent').info('Not starting the QEMU-GA poller: [guest_agent] enable_qga_poller is false');
      return;
    }
    this.#o.log('virt.guestagent').info({ pollS: this.#o.config.guest_agent.qga_polling_period }, 'Starting QEMU-GA poller');
    this.poller.start();
  }

  /** Stop the poller, the thread and the executor (running agent calls get `graceMs`). Idempotent. */
  stop(graceMs: number): Promise<{ stuckThreads: number }> {
    this.#graceMs = graceMs;
    return this.#life.close(() => this.#stop(), () => ({ stuckThreads: 0 }));
  }

  /** stop() without the grace period: the executor's threads are terminated at once. */
  destroy(): Promise<{ stuckThreads: number }> {
    return this.#life.destroy(() => { this.#graceMs = 0; }, () => this.#stop(), () => ({ stuckThreads: 0 }));
  }

  async #stop(): Promise<{ stuckThreads: number }> {
    this.poller?.stop();
    await this.thread.stop();
    if (!this.executor.running) return { stuckThreads: 0 };
    return this.#graceMs === 0 ? this.executor.destroy() : this.executor.stop({ graceMs: this.#graceMs });
  }

  threads(): { tid: number; name: string; role: string }[] {
    return this.thread.tid > 0 ? [{ tid: this.thread.tid, name: 'vmchannels', role: 'ovirt-guest-agent channel sockets: framing, parsing, batched updates to the main thread' }] : [];
  }

  #qgaVms(): QgaVmInput[] {
    const out: QgaVmInput[] = [];
    for (const vm of this.#o.vms()) {
      if (!hasQemuGaChannel(vm.domain)) continue;
      out.push({ vmId: vm.vmId, running: RUNNING.has(vm.status), startedAt: vm.startedAt });
    }
    return out;
  }
}
