// Figures of the runtime core: every Executor (queue, threads, tasks by operation and outcome from the
// `vdsm:executor:*` channels), the Scheduler and the libvirt connection, read from the state the parts
// already keep. Subscribing is all it takes; the parts never learn a reporter exists.
import { executorChannels, type DoneEvent, type TimeoutEvent } from '../../runtime/executor/executor-events.js';
import type { ExecutorStats } from '../../runtime/executor/executor-report.js';
import type { SchedulerStats } from '../../runtime/scheduler.js';
import type { WorkerCounts } from '../../runtime/executor/worker-ledger.js';
import type { Figure } from './convention.js';
import type { FigureSource } from './hub.js';

/** What the figures need of an Executor. */
export interface ExecutorView {
  readonly name: string;
  counts(): WorkerCounts & { queued: number; running: number };
  stats(): ExecutorStats;
}

/** What the figures need of the libvirt connection. */
export interface LibvirtView {
  health(): { state: string; reconnects: number; attempts: number; eventsReceived: number; currentOutage?: { start: number } | undefined };
}

export interface RuntimeFiguresOptions {
  executors: readonly ExecutorView[];
  scheduler?: { stats(): SchedulerStats };
  libvirt?: LibvirtView;
}

interface OpCounter {
  executor: string;
  op: string;
  outcome: string;
  count: number;
}

/** Per-operation counters are bounded: past this many distinct series new ones are folded into op="other". */
const MAX_OP_SERIES = 2000;

export class RuntimeFigures implements FigureSource {
  readonly source = 'runtime';
  #o: RuntimeFiguresOptions;
  #tasks = new Map<string, OpCounter>();
  #seconds = new Map<string, { executor: string; op: string; seconds: number }>();
  #timeouts = new Map<string, { executor: string; action: string; count: number }>();
  #onDone = (msg: unknown): void => this.#done(msg as DoneEvent);
  #onTimeout = (msg: unknown): void => this.#timeout(msg as TimeoutEvent);
  #subscribed = false;

  constructor(opts: RuntimeFiguresOptions) {
    this.#o = opts;
  }

