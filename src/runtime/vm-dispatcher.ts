// vdsm's VmDispatcher: fans one periodic operation out as one Executor task per VM, skipping VMs
// that do not need it or are not ready, and reporting the skipped ones in one log line.
import type { Logger } from 'pino';
import { Errors, isError } from '../errors.js';
import type { Dispatcher } from '../contracts/dispatcher.js';

/** What `create(vm)` returns for one VM. */
export interface VmOp {
  /** False: nothing to do for this VM now; skipped silently. May be a throwing getter. */
  readonly required: boolean;
  /** False: the VM is not ready (e.g. its domain is busy); recorded as skipped. May be a throwing getter. */
  readonly runnable: boolean;
  op: string;
  args?: unknown;
  onResult?: (result: unknown) => void;
  onError?: (err: unknown) => void;
}

export interface VmDispatcherOptions<V> {
  name: string;
  getVms: () => Iterable<V>;
  vmId: (vm: V) => string;
  create: (vm: V) => VmOp;
  executor: Dispatcher;
  /** Per-VM task timeout (vdsm: period / 2). */
  timeoutMs: number;
  discard?: boolean;
  log: Logger;
}

export interface VmDispatchResult {
  dispatched: string[];
  skipped: string[];
  /** Settles when every dispatched per-VM task settled (never rejects). */
  done: Promise<void>;
}

export class VmDispatcher<V> {
  #o: VmDispatcherOptions<V>;

  constructor(opts: VmDispatcherOptions<V>) {
    this.#o = opts;
  }

  /** For Operation's `run`: dispatch everything, resolve when all per-VM tasks settled. */
  run(): Promise<void> {
    return this.dispatch().done;
  }

  dispatch(): VmDispatchResult {
    const o = this.#o;
    const dispatched: string[] = [];
    const skipped: string[] = [];
    const pending: Promise<void>[] = [];
    for (const vm of o.getVms()) {
      const id = o.vmId(vm);
      let vmOp: VmOp;
      try {
        vmOp = o.create(vm);
        if (!vmOp.required) continue;
        if (!vmOp.runnable) {
          skipped.push(id);
          continue;
        }
      } catch (err) {
        o.log.error({ err, vmId: id, operation: o.name }, `Operation ${o.name} failed for VM ${id}`);
        continue;
      }
      try {
        const p = o.executor.dispatch(vmOp.op, vmOp.args, { timeoutMs: o.timeoutMs, discard: o.discard ?? true });
        dispatched.push(id);
        pending.push(p.then(
          (r) => vmOp.onResult?.(r),
          (err: unknown) => (vmOp.onError ? vmOp.onError(err) : o.log.warn({ err, vmId: id, operation: o.name }, `Operation ${o.name} failed for VM ${id}`)),
        ).catch((err: unknown) => o.log.error({ err, vmId: id, operation: o.name }, `Operation ${o.name} callback failed for VM ${id}`)));
      } catch (err) {
        if (!isError(err, Errors.RESOURCE_EXHAUSTED)) throw err;
        skipped.push(id);
      }
    }
    if (skipped.length) o.log.warn({ operation: o.name, skipped }, `could not run ${o.name} on ${skipped.join(', ')}`);
    return { dispatched, skipped, done: Promise.all(pending).then(() => undefined) };
  }
}
