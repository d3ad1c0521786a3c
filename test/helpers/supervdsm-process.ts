// Runs the real supervdsmd program as root (as systemd would) and reads its JSON log lines to learn
// when it serves; signals for the tests that stop, freeze or kill it.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const SUPERVDSMD = fileURLToPath(new URL('../../src/bin/supervdsmd.js', import.meta.url));

export class SupervdsmProcess {
  readonly lines: Record<string, unknown>[] = [];
  readonly child: ChildProcess;
  #waiters: (() => void)[] = [];
  #exited: Promise<number | null>;

  private constructor(child: ChildProcess) {
    this.child = child;
    let buf = '';
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
        for (const w of this.#waiters.splice(0)) w();
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.lines.push({ stderr: chunk }); for (const w of this.#waiters.splice(0)) w(); });
    this.#exited = new Promise((resolve) => child.on('exit', (code) => { resolve(code); for (const w of this.#waiters.splice(0)) w(); }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Start supervdsmd with `args` (--set ...) and wait until it serves its socket. */
  static async start(args: readonly string[]): Promise<SupervdsmProcess> {
    const child = spawn(process.execPath, [SUPERVDSMD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, JOURNAL_STREAM: '' } });
    const p = new SupervdsmProcess(child);
    await p.waitForLog((l) => l['msg'] === 'supervdsmd serving');
    return p;
  }

  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`supervdsmd log line not seen in ${timeoutMs} ms:\n${this.tail()}`)), timeoutMs);
      const check = (): void => {
        const hit = this.lines.find(pred);
        if (hit) { clearTimeout(timer); resolve(hit); return; }
        if (this.child.exitCode !== null || this.child.signalCode !== null) { clearTimeout(timer); reject(new Error(`supervdsmd exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.tail()}`)); return; }
        this.#waiters.push(check);
      };
      check();
    });
  }

  tail(n = 20): string {
    return this.lines.slice(-n).map((l) => JSON.stringify(l)).join('\n');
  }

  /** SIGTERM and the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.#exited;
  }

  /** SIGKILL: a crash, no cleanup. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.#exited;
  }

  exited(): Promise<number | null> {
    return this.#exited;
  }
}
