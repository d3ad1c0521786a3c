// Log lines for things that repeat per VM (a dead agent failing every call, a guest sending garbage all
// day): one line when a key's state changes, carrying how many times the previous state repeated, and
// counts instead of lines in between. KubeVirt's agent poller logged ~100k lines in one CI run; this
// logs two per outage.

export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface LineSink {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

interface Entry {
  state: string;
  /** Occurrences of `state` since it was entered (the first included). */
  count: number;
  since: number;
}

export class DedupLog {
  #sink: LineSink;
  #now: () => number;
  #entries = new Map<string, Entry>();
  #lines = 0;
  #suppressed = 0;

  constructor(sink: LineSink, now: () => number) {
    this.#sink = sink;
    this.#now = now;
  }

  /** Lines written and occurrences counted without a line, since creation. */
  get stats(): { lines: number; suppressed: number; keys: number } {
    return { lines: this.#lines, suppressed: this.#suppressed, keys: this.#entries.size };
  }

  /**
   * `key` is (now) in `state`. Logs when the state differs from the last one recorded for the key, with
   * `previous` and `repeats` (occurrences of the previous state) in the fields; otherwise only counts.
   * Returns whether a line was written. `times` counts several occurrences at once.
   */
  change(key: string, state: string, level: Level, fields: Record<string, unknown>, msg: string, times = 1): boolean {
    const e = this.#entries.get(key);
    if (e !== undefined && e.state === state) {
      e.count += times;
      this.#suppressed += times;
      return false;
    }
    const extra = e === undefined ? {} : { previous: e.state, repeats: e.count, previousForMs: Math.round(this.#now() - e.since) };
    this.#entries.set(key, { state, count: times, since: this.#now() });
    this.#suppressed += times - 1;
    this.#write(level, { ...fields, ...extra }, msg);
    return true;
  }

  /** Log the first occurrence of `key`; later ones are counted until forget(). */
  once(key: string, level: Level, fields: Record<string, unknown>, msg: string, times = 1): boolean {
    return this.change(key, 'seen', level, fields, msg, times);
  }

  /** How many times `key`'s current state occurred (0 if unknown). */
  count(key: string): number {
    return this.#entries.get(key)?.count ?? 0;
  }

  state(key: string): string | undefined {
    return this.#entries.get(key)?.state;
  }

  /**
   * Forget every key starting with `prefix` (a VM went away). Keys whose state repeated get one summary
   * line at `level`, so no occurrence goes unreported.
   */
  forget(prefix: string, level: Level, fields: Record<string, unknown>, msg: string): void {
    const repeated: Record<string, number> = {};
    for (const [key, e] of this.#entries) {
      if (!key.startsWith(prefix)) continue;
      this.#entries.delete(key);
      if (e.count > 1) repeated[key.slice(prefix.length)] = e.count;
    }
    if (Object.keys(repeated).length > 0) this.#write(level, { ...fields, counts: repeated }, msg);
  }

  #write(level: Level, fields: Record<string, unknown>, msg: string): void {
    this.#lines++;
    this.#sink[level](fields, msg);
  }
}
