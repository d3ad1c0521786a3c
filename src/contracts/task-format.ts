// The on-disk form of a storage task, byte-compatible with vdsm (lib/vdsm/storage/task.py): under
// <store>/<taskId>/ the files <id>.task, <id>.job.<n>, <id>.recover.<n> and, once finished, <id>.result,
// each made of "key = value" lines with '=' inside keys and values written as "_eq_". Pure functions:
// the worker that writes the files and the main thread that builds the records both use them.

/** vdsm's task states (task.py State); the transitions between them live in src/storage/task/task-state.ts. */
export const TaskState = {
  unknown: 'unknown',
  init: 'init',
  preparing: 'preparing',
  blocked: 'blocked',
  acquiring: 'acquiring',
  queued: 'queued',
  running: 'running',
  finished: 'finished',
  aborting: 'aborting',
  waitrecover: 'waitrecover',
  recovering: 'recovering',
  racquiring: 'racquiring',
  raborting: 'raborting',
  recovered: 'recovered',
  failed: 'failed',
} as const;
export type TaskStateName = typeof TaskState[keyof typeof TaskState];

export function isTaskState(v: unknown): v is TaskStateName {
  return typeof v === 'string' && Object.hasOwn(TaskState, v);
}

/** Recovery, persistence and clean policies (task.py TaskRecoveryType, TaskPersistType, TaskCleanType). */
export type TaskPolicy = 'none' | 'manual' | 'auto';
export const isPolicy = (v: unknown): v is TaskPolicy => v === 'none' || v === 'manual' || v === 'auto';
export type TaskPriority = 'low' | 'medium' | 'high';

export const TASK_EXT = '.task';
export const JOB_EXT = '.job';
export const RECOVER_EXT = '.recover';
export const RESULT_EXT = '.result';
export const BACKUP_EXT = '.backup';
export const TEMP_EXT = '.temp';
export const TASK_METADATA_VERSION = 1;

const KEY_SEPARATOR = '=';
const KEY_SEPARATOR_ENCODED = '_eq_';

export interface JobRecord {
  name: string;
  runcmd: string;
}

/** A persisted recovery: vdsm runs <moduleName>.<object>.<function>(task, *params); all params are strings. */
export interface RecoveryRecord {
  name: string;
  moduleName: string;
  object: string;
  function: string;
  params: string[];
}

export interface TaskResultRecord {
  code: number;
  message: string;
  result: string;
}

export interface TaskRecord {
  id: string;
  name: string;
  tag: string;
  /** Where the task persists itself; null for a task that does not (vdsm writes "None"). */
  store: string | null;
  recoveryPolicy: TaskPolicy;
  persistPolicy: TaskPolicy;
  cleanPolicy: TaskPolicy;
  priority: TaskPriority;
  state: TaskStateName;
  metadataVersion: number;
  jobs: JobRecord[];
  recoveries: RecoveryRecord[];
  /** Written only in state finished (vdsm keeps the result of a finished task only). */
  result: TaskResultRecord;
}

/** A task directory as read back by the worker, before parsing. */
export interface LoadedTaskDir {
  id: string;
  /** '' for the plain directory, '.temp' or '.backup' when only those survived a crash. */
  ext: string;
  files: Record<string, string>;
}

/** vdsm's _eq_encode: undefined when the text already holds "_eq_" (vdsm skips such a field). */
function encode(s: string): string | undefined {
  if (s.includes(KEY_SEPARATOR_ENCODED)) return undefined;
  // One value per line: a newline inside a message would split it (vdsm would write it raw and lose it).
  return s.replace(/\r?\n/g, ' ').split(KEY_SEPARATOR).join(KEY_SEPARATOR_ENCODED);
}

const decode = (s: string): string => s.split(KEY_SEPARATOR_ENCODED).join(KEY_SEPARATOR);

function dump(fields: readonly [string, string][]): string {
  const lines: string[] = [];
  for (const [k, v] of fields) {
    const ek = encode(k);
    const ev = encode(v);
    if (ek === undefined || ev === undefined) continue;
    lines.push(`${ek} ${KEY_SEPARATOR} ${ev}\n`);
  }
  return lines.join('');
}

/** Parse "key = value" lines as vdsm's _loadMetaFile does: a line with more than one '=' is ignored. */
export function parseMetaFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.includes(KEY_SEPARATOR)) continue;
    const parts = line.split(KEY_SEPARATOR);
    if (parts.length !== 2) continue;
    out.set(decode(parts[0]!.trim()), decode(parts[1]!.trim()));
  }
  return out;
}

