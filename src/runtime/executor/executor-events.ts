// The Executor's diagnostics_channel events. Reporters (metrics, debug logging, benches) subscribe;
// the Executor never imports them. Every payload carries `executor` (the Executor's name).
import diagnostics_channel from 'node:diagnostics_channel';

/** A task was accepted. `queued`: tasks waiting after this one was added. */
export interface DispatchEvent { executor: string; taskId: number; op: string; queued: number }
/** A worker stamped the task's start. `waitedMs`: enqueue to start. */
export interface StartEvent { executor: string; taskId: number; op: string; workerId: number; waitedMs: number }
/**
 * A task ended with a result the caller sees. `code` is the error code when ok is false
 * (ERR_WORKER_CRASHED when its worker died, ERR_NOT_RUNNING when the Executor stopped).
 */
export interface DoneEvent { executor: string; taskId: number; op: string; workerId: number | undefined; ok: boolean; runtimeMs: number; code?: string }
/**
 * A running task passed its timeout (counted from its start). `action`: 'discard' (its worker is
 * terminated), 'blocked' (discard=false: only logged, re-checked every timeout), 'too-many-workers'
 * (discardable but no room for a replacement under max_workers: left running, retried later).
 */
export interface TimeoutEvent { executor: string; taskId: number; op: string; workerId: number; runtimeMs: number; action: TimeoutAction }
/** 'abandon': a parked task (see ParkEvent) timed out: its native call was let go, its worker kept. */
export type TimeoutAction = 'discard' | 'blocked' | 'too-many-workers' | 'abandon';
/**
 * A worker was terminated with its task; the thread lingers until its native call returns (or, let go
 * from an offloaded call, exits at once while the call lingers in its native call thread).
 */
export interface DiscardEvent { executor: string; taskId: number; op: string; workerId: number; runtimeMs: number; lingering: number }
/**
 * The discarded worker's place is filled. `via`: 'spare' (a warm spare was promoted), 'surplus'
 * (enough live workers remained, none needed), 'spawn' (a new thread had to start first).
 * `replacementMs`: from the discarded task's start until a ready worker took its place.
 * `deferred`: the discard waited at max_workers ("Too many workers") for a lingering thread to exit,
 * so replacementMs includes that wait; such replacements are left out of the replacement statistics.
 */
export interface ReplaceEvent { executor: string; discardedWorkerId: number; workerId: number | undefined; via: 'spare' | 'surplus' | 'spawn'; replacementMs: number; deferred: boolean }
/**
 * Thread life cycle: spawn, ready, exit (crash set when it died on its own), released (a worker let go
 * from an offloaded native call exited earlier; that call has now returned and its slot is free).
 */
export interface WorkerEvent { executor: string; workerId: number; event: 'spawn' | 'ready' | 'exit' | 'released'; role: string; tid?: number; crash?: string; endReason?: string; call?: string }
/**
 * A task awaiting an asynchronous offloaded native call (`call`: `<addon>:<id>`): 'park' (its worker
 * is free for other tasks; the call holds a place under max_workers), 'abandon' (it timed out: the
 * call was let go and lingers, still counted, unless it had returned already: `lingering` false),
 * 'release' (an abandoned call returned; its place is free).
 */
export interface ParkEvent { executor: string; taskId: number; op: string; workerId: number; call: string; event: 'park' | 'abandon' | 'release'; lingering?: boolean }

export const executorChannels = {
  dispatch: diagnostics_channel.channel('vdsm:executor:dispatch'),
  start: diagnostics_channel.channel('vdsm:executor:start'),
  done: diagnostics_channel.channel('vdsm:executor:done'),
  timeout: diagnostics_channel.channel('vdsm:executor:timeout'),
  discard: diagnostics_channel.channel('vdsm:executor:discard'),
  replace: diagnostics_channel.channel('vdsm:executor:replace'),
  worker: diagnostics_channel.channel('vdsm:executor:worker'),
  park: diagnostics_channel.channel('vdsm:executor:park'),
} as const;