  start(): void {
    if (this.#subscribed) return;
    this.#subscribed = true;
    executorChannels.done.subscribe(this.#onDone);
    executorChannels.timeout.subscribe(this.#onTimeout);
  }

  stop(): void {
    if (!this.#subscribed) return;
    this.#subscribed = false;
    executorChannels.done.unsubscribe(this.#onDone);
    executorChannels.timeout.unsubscribe(this.#onTimeout);
  }

  collect(): Figure[] {
    const out: Figure[] = [];
    const path = (executor: string, what: string): string => `hosts.vdsm.executor.${executor}.${what}`;
    for (const e of this.#o.executors) {
      const c = e.counts();
      const s = e.stats();
      const executor = { executor: e.name };
      out.push(
        { name: 'vdsm_executor_queued_tasks', kind: 'gauge', help: 'Executor tasks waiting for a worker', value: c.queued, labels: executor, path: path(e.name, 'queued') },
        { name: 'vdsm_executor_running_tasks', kind: 'gauge', help: 'Executor tasks running', value: c.running, labels: executor, path: path(e.name, 'running') },
        { name: 'vdsm_executor_live_workers', kind: 'gauge', help: 'Executor worker threads serving tasks (idle, busy or starting)', value: c.live, labels: executor, path: path(e.name, 'live') },
        { name: 'vdsm_executor_lingering_workers', kind: 'gauge', help: 'Discarded executor workers still blocked in native code', value: c.lingering, labels: executor, path: path(e.name, 'lingering') },
        { name: 'vdsm_executor_lingering_calls', kind: 'gauge', help: 'Lingering native calls with no worker thread of their own (let-go workers, abandoned calls of parked tasks; within lingering)', value: c.lingeringCalls ?? 0, labels: executor, path: path(e.name, 'lingering_calls') },
        { name: 'vdsm_executor_parked_calls', kind: 'gauge', help: 'Executor tasks parked on an offloaded native call (one native call thread each; their workers serve other tasks)', value: c.parked ?? 0, labels: executor, path: path(e.name, 'parked') },
        { name: 'vdsm_executor_abandoned_calls_total', kind: 'counter', help: 'Native calls let go while they went on: of discarded workers (their threads exited) and of parked tasks that timed out', value: s.abandoned_calls ?? 0, labels: executor },
        { name: 'vdsm_executor_spare_workers', kind: 'gauge', help: 'Warm spare executor workers', value: c.spares, labels: executor },
        { name: 'vdsm_executor_blocked_tasks', kind: 'gauge', help: 'Executor tasks past their timeout and left running', value: c.blocked, labels: executor, path: path(e.name, 'blocked') },
        { name: 'vdsm_executor_rejected_tasks_total', kind: 'counter', help: 'Tasks refused because the executor queue was full', value: s.rejected, labels: executor, path: path(e.name, 'rejected') },
        { name: 'vdsm_executor_discarded_workers_total', kind: 'counter', help: 'Workers discarded with a task past its timeout', value: s.discarded, labels: executor, path: path(e.name, 'discarded') },
        { name: 'vdsm_executor_crashed_workers_total', kind: 'counter', help: 'Workers that died on their own', value: s.crashed, labels: executor },
      );
    }
    for (const t of this.#tasks.values()) {
      out.push({ name: 'vdsm_executor_tasks_total', kind: 'counter', help: 'Executor tasks ended, by operation and outcome (ok or the error code)', value: t.count, labels: { executor: t.executor, op: t.op, outcome: t.outcome } });
    }
    for (const t of this.#seconds.values()) {
      out.push({ name: 'vdsm_executor_task_seconds_total', kind: 'counter', help: 'Time executor tasks ran, by operation', value: t.seconds, labels: { executor: t.executor, op: t.op } });
    }
    for (const t of this.#timeouts.values()) {
      out.push({ name: 'vdsm_executor_task_timeouts_total', kind: 'counter', help: 'Executor tasks that passed their timeout, by what was done (discard, blocked, too-many-workers, abandon)', value: t.count, labels: { executor: t.executor, action: t.action } });
    }
    const sched = this.#o.scheduler?.stats();
    if (sched !== undefined) {
      out.push(
        { name: 'vdsm_scheduler_calls_total', kind: 'counter', help: 'Calls the scheduler ran', value: sched.count },
        { name: 'vdsm_scheduler_lateness_p99_seconds', kind: 'gauge', help: 'Scheduler lateness (run time past the deadline), 99th percentile of the last 4096 calls', value: sched.lateness_p99_ms / 1000, path: 'hosts.vdsm.scheduler.lateness_p99_ms', pathScale: 1000 },
        { name: 'vdsm_scheduler_failures_total', kind: 'counter', help: 'Scheduled calls that threw', value: sched.failures },
      );
    }
    const lv = this.#o.libvirt?.health();
    if (lv !== undefined) {
      out.push(
        { name: 'vdsm_libvirt_connected', kind: 'gauge', help: 'Whether the libvirt connection is up (1) or not (0)', value: lv.state === 'connected' ? 1 : 0, path: 'hosts.vdsm.libvirt.connected' },
        { name: 'vdsm_libvirt_reconnects_total', kind: 'counter', help: 'Times a lost libvirt connection came back', value: lv.reconnects, path: 'hosts.vdsm.libvirt.reconnects' },
        { name: 'vdsm_libvirt_connect_attempts_total', kind: 'counter', help: 'libvirt connection attempts', value: lv.attempts },
        { name: 'vdsm_libvirt_events_total', kind: 'counter', help: 'libvirt domain events received', value: lv.eventsReceived },
      );
    }
    return out;
  }

  #done(e: DoneEvent): void {
    const op = this.#op(e.executor, e.op);
    const outcome = e.ok ? 'ok' : (e.code ?? 'error');
    const key = `${e.executor}\0${op}\0${outcome}`;
    const t = this.#tasks.get(key);
    if (t) t.count++;
    else this.#tasks.set(key, { executor: e.executor, op, outcome, count: 1 });
    const skey = `${e.executor}\0${op}`;
    const s = this.#seconds.get(skey);
    if (s) s.seconds += e.runtimeMs / 1000;
    else this.#seconds.set(skey, { executor: e.executor, op, seconds: e.runtimeMs / 1000 });
  }

  #timeout(e: TimeoutEvent): void {
    const key = `${e.executor}\0${e.action}`;
    const t = this.#timeouts.get(key);
    if (t) t.count++;
    else this.#timeouts.set(key, { executor: e.executor, action: e.action, count: 1 });
  }

  /** The op label, folded into 'other' once too many distinct series exist (op names come from code, but be safe). */
  #op(executor: string, op: string): string {
    return this.#seconds.has(`${executor}\0${op}`) || this.#tasks.size < MAX_OP_SERIES ? op : 'other';
  }
}

