// One-at-a-time sections by name (a KSM or hugepage read-modify-write, one udev rule file): calls
// with the same key run in arrival order, different keys run concurrently.

export class KeyedMutex {
  #tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const mine = prev.then(fn, fn);
    const tail = mine.catch(() => undefined);
    this.#tails.set(key, tail);
    try {
      return await mine;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Keys with a section running or waiting. */
  get held(): number {
    return this.#tails.size;
  }
}
