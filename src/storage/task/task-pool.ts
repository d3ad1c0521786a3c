// The HSM thread pool (vdsm's ThreadPool("tasks"), [irs] thread_pool_size threads, [irs] max_tasks
// queued or running): Piscina used as designed: its own FIFO queue, a fixed set of threads, and an
// AbortSignal per task (a task still queued is dropped, a running one loses its thread).
//
// Where it differs from vdsm, and why:
// - A full pool is an error (TASK_ADD, 405) at once, never a silent block of the caller.
// - Piscina's own `maxQueue` is set, but it is not enforced for tasks that carry an AbortSignal
//   (piscinajs/piscina#899), and every task here carries one; so the pool counts queued + running
//   tasks itself and refuses the one beyond max_tasks.
// - Task.stop first asks the job to stop (it kills its child process and fails with ActionStopped);
//   only a job that does not answer within `stopGraceMs` loses its thread through the signal.
// - Jobs that only coordinate (SPM start, the OVF upload) run on the main thread through runMain():
//   they take a place in max_tasks but no thread.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import { Errors, storageError } from '../../errors.js';
import type { WireError } from '../../contracts/executor-protocol.js';
import { fromWireError } from '../../runtime/executor/remote-error.js';
import { Lifecycle } from '../../runtime/lifecycle.js';
import type { FromJob, JobCall, JobOutcome, JobRequest, ToJob } from '../../contracts/storage-job-protocol.js';
import type { RecoveryRecord } from '../../contracts/task-format.js';

export const TASK_WORKER_FILE = fileURLToPath(new URL('../../../workers/storage-task-worker.js', import.meta.url));

export interface TaskPoolOptions {
  /** [irs] thread_pool_size */
  threads: number;
  /** [irs] max_tasks: queued + running tasks before new ones are refused. */
  maxTasks: number;
  log: Logger;
  /** How long a stopped job gets to end by itself before its thread is terminated (default 10 s). */
  stopGraceMs?: number;
  /** Worker file (tests may point at a fixture). */
  filename?: string;
  /** Thread niceness increment, as the Executor does, so the main thread stays ahead. */
  niceIncrement?: number;
}

/** What the task hears while its jobs run. */
export interface JobListener {
  onStart(): void;
  onJob(index: number): void;
  /** Persist the recovery; the job waits for the returned promise. */
  onRecovery(action: 'push' | 'replace', rec: RecoveryRecord): Promise<void>;
  onProgress(percent: number, step: string): void;
  onChild(pid: number, running: boolean): void;
}

export interface JobHandle {
  readonly done: Promise<unknown>;
  /** Task.stop's abort callback: ask the job to stop, and terminate its thread if it does not. */
  stop(): void;
}

/** An error as plain data for the job's ack (a catalogued code becomes a VdsmError again there). */
function wire(err: unknown): WireError {
  const e = err as { name?: unknown; message?: unknown; code?: unknown; vdsmCode?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(typeof e?.vdsmCode === 'number' ? { vdsmCode: e.vdsmCode } : {}),
  };
}

export class TaskPool {
  readonly threads: number;
  readonly maxTasks: number;
  #pool: Piscina | undefined;
  readonly #life = new Lifecycle('storage task pool');
  #o: TaskPoolOptions;
  #inFlight = 0;
  #running = 0;
  #mainJobs = 0;
  #completed = 0;
  #refused = 0;
  #children = new Set<number>();

  constructor(opts: TaskPoolOptions) {
    this.#o = opts;
    this.threads = opts.threads;
    this.maxTasks = opts.maxTasks;
  }

  /** Start the threads. Idempotent; a stopped pool stays stopped (src/runtime/lifecycle.ts). */
  start(): void {
    this.#life.startSync(() => this.#start());
  }

