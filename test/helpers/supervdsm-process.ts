// Runs the real supervdsmd program as root (as systemd would) and reads its JSON log lines to learn
// when it serves; signals for the tests that stop, freeze or kill it.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { JsonLineProcess } from './json-line-process.js';

export const SUPERVDSMD = fileURLToPath(new URL('../../src/bin/supervdsmd.js', import.meta.url));

export class SupervdsmProcess extends JsonLineProcess {
  /** The program's argument vector (node's, without the node binary). */
  get argv(): string[] {
    return this.child.spawnargs.slice(1);
  }

  /** Start supervdsmd with `args` (--set ...), optionally inside a network namespace, and wait until it serves its socket. */
  static async start(args: readonly string[], opts: { netns?: string } = {}): Promise<SupervdsmProcess> {
    const argv = [process.execPath, SUPERVDSMD, ...args];
    // In a network namespace of the test (`ip netns exec` execs node: the helper keeps the child's pid).
    if (opts.netns !== undefined) argv.unshift('ip', 'netns', 'exec', opts.netns);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, JOURNAL_STREAM: '' } });
    const p = new SupervdsmProcess('supervdsmd', child);
    await p.waitForLog((l) => l['msg'] === 'supervdsmd serving', 30_000);
    return p;
  }
}
