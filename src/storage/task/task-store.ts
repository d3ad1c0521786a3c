// Persistence of storage tasks, on the main thread's side: each call is one Executor operation
// (workers/ops/storage-tasks.ts), so a task store on a storage that hangs costs a worker thread, which
// the Executor discards after the storage timeout, never the main loop.
import type { Dispatcher } from '../../contracts/dispatcher.js';
import type { OpArgs, OpName, OpResult } from '../../contracts/operations.js';
import { parseTaskFiles, taskFiles, type TaskRecord } from '../../contracts/task-format.js';
import { errorMessage } from '../../errors.js';

export class TaskStore {
  #d: Dispatcher;
  #timeoutMs: number;

  constructor(dispatcher: Dispatcher, timeoutMs: number) {
    this.#d = dispatcher;
    this.#timeoutMs = timeoutMs;
  }

  #call<K extends OpName>(op: K, args: OpArgs<K>): Promise<OpResult<K>> {
    return this.#d.dispatch(op, args, { timeoutMs: this.#timeoutMs, discard: true });
  }

  async save(rec: TaskRecord): Promise<void> {
    if (rec.store === null) return;
    await this.#call('storage.taskSave', { store: rec.store, id: rec.id, files: taskFiles(rec) });
  }

  async createDir(store: string, id: string): Promise<void> {
    await this.#call('storage.taskCreateDir', { store, id });
  }

  async clean(store: string, id: string): Promise<void> {
    await this.#call('storage.taskClean', { store, id });
  }

  /** Every task directory under `store`, parsed; unreadable ones are reported, not thrown. */
  async loadAll(store: string): Promise<{ records: TaskRecord[]; errors: string[] }> {
    const { tasks, errors } = await this.#call('storage.taskLoadAll', { store });
    const records: TaskRecord[] = [];
    for (const t of tasks) {
      try {
        records.push({ ...parseTaskFiles(t.id, t.files), store });
      } catch (err) {
        errors.push(`${t.id}${t.ext}: ${errorMessage(err)}`);
      }
    }
    return { records, errors };
  }
}
