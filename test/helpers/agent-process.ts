// Runs vdsmd as a child process (the real program, as systemd would) on a free port with its own state
// directory, and reads its JSON log lines to learn the port and when it is ready.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonLineProcess } from './json-line-process.js';

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
  /** Run node under this command, e.g. ['prlimit', '--nofile=600:600']. */
  wrapper?: string[];
  /** A command that execs node in place, e.g. ['nsenter', '--net=/run/netns/x'] (same pid, so signals reach vdsmd); before `wrapper`. */
  prefix?: string[];
  /** Run the agent inside this network namespace (`ip netns exec`, which execs node: same pid). */
  netns?: string;
}

/**
 * State directories made here, removed when the test process exits: a test may stop an agent with
 * stop() or kill() and start another on the same directory (agent.stateDir), so nothing is removed
 * before then (cleanup() removes its own at once).
 */
const ownedDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
});

export class AgentProcess extends JsonLineProcess {
  readonly stateDir: string;
  port = 0;
  #ownsDir: boolean;

  private constructor(child: ChildProcess, stateDir: string, ownsDir: boolean) {
    super('vdsmd', child);
    this.stateDir = stateDir;
    this.#ownsDir = ownsDir;
  }

  static async start(opts: AgentProcessOptions = {}): Promise<AgentProcess> {
    const ownsDir = opts.stateDir === undefined;
    const stateDir = opts.stateDir ?? await mkdtemp(join(tmpdir(), 'vdsm-agent-'));
    if (ownsDir) ownedDirs.add(stateDir);
    if (opts.asUser !== undefined) await chown(stateDir, opts.asUser.uid, opts.asUser.gid);
    const args = [
      VDSMD, '--profile', opts.profile ?? 'dev',
      '--set', 'addresses.management_port=0',
      '--set', `vars.state_dir=${stateDir}`,
      '--set', `vars.run_dir=${opts.runDir ?? join(stateDir, 'run')}`,
      ...(opts.args ?? []),
    ];
    const env = { ...process.env, JOURNAL_STREAM: '', ...opts.env };
    const node = [process.execPath, ...args];
    const user = opts.asUser === undefined ? node : ['setpriv', `--reuid=${opts.asUser.uid}`, `--regid=${opts.asUser.gid}`, '--clear-groups', '--', ...node];
    // `ip netns exec` execs its command: the agent keeps the child's pid.
    const argv = [...(opts.prefix ?? []), ...(opts.netns === undefined ? [] : ['ip', 'netns', 'exec', opts.netns]), ...(opts.wrapper ?? []), ...user];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
    const agent = new AgentProcess(child, stateDir, ownsDir);
    const listening = await agent.waitForLog((l) => l['msg'] === 'vdsm-node serving the management port', 20_000);
    agent.port = listening['port'] as number;
    return agent;
  }

  /** Send a signal to vdsmd. */
  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }
  whenReady(timeoutMs = 20_000): Promise<Record<string, unknown>> {
    return this.waitForLog((l) => l['msg'] === 'vdsm-node ready', timeoutMs);
  }

  async cleanup(): Promise<void> {
    await this.kill();
    if (this.#ownsDir) {
      await rm(this.stateDir, { recursive: true, force: true });
      ownedDirs.delete(this.stateDir);
    }
  }
}
