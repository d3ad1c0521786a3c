// Exclusive, named, asynchronous locks: what vdsm's resource manager gives the storage verbs
// (getExclusiveLock(STORAGE, spUUID) and the like) so that, e.g., the engine's two StoragePool.connect
// calls in a row, or spmStart racing spmStop, run one after the other. Main thread only; no timeouts:
// the work under a lock is bounded by the storage timeout of each worker call.
export class ResourceLocks {
  #tails = new Map<string, Promise<void>>();

  /** Run `fn` once every earlier holder of every name in `names` is done (names taken in sorted order). */
  async with<T>(names: readonly string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(names)].sort();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const before = sorted.map((n) => this.#tails.get(n) ?? Promise.resolve());
    for (const n of sorted) this.#tails.set(n, mine);
    try {
      await Promise.all(before);
      return await fn();
    } finally {
      release();
      for (const n of sorted) if (this.#tails.get(n) === mine) this.#tails.delete(n);
    }
  }

  held(): string[] {
    return [...this.#tails.keys()];
  }
}
