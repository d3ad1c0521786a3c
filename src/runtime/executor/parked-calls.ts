// Parked tasks and the native calls they wait for, as the Executor accounts them.
//
// A task whose operation awaits an offloaded native call through the asynchronous entry (every libvirt
// call an Executor worker makes; workers/offloaded-call.ts) is *parked*: its worker said so ('park'
// message with the call's `<addon>:<id>` key) and went back to taking tasks, while the call waits on a
// native call thread of that worker's JS thread. Each parked call holds one native thread, so it holds
// one place under max_workers, like a worker.
//
//   parked --(the task's worker reports done)--> gone
//   parked --(its next call: another 'park')--> parked (new key)
//   parked --(the task timed out; its call abandoned)--> lingering --(the call returned)--> gone
//   parked --(timed out, but the call had returned already)--> answered: the task was answered while
//     its worker runs on in it; its 'done' is dropped, and a further call it makes ('park') is
//     abandoned at once --> lingering (counted) until it returns
//   parked --(its worker was terminated or died)--> gone (the worker's slot takes over the call)
import type { Task } from './task-ledger.js';

export type ParkedState = 'parked' | 'answered' | 'lingering';

export interface ParkedCall {
  task: Task;
  /** The worker whose JS thread made the call (and gets its result while parked). */
  workerId: number;
  /** `<addon>:<id>` of the native call waited for (src/native-calls.ts). */
  key: string;
  state: ParkedState;
  /** Clock time the task parked on this call. */
  since: number;
}

export class ParkedCalls {
  /** Parked calls by task id. */
  #parked = new Map<number, ParkedCall>();
  /** Abandoned calls (their tasks timed out) by key, until they return. */
  #lingering = new Map<string, ParkedCall>();
  /** Tasks answered at their timeout while their worker was still running them (no call pending). */
  #answered = new Map<number, ParkedCall>();

  get parked(): number {
    return this.#parked.size;
  }

  get lingering(): number {
    return this.#lingering.size;
  }

  park(task: Task, workerId: number, key: string, now: number): ParkedCall {
    const p: ParkedCall = { task, workerId, key, state: 'parked', since: now };
    this.#parked.set(task.id, p);
    return p;
  }

  /** The parked call of task `taskId`, if it is parked. */
  get(taskId: number): ParkedCall | undefined {
    return this.#parked.get(taskId);
  }

  /** The task stopped waiting (done, or its worker is gone): forget it. */
  unpark(taskId: number): ParkedCall | undefined {
    const p = this.#parked.get(taskId);
    this.#parked.delete(taskId);
    return p;
  }

  /** The task timed out and its call was abandoned: the call lingers until it returns. */
  linger(taskId: number): ParkedCall | undefined {
    const p = this.unpark(taskId);
    if (!p) return undefined;
    p.state = 'lingering';
    this.#lingering.set(p.key, p);
    return p;
  }

  /** The task timed out but its call had returned: it is answered; its worker may still run it. */
  answer(taskId: number): void {
    const p = this.unpark(taskId);
    if (!p) return;
    p.state = 'answered';
    this.#answered.set(taskId, p);
  }

  /** A task answered while its worker runs on in it, if any. */
  getAnswered(taskId: number): ParkedCall | undefined {
    return this.#answered.get(taskId);
  }

  /** Its worker finished it (its late 'done'). */
  dropAnswered(taskId: number): void {
    this.#answered.delete(taskId);
  }

  /** An answered task made another call, abandoned at once: it lingers, counted, until it returns. */
  lingerAnswered(taskId: number, key: string): void {
    const p = this.#answered.get(taskId);
    if (!p) return;
    this.#answered.delete(taskId);
    p.key = key;
    p.state = 'lingering';
    this.#lingering.set(key, p);
  }

  /** The worker is gone: its answered tasks with it. */
  dropWorker(workerId: number): void {
    for (const [id, p] of this.#answered) if (p.workerId === workerId) this.#answered.delete(id);
  }

  /** An abandoned call returned: its place is free. */
  release(key: string): ParkedCall | undefined {
    const p = this.#lingering.get(key);
    this.#lingering.delete(key);
    return p;
  }

  /** The parked tasks of one worker. */
  ofWorker(workerId: number): ParkedCall[] {
    return [...this.#parked.values()].filter((p) => p.workerId === workerId);
  }

  all(): ParkedCall[] {
    return [...this.#parked.values(), ...this.#lingering.values()];
  }
}
