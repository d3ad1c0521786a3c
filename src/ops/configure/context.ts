// What every configurator gets: the root it works under ('/' on a host, a temporary tree in tests),
// the agent's configuration, the host id, a way to run helper programs, and the services it may have to
// stop. Paths from the configuration are host paths; at() places them under the root.
import { spawn } from 'node:child_process';
import { access, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { VdsmConfig } from '../../config/index.js';
import { instanceRunning } from '../instance-lock.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Runner = (cmd: string, args: readonly string[], input?: string) => Promise<RunResult>;

export const runProgram: Runner = (cmd, args, input) => new Promise((resolve) => {
  const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  child.on('error', (err) => resolve({ code: 127, stdout, stderr: `${stderr}${err.message}` }));
  child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  child.stdin.end(input ?? '');
});

export interface ConfigureContext {
  root: string;
  config: VdsmConfig;
  hostId: string;
  run: Runner;
  /** A host path under the root. */
  at(path: string): string;
}

export function makeContext(root: string, config: VdsmConfig, hostId: string, run: Runner = runProgram): ConfigureContext {
  return { root, config, hostId, run, at: (p) => (root === '/' ? p : join(root, p)) };
}

export interface Status {
  configured: boolean;
  /** One line per finding, for is-configured's output. */
  notes: string[];
}

/** One area vdsm-tool configure takes care of (vdsm's configurator modules). */
export interface Configurator {
  readonly name: string;
  readonly summary: string;
  /** Services that must not run while this is reconfigured (stopped and restarted with --force). */
  readonly services: readonly string[];
  isConfigured(ctx: ConfigureContext): Promise<Status>;
  /** Settings of the administrator's that contradict what configure would write; empty when none. */
  validate(ctx: ConfigureContext): Promise<string[]>;
  /** Make it so; returns what was done, one line each. */
  configure(ctx: ConfigureContext): Promise<string[]>;
}

/** Starting and stopping services around a forced reconfiguration. */
export interface ServiceControl {
  readonly kind: string;
  isActive(name: string): Promise<boolean>;
  stop(name: string): Promise<void>;
  start(name: string): Promise<void>;
}

/** systemd on the real root (only when systemd is PID 1). */
export function systemdServices(run: Runner = runProgram): ServiceControl {
  const systemctl = async (...args: string[]): Promise<RunResult> => run('systemctl', args);
  return {
    kind: 'systemd',
    isActive: async (name) => (await systemctl('is-active', '--quiet', `${name}.service`)).code === 0,
    stop: async (name) => {
      const r = await systemctl('stop', `${name}.service`);
      if (r.code !== 0) throw new Error(`systemctl stop ${name} failed: ${r.stderr.trim()}`);
    },
    start: async (name) => {
      const r = await systemctl('start', `${name}.service`);
      if (r.code !== 0) throw new Error(`systemctl start ${name} failed: ${r.stderr.trim()}`);
    },
  };
}

/**
 * Under a root that is not the running system (or without systemd), only vdsmd can be seen, through
 * its single-instance lock; nothing is started or stopped.
 */
export function offlineServices(ctx: ConfigureContext): ServiceControl {
  return {
    kind: 'offline',
    isActive: (name) => Promise.resolve(name === 'vdsmd' && instanceRunning(ctx.at(ctx.config.vars.run_dir)).running),
    stop: (name) => Promise.reject(new Error(`${name} is running and no service manager can stop it here: stop it first`)),
    start: () => Promise.resolve(),
  };
}

export async function pickServices(ctx: ConfigureContext): Promise<ServiceControl> {
  const systemd = ctx.root === '/' && await access('/run/systemd/system').then(() => true, () => false);
  return systemd ? systemdServices(ctx.run) : offlineServices(ctx);
}

/** uid and gid of vdsm:kvm (the user vdsmd runs as) in the root's passwd and group files, when both exist. */
export async function vdsmOwner(ctx: ConfigureContext): Promise<{ uid: number; gid: number } | undefined> {
  const field = async (file: string, name: string): Promise<number | undefined> => {
    const text = await readFile(ctx.at(file), 'utf8').catch(() => '');
    const v = Number(text.split('\n').find((l) => l.startsWith(`${name}:`))?.split(':')[2]);
    return Number.isInteger(v) ? v : undefined;
  };
  const [uid, gid] = [await field('/etc/passwd', 'vdsm'), await field('/etc/group', 'kvm')];
  return uid !== undefined && gid !== undefined ? { uid, gid } : undefined;
}

/** Whether uid/gid may read `file` by its owner, group and mode bits. */
export async function readableBy(file: string, who: { uid: number; gid: number }): Promise<boolean> {
  const s = await stat(file);
  if (who.uid === 0) return true;
  if (s.uid === who.uid) return (s.mode & 0o400) !== 0;
  if (s.gid === who.gid) return (s.mode & 0o040) !== 0;
  return (s.mode & 0o004) !== 0;
}
