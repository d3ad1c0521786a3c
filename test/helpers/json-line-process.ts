// A child process that logs JSON lines on stdout (vdsmd, supervdsmd): every line kept, parsed, and
// waits on lines (past or future) instead of on time.
import type { ChildProcess } from 'node:child_process';

export class JsonLineProcess {
  readonly lines: Record<string, unknown>[] = [];
  protected readonly child: ChildProcess;
  readonly #name: string;
  #waiters: (() => void)[] = [];
  #exited: Promise<number | null>;

  constructor(name: string, child: ChildProcess) {
    this.#name = name;
    this.child = child;
    let buf = '';
    const wake = (): void => { for (const w of this.#waiters.splice(0)) w(); };
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.lines.push({ raw: line });
        }
        wake();
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.lines.push({ stderr: chunk }); wake(); });
    this.#exited = new Promise((resolve) => child.on('exit', (code) => { resolve(code); wake(); }));
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolve with the first log line (past or future) matching `pred`; reject when the process exits first. */
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.#name} log line not seen in ${timeoutMs} ms; last lines:\n${this.tail()}`)), timeoutMs);
      const check = (): void => {
        const hit = this.lines.find(pred);
        if (hit) { clearTimeout(timer); resolve(hit); return; }
        if (!this.running) { clearTimeout(timer); reject(new Error(`${this.#name} exited with ${this.child.exitCode ?? this.child.signalCode}:\n${this.tail()}`)); return; }
        this.#waiters.push(check);
      };
      check();
    });
  }

  tail(n = 20): string {
    return this.lines.slice(-n).map((l) => JSON.stringify(l)).join('\n');
  }

  /** Resolves with the exit code once the process is gone. */
  exited(): Promise<number | null> {
    return this.#exited;
  }

  /** SIGTERM and wait for the exit code. */
  async stop(): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    return this.#exited;
  }

  /** SIGKILL: the process dies without any cleanup (a crash). */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.#exited;
  }
}
