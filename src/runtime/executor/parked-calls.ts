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
//   parked --(timed out, but the call had returned already)--> gone (its late 'done' is dropped)
//   parked --(its worker was terminated or died)--> gone (the worker's slot takes over the call)
import type { Task } from './task-ledger.js';

export type ParkedState = 'parked' | 'lingering';

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
