// One script run as a child process (a hook script, a fence agent): spawned directly (argv is the
// script's path alone, never a shell string), in a process group of its own, with the environment the
// caller built and, when given, its standard input (a fence agent's options: never on its command line). Its stdout and
// stderr are read to the end (so the child never blocks on a full pipe) but only the first `outputLimit`
// bytes of each are kept. Past `timeoutMs` the whole group gets SIGKILL (the script and anything it
// started that stayed in its group), and the run ends without waiting for the pipes: a grandchild that
// left the group and holds them open costs nothing but its own descriptors.
//
// Nothing here blocks the event loop: spawn, the pipes and the timer are all asynchronous.
import { spawn } from 'node:child_process';
import { realTimers, type Timers } from './clock.js';

export interface ScriptRunOptions {
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Bytes kept of each of stdout and stderr; the rest is read and counted, not kept. */
  outputLimit: number;
  /** Written to the script's standard input, which is then closed (default: no standard input). */
  input?: string;
  /** Called once the child runs, with its pid (for a log line naming it). */
  onSpawn?: (pid: number) => void;
  timers?: Timers;
}

/** Bytes kept of one output stream and how many were dropped past the limit. */
export interface BoundedOutput {
  text: string;
  dropped: number;
}

export interface ScriptRun {
  script: string;
  /** Exit code; null when the script was killed by a signal or never started. */
  rc: number | null;
  signal: NodeJS.Signals | null;
  /** Killed at the time limit. */
  timedOut: boolean;
  /** Set when the script could not be started (not a valid executable, no interpreter, EACCES). */
  spawnError?: string;
  /** The errno code of that failure (ENOENT, EACCES, ...). */
  spawnCode?: string;
  stdout: BoundedOutput;
  stderr: BoundedOutput;
}

class OutputBuffer {
  readonly #limit: number;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #dropped = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  push(chunk: Buffer): void {
    const room = this.#limit - this.#kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.#chunks.push(part);
      this.#kept += part.length;
    }
    this.#dropped += Math.max(0, chunk.length - Math.max(0, room));
  }

  result(): BoundedOutput {
    return { text: Buffer.concat(this.#chunks).toString('utf8'), dropped: this.#dropped };
  }
}

/** Kill a process group; a group already gone is fine. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: every member exited already.
  }
}

/** Run one script to its end or its time limit. Never rejects: every failure is in the result. */
export function runScript(script: string, o: ScriptRunOptions): Promise<ScriptRun> {
  const timers = o.timers ?? realTimers;
  const out = new OutputBuffer(o.outputLimit);
  const err = new OutputBuffer(o.outputLimit);
  return new Promise<ScriptRun>((resolve) => {
    let settled = false;
    let timedOut = false;
    let exited: { rc: number | null; signal: NodeJS.Signals | null } | undefined;
    let timer: unknown;
    const child = spawn(script, [], { env: o.env, detached: true, stdio: [o.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const finish = (extra: Partial<ScriptRun> = {}): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({ script, rc: exited?.rc ?? null, signal: exited?.signal ?? null, timedOut, stdout: out.result(), stderr: err.result(), ...extra });
    };
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => finish({ spawnError: e.message, ...(e.code !== undefined ? { spawnCode: e.code } : {}) }));
    if (o.onSpawn !== undefined) child.once('spawn', () => o.onSpawn?.(child.pid!));
    if (o.input !== undefined && child.stdin !== null) {
      // A script that exits without reading its input closes the pipe: not an error of ours.
      child.stdin.on('error', () => undefined);
      child.stdin.end(o.input);
    }
    child.on('exit', (rc, signal) => {
      exited = { rc, signal };
      if (timedOut) finish();
    });
    // 'close': the script exited and its pipes reached their end (every holder closed them).
    child.on('close', () => finish());
    timer = timers.setTimeout(() => {
      timer = undefined;
      if (settled) return;
      // Over its time, or finished but something it started still holds its output open: kill the group.
      if (exited === undefined) timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid);
      if (exited !== undefined) finish();
    }, o.timeoutMs);
  });
}
