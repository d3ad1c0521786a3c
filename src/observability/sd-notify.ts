// Readiness and status notifications to systemd (the sd_notify protocol) for vdsmd.service's
// Type=notify. Node cannot send AF_UNIX datagrams itself, so this runs the systemd-notify program
// asynchronously (a few ms per call); that child is the sender, hence NotifyAccess=all in the unit.
// Without NOTIFY_SOCKET (not started by systemd) every call is a no-op.
import { execFile } from 'node:child_process';

export interface SdNotifierOptions {
  /** Environment to read NOTIFY_SOCKET from and pass on; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The systemd-notify program; default 'systemd-notify' from PATH. */
  command?: string;
  /** PID announced as the main PID with READY=1; default process.pid. */
  pid?: number;
  /** Bound on one call (systemd-notify waits for systemd to take the message); default 5000 ms. */
  timeoutMs?: number;
  /** Told about failures; a failed notification never throws. */
  onError?: (err: Error, message: readonly string[]) => void;
}

export interface SdNotifierState {
  enabled: boolean;
  socket: string | null;
  sent: number;
  failed: number;
  lastStatus: string | null;
}

export class SdNotifier {
  readonly #env: NodeJS.ProcessEnv;
  readonly #command: string;
  readonly #pid: number;
  readonly #timeoutMs: number;
  readonly #onError: ((err: Error, message: readonly string[]) => void) | undefined;
  #sent = 0;
  #failed = 0;
  #lastStatus: string | null = null;

  constructor(opts: SdNotifierOptions = {}) {
    this.#env = opts.env ?? process.env;
    this.#command = opts.command ?? 'systemd-notify';
    this.#pid = opts.pid ?? process.pid;
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#onError = opts.onError;
  }

  /** True when started by systemd with a notification socket. */
  get enabled(): boolean {
    const socket = this.#env['NOTIFY_SOCKET'];
    return socket !== undefined && socket !== '';
  }

  /** READY=1 (with MAINPID and an optional STATUS). Resolves true when systemd-notify succeeded. */
  ready(status?: string): Promise<boolean> {
    return this.#send(['--ready', `--pid=${this.#pid}`, ...(status === undefined ? [] : [`--status=${status}`])], status);
  }

  /** STATUS=text, shown by `systemctl status`. */
  status(text: string): Promise<boolean> {
    return this.#send([`--status=${text}`], text);
  }

  /** STOPPING=1: an orderly stop has begun. */
  stopping(status?: string): Promise<boolean> {
    return this.#send(['STOPPING=1', ...(status === undefined ? [] : [`STATUS=${status}`])], status);
  }

  /** WATCHDOG=1, the keep-alive of WatchdogSec=; `fields` are extra assignments systemd ignores (for diagnosis). */
  watchdog(fields: Record<string, string> = {}): Promise<boolean> {
    return this.#send(['WATCHDOG=1', ...Object.entries(fields).map(([k, v]) => `${k}=${v}`)], undefined);
  }

  toJSON(): SdNotifierState {
    return { enabled: this.enabled, socket: this.#env['NOTIFY_SOCKET'] ?? null, sent: this.#sent, failed: this.#failed, lastStatus: this.#lastStatus };
  }

  #send(args: readonly string[], status: string | undefined): Promise<boolean> {
    if (!this.enabled) return Promise.resolve(false);
    return new Promise((resolve) => {
      execFile(this.#command, [...args], { env: this.#env, timeout: this.#timeoutMs }, (err, _stdout, stderr) => {
        if (err === null) {
          this.#sent++;
          if (status !== undefined) this.#lastStatus = status;
          resolve(true);
          return;
        }
        this.#failed++;
        const detail = stderr.trim();
        this.#onError?.(detail === '' ? err : new Error(`${err.message}: ${detail}`, { cause: err }), args);
        resolve(false);
      });
    });
  }
}
