// The convergence side of an outgoing migration, as vdsm runs it: the engine's convergenceSchedule (or
// vdsm's own one when the engine sends none), and the monitor that reads libvirt's job statistics each
// tick, computes the progress the engine sees and decides the schedule's next action when the migration
// stalls (a new memory iteration). Pure: the caller polls libvirt, performs the actions and sends events.
import { JobOperation, JobType, type JobStats } from '../../contracts/migration-ops.js';

export type ConvergenceActionName = 'setDowntime' | 'abort' | 'postcopy';

export interface ConvergenceAction {
  name: ConvergenceActionName;
  /** setDowntime: [milliseconds as a string], as the engine sends it. */
  params: string[];
}

export interface StallingStep {
  /** Fires once the migration has stalled for more iterations than this (-1: at the next one). */
  limit: number;
  action: ConvergenceAction;
}

export interface ConvergenceSchedule {
  init: ConvergenceAction[];
  stalling: StallingStep[];
}

const ACTIONS: readonly string[] = ['setDowntime', 'abort', 'postcopy'];

/** Thrown for a schedule the engine could not have meant; the caller turns it into a parameter error. */
export class ScheduleError extends Error {}

function action(raw: unknown, where: string): ConvergenceAction {
  if (typeof raw !== 'object' || raw === null) throw new ScheduleError(`${where}: expected {name, params}`);
  const { name, params } = raw as { name?: unknown; params?: unknown };
  if (typeof name !== 'string' || !ACTIONS.includes(name)) throw new ScheduleError(`${where}.name: expected one of ${ACTIONS.join(', ')}`);
  const list = params === undefined || params === null ? [] : params;
  if (!Array.isArray(list)) throw new ScheduleError(`${where}.params: expected a list`);
  const strings = list.map((p) => String(p));
  if (name === 'setDowntime') {
    const ms = Number(strings[0]);
    if (strings.length < 1 || !Number.isInteger(ms) || ms < 0) throw new ScheduleError(`${where}.params: setDowntime needs a downtime in milliseconds`);
  }
  return { name: name as ConvergenceActionName, params: strings };
}

/** The engine's `convergenceSchedule` object, checked. */
export function parseSchedule(raw: unknown): ConvergenceSchedule {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ScheduleError('convergenceSchedule: expected {init, stalling}');
  const { init, stalling } = raw as { init?: unknown; stalling?: unknown };
  if (init !== undefined && init !== null && !Array.isArray(init)) throw new ScheduleError('convergenceSchedule.init: expected a list');
  if (stalling !== undefined && stalling !== null && !Array.isArray(stalling)) throw new ScheduleError('convergenceSchedule.stalling: expected a list');
  return {
    init: ((init ?? []) as unknown[]).map((a, i) => action(a, `convergenceSchedule.init[${i}]`)),
    stalling: ((stalling ?? []) as unknown[]).map((s, i) => {
      const where = `convergenceSchedule.stalling[${i}]`;
      const limit = Number((s as { limit?: unknown } | null)?.limit);
      if (!Number.isInteger(limit)) throw new ScheduleError(`${where}.limit: expected an integer`);
      return { limit, action: action((s as { action?: unknown }).action, `${where}.action`) };
    }),
  };
}

/**
 * vdsm's exponential downtime steps: `steps` values ending at `downtime`, starting at downtime/steps
 * (500 ms in 5 steps: 101, 104, 120, 189, 500).
 */
export function exponentialDowntimes(downtime: number, steps: number): number[] {
  if (steps <= 1) return [downtime];
  const offset = downtime / steps;
  const base = (downtime - offset) ** (1 / (steps - 1));
  return Array.from({ length: steps }, (_, i) => Math.trunc(offset + base ** i));
}

/**
 * vdsm's schedule for an engine that sends none (the "Legacy" policy): the first step at start, one more
 * per stalling iteration, the last again at 42, then abort.
 */
export function legacySchedule(maxDowntimeMs: number, steps: number): ConvergenceSchedule {
  const downtimes = exponentialDowntimes(maxDowntimeMs, steps);
  const set = (ms: number): ConvergenceAction => ({ name: 'setDowntime', params: [String(ms)] });
  const stalling: StallingStep[] = downtimes.slice(1).map((ms, i) => ({ limit: i + 1, action: set(ms) }));
  stalling.push({ limit: 42, action: set(downtimes[downtimes.length - 1]!) });
  stalling.push({ limit: -1, action: { name: 'abort', params: [] } });
  return { init: [set(downtimes[0]!)], stalling };
}

