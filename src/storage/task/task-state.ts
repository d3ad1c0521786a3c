// vdsm's storage task states (lib/vdsm/storage/task.py State): every internal state, the allowed
// transitions, and the deprecated API view (taskState / taskResult) the engine polls. Pure data.
import { Errors, storageError } from '../../errors.js';
import { TaskState, type TaskStateName } from '../../contracts/task-format.js';

export { TaskState, isTaskState, isPolicy, type TaskStateName, type TaskPolicy, type TaskPriority } from '../../contracts/task-format.js';

const S = TaskState;

/** Allowed transitions, target <- sources (task.py State._moveto). */
export const MOVE_TO: Readonly<Record<TaskStateName, readonly TaskStateName[]>> = {
  unknown: [],
  init: [],
  preparing: [S.init, S.blocked],
  blocked: [S.preparing],
  acquiring: [S.preparing, S.acquiring],
  queued: [S.acquiring, S.running],
  running: [S.queued],
  finished: [S.running, S.preparing],
  aborting: [S.preparing, S.blocked, S.acquiring, S.queued, S.running],
  waitrecover: [S.aborting],
  racquiring: [S.aborting, S.finished, S.racquiring, S.waitrecover],
  recovering: [S.racquiring],
  raborting: [S.racquiring, S.recovering, S.waitrecover],
  recovered: [S.recovering],
  failed: [S.recovering, S.aborting, S.raborting],
};

export const DONE_STATES: readonly TaskStateName[] = [S.finished, S.recovered, S.failed];
const RECOVERING_STATES: readonly TaskStateName[] = [S.racquiring, S.recovering];

/** taskState as Task.getStatus / Host.getAllTasksStatuses report it (task.py DEPRECATED_STATE). */
export type DeprecatedTaskState = 'unknown' | 'init' | 'running' | 'finished' | 'aborting' | 'cleaning';
export const DEPRECATED_STATE: Readonly<Record<TaskStateName, DeprecatedTaskState>> = {
  unknown: 'unknown', init: 'init',
  preparing: 'running', blocked: 'running', acquiring: 'running', queued: 'running', running: 'running',
  finished: 'finished', aborting: 'aborting',
  waitrecover: 'cleaning', recovering: 'cleaning', racquiring: 'cleaning',
  raborting: 'aborting', recovered: 'finished', failed: 'finished',
};

/** taskResult (task.py DEPRECATED_RESULT): only the done states have one. */
export function deprecatedResult(state: TaskStateName): '' | 'success' | 'cleanSuccess' | 'cleanFailure' {
  if (state === S.finished) return 'success';
  if (state === S.recovered) return 'cleanSuccess';
  if (state === S.failed) return 'cleanFailure';
  return '';
}


export const isDone = (s: TaskStateName): boolean => DONE_STATES.includes(s);
export const isRecovering = (s: TaskStateName): boolean => RECOVERING_STATES.includes(s);
export const canAbort = (s: TaskStateName): boolean => MOVE_TO.aborting.includes(s);
export const canAbortRecovery = (s: TaskStateName): boolean => MOVE_TO.raborting.includes(s);

/** Validate a transition; TASK_STATE_TRANSITION (441) "from X to Y" unless forced. */
export function checkMove(from: TaskStateName, to: TaskStateName, force = false): void {
  if (!Object.hasOwn(MOVE_TO, to)) throw new Error(`not a valid target state: ${String(to)}`);
  if (!force && !MOVE_TO[to].includes(from)) throw storageError(Errors.TASK_STATE_TRANSITION, [`from ${from} to ${to}`]);
}
