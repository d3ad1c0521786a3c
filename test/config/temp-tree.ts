// Test helper: a throw-away directory tree standing in for /etc/vdsm, /run/vdsm and /usr/lib/vdsm,
// so config tests never touch the real ones.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface TempTree {
  readonly root: string;
  /** Absolute path of a file under root. */
  path(rel: string): string;
  /** Write a file (creating directories); returns its absolute path. */
  write(rel: string, text: string): Promise<string>;
  /** The three vdsm drop-in directories under root, vendor/runtime/admin order. */
  readonly dropinDirs: readonly string[];
  /** The main file under root (not created). */
  readonly mainFile: string;
  remove(): Promise<void>;
}

export async function tempTree(): Promise<TempTree> {
  const root = await mkdtemp(join(tmpdir(), 'vdsm-config-'));
  const path = (rel: string): string => join(root, rel);
  return {
    root,
    path,
    async write(rel, text) {
      const p = path(rel);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, text);
      return p;
    },
    dropinDirs: [path('usr/lib/vdsm/vdsm.conf.d'), path('run/vdsm/vdsm.conf.d'), path('etc/vdsm/vdsm.conf.d')],
    mainFile: path('etc/vdsm/vdsm.conf'),
    remove: () => rm(root, { recursive: true, force: true }),
  };
}
