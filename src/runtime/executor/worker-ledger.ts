// Worker accounting for the Executor: every thread it started and has not yet seen exit, by state.
// The bound the Executor keeps is total() <= max_workers, where total counts threads still starting,
// warm spares, live workers and lingering ones (terminated but still blocked in a native call). A
// discarded worker let go from an offloaded native call (src/native-calls.ts) exits at once, but its
// call goes on in a native call thread: it stays in the ledger, lingering, until that call returns.
// Parked calls (parked-calls.ts: a task awaiting an asynchronous offloaded call, its worker free for
// other tasks) hold a native thread each: they count in total too, as do the abandoned ones (lingering,
// lingeringCalls) until they return. So total = threads of workers + native threads of parked and
// abandoned calls, and max_workers bounds all of them.
import { ParkedCalls } from './parked-calls.js';
import type { ThreadHandle } from './piscina-threads.js';
import type { Task } from './task-ledger.js';

/**
 * starting -> spare | idle; spare -> idle (promoted); idle <-> busy; any -> lingering (terminated)
 * -> removed on the thread's exit. A starting worker knows what it will become (`role`).
 */
export type WorkerState = 'starting' | 'spare' | 'idle' | 'busy' | 'lingering';

export interface WorkerSlot {
  readonly id: number;
  readonly handle: ThreadHandle;
  state: WorkerState;
  role: 'live' | 'spare';
  task: Task | undefined;
  spawnedAt: number;
  readyAt: number | undefined;
  /** Clock time it last became idle (for retiring surplus workers). */
  idleSince: number;
  /** Why it was terminated: discard, retire, stop. */
  endReason: string | undefined;
  /** The task a discarded (lingering) worker was left running, for the ops thread listing. */
  discardedTask?: { op: string; taskId: number; startedAt: number };
  /** Offloaded native calls this worker was let go from that have not returned yet (addon:id keys). */
  nativeCalls?: Set<string>;
  /** The worker's own thread is gone (it may still hold a slot for its native calls). */
  threadExited?: boolean;
  /** The replacement this discarded worker is waiting for, to report replacement time. */
  replacementFor: { workerId: number; taskStartedAt: number; deferred: boolean } | undefined;
}

export interface WorkerCounts {
  starting: number;
  spares: number;
  idle: number;
  busy: number;
  /** Busy with a task whose timeout fired and that was left running. */
  blocked: number;
  lingering: number;
  /**
   * Lingering native calls with no worker thread of their own (within lingering): slots whose worker
   * exited, and abandoned calls of parked tasks that timed out.
   */
  lingeringCalls: number;
  /** Tasks parked on an asynchronous native call (one native call thread each; their workers serve on). */
  parked: number;
  /** idle + busy + live workers still starting: what vdsm calls active workers. */
  live: number;
  total: number;
}

export class WorkerLedger {
  #slots = new Map<number, WorkerSlot>();
  #peak = 0;
  /** Parked tasks' calls and the abandoned ones still running. */
  readonly calls = new ParkedCalls();

  add(slot: WorkerSlot): void {
    this.#slots.set(slot.id, slot);
    this.notePeak();
  }

  /** After a slot or a parked call was added. */
  notePeak(): void {
    this.#peak = Math.max(this.#peak, this.total);
  }

  get(id: number): WorkerSlot | undefined {
    return this.#slots.get(id);
  }

  remove(id: number): void {
    this.#slots.delete(id);
  }

  /** Everything that holds a thread: slots, parked calls, abandoned calls still running. */
  get total(): number {
    return this.#slots.size + this.calls.parked + this.calls.lingering;
  }

  get peak(): number {
    return this.#peak;
  }

  all(): WorkerSlot[] {
    return [...this.#slots.values()];
  }

  /** First worker in `state` (oldest first: Map keeps insertion order). */
  first(state: WorkerState): WorkerSlot | undefined {
    for (const s of this.#slots.values()) if (s.state === state) return s;
    return undefined;
  }

  counts(): WorkerCounts {
    const c: WorkerCounts = {
      starting: 0, spares: 0, idle: 0, busy: 0, blocked: 0, lingering: this.calls.lingering, lingeringCalls: this.calls.lingering,
      parked: this.calls.parked, live: 0, total: this.total,
    };
    for (const s of this.#slots.values()) {
      switch (s.state) {
        case 'starting':
          c.starting++;
          if (s.role === 'live') c.live++;
          break;
        case 'spare':
          c.spares++;
          break;
        case 'idle':
          c.idle++;
          c.live++;
          break;
        case 'busy':
          c.busy++;
          c.live++;
          if (s.task?.timedOut) c.blocked++;
          break;
        case 'lingering':
          c.lingering++;
          if (s.threadExited) c.lingeringCalls++;
          break;
      }
    }
    return c;
  }

  /** Slots whose worker thread is still alive (what stop() waits for and reports as stuck). */
  threadsAlive(): number {
    let n = 0;
    for (const s of this.#slots.values()) if (!s.threadExited) n++;
    return n;
  }

  /** Starting workers that will become spares. */
  startingSpares(): number {
    let n = 0;
    for (const s of this.#slots.values()) if (s.state === 'starting' && s.role === 'spare') n++;
    return n;
  }
}
