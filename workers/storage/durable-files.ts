// Synchronous, crash-safe file primitives for the storage operations (worker threads only): write to
// a temporary name, fsync, rename over, fsync the directory. A storage call that hangs blocks only
// the worker thread running it; the Executor discards that thread after its timeout.
import { closeSync, constants, fchmodSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync, lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { storageError } from '../../src/errors.js';

export function fsyncPath(path: string): void {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Write `data` to `path` and fsync it (the file is created or truncated, with exactly `mode`). */
export function writeFileDurable(path: string, data: string | Buffer, mode = 0o644): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
  try {
    // Not the umask's: qemu (group kvm) must read volumes and their metadata (vdsm chmods too).
    fchmodSync(fd, mode);
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replace `path` atomically: write <path>.new, fsync, rename, fsync the directory. */
export function replaceFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  const tmp = `${path}.new`;
  writeFileDurable(tmp, data, mode);
  renameSync(tmp, path);
  fsyncPath(dirname(path));
}

export function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** mkdir -p that tolerates an existing directory. */
export function ensureDir(path: string, mode = 0o755): void {
  mkdirSync(path, { recursive: true, mode });
}

/** rm -rf that tolerates a missing path (vdsm's fileUtils.cleanupdir). */
export function cleanupDir(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

export function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** ENOSPC / EDQUOT: the storage is full. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Turn an OS error into a catalogued storage error (keeping catalogued errors as they are). */
export function asStorageError(err: unknown, fallback: Parameters<typeof storageError>[0], what: string): Error {
  if (typeof err === 'object' && err !== null && typeof (err as { vdsmCode?: unknown }).vdsmCode === 'number') return err as Error;
  const e = err as NodeJS.ErrnoException;
  return storageError(fallback, [`${what}: ${e?.code ? `${e.code} ${e.message}` : String(err)}`], { cause: err });
}

