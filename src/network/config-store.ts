// The running and the safe network configuration on disk (vdsm's staging/ and persistence/ netconf),
// and the journal of a change in flight. Each is one JSON file replaced atomically (write, fsync,
// rename), so a crash leaves the old or the new file, never half of one. The journal lives under the
// run directory: it describes the kernel of this boot and means nothing after a reboot.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KernelSnapshot, NetConfig } from './types.js';

export interface PendingChange {
  txId: string;
  /** Wall-clock ms when the change started. */
  startedAt: number;
  /** The running configuration before the change (what a rollback returns to). */
  from: NetConfig;
  /** The configuration the change builds. */
  desired: NetConfig;
  /** The kernel before the change: released devices are put back as this shows them. */
  before: KernelSnapshot;
}

export const EMPTY_CONFIG: NetConfig = Object.freeze({ networks: {}, bonds: {} }) as NetConfig;

export interface ConfigPaths {
  running: string;
  safe: string;
  pending: string;
  /** Present once restore-nets ran in this boot (vdsm's nets_restored mark). */
  restoredMark: string;
}

export function configPaths(stateDir: string, runDir: string): ConfigPaths {
  return {
    running: join(stateDir, 'netconf', 'running.json'),
    safe: join(stateDir, 'netconf', 'safe.json'),
    pending: join(runDir, 'netconf', 'pending.json'),
    restoredMark: join(runDir, 'netconf', 'nets_restored'),
  };
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write `data` to `path` atomically; world-readable (the unprivileged agent reports from it). */
export async function writeJsonAtomic(path: string, data: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(`${JSON.stringify(data, null, 1)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function normalize(c: Partial<NetConfig> | undefined): NetConfig {
  return { networks: { ...(c?.networks ?? {}) }, bonds: { ...(c?.bonds ?? {}) } };
}

export class ConfigStore {
  readonly paths: ConfigPaths;

  constructor(paths: ConfigPaths) {
    this.paths = paths;
  }

  async running(): Promise<NetConfig> {
    return normalize(await readJson<NetConfig>(this.paths.running));
  }

  async safe(): Promise<NetConfig> {
    return normalize(await readJson<NetConfig>(this.paths.safe));
  }

  setRunning(cfg: NetConfig): Promise<void> {
    return writeJsonAtomic(this.paths.running, cfg);
  }

  /** setSafeNetworkConfig: the running configuration becomes the safe one. */
  async persist(): Promise<NetConfig> {
    const cfg = await this.running();
    await writeJsonAtomic(this.paths.safe, cfg);
    return cfg;
  }

  pending(): Promise<PendingChange | undefined> {
    return readJson<PendingChange>(this.paths.pending);
  }

  setPending(p: PendingChange): Promise<void> {
    return writeJsonAtomic(this.paths.pending, p);
  }

  async clearPending(): Promise<void> {
    await rm(this.paths.pending, { force: true });
  }

  async markRestored(): Promise<void> {
    await writeJsonAtomic(this.paths.restoredMark, { at: new Date().toISOString() });
  }

  async restoredThisBoot(): Promise<boolean> {
    return (await readJson(this.paths.restoredMark)) !== undefined;
  }
}

export function sameConfig(a: NetConfig, b: NetConfig): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
