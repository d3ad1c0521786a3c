// The narrow view of the Executor that services depend on: send a named operation to a worker.

export interface DispatchOptions {
  /** Milliseconds from task start (not from enqueue) after which the task is timed out. */
  timeoutMs?: number;
  /** On timeout: true discards the worker (it is replaced), false only logs that it is blocked. */
  discard?: boolean;
}

export interface Dispatcher {
  /**
   * Run operation `op` (registered by name in workers/ops/) with structured-cloneable `args` in an
   * Executor worker. Throws VdsmError RESOURCE_EXHAUSTED synchronously when the queue is full.
   */
  dispatch<T = unknown>(op: string, args?: unknown, opts?: DispatchOptions): Promise<T>;
}
