// One daemon per run directory. The lock itself is an abstract unix socket named after the run dir
// and the program: binding it is atomic, and the kernel releases it when the process dies however it
// dies, so there is never a stale lock to clean up. `<run_dir>/<name>.lock` holds the owner's pid for
// people and tools (and for the message the second instance prints).
import { createHash } from 'node:crypto';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Errors, vdsmError } from '../errors.js';

/** Linux abstract socket names are at most 107 bytes; long run dirs are hashed. */
function abstractName(runDir: string, name: string): string {
  const plain = `vdsm-node:${name}:${runDir}`;
  return `\0${plain.length <= 100 ? plain : `vdsm-node:${name}:${createHash('sha256').update(runDir).digest('hex').slice(0, 40)}`}`;
}

export class InstanceLock {
  readonly pidFile: string;
  #server: Server;

  private constructor(server: Server, pidFile: string) {
    this.#server = server;
    this.pidFile = pidFile;
  }

  /** Take the lock of `name` in `runDir`; ERR_ALREADY_RUNNING naming the holder's pid when it is taken. */
  static async acquire(runDir: string, name: string): Promise<InstanceLock> {
    const server = createServer();
    const pidFile = join(runDir, `${name}.lock`);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(abstractName(runDir, name), () => resolve());
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      const pid = (await readFile(pidFile, 'utf8').catch(() => '')).trim();
      throw vdsmError(Errors.ALREADY_RUNNING, `${name} is already running${/^\d+$/.test(pid) ? ` as pid ${pid}` : ''} for run directory ${runDir} (lock ${pidFile})`);
    }
    server.unref();
    await writeFile(pidFile, `${process.pid}\n`, { mode: 0o644 });
    return new InstanceLock(server, pidFile);
  }

  /** Give the lock up (the pid file too, when it is still ours). Idempotent. */
  async release(): Promise<void> {
    if (!this.#server.listening) return;
    const pid = (await readFile(this.pidFile, 'utf8').catch(() => '')).trim();
    if (pid === String(process.pid)) await unlink(this.pidFile).catch(() => undefined);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