/** True when the schedule may switch to post-copy (libvirt needs VIR_MIGRATE_POSTCOPY up front). */
export function wantsPostCopy(schedule: ConvergenceSchedule): boolean {
  return schedule.stalling.some((s) => s.action.name === 'postcopy');
}

/** True while libvirt reports an outgoing migration job (vdsm's `ongoing`). */
export function outgoingJob(stats: JobStats): boolean {
  return stats.type !== JobType.NONE && stats.operation === JobOperation.MIGRATION_OUT;
}

/** True when libvirt says the outgoing migration itself failed or was cancelled: no way back to success. */
export function jobEndedInFailure(stats: JobStats): boolean {
  return stats.operation === JobOperation.MIGRATION_OUT && (stats.type === JobType.FAILED || stats.type === JobType.CANCELLED);
}

const num = (stats: JobStats, key: string): number => {
  const v = stats[key];
  return typeof v === 'number' ? v : 0;
};

/** vdsm's progress: 100 - 100 x remaining / total, 99 at most until nothing remains. */
export function progressPercent(stats: JobStats): number {
  const total = num(stats, 'data_total');
  const remaining = num(stats, 'data_remaining');
  if (total > 0 && remaining === 0) return 100;
  const p = total > 0 ? 100 - Math.floor((100 * remaining) / total) : 0;
  return Math.max(0, Math.min(p, 99));
}

/** What one look at the job statistics concluded. */
export interface MonitorTick {
  /** An outgoing migration job runs (otherwise nothing else is set). */
  ongoing: boolean;
  progress: number;
  /** Memory iterations since the first look (0 on the first). */
  iteration: number;
  dataRemaining: number;
  /** The remaining data grew above its low-water mark (vdsm logs "Migration stalling"). */
  stalling: boolean;
  lowmark: number;
  /** Schedule actions to perform now, in order. */
  actions: ConvergenceAction[];
}

/**
 * vdsm's migration monitor, minus the thread: `init()` gives the schedule's start actions, `tick(stats)`
 * the progress and the stalling actions due. A stalling step fires when the iterations since the first
 * look exceed its limit, one step per new iteration; once an abort fired (or the caller called stop()
 * after post-copy started) no further step fires.
 */
export class ConvergenceMonitor {
  #pending: StallingStep[];
  #init: ConvergenceAction[];
  #initialIteration: number | undefined;
  #lastIteration = 0;
  #lowmark: number | undefined;
  #done = false;

  constructor(schedule: ConvergenceSchedule) {
    this.#init = [...schedule.init];
    this.#pending = [...schedule.stalling];
  }

  /** Actions to run before the data moves (the engine's initial downtime). */
  init(): ConvergenceAction[] {
    return this.#init.splice(0);
  }

  /** No more stalling actions (post-copy started, or the migration is being aborted). */
  stop(): void {
    this.#done = true;
  }

  /** Steps not yet fired. */
  remaining(): readonly StallingStep[] {
    return this.#pending;
  }

  tick(stats: JobStats): MonitorTick {
    if (!outgoingJob(stats)) return { ongoing: false, progress: 0, iteration: 0, dataRemaining: 0, stalling: false, lowmark: 0, actions: [] };
    const remaining = num(stats, 'data_remaining');
    const iterationNow = num(stats, 'memory_iteration');
    // libvirt's iteration counter may include earlier, cancelled migrations of the same QEMU.
    this.#initialIteration ??= iterationNow;
    if (this.#initialIteration === iterationNow) this.#lastIteration = iterationNow;
    // Before the first byte moves (the destination QEMU is still starting) there is nothing to compare.
    let stalling = false;
    if (num(stats, 'data_total') > 0) {
      if (this.#lowmark === undefined || this.#lowmark > remaining) this.#lowmark = remaining;
      else stalling = remaining > this.#lowmark;
    }
    const actions: ConvergenceAction[] = [];
    if (iterationNow > this.#lastIteration) {
      this.#lastIteration = iterationNow;
      const head = this.#pending[0];
      if (!this.#done && head !== undefined && head.limit < iterationNow - this.#initialIteration) {
        this.#pending.shift();
        actions.push(head.action);
        // After a switch to post-copy is accepted the caller calls stop(); a refused one lets the next step fire.
        if (head.action.name === 'abort') this.#done = true;
      }
    }
    return {
      ongoing: true,
      progress: progressPercent(stats),
      iteration: iterationNow - this.#initialIteration,
      dataRemaining: remaining,
      stalling,
      lowmark: this.#lowmark ?? remaining,
      actions,
    };
  }
}
