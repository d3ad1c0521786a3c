// The filesystem steps a supervdsm function may take, as calls to the helper's Executor: each runs in a
// worker thread (workers/ops/supervdsm.ts), with the call's remaining time as its timeout; a step that
// outlives it fails the call and its worker is discarded and replaced, so the helper keeps serving.
import type { Dispatcher } from '../contracts/dispatcher.js';
import type { OpArgs, OpResult } from '../contracts/operations.js';
import type { OwnerMode, SupervdsmOps } from '../contracts/supervdsm-ops.js';

export interface HelperFs {
  /** Write to an existing file under `roots` (a sysfs attribute). */
  write(path: string, roots: readonly string[], data: string): Promise<{ written: number }>;
  read(path: string, roots: readonly string[], maxBytes?: number): Promise<string>;
  /** Create or atomically replace `dir/name` (dir may be a root itself). */
  replace(dir: string, roots: readonly string[], name: string, data: string, mode?: number): Promise<{ path: string }>;
  unlink(dir: string, roots: readonly string[], name: string): Promise<{ existed: boolean }>;
  list(dir: string, roots: readonly string[]): Promise<string[]>;
  socketAccess(path: string, roots: readonly string[], opts: { gid?: number; groupWrite: boolean }): Promise<{ path: string; before: OwnerMode; after: OwnerMode }>;
  stat(path: string, roots: readonly string[]): Promise<{ path: string; kind: string } & OwnerMode>;
  triggerDevice(path: string, roots: readonly string[], action: 'change' | 'add'): Promise<{ device: string; syspath: string; major: number; minor: number; action: string }>;
}

/** A HelperFs whose every step is bounded by `remainingMs()` at the time it is dispatched. */
export function executorFs(executor: Dispatcher, remainingMs: () => number): HelperFs {
  const call = <K extends keyof SupervdsmOps>(op: K, args: OpArgs<K>): Promise<OpResult<K>> =>
    executor.dispatch(op, args, { timeoutMs: Math.max(1, remainingMs()), discard: true });
  return {
    write: (path, roots, data) => call('svdsm.write', { path, roots: [...roots], data }),
    read: (path, roots, maxBytes = 64 * 1024) => call('svdsm.read', { path, roots: [...roots], maxBytes }),
    replace: (dir, roots, name, data, mode = 0o644) => call('svdsm.replace', { dir, roots: [...roots], name, data, mode }),
    unlink: (dir, roots, name) => call('svdsm.unlink', { dir, roots: [...roots], name }),
    list: (dir, roots) => call('svdsm.list', { dir, roots: [...roots] }),
    socketAccess: (path, roots, opts) => call('svdsm.socketAccess', {
      path, roots: [...roots], groupWrite: opts.groupWrite, ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    }),
    stat: (path, roots) => call('svdsm.stat', { path, roots: [...roots] }),
    triggerDevice: (path, roots, action) => call('svdsm.triggerDevice', { path, roots: [...roots], action }),
  };
}
