// Operations of workers/ops/test.ts that tests and benches use to model healthy, failing, crashing and
// stuck calls. Types only.
import type { QgaPollArgs, QgaTaskResult } from './guest-ops.js';

/** Names of catalogued errors (src/errors.ts `Errors` keys), spelled out here to keep contracts import-free. */
export type TestErrorName = string;

/** Operation name -> { args, result } of workers/ops/test.ts. */
export interface TestOps {
  /** Returns its arguments. */
  'test.echo': { args: unknown; result: unknown };
  /** Blocks the thread in nanosleep(2) for `ms`: a stuck native call that terminate() cannot cut. */
  'test.sleepNative': { args: { ms: number; value?: unknown }; result: unknown };
  /**
   * Blocks in nanosleep(2) for `ms` on a native call thread of the worker (native/offload/offload.h),
   * awaited through the asynchronous entry as every libvirt op in a worker is: the stand-in for a hung
   * libvirt call. The task parks (its worker serves others); at its timeout the call is abandoned and
   * lingers on its call thread, counted, while the worker is kept.
   */
  'test.sleepOffloaded': { args: { ms: number; value?: unknown }; result: unknown };
  /**
   * Blocks in a native call (vdsm_sleep's waitGate) until the test opens gate `gate` with the addon's
   * openGate(gate) from any thread: a stuck native call for exactly as long as a test needs. `offloaded`
   * true: on a call thread through the asynchronous entry (the task parks, libvirt ops' way); 'sync': on
   * a call thread, the JS thread waiting for it (the main thread's way; a discarded worker is let go);
   * false: on the JS thread itself (a call that cannot be offloaded). Returns the gate.
   */
  'test.gateNative': { args: { gate: number; offloaded: boolean | 'sync' }; result: number };
  /**
   * test.gateNative's steps one after another in one task (an operation making several native calls,
   * like sampling.bulkStats' slow path); offloaded steps go through the asynchronous entry. Returns the
   * number of steps done.
   */
  'test.gateSequence': { args: { steps: Array<{ gate: number; offloaded: boolean | 'sync' }> }; result: number };
  /** Kills its worker: process.exit in the thread ('exit', default) or an uncaught exception ('uncaught'). */
  'test.crash': { args: { mode?: 'exit' | 'uncaught' } | undefined; result: never };
  /** Throws a catalogued error (`error` names an Errors entry) or a plain Error. */
  'test.throw': { args: { error?: TestErrorName; message?: string } | undefined; result: never };
  /** Spins the CPU in JavaScript for `ms` (terminate() stops this within milliseconds). */
  'test.busy': { args: { ms: number }; result: number };
  /**
   * Blocks the thread synchronously (Atomics.wait) until the test stores a non-zero value in
   * `Int32Array(gate)[0]` and notifies: a busy worker for exactly as long as a test needs, whatever the
   * machine's load. Returns the stored value.
   */
  'test.block': { args: { gate: SharedArrayBuffer }; result: number };
  /**
   * The QEMU guest agent poller's task against fake agents (bench:guest-agents, where 500 real guests
   * cannot run): a VM whose id starts with "hung" blocks its thread for the command timeout and fails as
   * libvirt does (VIR_ERR_AGENT_UNRESPONSIVE); the others answer a canned guest after the Executor's
   * workerData `qgaLatencyMs` per call.
   */
  'test.qgaPoll': { args: QgaPollArgs; result: QgaTaskResult[] };
  /** Where the task ran; logs one line through ctx.log. */
  'test.whoami': { args: undefined; result: { workerId: number; taskId: number; workerData: unknown } };
}
