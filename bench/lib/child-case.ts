// Bench helper processes: run one case in a fresh Node process so that RSS and thread counts belong to
// that case only (the child prints its result as the last stdout line starting with '{'; stderr passes
// through), and stop a helper process with its private directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';

export function runChildCase<T>(script: string, args: readonly string[], opts: { timeoutMs?: number; execArgv?: readonly string[]; wrap?: readonly string[] } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    // `wrap`: a command the child runs under (e.g. `taskset -c 0`, so every thread starts on that CPU).
    const argv = [process.execPath, ...(opts.execArgv ?? []), script, ...args];
    const [cmd, ...rest] = [...(opts.wrap ?? []), ...argv];
    const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const line = out.split('\n').reverse().find((l) => l.startsWith('{'));
      if (!line) {
        reject(new Error(`case ${args.join(' ')} exited (code ${code}, signal ${signal}) without a result`));
        return;
      }
      resolve(JSON.parse(line) as T);
    });
  });
}

/** Stop a bench's helper process (SIGKILL, wait for its exit) and remove its private directory. */
export function killAndRemove(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    await rm(dir, { recursive: true, force: true });
  };
}
