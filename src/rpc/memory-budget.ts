// One memory budget for every connection's buffered input (partial frames) and unsent output: whatever
// clients do, what the server holds for them stays under the budget. Each holder reports its current
// usage; when the total goes over, the greediest holder is dropped (it frees its buffers at once).
// Runtime-free: holders are objects with a drop() method.

/** Default budget: [addresses] max_buffered_bytes. */
export const DEFAULT_MEMORY_BUDGET = 256 * 1024 * 1024;

export interface BudgetHolder {
  readonly client: string;
  /** Give up everything held (close the connection); the holder then reports 0 or is removed. */
  drop(reason: string, usage: number): void;
}

export interface BudgetState {
  limit: number;
  used: number;
  peak: number;
  holders: number;
  dropped: number;
}

export class MemoryBudget {
  readonly limit: number;
  #usage = new Map<BudgetHolder, number>();
  #used = 0;
  #peak = 0;
  #dropped = 0;
  #dropping = false;
  #onDrop: ((holder: BudgetHolder, usage: number, used: number) => void) | undefined;

  constructor(limit: number, onDrop?: (holder: BudgetHolder, usage: number, used: number) => void) {
    this.limit = limit;
    this.#onDrop = onDrop;
  }

  get used(): number {
    return this.#used;
  }

  /** The holder now holds `bytes`; over budget, the greediest holders are dropped until it fits. */
  update(holder: BudgetHolder, bytes: number): void {
    const before = this.#usage.get(holder) ?? 0;
    if (bytes === before) return;
    if (bytes <= 0) this.#usage.delete(holder);
    else this.#usage.set(holder, bytes);
    this.#used += Math.max(0, bytes) - before;
    if (this.#used > this.#peak) this.#peak = this.#used;
    if (this.#used > this.limit && !this.#dropping) this.#enforce();
  }

  /** The holder is gone. */
  remove(holder: BudgetHolder): void {
    this.update(holder, 0);
  }

  state(): BudgetState {
    return { limit: this.limit, used: this.#used, peak: this.#peak, holders: this.#usage.size, dropped: this.#dropped };
  }

  #enforce(): void {
    this.#dropping = true;
    try {
      while (this.#used > this.limit) {
        let greediest: BudgetHolder | undefined;
        let most = 0;
        for (const [h, n] of this.#usage) {
          if (n > most) {
            most = n;
            greediest = h;
          }
        }
        if (!greediest) return;
        this.#dropped++;
        this.#onDrop?.(greediest, most, this.#used);
        this.#usage.delete(greediest);
        this.#used -= most;
        greediest.drop(`memory budget of ${this.limit} bytes reached; this connection held ${most} bytes`, most);
      }
    } finally {
      this.#dropping = false;
    }
  }
}
