// Runs vdsmd as a child process (the real program, as systemd would) on a free port with its own state
// directory, and reads its JSON log lines to learn the port and when it is ready.
import { spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VDSMD = fileURLToPath(new URL('../../src/bin/vdsmd.js', import.meta.url));

export interface AgentProcessOptions {
  /** Extra vdsmd arguments, e.g. ['--set', 'libvirt.uri=test:///x.xml']. */
  args?: string[];
  /** Profile (default dev: plain TCP, 127.0.0.1, embedded test driver). */
  profile?: string;
  /** Reuse a state directory (agent restarts); a fresh temporary one otherwise. */
  stateDir?: string;
  /** Extra environment (NOTIFY_SOCKET, WATCHDOG_USEC, VDSM_TEST_HOOKS). */
  env?: Record<string, string>;
  /** Run directory (shared with a supervdsmd); default <stateDir>/run. */
  runDir?: string;
  /** Run vdsmd as this account (through setpriv, as the unit's User=/Group= would); its state dir is given to it. */
  asUser?: { uid: number; gid: number };
}

export class AgentProcess {
  readonly stateDir: string;
  readonly lines: Record<string, unknown>[] = [];
  port = 0;
  #child: ChildProcess;
  #ownsDir: boolean;
  #waiters: (() => void)[] = [];
  #exited: Promise<number | null>;

  private constructor(child: ChildProcess, stateDir: string, ownsDir: boolean) {
    this.#child = child;
    this.stateDir = stateDir;
    this.#ownsDir = ownsDir;
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
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => this.lines.push({ stderr: chunk }));
    this.#exited = new Promise((resolve) => child.on('exit', (code) => { resolve(code); for (const w of this.#waiters.splice(0)) w(); }));
  }

  static async start(opts: AgentProcessOptions = {}): Promise<AgentProcess> {
    const ownsDir = opts.stateDir === undefined;
    const stateDir = opts.stateDir ?? await mkdtemp(join(tmpdir(), 'vdsm-agent-'));
    if (opts.asUser !== undefined) await chown(stateDir, opts.asUser.uid, opts.asUser.gid);
    const args = [
      VDSMD, '--profile', opts.profile ?? 'dev',
      '--set', 'addresses.management_port=0',
      '--set', `vars.state_dir=${stateDir}`,
      '--set', `vars.run_dir=${opts.runDir ?? join(stateDir, 'run')}`,
      ...(opts.args ?? []),
    ];
    const env = { ...process.env, JOURNAL_STREAM: '', ...opts.env };
    const child = opts.asUser === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
      : spawn('setpriv', [`--reuid=${opts.asUser.uid}`, `--regid=${opts.asUser.gid}`, '--clear-groups', '--', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const agent = new AgentProcess(child, stateDir, ownsDir);
    const listening = await agent.waitForLog((l) => l['msg'] === 'vdsm-node serving the management port', 20_000);
    agent.port = listening['port'] as number;
    return agent;
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** Send a signal to vdsmd. */
  signal(sig: NodeJS.Signals): void {
    this.#child.kill(sig);
  }

  /** Resolve with the first log line (past or future) matching `pred`. */
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`vdsmd log line not seen in ${timeoutMs} ms; last lines:\n${this.tail()}`)), timeoutMs);
      const check = (): void => {
        const hit = this.lines.find(pred);
        if (hit) { clearTimeout(timer); resolve(hit); return; }
        if (this.#child.exitCode !== null) { clearTimeout(timer); reject(new Error(`vdsmd exited with ${this.#child.exitCode}:\n${this.tail()}`)); return; }
        this.#waiters.push(check);
      };
      check();
    });
  }

  /** The vdsmd process id (setpriv execs node in place, so it is the same process). */
  get pid(): number {
    return this.#child.pid!;
  }

  whenReady(timeoutMs = 20_000): Promise<Record<string, unknown>> {
    return this.waitForLog((l) => l['msg'] === 'vdsm-node ready', timeoutMs);
  }

  tail(n = 20): string {
    return this.lines.slice(-n).map((l) => JSON.stringify(l)).join('\n');
  }

  /** SIGTERM and wait for the exit code. */
  async stop(): Promise<number | null> {
    if (this.#child.exitCode === null) this.#child.kill('SIGTERM');
    return this.#exited;
  }

  /** SIGKILL: the agent dies without any cleanup (a crash). */
  async kill(): Promise<void> {
    if (this.#child.exitCode === null) this.#child.kill('SIGKILL');
    await this.#exited;
  }

  async cleanup(): Promise<void> {
    await this.kill();
    if (this.#ownsDir) await rm(this.stateDir, { recursive: true, force: true });
  }
}
