// vdsm's TaskManager (lib/vdsm/storage/taskManager.py): every storage verb runs as a Task; a verb that
// schedules a job returns the task id at once and the job runs on the HSM pool; tasks are listed,
// stopped, reverted and cleared by id; SPM tasks persist in the pool's master/tasks and are loaded
// and recovered when the host becomes SPM.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Errors, storageError } from '../../errors.js';
import { validTaskId, type RecoveryRecord } from '../../contracts/task-format.js';
import { taskChannels } from './task-events.js';
import type { TaskPool } from './task-pool.js';
import type { TaskStore } from './task-store.js';
import { Task, type MainJobContext, type TaskHost, type TaskJob } from './task.js';

export interface TaskManagerOptions {
  pool: TaskPool;
  store: TaskStore;
  /** Run one recovery of `task` (a worker operation with the domain directories it needs). */
  runRecovery: (task: Task, rec: RecoveryRecord) => Promise<void>;
  log: Logger;
  /** Log progress of long jobs at most this often ([irs] progress_interval; default 30 s). */
  progressLogMs?: number;
}

export type TaskStatus = ReturnType<Task['deprecatedStatus']>;

export class TaskManager {
  #o: TaskManagerOptions;
  #tasks = new Map<string, Task>();
  #unqueued: Task[] = [];
  #host: TaskHost;
  #lastProgressLog = new Map<string, number>();

