// One storage task with vdsm's semantics (lib/vdsm/storage/task.py), on the main thread: the state
// machine of task-state.ts with the same handlers (acquiring queues, aborting picks the recovery
// policy, recovering runs the recoveries last-in first-out), stop / revert / recover, vdsm's result
// messages, and persistence of every transition in vdsm's format (task-format.ts).
//
// vdsm runs all of this synchronously in one thread with reference counts deciding when an abort is
// carried out. Here the steps that touch storage are asynchronous (a worker persists, a pool thread
// runs the job, a worker runs each recovery) and `#busy` plays the reference count: an abort asked
// for while the task is inside prepare, a job or recover() is carried out when that step returns.
// Persistence: every transition asks for a save; saves run one at a time and coalesce (the newest
// snapshot wins), and a recovery pushed by a job is acknowledged only once a snapshot holding it is
// on disk, which is the guarantee a crash needs.
import type { Logger } from 'pino';
import { Errors, errorMessage, storageError } from '../../errors.js';
import { ROLLBACK_SENTINEL } from '../../contracts/storage-constants.js';
import type { JobCall } from '../../contracts/storage-job-protocol.js';
import { TASK_METADATA_VERSION, type RecoveryRecord, type TaskRecord, type TaskResultRecord } from '../../contracts/task-format.js';
import {
  DEPRECATED_STATE, type DeprecatedTaskState, TaskState as S, canAbort, canAbortRecovery, checkMove, deprecatedResult, isDone, isRecovering,
  type TaskPolicy, type TaskPriority, type TaskStateName,
} from './task-state.js';
import { taskChannels } from './task-events.js';

/** A job of this task: the worker call, or a coordinating function on the main thread. */
export interface TaskJob {
  name: string;
  runcmd: string;
  call?: JobCall;
  main?: (ctx: MainJobContext) => Promise<unknown>;
}

export interface MainJobContext {
  task: Task;
  pushRecovery(rec: RecoveryRecord): Promise<void>;
  progress(percent: number, step: string): void;
}

/** What a task needs from its manager and the storage workers. */
export interface TaskHost {
  log: Logger;
  /** Write the task directory (TaskStore.save). */
  save(rec: TaskRecord): Promise<void>;
  /** Remove the task directory (TaskStore.clean). */
  clean(store: string, id: string): Promise<void>;
  /** Run one recovery in a worker. */
  runRecovery(task: Task, rec: RecoveryRecord): Promise<void>;
  /** Put the task's jobs on the pool (TaskManager.queue); throws TASK_ADD when it is full. */
  queue(task: Task): void;
}

function errorInfo(err: unknown): { code: number; message: string } {
  const code = (err as { vdsmCode?: unknown } | undefined)?.vdsmCode;
  return { code: typeof code === 'number' ? code : Errors.GENERAL.vdsmCode, message: errorMessage(err) };
}

export class Task {
  readonly id: string;
  readonly name: string;
  tag = '';
  store: string | null = null;
  recoveryPolicy: TaskPolicy = 'none';
  persistPolicy: TaskPolicy = 'none';
  cleanPolicy: TaskPolicy = 'auto';
  priority: TaskPriority = 'low';
  state: TaskStateName = S.init;
  result: TaskResultRecord = { code: 0, message: 'Task is initializing', result: '' };
  jobs: TaskJob[] = [];
  recoveries: RecoveryRecord[] = [];
  /** Progress of the current long step (not persisted; vdsm has none). */
  progress: { percent: number; step: string } | undefined;
  #host: TaskHost;
  #log: Logger;
  #error: unknown;
  #abortPending = false;
  #forceAbort = false;
  #busy = 0;
  #jobsHeld = false;
  #abortCallbacks = new Set<() => void>();
  #wantSeq = 0;
  #savedSeq = 0;
  #saving: Promise<void> | undefined;
  #waiters: { seq: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #doneWaiters: (() => void)[] = [];

  constructor(id: string, name: string, host: TaskHost) {
    this.id = id;
    this.name = name;
    this.#host = host;
    this.#log = host.log.child({ Task: id });
    this.#error = storageError(Errors.TASK_ABORTED, { value: 'Unknown error encountered' });
  }

  /** A task read back from its directory (TaskManager.loadDumpedTasks). */
  static fromRecord(rec: TaskRecord, host: TaskHost): Task {
    const t = new Task(rec.id, rec.name, host);
    Object.assign(t, {
      tag: rec.tag, store: rec.store, recoveryPolicy: rec.recoveryPolicy, persistPolicy: rec.persistPolicy,
      cleanPolicy: rec.cleanPolicy, priority: rec.priority, state: rec.state, result: { ...rec.result },
    });
    t.jobs = rec.jobs.map((j) => ({ name: j.name, runcmd: j.runcmd }));
    t.recoveries = rec.recoveries.map((r) => ({ ...r, params: [...r.params] }));
    return t;
  }

