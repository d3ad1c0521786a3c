// Plain message types between the Executor (main thread) and its workers. Imported by both sides,
// so it holds types and constants only: no main-thread modules, no state.
import type { MessagePort } from 'node:worker_threads';

/** Layout of the per-worker SharedArrayBuffer the worker stamps at task start. */
export const STAMP_BYTES = 16;
/** Int32 index of the id of the task the worker is running (0 = idle). */
export const STAMP_TASK_ID = 0;
/**
 * Float64 index of the task's start time in ms of process.hrtime (CLOCK_MONOTONIC): one clock for
 * every thread of the process. (performance.timeOrigin + now() is not: worker origins disagree.)
 */
export const STAMP_STARTED_AT = 1;

/** Milliseconds on the process-wide monotonic clock used for start stamps. */
export const hrtimeMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The one Piscina task each Executor worker runs for its whole life: a session over `port`. */
export interface SessionInit {
  port: MessagePort;
  workerId: number;
  executor: string;
  stamp: SharedArrayBuffer;
  workerData: unknown;
  logLevel: string;
}

export type ToWorker =
  | { type: 'run'; taskId: number; op: string; args: unknown }
  /** A request about the thread itself (health, profiling), answered with a 'control' message. */
  | { type: 'control'; id: number; op: string; args?: unknown }
  | { type: 'close' };

/** An error flattened for the trip across the thread boundary; `code` is what callers test. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  vdsmCode?: number;
  context?: Record<string, unknown>;
  stack?: string;
}

export type FromWorker =
  | { type: 'ready'; threadId: number; tid: number; ops: string[]; loadErrors: string[] }
  | { type: 'start'; taskId: number; startedAt: number }
  /**
   * The task now awaits offloaded native call `call` (`<addon>:<id>`) through the asynchronous entry:
   * the worker can take another task while it waits (the Executor parks the task if max_workers has
   * room for the call's thread). Sent again for each further call of the same task.
   */
  | { type: 'park'; taskId: number; call: string }
  | { type: 'done'; taskId: number; ok: true; value: unknown }
  | { type: 'done'; taskId: number; ok: false; error: WireError }
  | { type: 'control'; id: number; ok: true; value: unknown }
  | { type: 'control'; id: number; ok: false; error: WireError };
