// Locates the native addons built by node-gyp (build/Release/*.node) from any compiled location.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

/** Path of build/Release/<name>.node, found by walking up from this file; VDSM_NATIVE_DIR overrides. */
export function nativeAddonPath(name: string): string {
  const override = process.env['VDSM_NATIVE_DIR'];
  if (override) return join(override, `${name}.node`);
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'build', 'Release', `${name}.node`);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`native addon ${name}.node not found; run 'npm ci' (it runs node-gyp)`);
  }
}

/** Load a native addon (loads in the main thread and in any worker_thread). */
export function loadNativeAddon<T>(name: string): T {
  return require(nativeAddonPath(name)) as T;
}