/** The files of a task directory, by file name, in vdsm's format and field order. */
export function taskFiles(t: TaskRecord): Record<string, string> {
  const files: Record<string, string> = {};
  files[t.id + TASK_EXT] = dump([
    ['id', t.id],
    ['name', t.name],
    ['tag', t.tag],
    ['store', t.store ?? 'None'],
    ['recoveryPolicy', t.recoveryPolicy],
    ['persistPolicy', t.persistPolicy],
    ['cleanPolicy', t.cleanPolicy],
    ['priority', t.priority],
    ['state', t.state],
    ['njobs', String(t.jobs.length)],
    ['nrecoveries', String(t.recoveries.length)],
    ['metadataVersion', String(t.metadataVersion)],
  ]);
  if (t.state === 'finished') {
    files[t.id + RESULT_EXT] = dump([['code', String(t.result.code)], ['message', t.result.message], ['result', t.result.result]]);
  }
  t.jobs.forEach((j, n) => {
    files[`${t.id}${JOB_EXT}.${n}`] = dump([['name', j.name], ['runcmd', j.runcmd]]);
  });
  t.recoveries.forEach((r, n) => {
    files[`${t.id}${RECOVER_EXT}.${n}`] = dump([
      ['name', r.name], ['moduleName', r.moduleName], ['object', r.object], ['function', r.function], ['params', r.params.join(',')],
    ]);
  });
  return files;
}

export class TaskFormatError extends Error {
  override readonly name = 'TaskFormatError';
}

function int(v: string | undefined, what: string): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < 0) throw new TaskFormatError(`${what}: not a count: ${String(v)}`);
  return n;
}

/** Rebuild a record from the files of one task directory (vdsm's Task._load). */
export function parseTaskFiles(id: string, files: Readonly<Record<string, string>>): TaskRecord {
  const main = files[id + TASK_EXT];
  if (main === undefined) throw new TaskFormatError(`${id}${TASK_EXT} missing`);
  const f = parseMetaFile(main);
  if (f.get('id') !== id) throw new TaskFormatError(`task ${id}: loaded file does not match id (${String(f.get('id'))} != ${id})`);
  const state = f.get('state') ?? 'unknown';
  const pol = (k: string, d: TaskPolicy): TaskPolicy => {
    const v = f.get(k);
    return isPolicy(v) ? v : d;
  };
  const priority = f.get('priority');
  const store = f.get('store');
  const rec: TaskRecord = {
    id,
    name: f.get('name') ?? '',
    tag: f.get('tag') ?? '',
    store: store === undefined || store === 'None' ? null : store,
    recoveryPolicy: pol('recoveryPolicy', 'none'),
    persistPolicy: pol('persistPolicy', 'none'),
    cleanPolicy: pol('cleanPolicy', 'auto'),
    priority: priority === 'medium' || priority === 'high' ? priority : 'low',
    // vdsm's State() falls back to unknown for a name it does not know.
    state: isTaskState(state) ? state : 'unknown',
    metadataVersion: Number(f.get('metadataVersion') ?? 1),
    jobs: [],
    recoveries: [],
    result: { code: 0, message: 'Task is initializing', result: '' },
  };
  if (rec.state === 'finished') {
    const r = files[id + RESULT_EXT];
    if (r === undefined) throw new TaskFormatError(`${id}${RESULT_EXT} missing for a finished task`);
    const rf = parseMetaFile(r);
    rec.result = { code: Number(rf.get('code') ?? 0), message: rf.get('message') ?? '', result: rf.get('result') ?? '' };
  }
  for (let n = 0; n < int(f.get('njobs') ?? '0', 'njobs'); n++) {
    const j = files[`${id}${JOB_EXT}.${n}`];
    if (j === undefined) throw new TaskFormatError(`${id}${JOB_EXT}.${n} missing`);
    const jf = parseMetaFile(j);
    rec.jobs.push({ name: jf.get('name') ?? 'load', runcmd: jf.get('runcmd') ?? '' });
  }
  for (let n = 0; n < int(f.get('nrecoveries') ?? '0', 'nrecoveries'); n++) {
    const r = files[`${id}${RECOVER_EXT}.${n}`];
    if (r === undefined) throw new TaskFormatError(`${id}${RECOVER_EXT}.${n} missing`);
    const rf = parseMetaFile(r);
    const params = rf.get('params') ?? '';
    rec.recoveries.push({
      name: rf.get('name') ?? 'load',
      moduleName: rf.get('moduleName') ?? 'load',
      object: rf.get('object') ?? 'load',
      function: rf.get('function') ?? 'load',
      params: params === '' ? [] : params.split(',').map((p) => p.trim()),
    });
  }
  return rec;
}

/** vdsm's Task.validateID: empty ids and ids with '.' (the temp/backup suffix) are invalid. */
export function validTaskId(id: unknown): id is string {
  return typeof id === 'string' && id !== '' && !id.includes('.');
}
