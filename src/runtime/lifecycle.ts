// The one lifecycle of every long-lived part (Scheduler, Executor, ConnectionManager, VmManager,
// VmSampling, HostService, Recovery, Agent): a small state machine each part owns, so they all start,
// close and destroy the same way.
//
//            start()                 (start settles)
//   new ──────────────► starting ─────────────────► running
//    │                     │  start failed               │
//    │                     └──────────► failed            │ close() / destroy()
//    │ close()                            │ close()       ▼
//    └──────────────────────────────────► closing ◄───────┘
//                                            │ (close settles)
//                                            ▼
//                                          closed
//
// - start is idempotent: a second start() while starting or running gets the first one's result (the
//   same promise); start() once closing, closed or failed is a LIFECYCLE_STATE error.
// - close is idempotent: every later caller waits for the first close and gets its answer (the same
//   promise), e.g. the Agent's count of threads stuck in native calls. close() while starting waits for
//   the start to settle, then closes. close() of a part never started just marks it closed.
// - destroy is close in a hurry: it runs the part's abort step (terminate now, skip the grace period)
//   once, and returns the close's answer, starting the close if none is running.
// - Using a part that is not running is NOT_RUNNING (`assertRunning`).
// Synchronous parts (Scheduler, VmManager, ...) use startSync/closeSync: they pass through
// starting/closing within the call.
import { Errors, vdsmError } from '../errors.js';

export type LifecycleState = 'new' | 'starting' | 'running' | 'failed' | 'closing' | 'closed';

export class Lifecycle<CloseResult = void> {
  /** For messages: 'Executor periodic', 'libvirt connection manager', ... */
  readonly owner: string;
  #state: LifecycleState = 'new';
  #starting: Promise<void> | undefined;
  #closing: Promise<CloseResult> | undefined;
  #aborted = false;
  #listeners = new Set<(state: LifecycleState) => void>();

  constructor(owner: string) {
    this.owner = owner;
  }

  get state(): LifecycleState {
    return this.#state;
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  /** True from the first close() or destroy() on. */
  get closing(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  /** Called on every state change (after it happened). */
  onChange(cb: (state: LifecycleState) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** Throws NOT_RUNNING unless running. */
  assertRunning(what = this.owner): void {
    if (this.#state !== 'running') throw vdsmError(Errors.NOT_RUNNING, `${what} is not running (${this.#state})`);
  }

  /** Start a part whose start completes synchronously. */
  startSync(fn: () => void): void {
    if (this.#state === 'running' || this.#state === 'starting') return;
    this.#refuseStart();
    this.#set('starting');
    try {
      fn();
    } catch (err) {
      this.#set('failed');
      throw err;
    }
    this.#set('running');
  }

  /** Start a part whose start takes time; every caller gets the first call's promise. */
  start(fn: () => Promise<void>): Promise<void> {
    if (this.#starting && (this.#state === 'starting' || this.#state === 'running')) return this.#starting;
    if (this.#state === 'running') return Promise.resolve();
    try {
      this.#refuseStart();
    } catch (err) {
      return Promise.reject(err);
    }
    this.#set('starting');
    this.#starting = (async () => {
      try {
        await fn();
      } catch (err) {
        if (this.#state === 'starting') this.#set('failed');
        throw err;
      }
      if (this.#state === 'starting') this.#set('running');
    })();
    return this.#starting;
  }

  /**
   * Close; every caller gets the first call's promise. `fn` runs once (after a start in progress
   * settled); a part never started is marked closed and answers `unstarted()`.
   */
  close(fn: () => Promise<CloseResult> | CloseResult, unstarted?: () => CloseResult): Promise<CloseResult> {
    if (this.#closing) return this.#closing;
    const wasNew = this.#state === 'new';
    const startPending = this.#state === 'starting' && this.#starting !== undefined ? this.#starting : undefined;
    this.#set('closing');
    // Without a start to wait for, the close begins now, in this call (its first steps, such as a
    // release request and its timer, are under way when close() returns).
    const run = (): Promise<CloseResult> => {
      try {
        return Promise.resolve(wasNew && unstarted ? unstarted() : fn());
      } catch (err) {
        return Promise.reject(err);
      }
    };
    const closing = startPending ? startPending.then(run, run) : run();
    this.#closing = closing.finally(() => this.#set('closed'));
    return this.#closing;
  }

  /** Close a part whose close completes synchronously. Idempotent. */
  closeSync(fn: () => void): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    const wasNew = this.#state === 'new';
    this.#set('closing');
    try {
      if (!wasNew) fn();
    } finally {
      this.#closing = Promise.resolve() as Promise<CloseResult>;
      this.#set('closed');
    }
  }

  /**
   * Close in a hurry: `abort` runs once (it should make a close in progress finish now), then the
   * close's answer, starting one with `fn` if none is running.
   */
  destroy(abort: () => void, fn: () => Promise<CloseResult> | CloseResult, unstarted?: () => CloseResult): Promise<CloseResult> {
    if (!this.#aborted && this.#state !== 'closed') {
      this.#aborted = true;
      abort();
    }
    return this.close(fn, unstarted);
  }

  /** True once destroy() was called. */
  get aborted(): boolean {
    return this.#aborted;
  }

  toJSON(): LifecycleState {
    return this.#state;
  }

  #refuseStart(): void {
    if (this.#state !== 'new') {
      throw vdsmError(Errors.LIFECYCLE_STATE, { owner: this.owner, state: this.#state, operation: 'start' });
    }
  }

  #set(state: LifecycleState): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const cb of [...this.#listeners]) cb(state);
  }
}
