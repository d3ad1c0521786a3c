// Which scripts a hook point runs, as vdsm picks them: the regular files of <hooksDir>/<hook point>/ that
// this process may execute, in the order of their names (byte order, as Python's list.sort of str).
// Directories, symlinks to nothing, and files without the execute bit are skipped (vdsm installs its
// hooks 0755; a README or a disabled script left 0644 beside them is not run).
//
// Also the inventory Host.getCapabilities reports as `hooks`: {hook point: {script: {checksum}}}, with
// the checksum vdsm computes (sha256 of the script's bytes; an unreadable script gets an empty checksum).
// Every call here is asynchronous fs I/O: the runner calls it on the main thread, the capabilities facts
// operation in a worker (hence src/contracts/: the one module both sides may import).
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The default hooks directory (vdsm's P_VDSM_HOOKS). */
export const DEFAULT_HOOKS_DIR = '/usr/libexec/vdsm/hooks';

/** A hook point name may only be one plain directory name: no separators, no `..`. */
export function isHookPointName(name: string): boolean {
  return /^[A-Za-z0-9_.-]+$/.test(name) && name !== '.' && name !== '..';
}

/** Byte order of names, the order vdsm runs them in (not locale order: `B` before `a`). */
function byName(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** True when `path` is a regular file (following a symlink) this process may execute. */
async function isRunnable(path: string): Promise<boolean> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return false;
    await access(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Full paths of the scripts of one hook point, in run order; empty when the directory is missing. */
export async function hookScripts(hooksDir: string, hookPoint: string): Promise<string[]> {
  if (!isHookPointName(hookPoint)) throw new Error(`bad hook point name ${JSON.stringify(hookPoint)}`);
  const dir = join(hooksDir, hookPoint);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  names.sort(byName);
  const paths = names.map((n) => join(dir, n));
  const runnable = await Promise.all(paths.map(isRunnable));
  return paths.filter((_, i) => runnable[i]);
}

/** vdsm's script checksum: sha256 of its content, hex; '' when it cannot be read. */
export async function scriptChecksum(path: string): Promise<string> {
  try {
    return createHash('sha256').update(await readFile(path)).digest('hex');
  } catch {
    return '';
  }
}

export type HookInventory = Record<string, Record<string, { checksum: string }>>;

/**
 * Every hook point that has at least one runnable script, each script with its checksum (vdsm's
 * hooks.installed()). A missing hooks directory is an empty inventory.
 */
export async function hookInventory(hooksDir: string): Promise<HookInventory> {
  let points: string[];
  try {
    points = (await readdir(hooksDir)).filter(isHookPointName).sort(byName);
  } catch {
    return {};
  }
  const out: HookInventory = {};
  for (const point of points) {
    const scripts = await hookScripts(hooksDir, point);
    if (scripts.length === 0) continue;
    const entry: Record<string, { checksum: string }> = {};
    for (const s of scripts) entry[s.slice(s.lastIndexOf('/') + 1)] = { checksum: await scriptChecksum(s) };
    out[point] = entry;
  }
  return out;
}
