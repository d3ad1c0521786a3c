// systemd's watchdog (WatchdogSec= in vdsmd.service): WATCHDOG=1 is sent every WATCHDOG_USEC/3 from a
// timer on the main thread, and only while the agent makes progress:
// - the main loop: the timer itself runs on it, so a wedged loop sends nothing;
// - the Scheduler: a canary call scheduled at each tick must have run by the next one;
// - every Executor: one with queued tasks must start or finish a task within `executorStallMs`
//   (default: the watchdog timeout plus a JSON-RPC verb's 60 s call timeout, since a task stuck that
//   long is discarded and replaced, which is progress).
// A wedged agent thus stops pinging and systemd kills and restarts it (Restart=always).
import type { Logger } from 'pino';
import type { Clock, Timers } from '../../runtime/clock.js';
import type { ScheduledCall } from '../../runtime/scheduler.js';

/** What the watchdog needs of an Executor: cheap counters. */
export interface WatchedExecutor {
  readonly name: string;
  counts(): { queued: number; running: number };
  stats(): { completed: number; failed: number; discarded: number };
}

export interface WatchedScheduler {
  readonly running: boolean;
  schedule(delayMs: number, fn: () => void, name?: string): ScheduledCall;
}

export interface WatchdogOptions {
  /** Sends one WATCHDOG=1 message; `fields` are extra sd_notify assignments for diagnosis. */
  ping: (fields: Record<string, string>) => void;
  env?: NodeJS.ProcessEnv;
  scheduler: WatchedScheduler;
  executors: readonly WatchedExecutor[];
  clock: Clock;
  timers: Timers;
  log: Logger;
  /** Default: watchdog timeout + 60 s. */
  executorStallMs?: number;
}

/** The watchdog timeout systemd asks for, in ms, or undefined when no watchdog is armed for us. */
export function watchdogTimeoutMs(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = Number(env['WATCHDOG_USEC']);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  const wpid = env['WATCHDOG_PID'];
  if (wpid !== undefined && wpid !== '' && Number(wpid) !== pid) return undefined;
  return usec / 1000;
}

interface ExecutorProgress {
  mark: number;
  since: number;
}

export class Watchdog {
  readonly timeoutMs: number | undefined;
  #o: WatchdogOptions;
  #timer: unknown = undefined;
  #canary: ScheduledCall | undefined;
  #canaryRan = true;
  #progress = new Map<string, ExecutorProgress>();
  #stallMs: number;
  #pings = 0;
  #withheld = 0;
  #lastReason: string | undefined;
  #running = false;

  constructor(opts: WatchdogOptions) {
    this.#o = opts;
    this.timeoutMs = watchdogTimeoutMs(opts.env ?? process.env);
    this.#stallMs = opts.executorStallMs ?? (this.timeoutMs ?? 0) + 60_000;
  }

  get enabled(): boolean {
    return this.timeoutMs !== undefined;
  }

  /** Ping interval: a third of the timeout, so one late tick still arrives in time. */
  get intervalMs(): number {
    return (this.timeoutMs ?? 0) / 3;
  }

  start(): void {
    if (!this.enabled || this.#running) return;
    this.#running = true;
    this.#o.log.info({ timeout_ms: this.timeoutMs, interval_ms: Math.round(this.intervalMs), executor_stall_ms: this.#stallMs }, 'systemd watchdog armed: WATCHDOG=1 while the main loop, the scheduler and the executors make progress');
    this.tick();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#canary?.cancel();
  }

  /** One check (the timer calls it; tests may too): ping when everything made progress. */
  tick(): void {
    const reason = this.#stalled();
    if (reason === undefined) {
      this.#pings++;
      this.#o.ping({ VDSM_WATCHDOG_SEQ: String(this.#pings), VDSM_WATCHDOG_AT: this.#o.clock.now().toFixed(3) });
      if (this.#lastReason !== undefined) this.#o.log.warn({ withheld: this.#withheld }, 'watchdog: progress again, pinging systemd');
    } else {
      this.#withheld++;
      if (reason !== this.#lastReason) this.#o.log.error({ reason, timeout_ms: this.timeoutMs }, `watchdog: not pinging systemd: ${reason}`);
    }
    this.#lastReason = reason;
    this.#armCanary();
    if (this.#running) {
      this.#timer = this.#o.timers.setTimeout(() => {
        this.#timer = undefined;
        if (this.#running) this.tick();
      }, this.intervalMs);
      (this.#timer as { unref?: () => void } | undefined)?.unref?.();
    }
  }

  state(): Record<string, unknown> {
    return { enabled: this.enabled, timeout_ms: this.timeoutMs ?? null, pings: this.#pings, withheld: this.#withheld, stalled: this.#lastReason ?? null };
  }

  /** Why not to ping, or undefined when the scheduler and every executor made progress. */
  #stalled(): string | undefined {
    if (!this.#canaryRan) return 'the scheduler did not run a call due one interval ago';
    const now = this.#o.clock.now();
    for (const e of this.#o.executors) {
      const c = e.counts();
      const s = e.stats();
      const mark = s.completed + s.failed + s.discarded;
      const p = this.#progress.get(e.name);
      if (p === undefined || p.mark !== mark || c.queued === 0) {
        this.#progress.set(e.name, { mark, since: now });
        continue;
      }
      if (now - p.since > this.#stallMs) return `executor ${e.name} has ${c.queued} queued task(s) and finished none for ${Math.round((now - p.since) / 1000)} s`;
    }
    return undefined;
  }

  #armCanary(): void {
    if (!this.#o.scheduler.running) return;
    // Keep the previous canary while it is outstanding: its age is what tells a stall.
    if (this.#canary?.valid === true) return;
    this.#canary = this.#o.scheduler.schedule(0, () => {
      this.#canaryRan = true;
    }, 'watchdog-canary');
    this.#canaryRan = false;
  }
}
