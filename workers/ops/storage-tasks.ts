// Worker operations that persist storage tasks in vdsm's layout: <store>/<id>/ swapped in atomically
// (write <id>.temp/, fsync, rename <id> -> <id>.backup, <id>.temp -> <id>, remove the backup, fsync the
// store), loaded preferring <id>, then <id>.temp, then <id>.backup, as vdsm's Task.loadTask does.
import { readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Errors, errorMessage, storageError } from '../../src/errors.js';
import { BACKUP_EXT, TEMP_EXT, type LoadedTaskDir } from '../../src/contracts/task-format.js';
import { cleanupDir, ensureDir, exists, fsyncPath, isNoSpace, listDir, writeFileDurable } from '../storage/durable-files.js';
import type { AreaOps } from '../../src/contracts/operations.js';
import type { TaskSaveArgs } from '../../src/contracts/storage-ops.js';

function save(a: TaskSaveArgs): void {
  const orig = join(a.store, a.id);
  const temp = orig + TEMP_EXT;
  const backup = orig + BACKUP_EXT;
  try {
    ensureDir(a.store);
    if (!exists(orig)) ensureDir(orig);
    cleanupDir(temp);
    ensureDir(temp);
    for (const [name, text] of Object.entries(a.files)) writeFileDurable(join(temp, name), text, 0o644);
    fsyncPath(temp);
    cleanupDir(backup);
    renameSync(orig, backup);
    renameSync(temp, orig);
    cleanupDir(backup);
    fsyncPath(a.store);
  } catch (err) {
    cleanupDir(temp);
    // A crash between the two renames leaves only <id>.backup: loading falls back to it.
    if (!exists(orig) && exists(backup)) renameSync(backup, orig);
    const why = isNoSpace(err) ? 'no space left on the task store' : errorMessage(err);
    throw storageError(Errors.TASK_PERSIST, [`${a.id} persist failed: ${why}`], { cause: err });
  }
}

function readDir(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of listDir(dir)) files[name] = readFileSync(join(dir, name), 'utf8');
  return files;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function loadAll(a: { store: string }): { tasks: LoadedTaskDir[]; errors: string[] } {
  const tasks: LoadedTaskDir[] = [];
  const errors: string[] = [];
  // The task id is the root of each <root>.<ext> entry (vdsm: os.path.splitext).
  const ids = new Set(listDir(a.store).map((n) => (n.lastIndexOf('.') > 0 ? n.slice(0, n.lastIndexOf('.')) : n)));
  for (const id of [...ids].sort()) {
    const ext = ['', TEMP_EXT, BACKUP_EXT].find((e) => isDir(join(a.store, id + e)));
    if (ext === undefined) {
      errors.push(`${id}: no task directory`);
      continue;
    }
    try {
      tasks.push({ id, ext, files: readDir(join(a.store, id + ext)) });
    } catch (err) {
      errors.push(`${id}: ${errorMessage(err)}`);
    }
  }
  return { tasks, errors };
}

export const ops: AreaOps<'storage-tasks'> = {
  'storage.taskSave': (args) => {
    save(args);
    return true;
  },
  'storage.taskLoadAll': (args) => loadAll(args),
  'storage.taskClean': (args) => {
    const { store, id } = args;
    for (const ext of ['', TEMP_EXT, BACKUP_EXT]) cleanupDir(join(store, id + ext));
    return true;
  },
  'storage.taskCreateDir': (args) => {
    const { store, id } = args;
    try {
      ensureDir(join(store, id));
    } catch (err) {
      throw storageError(Errors.TASK_PERSIST, [`${id}: cannot access/create taskdir ${join(store, id)}: ${errorMessage(err)}`], { cause: err });
    }
    return true;
  },
};
