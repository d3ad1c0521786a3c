// What an Executor operation receives besides its arguments, and the shape every ops module exports.
// Shared by workers/ops/*.ts and the worker entry; imports nothing from the main thread.
import type { Logger } from 'pino';
import type { WireError } from '../src/contracts/executor-protocol.js';

export interface OpContext {
  /** Executor-wide task id (the same id the main thread logs and publishes). */
  taskId: number;
  /** Executor worker id (ever increasing; a replacement gets a new id). */
  workerId: number;
  /** pino logger bound to { workerId, taskId }. */
  log: Logger;
  /** The Executor's `workerData` option, as given to every worker. */
  workerData: unknown;
}

export type Op = (args: any, ctx: OpContext) => unknown;

/** What each workers/ops/<area>.ts module exports. */
export type OpsModule = { ops: Record<string, Op> };

/** Flatten any thrown value for postMessage; keeps `code` (and vdsm's numeric code and context). */
export function toWireError(err: unknown): WireError {
  if (typeof err === 'object' && err !== null) {
    const e = err as { name?: unknown; message?: unknown; code?: unknown; vdsmCode?: unknown; context?: unknown; stack?: unknown };
    const out: WireError = { name: typeof e.name === 'string' ? e.name : 'Error', message: typeof e.message === 'string' ? e.message : String(err) };
    if (typeof e.code === 'string') out.code = e.code;
    if (typeof e.vdsmCode === 'number') out.vdsmCode = e.vdsmCode;
    if (typeof e.context === 'object' && e.context !== null) out.context = e.context as Record<string, unknown>;
    if (typeof e.stack === 'string') out.stack = e.stack;
    return out;
  }
  return { name: 'Error', message: String(err) };
}
