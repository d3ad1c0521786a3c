// The installed version, read once from the package.json next to the compiled code (the checkout's or
// the installed tree's), for every program's --version.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** `vdsm-node <version>`; "unknown" when no package.json is found above this file. */
export function versionString(): string {
  if (cached !== undefined) return cached;
  let version = 'unknown';
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vdsm-node' && pkg.version) {
        version = pkg.version;
        break;
      }
    } catch {
      // not here; keep walking up
    }
  }
  cached = `vdsm-node ${version}`;
  return cached;
}
