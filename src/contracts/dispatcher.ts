// The narrow view of the Executor that services depend on: send a named operation to a worker, typed
// end to end by the operation map (src/contracts/operations.ts). Types only.
import type { OpArgs, OpName, OpResult } from './operations.js';

export interface DispatchOptions {
  /** Milliseconds from task start (not from enqueue) after which the task is timed out. */
  timeoutMs?: number;
  /** On timeout: true discards the worker (it is replaced), false only logs that it is blocked. */
  discard?: boolean;
}

export interface Dispatcher {
  /**
   * Run operation `op` (implemented by workers/ops/<area>.ts) with structured-cloneable `args` in an
   * Executor worker. Throws VdsmError RESOURCE_EXHAUSTED synchronously when the queue is full.
   */
  dispatch<K extends OpName>(op: K, args: OpArgs<K>, opts?: DispatchOptions): Promise<OpResult<K>>;
}
