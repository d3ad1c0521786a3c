// The QEMU guest agent poller: a periodic operation on its own Executor (`qgapoller`) that plans each poll
// with QgaSchedule, runs the VMs' queries on the guest-agent libvirt connection (probes of failing agents
// alone, answering VMs in batches, each VM in one task at a time), and keeps what the agents
// said. Unlike vdsm, a poll never waits for a stuck VM (the next poll skips it while its task runs), and
// failures are logged once per change of an agent's health, with counts, not once per failed call.
import { errorMessage, Errors, isError } from '../errors.js';
import type { Clock } from '../runtime/clock.js';
import type { QgaTask, QgaTaskResult } from '../contracts/guest-ops.js';
import type { Libvirt } from '../libvirt/client.js';
import { Operation } from '../runtime/periodic.js';
import type { Scheduler } from '../runtime/scheduler.js';
import { DedupLog, type LineSink } from './dedup-log.js';
import { QgaSchedule, type PeriodName, type QgaOutcome, type QgaPlan, type QgaVmInput } from './qga-schedule.js';
import type { QgaCapabilities, QgaFields } from '../contracts/guest-ops.js';

export interface QgaPollerConfig {
  /** [guest_agent] qga_polling_period, ms. */
  pollMs: number;
  /** [guest_agent] qga_task_timeout, ms: one task (a probe, or a batch of up to QGA_BATCH VMs). */
  taskTimeoutMs: number;
  /** [guest_agent] qga_command_timeout, seconds: one agent call (agentSetResponseTimeout). */
  commandTimeoutS: number;
  /** [guest_agent] qga_info_period, qga_sysinfo_period, qga_active_users_period, qga_disk_info_period, qga_cpu_info_period (ms). */
  periods: Readonly<Record<PeriodName, number>>;
  /** [guest_agent] qga_initial_info_interval, ms. */
  initialIntervalMs: number;
  /** [guest_agent] qga_probe_budget: tasks per poll for agents that are failing. */
  probeBudget: number;
  /** [guest_agent] guest_info_max_age, ms. */
  maxAgeMs: number;
  backoffMs?: number;
  backoffMaxMs?: number;
}

export interface QgaPollerOptions {
  /** The typed libvirt client over the qgapoller executor (it puts the batches on the guest-agent connection). */
  libvirt: Pick<Libvirt, 'call'>;
  /** The qgapoller executor, described when its queue is full. */
  executor?: { state?(): unknown };
  scheduler: Scheduler;
  clock: Clock;
  log: LineSink & { level?: string };
  /** VMs with a QEMU guest agent channel, as they are now. */
  vms: () => QgaVmInput[];
  /** Every VM the agent knows (data of the others is purged). */
  known: () => ReadonlySet<string>;
  config: QgaPollerConfig;
  /** The agent's version became known for the first time: the guest is up. */
  onFirstCaps?: (vmId: string) => void;
  /** Executor operation (the bench swaps in test.qgaPoll, its fake agents). */
  op?: 'guest.qgaPoll' | 'test.qgaPoll';
}

/** VMs per task when their agents answer (a task of 8 takes ~0.1 s; an agent that stops answering costs its batch 1 s). */
export const QGA_BATCH = 8;

/** vdsm's _THROTTLING_INTERVAL. */
export const QGA_BACKOFF_MS = 60_000;
export const QGA_BACKOFF_MAX_MS = 300_000;

export class QgaPoller {
  readonly schedule: QgaSchedule;
  #o: QgaPollerOptions;
  #op: Operation;
  #log: DedupLog;
  #stats = { polls: 0, tasks: 0, failedTasks: 0, discarded: 0, skippedFull: 0, probeTasks: 0 };
  /** Per poll, most recent last: failed tasks (what dead agents cost) and probe tasks granted. */
  #polls: { failed: number; probes: number }[] = [];

