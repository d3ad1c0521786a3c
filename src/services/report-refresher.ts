// Rebuilds the VMs' serialised reports in the background (issue 17), so a getAllVmStats read only fills
// in the per-read fields of texts already built. After a new sample every running VM's report changes:
// at 1,000 VMs that is some tens of ms of work, which a read used to pay for. Here it is walked in short
// slices, yielding to the event loop between them (ping2 and other requests are answered in between),
// and paused while a read is being assembled (the read does not wait for rebuild slices between its own).
//
// Staleness bound: a read during a walk serves, for a VM the walk has not reached yet, the text built
// before the change: the previous sample's values, whole. So a read may show the previous sample for as
// long as one walk takes. A change that arrives during a walk makes the walk go once around every item
// again from where it is (not from the first item: changes coming faster than a walk would then starve
// the last ones), so a finished walk has seen every change made before it finished, and every item is
// refreshed within one walk's length of any change. While big replies leave back to back (no idle
// turn between them), the walk advances one slice per maxDeferMs. State changes are not deferred: the report cache
// checks a VM's state on every read (virt/vm-report-cache.ts).
//
// While the server still has replies to send, the walk waits (at most maxDeferMs): a multi-MB reply is
// written 64 KiB per loop turn, and a slice in each of those turns would add up to tens of ms. Every
// wait (a read's hold, a pause while busy) is followed by a turn of the loop and all the checks again,
// so a read's release is never followed by a slice before that read's reply is queued.
//
// What starts a walk: a new sample, a replaced domain, pid or drive sizes (the VM manager calls
// schedule()), and, as a safety net for an input that changes without telling, a read that comes at
// least `revalidateMs` after the last walk started. (Guest agent data, which arrives unannounced, is
// checked by the read itself: vm-report-cache.ts.)
//
// A walk that went round every item with no change pending ends with its owner's after() phase, in the
// same slices (the VM manager assembles the whole getAllVmStats reply from the rebuilt texts there, so
// no read after a sample has to: whole-reply.ts).
import type { Clock } from '../runtime/clock.js';

export interface ReportRefresherOptions<T> {
  /** What to walk, taken when a walk starts. */
  items: () => readonly T[];
  /** Bring one item's report up to date (cheap when nothing changed). */
  refresh: (item: T) => void;
  /** For the read-triggered walk's spacing. */
  clock: Clock;
  /** Clock of the slices (default performance.now). */
  now?: () => number;
  /** Work done before yielding to the event loop (default 1 ms). */
  sliceMs?: number;
  /** How a slice yields (default setImmediate: pending I/O is served before the next slice). */
  yieldToLoop?: () => Promise<void>;
  /** A read starts a walk when none started this long ago (default 1,000 ms). */
  revalidateMs?: number;
  /**
   * True while the server still has replies to send (unsent output): the walk waits (polling with
   * `pause`), so a big reply's chunks do not each wait behind a slice; but never longer than
   * `maxDeferMs` since its last slice (a client that does not read cannot stop the walk).
   */
  busy?: () => boolean;
  /** How a waiting walk waits before looking at busy() again (default: a 1 ms timer). */
  pause?: () => Promise<void>;
  /** Longest wait for busy() (slice clock, default 50 ms). */
  maxDeferMs?: number;
  onError?: (item: T, err: unknown) => void;
  /**
   * Work to finish a walk with, once it went around every item with no change pending (the VM manager
   * assembles the whole getAllVmStats reply from the rebuilt texts, off the read path): its steps run in
   * the walk's slices, held by reads and deferred while busy like the items. A change arriving before
   * the last step drops the rest (return() is called, so a generator's finally runs) and the walk goes
   * again; after() is asked anew at the end of that walk. Undefined: nothing to do this time.
   */
  after?: () => Iterator<unknown> | undefined;
  onAfterError?: (err: unknown) => void;
}

export interface ReportRefresherState {
  walks: number;
  running: boolean;
  /** Position of the running walk (items refreshed so far) and its length. */
  position: number;
  total: number;
  /** Reads holding the walk now. */
  holds: number;
}

const setImmediateYield = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const oneMs = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

export class ReportRefresher<T> {
  readonly #o: ReportRefresherOptions<T>;
  readonly #now: () => number;
  readonly #yield: () => Promise<void>;
  #running = false;
  /** A change arrived during the walk: start again from the first item. */
  #again = false;
  #holds = 0;
  #unpark: (() => void) | undefined;
  #idle: (() => void)[] = [];
  #walks = 0;
  #position = 0;
  #total = 0;
  #lastStart = Number.NEGATIVE_INFINITY;
  #closed = false;
  /** Slice clock at the end of the last slice (or the walk's start): how long busy() has deferred it. */
  #lastSlice = 0;

  constructor(opts: ReportRefresherOptions<T>) {
    this.#o = opts;
    this.#now = opts.now ?? (() => performance.now());
    this.#yield = opts.yieldToLoop ?? setImmediateYield;
  }

