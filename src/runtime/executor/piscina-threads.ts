// The Executor's thread source: every Executor worker is a worker_thread taken from one Piscina pool.
//
// Why Piscina is used this way: Piscina's own scheduling cannot give vdsm's semantics (its maxQueue
// is bypassed by abortable tasks, AbortSignal timeouts count queued time, it cannot keep an idle warm
// spare outside its dispatch set, and it forgets a terminated thread while that thread still lingers
// in a native call). So each thread runs exactly one long-lived Piscina task, a *session*
// (workers/executor-worker.ts), that serves our tasks over a MessagePort we own. Piscina supplies
// thread start-up (worker bootstrap, preloading the entry module, resourceLimits, env) and
// terminate-on-abort; the Executor owns queueing, timeouts, accounting and replacement. Honestly that
// is little value over plain worker_threads, but it keeps the design card's "a worker from a Piscina
// pool" literal, and a fallback to `new Worker` would only touch this file.
import { MessageChannel, type MessagePort, type Worker, type ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { STAMP_BYTES, type FromWorker, type SessionInit, type ToWorker } from '../../contracts/executor-protocol.js';

export interface ThreadEvents {
  /** The session is up: the worker loaded its operations and waits for tasks. */
  onReady(info: { threadId: number; tid: number; ops: string[]; loadErrors: string[] }): void;
  onMessage(msg: FromWorker): void;
  /**
   * The OS thread is gone. `crash` is set when it died on its own (uncaught error, process.exit in
   * the worker, failed start-up) rather than after terminate().
   */
  onExit(crash: Error | undefined): void;
}

/** One worker thread as the Executor sees it. */
export class ThreadHandle {
  readonly workerId: number;
  readonly stamp = new SharedArrayBuffer(STAMP_BYTES);
  threadId = -1;
  tid = -1;
  #port: MessagePort;
  #abort = new AbortController();
  #onExit: (crash: Error | undefined) => void;
  #terminated = false;
  #exited = false;
  #crash: Error | undefined;

  constructor(workerId: number, port: MessagePort, onExit: (crash: Error | undefined) => void) {
    this.workerId = workerId;
    this.#port = port;
    this.#onExit = onExit;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** terminate() was called or the thread died. */
  get terminated(): boolean {
    return this.#terminated;
  }

  send(msg: ToWorker): void {
    if (!this.#terminated) this.#port.postMessage(msg);
  }

  /** Abort the session: Piscina terminates the thread, which exits once any native call returns. */
  terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#port.close();
    this.#abort.abort();
  }

  /** @internal the Worker behind this session: its 'exit' is the real end of the thread. */
  attach(worker: Worker | undefined): void {
    worker?.once('exit', (code) => this.exited(code === 0 ? undefined : new Error(`worker exited with code ${code}`)));
  }

  /** @internal the Piscina task ended: our abort, a crash, or a thread that never started. */
  sessionEnded(err: unknown, haveWorker: boolean): void {
    if (!this.#terminated) {
      this.#crash = err instanceof Error ? err : new Error(err === undefined ? 'session ended' : String(err));
      this.#terminated = true;
      this.#port.close();
    }
    // Without the Worker object we cannot see the thread's exit; the session end is the best we have.
    if (!haveWorker) this.exited(undefined);
  }

  /** @internal */
  exited(reason: Error | undefined): void {
    if (this.#exited) return;
    this.#exited = true;
    this.#port.close();
    // A thread we terminated is not a crash, whatever its exit code.
    const crash = this.#crash ?? (this.#terminated ? undefined : (reason ?? new Error('worker exited')));
    this.#terminated = true;
    this.#onExit(crash);
  }
}

export interface PiscinaThreadsOptions {
  executor: string;
  maxThreads: number;
  workerData: unknown;
  logLevel: string;
  resourceLimits?: ResourceLimits;
  /** Load only these workers/ops modules (names without .js); all by default. */
  opsModules?: string[];
  /** Raise each worker thread's nice value (Linux, per thread) so the main thread wins the CPU. */
  niceIncrement?: number;
  /** Worker entry; workers/executor-worker.js next to this build by default. */
  filename?: string;
}

export class PiscinaThreads {
  #pool: Piscina;
  #opts: PiscinaThreadsOptions;

  constructor(opts: PiscinaThreadsOptions) {
    this.#opts = opts;
    this.#pool = new Piscina({
      filename: opts.filename ?? new URL('../../../workers/executor-worker.js', import.meta.url).href,
      minThreads: 0,
      maxThreads: opts.maxThreads,
      // Only a thread whose session was aborted before it started ends up idle in Piscina: let it go.
      idleTimeout: 1000,
      concurrentTasksPerWorker: 1,
      atomics: 'disabled',
      ...(opts.resourceLimits ? { resourceLimits: opts.resourceLimits } : {}),
      // Read by the worker entry at load time, before any session exists. The thread applies the nice
      // increment itself (os.setPriority on its own kernel thread id) rather than through Piscina's
      // niceIncrement, which depends on an optional native package and ignores its absence.
      workerData: {
        ...(opts.opsModules ? { opsModules: opts.opsModules } : {}),
        ...(opts.niceIncrement ? { niceIncrement: opts.niceIncrement } : {}),
      },
    });
    // Sessions are always pending, so Piscina only reports errors it cannot attach to a task.
    this.#pool.on('error', () => undefined);
  }

  /** Start a thread; events arrive on `events`. Returns at once (the isolate starts in the background). */
  spawn(workerId: number, events: ThreadEvents): ThreadHandle {
    const { port1, port2 } = new MessageChannel();
    let worker: Worker | undefined;
    const handle = new ThreadHandle(workerId, port1, (crash) => events.onExit(crash));
    port1.on('message', (msg: FromWorker) => {
      if (msg.type !== 'ready') {
        events.onMessage(msg);
        return;
      }
      handle.threadId = msg.threadId;
      handle.tid = msg.tid;
      // Piscina's public `threads` list, matched by the threadId the session reported.
      worker = this.#pool.threads.find((w) => w.threadId === msg.threadId);
      handle.attach(worker);
      events.onReady(msg);
    });
    const init: SessionInit = {
      port: port2, workerId, executor: this.#opts.executor,
      stamp: handle.stamp, workerData: this.#opts.workerData, logLevel: this.#opts.logLevel,
    };
    this.#pool
      .run(init, { transferList: [port2], signal: handle.signal })
      .then((v: unknown) => handle.sessionEnded(v, worker !== undefined), (err: unknown) => handle.sessionEnded(err, worker !== undefined));
    return handle;
  }

  /** Piscina's own count of threads (excludes terminated-but-lingering ones). */
  get poolThreads(): number {
    return this.#pool.threads.length;
  }

  /** Tear the pool down without waiting for threads blocked in native code. */
  destroy(): void {
    void this.#pool.destroy().catch(() => undefined);
  }
}
