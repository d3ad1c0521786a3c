// A bounded window of recent samples with lifetime count and max, for percentile statistics that
// long-lived parts (Scheduler lateness, Executor task times) expose in their state without growing.

export interface WindowStats {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export class SampleWindow {
  #buf: Float64Array;
  #next = 0;
  #filled = 0;
  #count = 0;
  #max = 0;

  constructor(size = 4096) {
    this.#buf = new Float64Array(size);
  }

  add(v: number): void {
    this.#buf[this.#next] = v;
    this.#next = (this.#next + 1) % this.#buf.length;
    if (this.#filled < this.#buf.length) this.#filled++;
    this.#count++;
    if (v > this.#max) this.#max = v;
  }

  /** p50 and p99 over the window; count and max over the lifetime. */
  stats(): WindowStats {
    const sorted = this.#buf.slice(0, this.#filled).sort();
    const at = (q: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : 0);
    return { count: this.#count, p50: at(0.5), p99: at(0.99), max: this.#max };
  }
}
