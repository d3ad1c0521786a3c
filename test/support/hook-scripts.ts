// Hook scripts for the tests of src/hooks/: real `#!/bin/sh` files in a hooks directory the test owns.
import { watch } from 'node:fs';
import { access, chmod, mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import pino from 'pino';
import { HookRunner } from '../../src/hooks/hook-runner.js';
import { VmHooks } from '../../src/hooks/vm-hooks.js';

/** Write `<hooksDir>/<point>/<name>` as a shell script with `body`; executable unless `mode` says otherwise. */
export async function writeHookScript(hooksDir: string, point: string, name: string, body: string, mode = 0o755): Promise<string> {
  await mkdir(join(hooksDir, point), { recursive: true });
  const path = join(hooksDir, point, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, mode);
  return path;
}

/** A hooks directory with one script `10` per hook point, and the VmHooks (10 s limit, silent) that run it. */
export async function vmHooksWith(hooksDir: string, scripts: Record<string, string>): Promise<VmHooks> {
  for (const [point, body] of Object.entries(scripts)) await writeHookScript(hooksDir, point, '10', body);
  const silent = pino({ level: 'silent' });
  return new VmHooks(new HookRunner({ hooksDir, timeoutMs: 10_000, log: silent }), silent);
}

/** Resolves once `file` exists (fs.watch on its directory, checked once the watch is set): a script's mark. */
export async function fileAppears(file: string): Promise<void> {
  await new Promise<void>((resolve) => {
    const w = watch(dirname(file), (_event, changed) => {
      if (changed === basename(file)) { w.close(); resolve(); }
    });
    access(file).then(() => { w.close(); resolve(); }, () => undefined);
  });
}
