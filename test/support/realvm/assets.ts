// Find what the real-VM tier needs: the kernel and initramfs cached by scripts/realvm/setup.sh and the
// host binaries (QEMU, libvirtd, virsh). Reports what is missing instead of failing, so tests can skip.

import { spawn } from 'node:child_process';
import { access, constants, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What setup.sh writes to $VDSM_REALVM_DIR/manifest.json. */
export interface RealVmManifest {
  readonly kernelPackage: string;
  readonly kernelAbi: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly qemuGaVersion: string;
  readonly qemuVersion: string;
  readonly key: string;
}

export interface RealVmAssets {
  readonly dir: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly manifest: RealVmManifest;
  /** Absolute paths of the host tools, by name. */
  readonly tools: Readonly<Record<RealVmTool, string>>;
}

export type RealVmCheck =
  | { readonly ok: true; readonly assets: RealVmAssets }
  | { readonly ok: false; readonly dir: string; readonly missing: readonly string[]; readonly hint: string };

export interface EnsureRealVmOptions {
  /** Cache directory (default $VDSM_REALVM_DIR or /var/tmp/vdsm-realvm). */
  readonly dir?: string;
  /** Run scripts/realvm/setup.sh first when something is missing (needs root and apt). */
  readonly runSetup?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

export const REALVM_TOOLS = ['qemu-system-x86_64', 'qemu-img', 'libvirtd', 'virsh', 'setpriv'] as const;
export type RealVmTool = (typeof REALVM_TOOLS)[number];

export const DEFAULT_REALVM_DIR = '/var/tmp/vdsm-realvm';

export function realVmDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['VDSM_REALVM_DIR'] || DEFAULT_REALVM_DIR;
}

async function readable(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

async function findTool(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  // libvirtd lives in /usr/sbin, which a non-login root shell may not have on PATH.
  const dirs = [...(env['PATH'] ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    const candidate = join(d, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next directory
    }
  }
  return undefined;
}

/** scripts/realvm/setup.sh of this checkout, found from this module's location in any build folder. */
export async function setupScriptPath(): Promise<string | undefined> {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'scripts', 'realvm', 'setup.sh');
    if (await readable(candidate)) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

async function check(dir: string, env: NodeJS.ProcessEnv): Promise<RealVmCheck> {
  const missing: string[] = [];
  let manifest: RealVmManifest | undefined;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as RealVmManifest;
  } catch {
    missing.push(join(dir, 'manifest.json'));
  }
  if (manifest) {
    for (const f of [manifest.kernel, manifest.initrd]) if (!(await readable(f))) missing.push(f);
  }
  const tools: Partial<Record<RealVmTool, string>> = {};
  for (const name of REALVM_TOOLS) {
    const found = await findTool(name, env);
    if (found === undefined) missing.push(name);
    else tools[name] = found;
  }
  if (manifest && missing.length === 0) {
    return {
      ok: true,
      assets: { dir, kernel: manifest.kernel, initrd: manifest.initrd, manifest, tools: tools as Record<RealVmTool, string> },
    };
  }
  return { ok: false, dir, missing, hint: `run as root: VDSM_REALVM_DIR=${dir} bash scripts/realvm/setup.sh` };
}

function runSetup(script: string, dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [script], { env: { ...env, VDSM_REALVM_DIR: dir }, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`${script} exited with ${code}`))));
  });
}

/**
 * Check for the tier's kernel, initramfs and tools; with `runSetup`, run setup.sh first when anything
 * is missing (root only). Never throws for missing pieces: the result lists them.
 */
export async function ensureRealVmAssets(options: EnsureRealVmOptions = {}): Promise<RealVmCheck> {
  const env = options.env ?? process.env;
  const dir = options.dir ?? realVmDir(env);
  const first = await check(dir, env);
  if (first.ok || !options.runSetup) return first;
  const script = await setupScriptPath();
  if (script === undefined || process.getuid?.() !== 0) {
    return { ...first, hint: `${first.hint} (setup needs root and the repository's scripts/realvm/setup.sh)` };
  }
  await runSetup(script, dir, env);
  return check(dir, env);
}

/**
 * The `skip` option of a real-VM test: false when the assets are there (or VDSM_REALVM=1 makes a
 * missing piece a failure), else a message naming what is missing and how to set it up.
 */
export function realVmSkip(check: RealVmCheck, env: NodeJS.ProcessEnv = process.env): string | false {
  if (check.ok || env['VDSM_REALVM'] === '1') return false;
  return `real-VM tier not set up (missing: ${check.missing.join(', ')}); ${check.hint}; VDSM_REALVM=1 makes this a failure`;
}
