// The Executor's thread source: one plain worker_thread per Executor worker, running
// workers/executor-worker.ts, which serves our tasks over a MessagePort we own.
//
// Why not a thread pool: the Executor's semantics are the product (a bounded queue that says
// ResourceExhausted, timeouts counted from the start the worker stamps, warm spares, a ledger of threads
// that linger in native calls after terminate(), growth on backlog), and a pool's own queueing, abort
// and accounting would sit under them unused or in the way; a terminated thread also disappears from a
// pool while it still lingers. So the seam is a thread and its end: spawn(), send(), terminate(), and
// the real exit of the OS thread ('exit' of its Worker). Piscina serves where its queue and abort fit
// (the storage task pool) and is the baseline in bench/executor-stuck.ts.
import { MessageChannel, Worker, type MessagePort, type ResourceLimits } from 'node:worker_threads';
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
  readonly #port: MessagePort;
  readonly #worker: Worker;
  readonly #onExit: (crash: Error | undefined) => void;
  #terminated = false;
  #exited = false;
  #crash: Error | undefined;

  constructor(workerId: number, worker: Worker, port: MessagePort, onExit: (crash: Error | undefined) => void) {
    this.workerId = workerId;
    this.#worker = worker;
    this.#port = port;
    this.#onExit = onExit;
    // An uncaught exception in the thread: 'error', then 'exit'.
    worker.on('error', (err) => { this.#crash ??= err; });
    worker.once('exit', (code) => this.#exitedWith(code));
  }

  /** terminate() was called or the thread died. */
  get terminated(): boolean {
    return this.#terminated;
  }

  send(msg: ToWorker): void {
    if (!this.#terminated) this.#port.postMessage(msg);
  }

  /** End the thread; it exits once any native call it is blocked in returns (until then it lingers). */
  terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#port.close();
    void this.#worker.terminate().catch(() => undefined);
  }

  #exitedWith(code: number): void {
    if (this.#exited) return;
    this.#exited = true;
    this.#port.close();
    // A thread we terminated is not a crash, whatever its exit code.
    const crash = this.#terminated ? undefined : (this.#crash ?? new Error(`worker exited with code ${code}`));
    this.#terminated = true;
    this.#onExit(crash);
  }
}

export interface WorkerThreadsOptions {
  executor: string;
  workerData: unknown;
  logLevel: string;
  resourceLimits?: ResourceLimits;
  /** Load only these operation areas (workers/ops/index.ts); all by default. */
  opsModules?: string[];
  /** Raise each worker thread's nice value (Linux, per thread) so the main thread wins the CPU. */
  niceIncrement?: number;
  /** Worker entry; workers/executor-worker.js next to this build by default. */
  filename?: string;
}

/** Thread-level settings the worker entry reads from workerData before any session. */
export interface ThreadConfig {
  opsModules?: string[];
  niceIncrement?: number;
}

export class WorkerThreads {
  readonly #opts: WorkerThreadsOptions;
  readonly #url: URL;
  #live = new Set<ThreadHandle>();

  constructor(opts: WorkerThreadsOptions) {
    this.#opts = opts;
    this.#url = new URL(opts.filename ?? new URL('../../../workers/executor-worker.js', import.meta.url).href);
  }

  /** Start a thread; events arrive on `events`. Returns at once (the isolate starts in the background). */
  spawn(workerId: number, events: ThreadEvents): ThreadHandle {
    const { port1, port2 } = new MessageChannel();
    const config: ThreadConfig = {
      ...(this.#opts.opsModules ? { opsModules: this.#opts.opsModules } : {}),
      ...(this.#opts.niceIncrement ? { niceIncrement: this.#opts.niceIncrement } : {}),
    };
    const worker = new Worker(this.#url, {
      workerData: config,
      ...(this.#opts.resourceLimits ? { resourceLimits: this.#opts.resourceLimits } : {}),
    });
    const handle: ThreadHandle = new ThreadHandle(workerId, worker, port1, (crash) => {
      this.#live.delete(handle);
      events.onExit(crash);
    });
    this.#live.add(handle);
    port1.on('message', (msg: FromWorker) => {
      if (msg.type !== 'ready') {
        events.onMessage(msg);
        return;
      }
      handle.threadId = msg.threadId;
      handle.tid = msg.tid;
      events.onReady(msg);
    });
    const init: SessionInit = {
      port: port2, workerId, executor: this.#opts.executor,
      stamp: handle.stamp, workerData: this.#opts.workerData, logLevel: this.#opts.logLevel,
    };
    worker.postMessage(init, [port2]);
    return handle;
  }

  /** Threads started and not yet exited (terminated ones that linger in a native call included). */
  get threads(): number {
    return this.#live.size;
  }

  /** Terminate every thread, without waiting for those blocked in native code. */
  destroy(): void {
    for (const h of [...this.#live]) h.terminate();
  }
}
