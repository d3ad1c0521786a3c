// Child processes of supervdsm: only the programs of a fixed table, by absolute path, with an
// argument vector (never a shell), a clean environment, bounded output, and a deadline after which the
// child's whole process group gets SIGKILL. The helper's loop never waits on a child; a child stuck in
// the kernel (a mount of a dead NFS server) costs one slot until it exits, and the call fails at its
// deadline regardless.
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { Errors, vdsmError } from '../errors.js';

/** Every program supervdsm may run, by name. Functions name these; nothing else can be run. */
export const COMMAND_NAMES = ['dmidecode', 'systemctl', 'mount', 'umount', 'saslpasswd2', 'fuser', 'setpriv', 'test', 'getent'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** Where programs are looked for, in order (Debian keeps some in /usr/sbin, some in /usr/bin). */
export const SEARCH_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Debian package of each program, for the message when one is missing. */
const PACKAGES: Record<CommandName, string> = {
  dmidecode: 'dmidecode', systemctl: 'systemd', mount: 'mount', umount: 'mount', saslpasswd2: 'sasl2-bin',
  fuser: 'psmisc', setpriv: 'util-linux', test: 'coreutils', getent: 'libc-bin',
};

/** Largest stdout kept (the rest is dropped and the result marked truncated). */
export const MAX_STDOUT_BYTES = 1024 * 1024;
export const MAX_STDERR_BYTES = 64 * 1024;

/** Absolute path of each program found on this host. */
export async function locateCommands(dirs: readonly string[] = SEARCH_DIRS): Promise<Partial<Record<CommandName, string>>> {
  const out: Partial<Record<CommandName, string>> = {};
  for (const name of COMMAND_NAMES) {
    for (const dir of dirs) {
      try {
        await access(`${dir}/${name}`, constants.X_OK);
        out[name] = `${dir}/${name}`;
        break;
      } catch {
        // not here
      }
    }
  }
  return out;
}

export interface RunOptions {
  /** Written to stdin, then stdin is closed (passwords: never on the command line). */
  input?: string;
  /** Kill the child after this long (ms). */
  timeoutMs: number;
  /** Kill the child when this aborts (the call's deadline or the connection went away). */
  signal?: AbortSignal;
}

export interface CommandResult {
  command: CommandName;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  durationMs: number;
}

/** Bounds the children alive at once; a call beyond it waits (its deadline still runs). */
export class CommandRunner {
  #paths: Partial<Record<CommandName, string>>;
  #max: number;
  #running = 0;
  #waiting: (() => void)[] = [];
  #spawned = 0;
  #killed = 0;

  constructor(paths: Partial<Record<CommandName, string>>, maxConcurrent = 16) {
    this.#paths = paths;
    this.#max = maxConcurrent;
  }

  has(command: CommandName): boolean {
    return this.#paths[command] !== undefined;
  }

  /** Absolute path of `command`; throws COMMAND_FAILED naming its package when it is not installed. */
  pathOf(command: CommandName): string {
    const path = this.#paths[command];
    if (path === undefined) throw notInstalled(command);
    return path;
  }

  state(): { running: number; waiting: number; spawned: number; killed: number; commands: Partial<Record<CommandName, string>> } {
    return { running: this.#running, waiting: this.#waiting.length, spawned: this.#spawned, killed: this.#killed, commands: { ...this.#paths } };
  }

  async run(command: CommandName, args: readonly string[], opts: RunOptions): Promise<CommandResult> {
    const path = this.pathOf(command);
    const started = performance.now();
    await this.#slot(opts, started);
    try {
      return await this.#spawn(command, path, args, opts, started);
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  #slot(opts: RunOptions, started: number): Promise<void> {
    if (this.#running < this.#max) {
      this.#running++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const go = (): void => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.#running++;
        resolve();
      };
      const fail = (why: string): void => {
        const i = this.#waiting.indexOf(go);
        if (i >= 0) this.#waiting.splice(i, 1);
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        reject(vdsmError(Errors.SVDSM_TIMEOUT, `waited ${Math.round(performance.now() - started)} ms for a free process slot (${this.#max} running): ${why}`));
      };
      const onAbort = (): void => fail('call aborted');
      const timer = setTimeout(() => fail('deadline passed'), opts.timeoutMs);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(go);
    });
  }

  #spawn(command: CommandName, path: string, args: readonly string[], opts: RunOptions, started: number): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(vdsmError(Errors.SVDSM_TIMEOUT, `${command}: call aborted before it started`));
        return;
      }
      // detached: the child leads its own process group, so the kill reaches whatever it started.
      const child = spawn(path, [...args], {
        stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
        env: { PATH: SEARCH_DIRS.join(':'), LC_ALL: 'C' },
        detached: true,
        windowsHide: true,
      });
      this.#spawned++;
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outLen = 0;
      let errLen = 0;
      let truncated = false;
      let settled = false;
      const collect = (into: Buffer[], max: number, len: () => number, add: (n: number) => void) => (chunk: Buffer): void => {
        const room = max - len();
        if (room <= 0) { truncated = true; return; }
        const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
        if (piece.length < chunk.length) truncated = true;
        into.push(piece);
        add(piece.length);
      };
      child.stdout!.on('data', collect(out, MAX_STDOUT_BYTES, () => outLen, (n) => { outLen += n; }));
      child.stderr!.on('data', collect(err, MAX_STDERR_BYTES, () => errLen, (n) => { errLen += n; }));
      const kill = (): void => {
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
        this.#killed++;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = (): void => {
        kill();
        finish(() => reject(vdsmError(Errors.SVDSM_TIMEOUT, `${command}: call aborted after ${Math.round(performance.now() - started)} ms; the process was killed`)));
      };
      const timer = setTimeout(() => {
        kill();
        finish(() => reject(vdsmError(Errors.SVDSM_TIMEOUT, `${command} did not finish within ${opts.timeoutMs} ms; the process was killed`)));
      }, opts.timeoutMs);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (e) => finish(() => reject(vdsmError(Errors.SVDSM_COMMAND_FAILED, `${command}: ${e.message}`))));
      child.on('close', (code, sig) => finish(() => resolve({
        command, exitCode: code, signal: sig, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'),
        truncated, durationMs: performance.now() - started,
      })));
      if (opts.input !== undefined) {
        child.stdin!.on('error', () => undefined); // the child may exit without reading
        child.stdin!.end(opts.input);
      }
    });
  }
}

function notInstalled(command: CommandName): Error {
  return vdsmError(Errors.SVDSM_COMMAND_FAILED, `${command} is not installed on this host (Debian package ${PACKAGES[command]})`);
}

/** COMMAND_FAILED for a non-zero exit: the step, the command, its exit and the end of its stderr. */
export function commandFailed(r: CommandResult, step: string): Error {
  const text = (r.stderr.trim() !== '' ? r.stderr : r.stdout).trim();
  return vdsmError(Errors.SVDSM_COMMAND_FAILED, {
    step, command: r.command, exitCode: r.exitCode, ...(r.signal !== null ? { signal: r.signal } : {}), output: text.slice(-500),
  });
}