  constructor(opts: QgaPollerOptions) {
    this.#o = opts;
    const c = opts.config;
    this.schedule = new QgaSchedule({
      periods: c.periods, pollMs: c.pollMs, initialIntervalMs: c.initialIntervalMs, probeBudget: c.probeBudget, maxAgeMs: c.maxAgeMs,
      backoffMs: c.backoffMs ?? QGA_BACKOFF_MS, backoffMaxMs: c.backoffMaxMs ?? QGA_BACKOFF_MAX_MS,
    });
    this.#log = new DedupLog(opts.log, () => opts.clock.now());
    // Non-exclusive: a poll never waits for the previous one; a VM with a task still running is skipped.
    this.#op = new Operation({
      name: 'QemuGuestAgentPoller', periodMs: c.pollMs, scheduler: opts.scheduler, log: opts.log as never,
      exclusive: false, ...(opts.executor !== undefined ? { executor: opts.executor } : {}), run: () => this.poll(),
    });
  }

  start(): void {
    if (!this.#op.running) this.#op.start();
  }

  stop(): void {
    this.#op.stop();
  }

  get running(): boolean {
    return this.#op.running;
  }

  /** libvirt's AGENT_LIFECYCLE event (state 1 connected, 2 disconnected). */
  channelEvent(vmId: string, state: 'connected' | 'disconnected', reason?: number): void {
    const { from } = this.schedule.channelChanged(vmId, state);
    if (from === state) return;
    // libvirt says "disconnected" as every domain starts: only a change from a known state is news.
    this.#log.change(`${vmId}:channel`, state, from === 'unknown' && state === 'disconnected' ? 'debug' : 'info', { vmId, from, to: state, reason }, `QEMU guest agent channel ${state}`);
  }

  channelHint(vmId: string, state: 'connected' | 'disconnected'): void {
    this.schedule.channelHint(vmId, state);
  }

  fields(vmId: string): QgaFields | undefined {
    return this.schedule.fields(vmId, this.#o.clock.now());
  }

  caps(vmId: string): QgaCapabilities {
    return this.schedule.caps(vmId);
  }

  /** See QgaSchedule.fieldsUntil. */
  fieldsUntil(vmId: string, now: number): number {
    return this.schedule.fieldsUntil(vmId, now);
  }

  /** See QgaSchedule.changes. */
  get changes(): number {
    return this.schedule.changes;
  }

  /** See QgaSchedule.revision: what fields() returns changed when this did. */
  revision(vmId: string): number {
    return this.schedule.revision(vmId);
  }

  isActive(vmId: string): boolean {
    return this.schedule.isActive(vmId);
  }

  /** One poll now (what the periodic operation runs). Resolves when every task it started has settled. */
  poll(): Promise<void> {
    const now = this.#o.clock.now();
    this.#stats.polls++;
    const plans = this.schedule.poll(this.#o.vms(), now);
    const record = { failed: 0, probes: this.schedule.probesThisPoll };
    this.#polls.push(record);
    if (this.#polls.length > 120) this.#polls.shift();
    const pending: Promise<void>[] = [];
    const fullBefore = this.#stats.skippedFull;
    // A failing agent's probe runs alone (it may cost a whole command timeout); agents that answer go in
    // batches, which keeps the executor's queue and its per-task cost small on hosts with hundreds of VMs.
    const batches: QgaPlan[][] = plans.filter((p) => p.probe).map((p) => [p]);
    const answering = plans.filter((p) => !p.probe);
    for (let i = 0; i < answering.length; i += QGA_BATCH) batches.push(answering.slice(i, i + QGA_BATCH));
    for (const batch of batches) {
      const p = this.#dispatch(batch, () => { record.failed++; });
      if (p !== undefined) pending.push(p);
    }
    // More VMs due at once than the queue holds (a host starting hundreds of VMs): the rest wait one poll,
    // which also spreads them over two polls from then on. One line per change, not one per VM.
    const waiting = this.#stats.skippedFull - fullBefore;
    if (waiting > 0) this.#log.change('queue', 'full', 'warn', { waiting, queued: plans.length - waiting }, 'qgapoller queue full: VMs wait for the next poll (further polls counted, not logged)');
    else if (plans.length > 0 && this.#log.state('queue') === 'full') this.#log.change('queue', 'ok', 'info', {}, 'qgapoller queue has room again');
    for (const id of this.schedule.purge(this.#o.known())) this.#log.forget(`${id}:`, 'info', { vmId: id }, 'QEMU guest agent data dropped for a departed VM; occurrences counted');
    return Promise.all(pending).then(() => undefined);
  }

  describe(): Record<string, unknown> {
    const now = this.#o.clock.now();
    const vms: Record<string, unknown> = {};
    for (const vm of this.#o.vms()) vms[vm.vmId] = this.schedule.describe(vm.vmId, now);
    return {
      operation: this.#op.state(), stats: { ...this.#stats }, failedTasksPerPoll: this.failedPerPoll.slice(-12),
      probeTasksPerPoll: this.#polls.slice(-12).map((r) => r.probes), log: this.#log.stats, vms,
    };
  }

  /** Failed tasks per poll, most recent last (each one at most a command timeout of agent time). */
  get failedPerPoll(): number[] {
    return this.#polls.map((r) => r.failed);
  }

  #dispatch(batch: QgaPlan[], countFailure: () => void): Promise<void> | undefined {
    const now = this.#o.clock.now();
    const tasks: QgaTask[] = batch.map((plan) => ({
      ...plan, commandTimeoutS: this.#o.config.commandTimeoutS, hasApps: (this.schedule.fields(plan.vmId, now)?.appsList?.length ?? 0) > 0,
    }));
    let p: Promise<QgaTaskResult[]>;
    try {
      const opts = { timeoutMs: this.#o.config.taskTimeoutMs, discard: true };
      p = this.#o.libvirt.call(this.#o.op ?? 'guest.qgaPoll', { tasks }, opts);
    } catch (err) {
      // Queue full: not the agents' fault; these VMs are simply asked again next poll.
      for (const plan of batch) this.schedule.complete(plan.vmId, { done: [], fields: {} }, this.#o.clock.now());
      if (isError(err, Errors.RESOURCE_EXHAUSTED)) this.#stats.skippedFull += batch.length;
      else this.#o.log.error({ vms: batch.map((b) => b.vmId), err: errorMessage(err) }, 'QEMU guest agent task could not start');
      return undefined;
    }
    this.#stats.tasks++;
    for (const plan of batch) if (plan.probe) this.#stats.probeTasks++;
    return p.then(
      (results) => batch.forEach((plan, i) => {
        const r = results[i] ?? { done: [], fields: {}, replyErrors: [], ms: 0, failure: { query: 'task', message: 'no result for this VM' } };
        this.#finish(plan.vmId, r, r.failure !== undefined ? countFailure : undefined);
      }),
      (err: unknown) => {
        if (isError(err, Errors.TASK_DISCARDED)) this.#stats.discarded++;
        const e = err as { message?: unknown; code?: unknown };
        const failure = { query: 'task' as const, message: typeof e.message === 'string' ? e.message : String(err), ...(typeof e.code === 'string' ? { code: e.code } : {}) };
        for (const plan of batch) this.#finish(plan.vmId, { done: [], fields: {}, failure }, countFailure);
      },
    );
  }

  #finish(vmId: string, r: QgaOutcome & Partial<Pick<QgaTaskResult, 'replyErrors'>>, countFailure: (() => void) | undefined): void {
    const now = this.#o.clock.now();
    const effect = this.schedule.complete(vmId, r, now);
    if (r.failure !== undefined) {
      this.#stats.failedTasks++;
      countFailure?.();
      // Every failure is counted under the key; only the change to 'failing' writes a line.
      this.#log.change(`${vmId}:health`, 'failing', 'warn', {
        vmId, query: r.failure.query, code: r.failure.code, err: r.failure.message, retryInS: effect.health?.retryInMs !== undefined ? effect.health.retryInMs / 1000 : undefined,
      }, 'QEMU guest agent not answering; asking again after a back-off (further failures are counted, not logged)');
    } else if (effect.health?.to === 'ok') {
      this.#log.change(`${vmId}:health`, 'ok', 'info', { vmId, failedCalls: effect.health.failures }, 'QEMU guest agent answers again');
    }
    for (const e of r.replyErrors ?? []) this.#log.once(`${vmId}:reply:${e.query}`, 'warn', { vmId, query: e.query, err: e.message }, 'QEMU guest agent gave an error reply (further ones are counted, not logged)');
    if (effect.capsChanged !== undefined) {
      const c = effect.capsChanged;
      this.#o.log.info({ vmId, version: c.version, commands: c.commands.length }, 'New QEMU-GA capabilities');
    }
    if (effect.firstCaps) this.#o.onFirstCaps?.(vmId);
  }
}
