// Entry of every Executor worker thread. Piscina starts the thread and runs `session` once; the
// session then serves tasks over its own MessagePort until the thread is terminated.
// Imports only the shared protocol types, src/errors.ts, pino (lazily), the pino-free journald options
// and the operation modules.
import { readdirSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { threadId, workerData, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { Errors, vdsmError } from '../src/errors.js';
import { journaldPinoOptions, underJournald } from '../src/observability/journald.js';
import {
  STAMP_STARTED_AT, STAMP_TASK_ID, hrtimeMs,
  type FromWorker, type SessionInit, type ToWorker,
} from '../src/contracts/executor-protocol.js';
import { toWireError, type Op, type OpsModule } from './op-context.js';

const opsDir = new URL('./ops/', import.meta.url);

/** Every workers/ops/*.js module, loaded once per thread at start (Piscina preloads this file). */
async function loadOps(only: readonly string[] | undefined): Promise<{ ops: Map<string, Op>; errors: string[] }> {
  const ops = new Map<string, Op>();
  const errors: string[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(fileURLToPath(opsDir)).filter((f) => f.endsWith('.js') && (!only || only.includes(f.slice(0, -3)))).sort();
  } catch (err) {
    errors.push(`cannot list ${fileURLToPath(opsDir)}: ${String(err)}`);
  }
  for (const file of files) {
    try {
      const mod = (await import(new URL(file, opsDir).href)) as Partial<OpsModule>;
      for (const [name, fn] of Object.entries(mod.ops ?? {})) {
        if (ops.has(name)) errors.push(`${file}: operation ${name} defined twice`);
        else ops.set(name, fn);
      }
    } catch (err) {
      // One broken area must not take the others down; its operations answer UNKNOWN_OPERATION.
      errors.push(`${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { ops, errors };
}

/** Thread-level settings from the Executor (Piscina's workerData), readable before any session. */
interface ThreadConfig { opsModules?: string[] }
const loaded = await loadOps((workerData as ThreadConfig | undefined)?.opsModules);

// pino costs ~1.75 MB of RSS per thread; most operations never log, so it loads on first use.
const require = createRequire(import.meta.url);
let pinoFactory: typeof import('pino').default | undefined;
const makeLogger = (opts: { level: string; base: Record<string, unknown> }): Logger => {
  pinoFactory ??= require('pino') as typeof import('pino').default;
  // Under systemd the workers' lines carry journald's priority prefix too; pid stays in `base`.
  return pinoFactory(underJournald() ? { ...opts, ...journaldPinoOptions() } : opts);
};

/** Kernel thread id of this thread, for the ops thread listing (ps -L, top -H, gdb). */
function osThreadId(): number {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return -1;
  }
}

function post(port: MessagePort, msg: FromWorker): void {
  port.postMessage(msg);
}

/** Piscina task handler: one call per thread, returns only when the main thread closes the session. */
export default function session(init: SessionInit): Promise<void> {
  const { port, workerId } = init;
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
      const ctx = {
        taskId, workerId, workerData: init.workerData,
        get log(): Logger {
          return (child ??= log().child({ taskId }));
        },
      };
      const value = await fn(args, ctx);
      Atomics.store(ids, STAMP_TASK_ID, 0);
      post(port, { type: 'done', taskId, ok: true, value });
    } catch (err) {
      Atomics.store(ids, STAMP_TASK_ID, 0);
      post(port, { type: 'done', taskId, ok: false, error: toWireError(err) });
    }
  };

  return new Promise<void>((resolve) => {
    port.on('message', (msg: ToWorker) => {
      if (msg.type === 'run') void run(msg.taskId, msg.op, msg.args);
      else {
        port.close();
        resolve();
      }
    });
    post(port, { type: 'ready', threadId, tid: osThreadId(), ops: [...loaded.ops.keys()].sort(), loadErrors: loaded.errors });
  });
}
