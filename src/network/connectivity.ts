// setupNetworks' connectivity check: after a change is applied, the engine must reach the host again
// within connectivityTimeout seconds, or the change is rolled back. "Reach" is Host.confirmConnectivity
// or Host.ping (what vdsm counts), or any other request arriving from a non-loopback peer (a request
// that got here proves the path; a local vdsm-client proves nothing about the engine's). Only what
// arrives after the change was applied counts. Clock and timers are injected.
import type { Clock, Timers } from '../runtime/clock.js';

export type Confirmation = 'confirmConnectivity' | 'request';

interface Waiter {
  armedAt: number;
  resolve: (seen: { how: Confirmation; afterMs: number } | undefined) => void;
  timer: unknown;
}

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined || address === '') return true;
  const a = address.toLowerCase().replace(/^::ffff:/, '');
  return a === '::1' || a.startsWith('127.');
}

export class ConnectivityCheck {
  #clock: Clock;
  #timers: Timers;
  #waiters = new Set<Waiter>();
  #lastSeen: { at: number; how: Confirmation } | undefined;

  constructor(clock: Clock, timers: Timers) {
    this.#clock = clock;
    this.#timers = timers;
  }

  /** Record that the engine reached us. */
  seen(how: Confirmation): void {
    const at = this.#clock.now();
    this.#lastSeen = { at, how };
    for (const w of [...this.#waiters]) {
      this.#waiters.delete(w);
      this.#timers.clearTimeout(w.timer);
      w.resolve({ how, afterMs: at - w.armedAt });
    }
  }

  /** A request arrived (any verb): counts unless it came over loopback. */
  request(method: string, peerAddress: string | undefined): void {
    if (method === 'Host.confirmConnectivity' || method === 'Host.ping') this.seen('confirmConnectivity');
    else if (this.#waiters.size > 0 && !isLoopback(peerAddress)) this.seen('request');
  }

  /** Resolves with how the engine showed up, or undefined when `timeoutMs` passed first. */
  wait(timeoutMs: number): Promise<{ how: Confirmation; afterMs: number } | undefined> {
    return new Promise((resolve) => {
      const w: Waiter = { armedAt: this.#clock.now(), resolve, timer: undefined };
      w.timer = this.#timers.setTimeout(() => {
        if (!this.#waiters.delete(w)) return;
        resolve(undefined);
      }, Math.max(0, timeoutMs));
      this.#waiters.add(w);
    });
  }

  get waiting(): number {
    return this.#waiters.size;
  }

  state(): Record<string, unknown> {
    return { waiting: this.#waiters.size, lastSeen: this.#lastSeen ?? null };
  }
}
