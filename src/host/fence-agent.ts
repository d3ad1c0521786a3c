// Host.fenceNode: runs a fence agent (`<fence_agent_dir>/fence_<agent>`, from the fence-agents package)
// as a child process, as vdsm does: its options, the password among them, go on its standard input,
// never on its command line (where `ps` would show them) nor in any log. The agent name is checked (no
// path tricks), the child has its own process group and a time limit, after which the group is killed:
// a hung agent fails the call, never the daemon, whose main thread only waits on pipe and exit events
// (runtime/script-process.ts, the same runner as the hook scripts).
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Errors, vdsmError } from '../errors.js';
import type { Timers } from '../runtime/clock.js';
import { runScript } from '../runtime/script-process.js';

export const FENCE_ACTIONS = ['status', 'on', 'off', 'reboot'] as const;
export type FenceAction = (typeof FENCE_ACTIONS)[number];

export interface FenceRequest {
  addr: string;
  port: string;
  agent: string;
  username: string;
  password: string;
  action: FenceAction;
  secure: boolean;
  /** Extra agent options, `key=value` lines, passed on as they are. */
  options: string;
  policy?: unknown;
}

/** What the engine reads: `power` (status) or `power` and `operationStatus` (on, off, reboot). */
export interface FenceResult {
  power: string;
  operationStatus?: string;
}

export interface FenceAgentOptions {
  /** [vars] fence_agent_dir. */
  dir: string;
  /** [vars] fence_timeout, in ms. */
  timeoutMs: number;
  log: Logger;
  /** The time limit's timer (real timers by default). */
  timers?: Timers;
}

/** Output kept of each of stdout and stderr (agents print a line or two; a runaway one is cut). */
const MAX_OUTPUT = 64 * 1024;
const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

interface Run {
  rc: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  timedOut: boolean;
}

export class FenceAgents {
  constructor(private readonly o: FenceAgentOptions) {}

  /** The agent's standard input: vdsm's key=value lines. */
  static input(req: FenceRequest): string {
    let text = `agent=fence_${req.agent}\nipaddr=${req.addr}\nlogin=${req.username}\naction=${req.action}\npasswd=${req.password}\n`;
    if (req.port !== '') text += `port=${req.port}\n`;
    if (req.secure) text += 'secure=yes\n';
    return text + req.options;
  }

  async fence(req: FenceRequest): Promise<FenceResult> {
    if (!(FENCE_ACTIONS as readonly string[]).includes(req.action)) throw vdsmError(Errors.INVALID_PARAMETER, `illegal action ${String(req.action)}`);
    // One option per line: a value with a line break would smuggle further options in (ipmitool_path=...).
    for (const k of ['addr', 'port', 'username', 'password'] as const) {
      if (/[\r\n\0]/.test(req[k])) throw vdsmError(Errors.INVALID_PARAMETER, `Invalid parameter: ${k} must be one line`);
    }
    if (!AGENT_NAME.test(req.agent)) throw vdsmError(Errors.UNSUPPORTED_FENCE_AGENT, `Unsupported fencing agent: ${JSON.stringify(req.agent)} is not an agent name`);
    // vdsm skips on/off/reboot when the policy's storage leases show the host alive; this host holds
    // no sanlock leases to ask, so (as vdsm does when it cannot tell) the action goes ahead.
    if (req.action !== 'status' && req.policy !== undefined && req.policy !== null) this.o.log.info({ agent: req.agent, addr: req.addr }, 'fence policy not checked: no host leases on this host');
    const run = await this.#run(req);
    const where = { agent: req.agent, addr: req.addr, port: req.port, action: req.action };
    const output = redact(run.out, req.password).trim();
    if (run.timedOut) {
      this.o.log.error({ ...where, timeoutS: this.o.timeoutMs / 1000 }, 'fence agent did not finish in time; killed');
      throw vdsmError(Errors.FENCE_FAILED, `fence_${req.agent} did not finish within ${this.o.timeoutMs / 1000} s and was killed ([vars] fence_timeout)`);
    }
    const rc = run.rc ?? -1;
    this.o.log.info({ ...where, rc, ...(run.signal !== null ? { signal: run.signal } : {}) }, 'fence agent finished');
    if (output !== '') this.o.log.debug({ ...where, output }, 'fence agent output');
    const failure = output !== '' ? output : `fence_${req.agent} exited with ${run.signal !== null ? `signal ${run.signal}` : `status ${rc}`}`;
    if (req.action === 'status') {
      if (rc === 0) return { power: 'on' };
      if (rc === 2) return { power: 'off' };
      throw vdsmError(Errors.FENCE_FAILED, failure);
    }
    if (rc !== 0) throw vdsmError(Errors.FENCE_FAILED, failure);
    return { power: 'unknown', operationStatus: 'initiated' };
  }

  async #run(req: FenceRequest): Promise<Run> {
    const script = join(this.o.dir, `fence_${req.agent}`);
    const run = await runScript(script, {
      env: process.env, input: FenceAgents.input(req),
      onSpawn: (pid) => this.o.log.info({ agent: req.agent, addr: req.addr, action: req.action, pid }, 'fence agent started'),
      timeoutMs: this.o.timeoutMs, outputLimit: MAX_OUTPUT, ...(this.o.timers ? { timers: this.o.timers } : {}) });
    if (run.spawnError !== undefined) {
      if (run.spawnCode === 'ENOENT' || run.spawnCode === 'EACCES') throw vdsmError(Errors.UNSUPPORTED_FENCE_AGENT, `Unsupported fencing agent: ${script} ${run.spawnCode === 'ENOENT' ? 'does not exist' : 'cannot be run'}`);
      throw vdsmError(Errors.FENCE_FAILED, `${script}: ${run.spawnError}`);
    }
    return { rc: run.rc, signal: run.signal, out: run.stdout.text + run.stderr.text, timedOut: run.timedOut };
  }
}

/** The output with the password masked (an agent may echo its input when it fails). */
function redact(text: string, password: string): string {
  return password === '' ? text : text.split(password).join('********');
}