  constructor(opts: TaskManagerOptions) {
    this.#o = opts;
    this.#host = {
      log: opts.log.child({ name: 'storage.taskmanager.task' }),
      save: (rec) => opts.store.save(rec),
      clean: (store, id) => opts.store.clean(store, id),
      runRecovery: (task, rec) => opts.runRecovery(task, rec),
      queue: (task) => this.queue(task),
    };
  }

  /**
   * Run a verb inside a fresh task (vdsm's dispatcher): its result, or {uuid} when it scheduled a job.
   * Errors are the verb's own (a catalogued storage error with vdsm's code).
   */
  run<T = unknown>(name: string, fn: (task: Task) => Promise<T> | T): Promise<T> {
    return new Task(randomUUID(), name, this.#host).prepare(fn) as Promise<T>;
  }

  /** Run a verb that schedules a job (SPM verbs): resolves with the task id as soon as it is queued. */
  async schedule(name: string, fn: (task: Task) => Promise<void> | void): Promise<string> {
    const r = (await this.run<unknown>(name, fn)) as { uuid?: unknown } | undefined;
    if (typeof r?.uuid !== 'string') throw new Error(`${name} scheduled no job`);
    return r.uuid;
  }

  /** vdsm's scheduleJob: tag the task, persist it in `store` (clean policy manual), auto recovery, one job. */
  async scheduleJob(task: Task, tag: string, store: string | null, job: TaskJob): Promise<void> {
    if (tag.includes('=')) throw new Error(`tag cannot include =: ${tag}`);
    task.tag = tag;
    task.recoveryPolicy = 'auto';
    task.addJob(job);
    if (store !== null) {
      await this.#o.store.createDir(store, task.id);
      await task.setPersistence(store, 'auto', 'manual');
    }
  }

  /** Register the task and hand its jobs to the pool (TASK_ADD when the id is taken or the pool is full). */
  queue(task: Task): void {
    if (this.#tasks.has(task.id)) throw storageError(Errors.TASK_ADD, [`Task id already in use: ${task.id}`]);
    this.#tasks.set(task.id, task);
    try {
      this.#submit(task);
    } catch (err) {
      this.#tasks.delete(task.id);
      throw err;
    }
  }

  #submit(task: Task): void {
    const calls = task.jobs.flatMap((j) => (j.call ? [j.call] : []));
    const mains = task.jobs.flatMap((j) => (j.main ? [j.main] : []));
    if (calls.length > 0 && mains.length > 0) throw new Error(`task ${task.id}: worker and main-thread jobs cannot be mixed`);
    if (calls.length + mains.length !== task.jobs.length) throw new Error(`task ${task.id}: a job without a body`);
    const ended = (err: unknown, result?: unknown): void => {
      this.#lastProgressLog.delete(task.id);
      task.jobsEnded(err, result).catch((e: unknown) => this.#o.log.error({ err: e, taskId: task.id }, 'task end handling failed'));
    };
    if (mains.length > 0) {
      const ctx: MainJobContext = {
        task,
        pushRecovery: (rec) => task.pushRecovery(rec),
        progress: (percent, step) => this.#progress(task, percent, step),
      };
      this.#o.pool.runMain(task.id, async () => {
        await task.jobsStarted();
        let result: unknown;
        for (const [i, fn] of mains.entries()) {
          task.jobStarted(i);
          result = await fn(ctx);
        }
        return result;
      }).then((r) => ended(undefined, r), (err: unknown) => ended(err));
      return;
    }
    const handle = this.#o.pool.submit(task.id, calls, {
      onStart: () => {
        task.jobsStarted().catch((err: unknown) => this.#o.log.error({ err, taskId: task.id }, 'task start handling failed'));
      },
      onJob: (i) => task.jobStarted(i),
      onRecovery: (action, rec) => (action === 'push' ? task.pushRecovery(rec) : task.replaceRecoveries(rec)),
      onProgress: (percent, step) => this.#progress(task, percent, step),
      onChild: (pid, running) => this.#o.log.debug({ taskId: task.id, pid, running }, 'storage job child process'),
    });
    const remove = task.addAbortCallback(() => handle.stop());
    handle.done.then((r) => {
      remove();
      ended(undefined, r);
    }, (err: unknown) => {
      remove();
      ended(err);
    });
  }

  #progress(task: Task, percent: number, step: string): void {
    task.progress = { percent, step };
    if (taskChannels.progress.hasSubscribers) taskChannels.progress.publish({ taskId: task.id, name: task.name, percent, step });
    const now = Date.now();
    const last = this.#lastProgressLog.get(task.id) ?? 0;
    if (now - last >= (this.#o.progressLogMs ?? 30_000) || percent >= 100) {
      this.#lastProgressLog.set(task.id, now);
      this.#o.log.info({ taskId: task.id, verb: task.name, step, percent: Math.round(percent * 100) / 100 }, 'storage task progress');
    }
  }

  /** vdsm's _getTask: 1000 for a malformed id, 401 for an unknown one. */
  get(taskID: unknown): Task {
    if (!validTaskId(taskID)) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `taskID=${String(taskID)}` });
    const t = this.#tasks.get(taskID);
    if (t === undefined) throw storageError(Errors.TASK_UNKNOWN, [taskID]);
    return t;
  }

  getTaskStatus(taskID: unknown): TaskStatus {
    return this.get(taskID).deprecatedStatus();
  }

  getTaskInfo(taskID: unknown): { id: string; verb: string } {
    return this.get(taskID).info();
  }

  getAllTasksStatuses(tag?: string): Record<string, TaskStatus> {
    return Object.fromEntries(this.#select(tag).map((t) => [t.id, t.deprecatedStatus()]));
  }

  getAllTasksInfo(tag?: string): Record<string, { id: string; verb: string }> {
    return Object.fromEntries(this.#select(tag).map((t) => [t.id, t.info()]));
  }

  getAllTasks(): Record<string, Record<string, unknown>> {
    return Object.fromEntries([...this.#tasks.values()].map((t) => [t.id, t.details()]));
  }

  #select(tag: string | undefined): Task[] {
    // vdsm: `tag in task.getTags()`, a substring test on the tag string.
    return [...this.#tasks.values()].filter((t) => !tag || t.tag.includes(tag));
  }

  tasks(tag?: string): Task[] {
    return this.#select(tag);
  }

  async stopTask(taskID: unknown, force = false): Promise<true> {
    await this.get(taskID).stop(force);
    return true;
  }

  async revertTask(taskID: unknown): Promise<void> {
    await this.get(taskID).rollback();
  }

  /** Task.clear: 410 unless done; removes the persisted directory, then forgets the task. */
  async clearTask(taskID: unknown): Promise<void> {
    const t = this.get(taskID);
    await t.clean();
    this.#tasks.delete(t.id);
  }

  /** Forget tasks with this tag (SPM stop). */
  unloadTasks(tag?: string): void {
    for (const t of this.#select(tag)) this.#tasks.delete(t.id);
  }

  /** Read every task persisted under `store` (the SPM's master/tasks); they wait for recoverDumpedTasks. */
  async loadDumpedTasks(store: string): Promise<string[]> {
    const { records, errors } = await this.#o.store.loadAll(store);
    for (const e of errors) this.#o.log.error({ store, err: e }, 'taskManager: Skipping directory');
    for (const rec of records) {
      const t = Task.fromRecord({ ...rec, store }, this.#host);
      this.#unqueued.push(t);
    }
    return records.map((r) => r.id);
  }

  /** Recover the loaded tasks; resolves when each has reached its resting state. */
  async recoverDumpedTasks(): Promise<void> {
    const pending = this.#unqueued.splice(0);
    await Promise.all(pending.map(async (t) => {
      if (this.#tasks.has(t.id)) {
        this.#o.log.error({ taskId: t.id }, 'could not queue recovery: task id already in use');
        return;
      }
      this.#tasks.set(t.id, t);
      try {
        this.#o.log.info({ taskId: t.id, verb: t.name, state: t.state }, 'recovering dumped task');
        await t.recover();
      } catch (err) {
        this.#o.log.error({ err, taskId: t.id }, 'task recovery failed');
      }
    }));
  }

  state(): Record<string, unknown> {
    const byState: Record<string, number> = {};
    for (const t of this.#tasks.values()) byState[t.state] = (byState[t.state] ?? 0) + 1;
    return { tasks: this.#tasks.size, byState, pool: this.#o.pool.state() };
  }
}
