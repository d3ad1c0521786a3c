// The daemons' single-instance lock: an exclusive flock on <dir>/<program>.lock (vdsmd.lock,
// supervdsmd.lock) holding the owner's pid. Two agents on the same run (or state) directory would both
// adopt the same VMs and fight over the same sockets; the second one must refuse to start and say who is
// running. The kernel releases a flock when its holder dies, so a crash never leaves a lock that blocks
// the next start.
import { constants, openSync, readFileSync, ftruncateSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { tryLock } from '../native-sys.js';

export const LOCK_FILE_NAME = 'vdsmd.lock';

/** The daemons that lock a directory: vdsmd, and supervdsmd (the privileged helper). */
export type LockingProgram = 'vdsmd' | 'supervdsmd';

export interface InstanceLock {
  readonly path: string;
  readonly fd: number;
}

/** Another process holds the lock. `pid` is what that process wrote (undefined when unreadable). */
export class InstanceLockedError extends Error {
  readonly code = 'ERR_INSTANCE_LOCKED';
  constructor(readonly path: string, readonly pid: number | undefined, program: LockingProgram = 'vdsmd') {
    super(pid !== undefined
      ? `another ${program} (pid ${pid}) is running on this directory: it holds ${path}`
      : `another ${program} is running on this directory: it holds ${path}`);
  }
}

/** The pid recorded in a lock file, or undefined. */
export function lockOwner(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Take the lock in `dir` (which must exist) and record `pid` in it, or throw InstanceLockedError.
 * Synchronous on purpose: it runs once at start-up, before the agent serves anything. The descriptor
 * stays open for the life of the process; release() is for tests and in-process restarts.
 */
export function acquireInstanceLock(dir: string, pid = process.pid, program: LockingProgram = 'vdsmd'): InstanceLock {
  const path = join(dir, `${program}.lock`);
  // libuv opens with O_CLOEXEC: children (systemd-notify, openssl) do not inherit the lock.
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  let taken = false;
  try {
    taken = tryLock(fd);
  } finally {
    if (!taken) closeSync(fd);
  }
  if (!taken) throw new InstanceLockedError(path, lockOwner(path), program);
  ftruncateSync(fd, 0);
  writeSync(fd, `${pid}\n`, 0);
  return { path, fd };
}

/** Give the lock up (the file stays; its content no longer matters once unlocked). */
export function releaseInstanceLock(lock: InstanceLock): void {
  closeSync(lock.fd);
}

/** Whether some process holds the lock in `dir` right now (used by `vdsm-tool configure`). */
export function instanceRunning(dir: string, program: LockingProgram = 'vdsmd'): { running: boolean; pid?: number } {
  const path = join(dir, `${program}.lock`);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch {
    return { running: false };
  }
  try {
    if (tryLock(fd)) return { running: false };
    const pid = lockOwner(path);
    return pid === undefined ? { running: true } : { running: true, pid };
  } finally {
    closeSync(fd);
  }
}
