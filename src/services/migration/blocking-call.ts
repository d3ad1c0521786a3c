// The record of one libvirt call that may block without limit (an outgoing migration's migrateToURI3, a
// hibernation's save): whether it still runs and for how long, for /health and the logs. The call's
// outcome itself is the caller's; this only notes when it started and how it ended.
import { errorMessage } from '../../errors.js';
import type { Clock } from '../../runtime/clock.js';

export class BlockingCall {
  readonly #clock: Clock;
  #state: 'idle' | 'running' | 'ok' | 'error' = 'idle';
  #startedAt: number | undefined;
  #endedAt: number | undefined;
  #error: string | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  /** How long the call blocked, once it returned (ms). */
  get blockedMs(): number | undefined {
    return this.#endedAt === undefined ? undefined : Math.round(this.#endedAt - this.#startedAt!);
  }

  /** Note `call` as running from now; the promise returned settles as it does, after its end is noted. */
  track<T>(call: Promise<T>): Promise<T> {
    this.#state = 'running';
    this.#startedAt = this.#clock.now();
    this.#endedAt = undefined;
    this.#error = undefined;
    return call.then(
      (value) => {
        this.#end('ok');
        return value;
      },
      (err: unknown) => {
        this.#end('error', errorMessage(err));
        throw err;
      },
    );
  }

  /** For /health: running with how long so far, or how it ended. */
  describe(now: number): Record<string, unknown> {
    if (this.#state === 'running') return { state: 'running', runningMs: Math.round(now - this.#startedAt!) };
    return {
      state: this.#state,
      ...(this.#startedAt !== undefined ? { startedAt: this.#startedAt } : {}),
      ...(this.#endedAt !== undefined ? { endedAt: this.#endedAt } : {}),
      ...(this.#error !== undefined ? { error: this.#error } : {}),
    };
  }

  #end(state: 'ok' | 'error', error?: string): void {
    this.#state = state;
    this.#endedAt = this.#clock.now();
    this.#error = error;
  }
}
