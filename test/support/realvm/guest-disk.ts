// A small empty qcow2 image for the tiny guest's virtio disk, so bulk stats carry block.* counters.

import { execFile } from 'node:child_process';
import { chown } from 'node:fs/promises';
import { promisify } from 'node:util';
import { errorMessage, Errors, vdsmError } from '../../../src/errors.js';

const execFileAsync = promisify(execFile);

export interface GuestDiskOptions {
  readonly sizeMiB?: number;
  readonly qemuImg?: string;
  /** Hand the image to this uid/gid (the session daemon's user must open it read-write). */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

/** `qemu-img create -f qcow2 PATH SIZE`; the image starts with no allocated clusters. */
export async function createGuestDisk(path: string, options: GuestDiskOptions = {}): Promise<string> {
  const size = `${options.sizeMiB ?? 64}M`;
  try {
    await execFileAsync(options.qemuImg ?? 'qemu-img', ['create', '-q', '-f', 'qcow2', path, size], { timeout: 30000 });
  } catch (err) {
    const stderr = (err as { stderr?: unknown }).stderr;
    throw vdsmError(Errors.UNAVAILABLE, `qemu-img create ${path}: ${String(stderr ?? '').trim() || errorMessage(err)}`, { cause: err });
  }
  if (options.owner !== undefined) await chown(path, options.owner.uid, options.owner.gid);
  return path;
}