  record(): TaskRecord {
    return {
      id: this.id, name: this.name, tag: this.tag, store: this.store,
      recoveryPolicy: this.recoveryPolicy, persistPolicy: this.persistPolicy, cleanPolicy: this.cleanPolicy,
      priority: this.priority, state: this.state, metadataVersion: TASK_METADATA_VERSION,
      jobs: this.jobs.map((j) => ({ name: j.name, runcmd: j.runcmd })),
      recoveries: this.recoveries.map((r) => ({ ...r, params: [...r.params] })),
      result: { ...this.result },
    };
  }

  isDone(): boolean {
    return isDone(this.state);
  }

  aborting(): boolean {
    return this.#abortPending || this.state === S.aborting || this.state === S.raborting;
  }

  /** Resolves once the task reaches a done state. */
  whenDone(): Promise<void> {
    return this.isDone() ? Promise.resolve() : new Promise((r) => this.#doneWaiters.push(r));
  }

  // --- configuration, during prepare ------------------------------------------------------------

  setPersistence(store: string, persistPolicy: TaskPolicy = 'auto', cleanPolicy: TaskPolicy = 'auto'): Promise<void> {
    this.persistPolicy = persistPolicy;
    this.cleanPolicy = cleanPolicy;
    this.store = store;
    return this.#persist();
  }

  addJob(job: TaskJob): void {
    if (this.state !== S.preparing) throw new Error(`Task.addJob: can't add job in non preparing state (${this.state})`);
    if (this.jobs.some((j) => j.name === job.name)) throw new Error(`addJob: name '${job.name}' must be unique`);
    this.jobs.push(job);
  }

  /** Register a callback stop() runs; returns its remover. Runs at once when the task is aborting. */
  addAbortCallback(cb: () => void): () => void {
    if (this.aborting()) cb();
    else this.#abortCallbacks.add(cb);
    return () => this.#abortCallbacks.delete(cb);
  }

  /** Register a callback run by stop() while `fn` runs (vdsm's abort_callback context). */
  async withAbortCallback<T>(cb: () => void, fn: () => Promise<T>): Promise<T> {
    if (this.aborting()) cb();
    else this.#abortCallbacks.add(cb);
    try {
      return await fn();
    } finally {
      this.#abortCallbacks.delete(cb);
    }
  }

  async pushRecovery(rec: RecoveryRecord): Promise<void> {
    if (this.recoveries.some((r) => r.name === rec.name)) throw new Error(`pushRecovery: name '${rec.name}' must be unique`);
    this.recoveries.push(rec);
    await this.#persist(true);
  }

  async replaceRecoveries(rec: RecoveryRecord): Promise<void> {
    let popped: RecoveryRecord | undefined;
    do popped = this.recoveries.pop();
    while (popped !== undefined && popped.name !== ROLLBACK_SENTINEL);
    this.recoveries.push(rec);
    await this.#persist(true);
  }

  // --- the verb: vdsm's Task.prepare -------------------------------------------------------------

  /**
   * Run the verb's synchronous part. Returns its result (the task finishes), or {uuid} when it
   * scheduled jobs (the task is queued). A failure aborts the task and rethrows the verb's error.
   */
  async prepare(fn: (task: Task) => Promise<unknown> | unknown): Promise<unknown> {
    this.#busy++;
    try {
      await this.#update(S.preparing);
      let result: unknown;
      let failure: { code: number; message: string } | undefined;
      try {
        result = await fn(this);
      } catch (err) {
        this.#error = err;
        failure = errorInfo(err);
        this.#log.debug({ err: failure.message }, 'prepare failed - stopping task');
        await this.stop();
      }
      if (this.aborting()) {
        const f = failure ?? errorInfo(this.#error);
        this.#setResult(f.code, `Task prepare failed: ${f.message}`, '');
        throw this.#error;
      }
      if (this.jobs.length > 0) {
        await this.#update(S.acquiring);
        if (this.aborting()) throw this.#error;
        return { uuid: this.id };
      }
      this.#setResult(0, 'OK', result);
      await this.#update(S.finished);
      return result;
    } finally {
      await this.#leave();
    }
  }

  // --- jobs, driven by the pool ------------------------------------------------------------------

  /** The pool picked the task up (vdsm's commit). */
  async jobsStarted(): Promise<void> {
    if (this.isDone() || this.#jobsHeld) return;
    this.#busy++;
    this.#jobsHeld = true;
    // Stopped while it waited in the queue: the job is told to abort; the abort runs when it ends.
    if (this.aborting()) return;
    await this.#update(S.running);
  }

  jobStarted(index: number): void {
    this.progress = undefined;
    this.#setResult(0, `running job ${index + 1} of ${this.jobs.length}`, '');
  }

  /** The jobs ended; `err` when one failed or was stopped. */
  async jobsEnded(err: unknown, result?: unknown): Promise<void> {
    const held = this.#jobsHeld;
    this.#jobsHeld = false;
    try {
      if (this.isDone()) return;
      if (err === undefined && !this.aborting()) {
        this.#setResult(0, `${this.jobs.length} jobs completed successfully`, result ?? '');
        await this.#update(S.finished);
        return;
      }
      const info = err === undefined ? { code: Errors.TASK_ABORTED.vdsmCode, message: 'shutting down' } : errorInfo(err);
      if (err !== undefined) this.#error = err;
      this.#log.info({ code: info.code, err: info.message }, 'job failed - stopping task');
      this.#setResult(info.code, info.message, '');
      this.#abortPending = true;
    } finally {
      if (held) await this.#leave();
      else if (this.aborting() && this.#busy === 0 && !this.isDone()) await this.#doAbort(this.#forceAbort);
    }
  }

  // --- stop, revert, recover ---------------------------------------------------------------------

  /** vdsm's Task.stop: ignored when done, and while recovering unless forced (auto clean policy). */
  async stop(force = false): Promise<void> {
    if (this.isDone()) {
      this.#log.debug({ state: this.state }, 'Task already stopped, ignoring');
      return;
    }
    if (isRecovering(this.state) && !force && this.cleanPolicy === 'auto') {
      this.#log.debug({ state: this.state }, 'Task in recovery and force is false, ignoring');
      return;
    }
    this.#abortPending = true;
    this.#forceAbort = force;
    for (const cb of [...this.#abortCallbacks]) {
      try {
        cb();
      } catch (err) {
        this.#log.error({ err }, 'failure running abort callback');
      }
    }
    if (this.#busy === 0) await this.#doAbort(force);
  }

  /** Task.revert: run the recoveries of a finished task (403 unless it is done). */
  async rollback(): Promise<void> {
    if (this.recoveryPolicy === 'none') return;
    if (!this.isDone()) throw storageError(Errors.TASK_NOT_FINISHED, [`can't rollback in state ${this.state}`]);
    await this.#update(S.racquiring);
  }

  /** After a restart: done stays, interrupted work rolls back, waitrecover waits, a recovery restarts. */
  async recover(): Promise<void> {
    this.#busy++;
    try {
      if (this.isDone()) return;
      if (canAbort(this.state)) await this.stop();
      else if (this.state === S.waitrecover) return;
      else if (isRecovering(this.state)) await this.#update(S.racquiring, true);
      // Crashed in the middle of an abort: vdsm's stop(force) would leave these two for ever (neither
      // can be aborted again); carry the abort on instead.
      else if (this.state === S.aborting) await this.#enter(S.aborting);
      else if (this.state === S.raborting) await this.#update(S.failed);
      else await this.stop(true);
    } finally {
      await this.#leave();
    }
  }

  // --- API views ---------------------------------------------------------------------------------

  deprecatedStatus(): { taskID: string; taskState: DeprecatedTaskState; taskResult: ReturnType<typeof deprecatedResult>; code: number; message: string } {
    return { taskID: this.id, taskState: DEPRECATED_STATE[this.state], taskResult: deprecatedResult(this.state), code: this.result.code, message: this.result.message };
  }

  info(): { id: string; verb: string } {
    return { id: this.id, verb: this.name };
  }

  details(): Record<string, unknown> {
    return { id: this.id, verb: this.name, state: this.state, code: this.result.code, message: this.result.message, result: this.result.result, tag: this.tag };
  }

  /** Remove the persisted directory (Task.clear); refused (410) unless the task is done. */
  async clean(): Promise<void> {
    if (!this.isDone()) throw storageError(Errors.TASK_STATE, [`can't clean in state ${this.state}`]);
    if (this.store === null) return;
    await this.#flush();
    await this.#host.clean(this.store, this.id);
  }

  // --- internals ---------------------------------------------------------------------------------

  #setResult(code: number, message: string, result: unknown): void {
    this.result = { code, message, result: typeof result === 'string' ? result : JSON.stringify(result ?? '') };
  }

  async #leave(): Promise<void> {
    this.#busy--;
    if (this.#busy === 0 && this.aborting() && !this.isDone()) await this.#doAbort(this.#forceAbort);
  }

  async #doAbort(force: boolean): Promise<void> {
    if (this.isDone()) return;
    this.#busy++;
    try {
      if (canAbort(this.state)) await this.#update(S.aborting);
      else if (canAbortRecovery(this.state)) await this.#update(S.raborting);
      else this.#log.warn({ state: this.state, force }, 'Task._doAbort: ignoring');
    } catch (err) {
      this.#log.error({ err }, 'abort failed; failing the task');
      if (!this.isDone()) await this.#update(S.failed, true);
    } finally {
      this.#busy--;
    }
  }

  /** vdsm's _updateState: redirect to aborting while an abort is pending, persist, run the handler. */
  async #update(requested: TaskStateName, force = false): Promise<void> {
    const from = this.state;
    let to = requested;
    if (this.#abortPending) {
      if (canAbort(from)) to = S.aborting;
      else if (canAbortRecovery(from) && requested !== S.recovered) to = S.raborting;
    }
    this.#abortPending = false;
    checkMove(from, to, force);
    this.state = to;
    this.#log.debug({ from, to, requested }, 'task state');
    if (taskChannels.state.hasSubscribers) taskChannels.state.publish({ taskId: this.id, name: this.name, tag: this.tag, from, to });
    this.#persist().catch((err: unknown) => this.#log.warn({ err, state: to }, 'Task._updateState: failed persisting task'));
    await this.#enter(to);
  }

  async #enter(state: TaskStateName): Promise<void> {
    switch (state) {
      case S.acquiring:
        return this.#update(S.queued);
      case S.queued:
        try {
          this.#host.queue(this);
        } catch (err) {
          this.#error = err;
          const f = errorInfo(err);
          this.#setResult(f.code, f.message, '');
          await this.stop();
        }
        return;
      case S.aborting:
        if (this.recoveryPolicy === 'auto') return this.#update(S.racquiring);
        if (this.recoveryPolicy === 'none') return this.#update(S.failed);
        return this.#update(S.waitrecover);
      case S.racquiring:
        return this.#update(S.recovering);
      case S.recovering:
        return this.#recover();
      case S.raborting:
        return this.#update(S.failed);
      case S.finished:
      case S.recovered:
      case S.failed:
        return this.#done();
      default:
        return;
    }
  }

  async #recover(): Promise<void> {
    try {
      while (this.state === S.recovering) {
        const rec = this.recoveries.pop();
        if (rec === undefined) break;
        this.#log.debug({ recovery: rec.name }, 'running recovery');
        await this.#host.runRecovery(this, rec);
      }
    } catch (err) {
      this.#log.warn({ err }, 'task recovery failed');
      if (this.state === S.recovering) {
        await this.#update(S.raborting);
        return;
      }
    }
    if (this.state === S.recovering) await this.#update(S.recovered);
    else if (this.state === S.raborting) await this.#update(S.failed);
  }

  async #done(): Promise<void> {
    for (const r of this.#doneWaiters.splice(0)) r();
    if (this.cleanPolicy === 'auto') {
      await this.clean().catch((err: unknown) => this.#log.warn({ err }, 'task clean failed'));
    }
  }

  /**
   * Ask for a save of the current state. The promise resolves when a snapshot at least this new is
   * on disk; `strict` rejects it when that save failed (recoveries must not go on unpersisted).
   */
  #persist(strict = false): Promise<void> {
    if (this.persistPolicy !== 'auto' || this.store === null || this.state === S.init) return Promise.resolve();
    const seq = ++this.#wantSeq;
    const p = new Promise<void>((resolve, reject) => this.#waiters.push({ seq, resolve, reject }));
    this.#kick();
    return strict ? p : p.catch(() => undefined);
  }

  #kick(): void {
    if (this.#saving !== undefined || this.#savedSeq >= this.#wantSeq) return;
    const seq = this.#wantSeq;
    const snapshot = this.record();
    const settle = (err?: unknown): void => {
      this.#savedSeq = seq;
      const ready = this.#waiters.filter((w) => w.seq <= seq);
      this.#waiters = this.#waiters.filter((w) => w.seq > seq);
      for (const w of ready) {
        if (err === undefined) w.resolve();
        else w.reject(err);
      }
    };
    this.#saving = this.#host.save(snapshot).then(() => settle(), (err: unknown) => settle(err)).finally(() => {
      this.#saving = undefined;
      this.#kick();
    });
  }

  /** Resolves once every transition so far is on disk (or its save failed). */
  whenPersisted(): Promise<void> {
    return this.#flush();
  }

  /** Wait for every requested save (before clean removes the directory). */
  async #flush(): Promise<void> {
    while (this.#saving !== undefined) await this.#saving;
  }
}
