// vdsm's DynamicBoundedSemaphore for migrations: a count of slots whose bound the engine may change per
// migration (outgoingLimit / incomingLimit). Outgoing migrations wait for a slot in order (a waiter can
// give up: a cancelled migration leaves the queue); incoming ones only try, and are refused at once.
export class MigrationSlots {
  readonly name: string;
  #bound: number;
  #taken = 0;
  #waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(name: string, bound: number) {
    this.name = name;
    this.#bound = Math.max(1, bound);
  }

  get bound(): number {
    return this.#bound;
  }

  get taken(): number {
    return this.#taken;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** A new bound (at least 1); raising it lets waiters in, lowering it only affects later acquisitions. */
  setBound(bound: number): void {
    this.#bound = Math.max(1, Math.trunc(bound));
    this.#wake();
  }

  /** Take a slot now if one is free. */
  tryAcquire(): boolean {
    if (this.#taken >= this.#bound || this.#waiters.length > 0) return false;
    this.#taken++;
    return true;
  }

  /**
   * Wait for a slot, in order. `signal` aborts the wait (the promise rejects with the signal's reason);
   * a slot granted is the caller's to release.
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  release(): void {
    if (this.#taken === 0) return;
    this.#taken--;
    this.#wake();
  }

  #wake(): void {
    while (this.#taken < this.#bound && this.#waiters.length > 0) {
      this.#taken++;
      this.#waiters.shift()!.resolve();
    }
  }

  describe(): { bound: number; taken: number; waiting: number } {
    return { bound: this.#bound, taken: this.#taken, waiting: this.#waiters.length };
  }
}
