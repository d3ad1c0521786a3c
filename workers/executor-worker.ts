// Entry of every Executor worker thread. Piscina starts the thread (src/runtime/executor/piscina-threads.ts)
// and runs `session` once; the session then serves tasks over its own MessagePort until the thread is
// terminated.
// Imports only the contracts (src/contracts/), src/errors.ts, the thread probe (built-ins only), pino
// (lazily) and the operation areas registered in ./ops/index.ts (eslint.config.js enforces this).
import { createRequire } from 'node:module';
import { threadId, workerData, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Errors, vdsmError } from '../src/errors.js';
import { ThreadProbe } from '../src/observability/thread-probe.js';
import { niceThisThread, osThreadId, setThreadName } from '../src/native-sys.js';
import {
  STAMP_STARTED_AT, STAMP_TASK_ID, hrtimeMs,
  type FromWorker, type SessionInit, type ToWorker,
} from '../src/contracts/executor-protocol.js';
import { JOURNALD_DEFAULT_PRIORITY, JOURNALD_PRIORITY, JOURNAL_STREAM_ENV } from '../src/contracts/log-format.js';
import type { Area, OpContext } from '../src/contracts/operations.js';
import { AREAS } from './ops/index.js';
import { toWireError } from './wire-error.js';

/** An operation as the session calls it: the name arrives as a string over the port. */
type AnyOp = (args: unknown, ctx: OpContext) => unknown;

/** The registered areas (all, or the Executor's `opsModules`), loaded once per thread at start. */
async function loadOps(only: readonly string[] | undefined): Promise<{ ops: Map<string, AnyOp>; errors: string[] }> {
  const ops = new Map<string, AnyOp>();
  const errors: string[] = [];
  const areas = (Object.keys(AREAS) as Area[]).filter((a) => !only || only.includes(a));
  for (const unknown of only?.filter((a) => !(a in AREAS)) ?? []) errors.push(`no operation area named ${unknown}`);
  for (const area of areas) {
    try {
      const mod = await AREAS[area]();
      for (const [name, fn] of Object.entries(mod.ops)) ops.set(name, fn as AnyOp);
    } catch (err) {
      // One broken area must not take the others down; its operations answer UNKNOWN_OPERATION.
      errors.push(`${area}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { ops, errors };
}

/** Thread-level settings from the Executor (Piscina's workerData), readable before any session. */
interface ThreadConfig { opsModules?: string[]; niceIncrement?: number }
const config = (workerData ?? {}) as ThreadConfig;
// Below the main thread in the scheduler's eyes (Linux nice values are per thread).
if (config.niceIncrement) niceThisThread(config.niceIncrement);
const loaded = await loadOps(config.opsModules);

/** Under systemd, lines carry journald's priority prefix and no time (src/observability/journald.ts). */
const journald = Boolean(process.env[JOURNAL_STREAM_ENV]);
const journaldOptions = {
  timestamp: false as const,
  hooks: { streamWrite: (s: string): string => `<${JOURNALD_PRIORITY[Number(/"level":(\d+)/.exec(s)?.[1])] ?? JOURNALD_DEFAULT_PRIORITY}>${s}` },
};

// pino costs ~1.75 MB of RSS per thread; most operations never log, so it loads on first use.
const require = createRequire(import.meta.url);
let pinoFactory: typeof import('pino').default | undefined;
const makeLogger = (opts: { level: string; base: Record<string, unknown> }): Logger => {
  pinoFactory ??= require('pino') as typeof import('pino').default;
  // pid stays in `base`. Lines are written synchronously to fd 1: a worker is terminated when it is
  // discarded or the executor stops, and an asynchronous write still queued then would be lost (the
  // last lines of a discarded worker are the ones that matter). The write blocks only this thread.
  return pinoFactory(journald ? { ...opts, ...journaldOptions } : opts, pinoFactory.destination({ fd: 1, sync: true }));
};



/** OS thread name as the Executor lists it (`periodic/3`), for top -H, ps -T and gdb; best effort. */
function nameThread(name: string): void {
  try {
    setThreadName(name);
  } catch {
    // A thread without a name still works; the listing maps it by tid.
  }
}

function post(port: MessagePort, msg: FromWorker, transferList?: ArrayBuffer[]): void {
  port.postMessage(msg, transferList);
}

/** Piscina task handler: one call per thread, returns only when the main thread closes the session. */
export default function session(init: SessionInit): Promise<void> {
  const { port, workerId } = init;
  nameThread(`${init.executor}/${workerId}`);
  const ids = new Int32Array(init.stamp);
  const times = new Float64Array(init.stamp);
  let base: Logger | undefined;
  const log = (): Logger => (base ??= makeLogger({ level: init.logLevel, base: { pid: process.pid, executor: init.executor, workerId } }));
  // Load errors are also reported to the main thread in 'ready' (logged there).

  const run = async (taskId: number, op: string, args: unknown): Promise<void> => {
    // Stamp the start before anything else: the main thread counts the timeout from here.
    times[STAMP_STARTED_AT] = hrtimeMs();
    Atomics.store(ids, STAMP_TASK_ID, taskId);
    post(port, { type: 'start', taskId, startedAt: times[STAMP_STARTED_AT]! });
    try {
      const fn = loaded.ops.get(op);
      if (!fn) throw vdsmError(Errors.UNKNOWN_OPERATION, `Unknown executor operation: ${op}`);
      let child: Logger | undefined;
      const transferList: ArrayBuffer[] = [];
      const ctx: OpContext = {
        taskId, workerId, workerData: init.workerData,
        get log(): Logger {
          return (child ??= log().child({ taskId }));
        },
        // The task waits for a native call thread: this worker may be given the next task meanwhile.
        park: (call: string) => post(port, { type: 'park', taskId, call }),
        transfer: (buffer: ArrayBuffer) => { transferList.push(buffer); },
      };
      const value = await fn(args, ctx);
      // A parked task ends while another may run: the stamp is cleared only if it is still this task's.
      Atomics.compareExchange(ids, STAMP_TASK_ID, taskId, 0);
      post(port, { type: 'done', taskId, ok: true, value }, transferList);
    } catch (err) {
      Atomics.compareExchange(ids, STAMP_TASK_ID, taskId, 0);
      post(port, { type: 'done', taskId, ok: false, error: toWireError(err) });
    }
  };

  // Health and profiling requests about this thread (the health monitor, the profiler).
  const probe = new ThreadProbe();
  const control = (id: number, op: string, args: unknown): void => {
    probe.handle(op, args).then(
      (value) => post(port, { type: 'control', id, ok: true, value }),
      (err: unknown) => post(port, { type: 'control', id, ok: false, error: toWireError(err) }),
    );
  };

  return new Promise<void>((resolve) => {
    port.on('message', (msg: ToWorker) => {
      if (msg.type === 'run') void run(msg.taskId, msg.op, msg.args);
      else if (msg.type === 'control') control(msg.id, msg.op, msg.args);
      else {
        probe.close();
        port.close();
        resolve();
      }
    });
    post(port, { type: 'ready', threadId, tid: osThreadId(), ops: [...loaded.ops.keys()].sort(), loadErrors: loaded.errors });
  });
}
