// Builds the storage task machinery for tests with real parts: an Executor whose worker threads run
// the storage operations (task persistence, recoveries), the Piscina task pool running the real job
// worker, and the TaskManager; plus waiting on task state events and a temporary directory.
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VdsmError } from '../../src/errors.js';
import { Executor } from '../../src/runtime/executor/executor.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { taskChannels, type TaskStateEvent } from '../../src/storage/task/task-events.js';
import { TaskManager } from '../../src/storage/task/task-manager.js';
import { TaskPool } from '../../src/storage/task/task-pool.js';
import { TaskStore } from '../../src/storage/task/task-store.js';
import type { RecoveryRecord } from '../../src/contracts/task-format.js';
import { captureLog, type LogLine } from '../runtime/capture-log.js';

/** The vdsm error code `fn` throws (a VdsmError, or the assertion fails). */
export function vdsmCodeOf(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VdsmError, `not a VdsmError: ${String(err)}`);
    return err.vdsmCode;
  }
  assert.fail('did not throw');
}

export const STORAGE_OPS = ['storage-tasks', 'storage-recovery', 'storage-domain', 'storage-volume'];

export interface TaskHarness {
  dir: string;
  executor: Executor;
  pool: TaskPool;
  store: TaskStore;
  manager: TaskManager;
  lines: LogLine[];
  transitions: TaskStateEvent[];
  /** Resolves when task `id` entered `state` (now or later). */
  reached(id: string, state: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

let seq = 0;

export async function taskHarness(opts: { threads?: number; maxTasks?: number; domains?: () => Record<string, string> } = {}): Promise<TaskHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-storage-'));
  const { log, lines } = captureLog('debug');
  const scheduler = new Scheduler({ log });
  scheduler.start();
  const executor = new Executor({
    name: `storage-test-${process.pid}-${++seq}`, workersCount: 2, maxWorkers: 6, maxTasks: 200,
    scheduler, log, opsModules: STORAGE_OPS, workerLogLevel: 'warn',
  });
  executor.start();
  const pool = new TaskPool({ threads: opts.threads ?? 2, maxTasks: opts.maxTasks ?? 20, log, stopGraceMs: 2000 });
  pool.start();
  const store = new TaskStore(executor, 30_000);
  const runRecovery = (_t: unknown, rec: RecoveryRecord): Promise<void> =>
    executor.dispatch('storage.recover', { rec, domains: opts.domains?.() ?? {} }, { timeoutMs: 30_000, discard: true }).then(() => undefined);
  const manager = new TaskManager({ pool, store, runRecovery, log });
  const transitions: TaskStateEvent[] = [];
  const waiters: { id: string; state: string; resolve: () => void }[] = [];
  const onState = (m: unknown): void => {
    const e = m as TaskStateEvent;
    transitions.push(e);
    for (const w of [...waiters]) {
      if (w.id === e.taskId && w.state === e.to) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  diagnostics_channel.subscribe(taskChannels.state.name, onState);
  return {
    dir, executor, pool, store, manager, lines, transitions,
    reached(id, state, timeoutMs = 20_000) {
      if (transitions.some((e) => e.taskId === id && e.to === state)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`task ${id} did not reach ${state} in ${timeoutMs} ms; seen: ${transitions.filter((e) => e.taskId === id).map((e) => e.to).join(' ')}`)), timeoutMs);
        waiters.push({ id, state, resolve: () => { clearTimeout(t); resolve(); } });
      });
    },
    async close() {
      diagnostics_channel.unsubscribe(taskChannels.state.name, onState);
      await pool.stop();
      await executor.stop({ graceMs: 2000 });
      scheduler.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
