// Long storage commands (qemu-img, fallocate) as child processes of a task-pool worker: asynchronous,
// killed on Task.stop, and started under `setpriv --pdeathsig KILL` so they die with the thread that
// started them (a terminated worker, or a SIGKILLed agent) instead of writing into a volume that
// recovery is about to remove. qemu-img's "-p" progress is parsed as it streams.
import { spawn } from 'node:child_process';
import { Errors, storageError, vdsmError } from '../../src/errors.js';

export interface ChildCommandOptions {
  /** Aborts the command (SIGTERM, then SIGKILL after `killGraceMs`). */
  signal?: AbortSignal;
  /** Called with each progress percentage qemu-img prints ("    (12.34/100%)"). */
  onProgress?: (percent: number) => void;
  onSpawn?: (pid: number) => void;
  onExit?: (pid: number) => void;
  killGraceMs?: number;
  /** Where the executables are looked up (tests point it at stand-ins); the process PATH otherwise. */
  env?: NodeJS.ProcessEnv;
}

export interface ChildResult {
  stdout: string;
  stderr: string;
}

/** Keep only the tail of a stream: error text matters, megabytes of it do not. */
const OUTPUT_LIMIT = 64 * 1024;

/** Parse every "(<p>/100%)" in a chunk of qemu-img -p output; the last one wins. */
export function parseQemuProgress(chunk: string): number | undefined {
  let last: number | undefined;
  for (const m of chunk.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)) last = Number(m[1]);
  return last;
}

export class ChildCommandError extends Error {
  override readonly name = 'ChildCommandError';
  constructor(readonly command: string, readonly exitCode: number | null, readonly signal: NodeJS.Signals | null, readonly stderr: string) {
    super(`${command} failed (${exitCode !== null ? `exit ${exitCode}` : `signal ${String(signal)}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }

  get noSpace(): boolean {
    return /No space left on device|Disk quota exceeded/i.test(this.stderr);
  }
}

export function runChild(argv: readonly string[], opts: ChildCommandOptions = {}): Promise<ChildResult> {
  const command = argv.join(' ');
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(vdsmError(Errors.ACTION_STOPPED, `${Errors.ACTION_STOPPED.message}: ${command}`));
      return;
    }
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.env ? { env: opts.env } : {}),
    });
    let stdout = '';
    let stderr = '';
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const keep = (acc: string, more: string): string => (acc.length + more.length > OUTPUT_LIMIT ? (acc + more).slice(-OUTPUT_LIMIT) : acc + more);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout = keep(stdout, d);
      if (opts.onProgress) {
        const p = parseQemuProgress(d);
        if (p !== undefined) opts.onProgress(p);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = keep(stderr, d);
    });
    const onAbort = (): void => {
      aborted = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killGraceMs ?? 5000);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('spawn', () => {
      if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    });
    child.on('error', (err) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(storageError(Errors.SD_STORAGE, [`cannot run ${argv[0]}: ${err.message}`], { cause: err }));
    });
    child.on('close', (code, sig) => {
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (child.pid !== undefined) opts.onExit?.(child.pid);
      if (aborted) reject(vdsmError(Errors.ACTION_STOPPED, `${Errors.ACTION_STOPPED.message}: ${command}`));
      else if (code === 0) resolve({ stdout, stderr });
      else reject(new ChildCommandError(command, code, sig, stderr));
    });
  });
}