  /** Something the reports are made of changed: walk (again). Never does work in the caller's turn. */
  schedule(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    void this.#run();
  }

  /** A read was served: walk if none started within revalidateMs (an input that changed without a signal). */
  afterRead(): void {
    if (!this.#running && this.#o.clock.now() - this.#lastStart >= (this.#o.revalidateMs ?? 1_000)) this.schedule();
  }

  /** A read is being assembled: no walk slice runs until the returned release is called. */
  hold(): () => void {
    this.#holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#holds === 0) {
        const unpark = this.#unpark;
        this.#unpark = undefined;
        unpark?.();
      }
    };
  }

  /** No more walks; a running one stops at its next slice. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#again = true;
    this.#unpark?.();
  }

  /** Resolves when no walk runs (at once when none does). */
  idle(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  describe(): ReportRefresherState {
    return { walks: this.#walks, running: this.#running, position: this.#position, total: this.#total, holds: this.#holds };
  }

  async #run(): Promise<void> {
    let items: readonly T[] = [];
    /** Next item to refresh, and how many are left in this walk. */
    let at = 0;
    let left = 0;
    /** The after() phase of this walk: running, or done. */
    let after: Iterator<unknown> | undefined;
    let afterDone = false;
    this.#again = true;
    this.#lastSlice = this.#now();
    // A walk starts, or a change arrived during one: from where the walk is, once around every item
    // (those refreshed before the change come again at the end). Restarting from the first item would
    // let changes that come faster than a walk takes keep the last items unrefreshed.
    const restartIfChanged = (): void => {
      if (!this.#again) return;
      this.#again = false;
      this.#walks++;
      this.#lastStart = this.#o.clock.now();
      items = this.#o.items();
      at = items.length === 0 ? 0 : at % items.length;
      left = items.length;
      this.#total = items.length;
      this.#position = 0;
      this.#dropAfter(after);
      after = undefined;
      afterDone = false;
    };
    /** Nothing left of the walk: start its after() phase, or say the walk is over (false). */
    const afterPending = (): boolean => {
      if (afterDone) return false;
      if (after === undefined) {
        after = this.#startAfter();
        if (after === undefined) afterDone = true;
      }
      return after !== undefined;
    };
    try {
      while (!this.#closed) {
        restartIfChanged();
        if (left === 0 && !afterPending()) break;
        await this.#yield();
        if (this.#holds > 0 && !this.#closed) {
          // A read holds the walk. Its release comes before its reply is queued (the reply is framed
          // and handed to the connection a few promise steps later): look again only after a turn of
          // the loop, when busy() sees that reply, so no slice lands between the read and its first byte.
          await new Promise<void>((resolve) => (this.#unpark = resolve));
          continue;
        }
        if (this.#deferred()) {
          await (this.#o.pause ?? oneMs)();
          continue;
        }
        if (this.#closed) break;
        restartIfChanged();
        if (left === 0 && !afterPending()) break;
        const start = this.#now();
        const sliceMs = this.#o.sliceMs ?? 1;
        if (left > 0) {
          do {
            this.#refreshOne(items[at]!);
            at = (at + 1) % items.length;
            left--;
            this.#position++;
          } while (left > 0 && this.#now() - start < sliceMs);
        } else if (after !== undefined) {
          let ended: boolean;
          do ended = this.#stepAfter(after);
          while (!ended && this.#now() - start < sliceMs);
          if (ended) {
            after = undefined;
            afterDone = true;
          }
        }
        this.#lastSlice = this.#now();
      }
    } finally {
      this.#dropAfter(after);
      this.#running = false;
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
  }

  /** The server still has replies to send and the walk has not waited maxDeferMs since its last slice. */
  #deferred(): boolean {
    const busy = this.#o.busy;
    return busy !== undefined && !this.#closed && busy() && this.#now() - this.#lastSlice < (this.#o.maxDeferMs ?? 50);
  }

  #startAfter(): Iterator<unknown> | undefined {
    try {
      return this.#o.after?.();
    } catch (err) {
      this.#o.onAfterError?.(err);
      return undefined;
    }
  }

  /** One step of the after() phase; true when the phase ended (its last step, or a step that threw). */
  #stepAfter(after: Iterator<unknown>): boolean {
    try {
      return after.next().done === true;
    } catch (err) {
      this.#o.onAfterError?.(err);
      return true;
    }
  }

  /** An after() phase left unfinished (a change came, or the refresher closed): let it clean up. */
  #dropAfter(after: Iterator<unknown> | undefined): void {
    if (after === undefined) return;
    try {
      after.return?.();
    } catch (err) {
      this.#o.onAfterError?.(err);
    }
  }

  #refreshOne(item: T): void {
    try {
      this.#o.refresh(item);
    } catch (err) {
      this.#o.onError?.(item, err);
    }
  }
}