  #start(): void {
    this.#pool = new Piscina({
      filename: this.#o.filename ?? TASK_WORKER_FILE,
      // One warm thread; Piscina adds threads up to thread_pool_size while jobs wait, and retires
      // them after a minute idle (vdsm starts all ten; a Node thread costs ~9 MB).
      minThreads: Math.min(1, this.threads),
      maxThreads: this.threads,
      // One job per thread, as vdsm's pool: a job may block its thread on a hung file system.
      concurrentTasksPerWorker: 1,
      maxQueue: Math.max(0, this.maxTasks - this.threads),
      idleTimeout: 60_000,
      niceIncrement: this.#o.niceIncrement ?? 5,
      // Tasks are not CPU-bound: no atomics spinning between tasks.
      atomics: 'disabled',
    });
    this.#pool.on('error', (err: unknown) => this.#o.log.error({ err }, 'storage task pool thread failed'));
  }

  #admit(what: string): void {
    if (this.#inFlight >= this.maxTasks) {
      this.#refused++;
      throw storageError(Errors.TASK_ADD, [`Too many tasks: ${this.#inFlight} queued or running, max_tasks=${this.maxTasks} (${what})`]);
    }
  }

  /** Queue the jobs of one task; TASK_ADD (405) at once when max_tasks are queued or running. */
  submit(taskId: string, jobs: JobCall[], listener: JobListener): JobHandle {
    const pool = this.#pool;
    if (!pool) throw storageError(Errors.TASK_ADD, ['storage task pool not running']);
    this.#admit(taskId);
    this.#inFlight++;
    const { port1, port2 } = new MessageChannel();
    const abort = new AbortController();
    let started = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const children = new Set<number>();
    let ended: () => void = () => undefined;
    const end = new Promise<void>((resolve) => (ended = resolve));
    port1.on('message', (msg: FromJob) => {
      if (msg.type === 'end') ended();
      else this.#onMessage(msg, port1, listener, children, () => {
        started = true;
        this.#running++;
      });
    });
    const req: JobRequest = { taskId, jobs, port: port2 };
    const run = pool.run(req, { transferList: [port2 as unknown as MessagePort], signal: abort.signal }) as Promise<JobOutcome>;
    // A job that answered has said 'end' on its port: wait for it, so its 'start', progress and child
    // messages reach the task first. A thread that died or was aborted says nothing more.
    const done = run.then(async (o) => {
      await end;
      if (o.ok) return o.value;
      throw fromWireError(o.error);
    }).finally(() => {
      if (graceTimer) clearTimeout(graceTimer);
      port1.close();
      this.#inFlight--;
      if (started) this.#running--;
      this.#completed++;
      // A terminated thread takes its children along (pdeathsig); make sure of it.
      for (const pid of children) this.#kill(pid);
    });
    return {
      done,
      stop: () => {
        if (!started) {
          abort.abort(new Error(`task ${taskId} stopped while queued`));
          return;
        }
        const msg: ToJob = { type: 'abort' };
        port1.postMessage(msg);
        graceTimer ??= setTimeout(() => {
          this.#o.log.warn({ taskId, children: [...children] }, 'storage job did not stop in time; terminating its thread');
          abort.abort(new Error(`task ${taskId} did not stop within ${this.#o.stopGraceMs ?? 10_000} ms`));
        }, this.#o.stopGraceMs ?? 10_000);
        graceTimer.unref();
      },
    };
  }

  #onMessage(msg: FromJob, port: MessagePort, l: JobListener, children: Set<number>, markStarted: () => void): void {
    switch (msg.type) {
      case 'start':
        markStarted();
        l.onStart();
        return;
      case 'job':
        l.onJob(msg.index);
        return;
      case 'progress':
        l.onProgress(msg.percent, msg.step);
        return;
      case 'child':
        if (msg.running) {
          children.add(msg.pid);
          this.#children.add(msg.pid);
        } else {
          children.delete(msg.pid);
          this.#children.delete(msg.pid);
        }
        l.onChild(msg.pid, msg.running);
        return;
      case 'recovery':
        l.onRecovery(msg.action, msg.rec).then(
          () => port.postMessage({ type: 'ack', seq: msg.seq } satisfies ToJob),
          (err: unknown) => port.postMessage({ type: 'ack', seq: msg.seq, error: wire(err) } satisfies ToJob),
        );
        return;
    }
  }

  /** A coordinating job on the main thread: counted in max_tasks, no thread. */
  runMain<T>(taskId: string, fn: () => Promise<T>): Promise<T> {
    this.#admit(taskId);
    this.#inFlight++;
    this.#mainJobs++;
    return Promise.resolve().then(fn).finally(() => {
      this.#inFlight--;
      this.#mainJobs--;
      this.#completed++;
    });
  }

  #kill(pid: number): void {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    this.#children.delete(pid);
  }

  state(): Record<string, unknown> {
    return {
      threads: this.threads,
      maxTasks: this.maxTasks,
      inFlight: this.#inFlight,
      running: this.#running,
      queued: this.#pool?.queueSize ?? 0,
      mainJobs: this.#mainJobs,
      completed: this.#completed,
      refused: this.#refused,
      children: [...this.#children],
    };
  }

  /** Terminate the threads; running jobs fail and their children die with them. */
  stop(): Promise<void> {
    return this.#life.close(() => this.#stop());
  }

  async #stop(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    for (const pid of [...this.#children]) this.#kill(pid);
    await pool?.destroy();
  }
}
