// virsh as an independent libvirt client for the real-VM tier: it checks what our own binding and VM
// code do against a real daemon, without sharing a line of code with them. Async child processes only.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Errors, vdsmError } from '../../../src/errors.js';
import { waitFor } from './wait-for.js';

export interface VirshOptions {
  readonly binary?: string;
  /** Per-command limit (default 60 s): a virsh stuck on a dead daemon must not hang the test. */
  readonly timeoutMs?: number;
}

export interface VirshEvent {
  /** virsh's timestamp, e.g. "2026-11-25 11:16:07.911+0000". */
  readonly time: string;
  /** Event name: lifecycle, agent-lifecycle, reboot, … */
  readonly type: string;
  readonly domain: string;
  /** The rest of the line, e.g. "Started Booted" or "state: 'connected' reason: 'channel event'". */
  readonly detail: string;
}

const EVENT_RE = /^(\S+ \S+): event '([^']+)' for domain '([^']*)': (.*)$/;

/** Parse `key=value` lines of `virsh domstats` into one record per domain. */
export function parseDomstats(text: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const line of text.split('\n')) {
    const dom = /^Domain: '(.*)'$/.exec(line.trim());
    if (dom) {
      current = {};
      out.set(dom[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current && eq > 0) current[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return out;
}

/** `virsh event --all --loop` running in the background, collecting parsed events. */
export class VirshEventWatcher {
  readonly events: VirshEvent[] = [];
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  constructor(child: ChildProcess) {
    this.#child = child;
    this.#exited = new Promise((res) => {
      child.once('exit', () => res());
      child.once('error', () => res());
    });
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const m = EVENT_RE.exec(line);
      if (m) this.events.push({ time: m[1]!, type: m[2]!, domain: m[3]!, detail: m[4]! });
    });
  }

  /** Resolve with the first matching event, waiting up to `timeoutMs` for it to arrive. */
  waitFor(match: (e: VirshEvent) => boolean, timeoutMs: number, what = 'a libvirt event'): Promise<VirshEvent> {
    return waitFor(() => this.events.find(match), { timeoutMs, intervalMs: 100, what });
  }

  describe(): Record<string, unknown> {
    return { pid: this.#child.pid, events: this.events.length };
  }

  async close(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    await this.#exited;
  }
}

export class Virsh {
  readonly uri: string;
  readonly #binary: string;
  readonly #timeoutMs: number;

  constructor(uri: string, options: VirshOptions = {}) {
    this.uri = uri;
    this.#binary = options.binary ?? 'virsh';
    this.#timeoutMs = options.timeoutMs ?? 60000;
  }

  /** Run `virsh -c URI …`; a non-zero exit becomes an ERR_LIBVIRT error carrying virsh's message. */
  run(args: readonly string[], timeoutMs = this.#timeoutMs): Promise<string> {
    return new Promise((resolvePromise, reject) => {
      execFile(this.#binary, ['-q', '-c', this.uri, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        if (err) {
          const detail = String(stderr).trim() || err.message;
          reject(vdsmError(Errors.LIBVIRT, `virsh ${args[0] ?? ''}: ${detail}`, { cause: err }));
        } else {
          resolvePromise(String(stdout));
        }
      });
    });
  }

  async create(xmlPath: string): Promise<void> {
    await this.run(['create', xmlPath]);
  }

  async destroy(domain: string): Promise<void> {
    await this.run(['destroy', domain]);
  }

  async shutdown(domain: string, mode?: 'agent' | 'acpi'): Promise<void> {
    await this.run(mode === undefined ? ['shutdown', domain] : ['shutdown', domain, '--mode', mode]);
  }

  /** "running", "shut off", … */
  async domstate(domain: string): Promise<string> {
    return (await this.run(['domstate', domain])).trim();
  }

  /** Names of all domains (running and defined). */
  async listAll(): Promise<string[]> {
    return (await this.run(['list', '--all', '--name'])).split('\n').map((s) => s.trim()).filter(Boolean);
  }

  /** Bulk stats of one domain; `groups` like ['state', 'cpu-total', 'balloon'] (default: all). */
  async domstats(domain: string, groups: readonly string[] = []): Promise<Record<string, string>> {
    const text = await this.run(['domstats', ...groups.map((g) => `--${g}`), domain]);
    const stats = parseDomstats(text).get(domain);
    if (!stats) throw vdsmError(Errors.LIBVIRT, `virsh domstats: no record for ${domain}`);
    return stats;
  }

  /** A qemu-ga command through libvirt; resolves with its `return` value. */
  async agentCommand(domain: string, execute: string, args?: Record<string, unknown>, timeoutSec = 5): Promise<unknown> {
    const cmd = JSON.stringify(args === undefined ? { execute } : { execute, arguments: args });
    const out = await this.run(['qemu-agent-command', domain, cmd, '--timeout', String(timeoutSec)]);
    return (JSON.parse(out) as { return: unknown }).return;
  }

  async dumpxml(domain: string): Promise<string> {
    return this.run(['dumpxml', domain]);
  }

  async domdisplay(domain: string): Promise<string> {
    return (await this.run(['domdisplay', domain])).trim();
  }

  /** Start `virsh event --all --loop --timestamp`; close() the watcher when done. */
  watchEvents(): VirshEventWatcher {
    const child = spawn(this.#binary, ['-q', '-c', this.uri, 'event', '--all', '--loop', '--timestamp'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return new VirshEventWatcher(child);
  }
}
