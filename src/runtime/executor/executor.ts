// vdsm's Executor on worker threads: a bounded queue, per-task timeouts counted from task start,
// discard-and-replace of workers stuck in native calls, with live + lingering <= max_workers.
//
// How it differs from vdsm (lib/vdsm/executor.py), and why:
// - Threads come from Piscina (see piscina-threads.ts) and each costs ~9 MB and 35-200 ms to start,
//   so `spares` warm threads wait outside the live set and are promoted on discard or backlog; a
//   spare is also pre-warmed `prewarmMs` before a discardable task's timeout when its discard would
//   leave fewer than workers_count live workers. Replacement then costs no isolate start.
// - vdsm's strict FIFO stalls fast tasks behind hung ones for about K/4 x timeout. Here the queue is
//   fair across operation names (task-ledger.ts), the pool grows on backlog up to max_workers, and an
//   operation that is slow right now (a task of it running longer than `slowTaskMs`) may not take the
//   last ready thread: one stays for everyone else.
// - A discard needs room: it goes ahead when enough live workers remain, a spare is ready, or a new
//   thread fits under max_workers. Otherwise "Too many workers" is logged and the task is left
//   running (a terminated thread would hold the same memory); it is retried whenever a thread exits.
// - max_tasks bounds queued + running (not discarded) tasks, and ResourceExhausted is thrown at once.
// - A worker that dies on its own fails its task with WORKER_CRASHED and is replaced.
// - stop({graceMs}) resolves within the grace period even when threads are blocked in native code;
//   such threads keep the process alive, so the daemon must hard-exit after stop (see stop()).
// - A worker blocked in an offloaded native call (every libvirt call; see native/offload/offload.h
//   and src/native-calls.ts) is let go when it is discarded: its thread exits and frees its isolate
//   (~9 MB) while the call goes on in a native call thread (a few KB). The slot stays in the ledger,
//   lingering, until the call returns, so max_workers still bounds threads inside a frozen libvirtd.
// - A task awaiting an offloaded call through the asynchronous entry (every libvirt call from a
//   worker, workers/offloaded-call.ts) is *parked* (parked-calls.ts): its worker says so ('park') and
//   takes the next task while the call waits on a native call thread. A parked task keeps its timeout
//   (from its start); when it passes it, the caller gets the usual TASK_DISCARDED, the call is
//   abandoned and lingers, counted, until it returns, and the worker is kept (its JS thread is not
//   stuck). Each parked or abandoned call holds a native thread, so it counts under max_workers like
//   a worker: live + parked + lingering <= max_workers. Without room a park waits (the task stays on
//   its worker, as before parking existed) and is retried when a place frees.
import type { Logger } from 'pino';
import { Errors, vdsmError } from '../../errors.js';
import { Lifecycle } from '../lifecycle.js';
import { monotonicClock, type Clock } from '../clock.js';
import type { Dispatcher, DispatchOptions } from '../../contracts/dispatcher.js';
import type { OpArgs, OpName, OpResult } from '../../contracts/operations.js';
import { executorChannels as ch, type TimeoutAction } from './executor-events.js';
import { NICE_DEFAULT, resolveTuning, type ExecutorOptions, type ExecutorTuning, type StopResult } from './executor-options.js';
import { STAMP_STARTED_AT, STAMP_TASK_ID, hrtimeMs, type FromWorker } from '../../contracts/executor-protocol.js';
import { ExecutorReport, type ExecutorStats } from './executor-report.js';
import { PiscinaThreads } from './piscina-threads.js';
import { fromWireError } from './remote-error.js';
import type { Scheduler } from '../scheduler.js';
import { planSpawns } from './spawn-plan.js';
import { TaskLedger, type Task } from './task-ledger.js';
import { ControlRequests, type ControlReply } from './thread-control.js';
import { WorkerLedger, type WorkerCounts, type WorkerSlot } from './worker-ledger.js';
import { describeWorker, parkedThreadInfo, parkedView, threadInfo, workerView, type ThreadInfo } from './worker-view.js';
import type { ParkedCall } from './parked-calls.js';
import { AddonNativeCalls, type NativeCalls } from '../../native-calls.js';

export type { ExecutorOptions, StopResult } from './executor-options.js';
export type { ControlReply } from './thread-control.js';

export class Executor implements Dispatcher {
  readonly name: string;
  readonly workersCount: number;
  readonly maxWorkers: number;
  readonly maxTasks: number;
  #opts: ExecutorTuning;
  #scheduler: Scheduler;
  #log: Logger;
  #clock: Clock;
  #realClock: boolean;
  #threads: PiscinaThreads | undefined;
  #threadOpts: ConstructorParameters<typeof PiscinaThreads>[0];
  #tasks = new TaskLedger();
  #workers = new WorkerLedger();
  #report: ExecutorReport;
  readonly #life: Lifecycle<StopResult>;
  /** Set while stop() waits out the grace period: destroy() ends the wait at once. */
  #graceOver = false;
  #nextTaskId = 1;
  #nextWorkerId = 0;
  #waitingDiscard = new Set<Task>();
  /** Tasks whose worker asked to park them while max_workers had no room for their call. */
  #waitingPark = new Set<Task>();
  #housekeeping: ReturnType<Scheduler['schedule']> | undefined;
  #growCheck: ReturnType<Scheduler['schedule']> | undefined;
  #startFailures = 0;
  #spawnHold: ReturnType<Scheduler['schedule']> | undefined;
  #exitWaiters = new Set<() => void>();
  #control: ControlRequests;
  #native: NativeCalls;

  constructor(opts: ExecutorOptions) {
    this.#opts = resolveTuning(opts);
    this.name = opts.name;
    this.workersCount = opts.workersCount;
    this.maxWorkers = opts.maxWorkers;
    this.maxTasks = opts.maxTasks;
    this.#scheduler = opts.scheduler;
    this.#log = opts.log;
    this.#clock = opts.clock ?? monotonicClock;
    this.#realClock = this.#clock === monotonicClock;
    this.#threadOpts = {
      executor: opts.name, maxThreads: opts.maxWorkers, workerData: opts.workerData,
      logLevel: opts.workerLogLevel ?? opts.log.level,
      resourceLimits: opts.resourceLimits ?? { maxYoungGenerationSizeMb: 4 },
      ...(opts.opsModules ? { opsModules: opts.opsModules } : {}),
      niceIncrement: opts.niceIncrement ?? NICE_DEFAULT,
      ...(opts.workerFilename ? { filename: opts.workerFilename } : {}),
    };
    this.#report = new ExecutorReport(this.name, this.#clock);
    this.#control = new ControlRequests(this.name);
    this.#native = opts.nativeCalls ?? new AddonNativeCalls();
    this.#life = new Lifecycle<StopResult>(`Executor ${this.name}`);
  }

  get running(): boolean {
    return this.#life.running;
  }

  /** Start workers_count workers and the spares. Idempotent; a stopped Executor stays stopped (src/runtime/lifecycle.ts). */
  start(): void {
    this.#life.startSync(() => this.#start());
  }

  #start(): void {
    this.#threads = new PiscinaThreads(this.#threadOpts);
    this.#log.info({ executor: this.name, workers: this.workersCount, max_workers: this.maxWorkers, max_tasks: this.maxTasks }, 'Starting executor');
    for (let i = 0; i < this.workersCount; i++) this.#spawn('live');
    for (let i = 0; i < this.#opts.spares && this.#workers.total < this.maxWorkers; i++) this.#spawn('spare');
  }

  dispatch<K extends OpName>(op: K, args: OpArgs<K>, opts: DispatchOptions = {}): Promise<OpResult<K>> {
    this.#life.assertRunning();
    const current = this.#tasks.queued + this.#tasks.running;
    if (current >= this.maxTasks) {
      this.#report.rejected++;
      throw vdsmError(Errors.RESOURCE_EXHAUSTED, { reason: 'Too many tasks', resource: this.name, current_tasks: current });
    }
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<OpResult<K>>((res, rej) => {
      resolve = res as (v: unknown) => void;
      reject = rej;
    });
    const task: Task = {
      id: this.#nextTaskId++, op, args, timeoutMs: opts.timeoutMs, discard: opts.discard ?? true,
      enqueuedAt: this.#clock.now(), startedAt: undefined, assignedAt: undefined, workerId: undefined,
      timedOut: false, prewarm: false, check: undefined, resolve, reject,
    };
    this.#tasks.enqueue(task);
    this.#report.dispatched++;
    if (ch.dispatch.hasSubscribers) ch.dispatch.publish({ executor: this.name, taskId: task.id, op, queued: this.#tasks.queued });
    this.#pump();
    return promise;
  }

  // ---- placing tasks on workers ---------------------------------------------------------------

  /** Start every task that may start now, then decide which threads to add. */
  #pump(): void {
    if (!this.#life.running) return;
    for (;;) {
      const c = this.#workers.counts();
      const ready = c.idle + c.spares;
      if (ready === 0) break;
      // The reserve rule needs growth to serve the held-back operation; a fixed pool uses every thread.
      const task = this.#tasks.take((t) => ready >= 2 || !this.#opts.growOnBacklog || !this.#isSlow(t.op));
      if (!task) break;
      const worker = this.#workers.first('idle') ?? this.#promoteSpare();
      this.#assign(task, worker!);
    }
    this.#maintain();
  }

  /** An operation is slow while one of its tasks has been running longer than slowTaskMs. */
  #isSlow(op: string): boolean {
    const now = this.#clock.now();
    for (const t of this.#tasks.runningOf(op)) if (now - (t.startedAt ?? t.assignedAt ?? now) > this.#opts.slowTaskMs) return true;
    return false;
  }

  #promoteSpare(): WorkerSlot | undefined {
    const spare = this.#workers.first('spare');
    if (!spare) return undefined;
    spare.state = 'idle';
    spare.role = 'live';
    spare.idleSince = this.#clock.now();
    return spare;
  }

  #assign(task: Task, worker: WorkerSlot): void {
    worker.state = 'busy';
    worker.task = task;
    task.workerId = worker.id;
    task.assignedAt = this.#clock.now();
    worker.handle.send({ type: 'run', taskId: task.id, op: task.op, args: task.args });
    if (task.timeoutMs !== undefined) this.#armCheck(task, this.#firstCheckDelay(task));
  }

  #firstCheckDelay(task: Task): number {
    const t = task.timeoutMs!;
    return task.discard && t > this.#opts.prewarmMs ? t - this.#opts.prewarmMs : t;
  }

  // ---- timeouts -------------------------------------------------------------------------------

  #armCheck(task: Task, delayMs: number): void {
    task.check = this.#scheduler.schedule(delayMs, () => this.#check(task), `${this.name}:check:${task.id}`);
  }

  /** When the worker's start stamp says this task started, in clock time; undefined if not yet. */
  #startOf(task: Task): number | undefined {
    if (task.startedAt !== undefined) return task.startedAt;
    const w = task.workerId === undefined ? undefined : this.#workers.get(task.workerId);
    if (!w) return undefined;
    if (Atomics.load(new Int32Array(w.handle.stamp), STAMP_TASK_ID) !== task.id) return undefined;
    task.startedAt = this.#clockTime(new Float64Array(w.handle.stamp)[STAMP_STARTED_AT]!);
    return task.startedAt;
  }

  /**
   * Worker stamps are ms of process.hrtime (CLOCK_MONOTONIC). The real monotonic clock runs on the
   * same kernel clock (at most with a fixed offset), so they convert exactly; an injected clock
   * cannot be related to them, so "observed now" stands in.
   */
  #clockTime(stampHrMs: number): number {
    return this.#realClock ? stampHrMs - (hrtimeMs() - monotonicClock.now()) : this.#clock.now();
  }

  #check(task: Task): void {
    task.check = undefined;
    if (!this.#life.running || task.workerId === undefined) return;
    const parked = this.#workers.calls.get(task.id);
    if (parked?.task === task) {
      this.#checkParked(task, parked);
      return;
    }
    const worker = this.#workers.get(task.workerId);
    if (!worker || worker.task !== task) return;
    const now = this.#clock.now();
    const start = this.#startOf(task);
    const timeout = task.timeoutMs!;
    if (start === undefined) {
      this.#armCheck(task, timeout);
      return;
    }
    if (task.discard && !task.prewarm && !task.timedOut) {
      const prewarmAt = start + timeout - this.#opts.prewarmMs;
      if (now < prewarmAt) return this.#armCheck(task, prewarmAt - now);
      task.prewarm = true;
      this.#maintain();
    }
    const due = start + timeout;
    // Exact: the Scheduler never runs a call early and waits out sub-millisecond remainders itself.
    if (now < due) return this.#armCheck(task, due - now);
    this.#timedOut(task, worker, now - start);
  }

  #timedOut(task: Task, worker: WorkerSlot, runtimeMs: number): void {
    if (!task.discard) {
      task.timedOut = true;
      this.#publishTimeout(task, worker.id, runtimeMs, 'blocked');
      this.#log.warn({ executor: this.name, worker: this.#workerJson(worker), state: this.state() }, `Worker blocked: ${this.#describe(worker)}`);
      this.#armCheck(task, task.timeoutMs!);
      return;
    }
    if (this.#tryDiscard(task, worker, runtimeMs)) return;
    const first = !task.timedOut;
    task.timedOut = true;
    this.#waitingDiscard.add(task);
    if (first) {
      this.#publishTimeout(task, worker.id, runtimeMs, 'too-many-workers');
      this.#log.warn({ executor: this.name, state: this.state() }, `Too many workers (limit=${this.maxWorkers}), not adding more`);
    }
  }

  /** Discard the task's worker if the ledger allows it; see the header for the rule. */
  #tryDiscard(task: Task, worker: WorkerSlot, runtimeMs: number): boolean {
    const c = this.#workers.counts();
    const needsReplacement = c.live - 1 < this.workersCount;
    let via: 'spare' | 'surplus' | 'spawn';
    // A spare still starting becomes the replacement when it is ready.
    const startingSpare = this.#workers.all().find((s) => s.state === 'starting' && s.role === 'spare' && !s.replacementFor);
    if (!needsReplacement) via = 'surplus';
    else if (c.spares > 0) via = 'spare';
    else if (startingSpare || c.total < this.maxWorkers) via = 'spawn';
    else return false;

    if (!task.timedOut) this.#publishTimeout(task, worker.id, runtimeMs, 'discard');
    this.#waitingDiscard.delete(task);
    this.#waitingPark.delete(task);
    task.check?.cancel();
    task.check = undefined;
    this.#tasks.finish(task);
    worker.state = 'lingering';
    worker.discardedTask = { op: task.op, taskId: task.id, startedAt: task.startedAt ?? task.assignedAt ?? this.#clock.now() };
    worker.task = undefined;
    worker.endReason = 'discard';
    worker.handle.terminate();
    this.#letGo(worker);
    this.#report.discarded++;
    const lingering = c.lingering + 1;
    this.#report.noteLingering(lingering);
    if (ch.discard.hasSubscribers) ch.discard.publish({ executor: this.name, taskId: task.id, op: task.op, workerId: worker.id, runtimeMs, lingering });
    this.#log.info({ executor: this.name, task: task.id, op: task.op, worker: worker.id, runtime_ms: Math.round(runtimeMs) }, 'Worker discarded');
    task.reject(vdsmError(Errors.TASK_DISCARDED, { op: task.op, task: task.id, timeout_ms: task.timeoutMs, worker: worker.id }));
    this.#report.finished(task, false, Errors.TASK_DISCARDED.code);

    const taskStartedAt = task.startedAt ?? this.#clock.now() - runtimeMs;
    const deferred = task.timedOut;
    if (via === 'spawn') {
      const slot = startingSpare ?? this.#spawn('live');
      slot.role = 'live';
      slot.replacementFor = { workerId: worker.id, taskStartedAt, deferred };
    } else {
      const spare = via === 'spare' ? this.#promoteSpare() : undefined;
      this.#publishReplace(worker.id, spare?.id, via, this.#clock.now() - taskStartedAt, deferred);
    }
    this.#pump();
    return true;
  }

  #publishTimeout(task: Task, workerId: number, runtimeMs: number, action: TimeoutAction): void {
    this.#report.timeouts++;
    if (ch.timeout.hasSubscribers) ch.timeout.publish({ executor: this.name, taskId: task.id, op: task.op, workerId, runtimeMs, action });
  }

  // ---- parked tasks (parked-calls.ts) ----------------------------------------------------------

  /** The worker says task `taskId` awaits native call `key` (its first call, or a further one). */
  #onPark(slot: WorkerSlot, taskId: number, key: string): void {
    const parked = this.#workers.calls.get(taskId);
    if (parked) {
      if (parked.workerId === slot.id) parked.key = key;
      else this.#report.dropped++;
      return;
    }
    const answered = this.#workers.calls.getAnswered(taskId);
    if (answered?.workerId === slot.id) {
      this.#abandonAnswered(answered, key);
      return;
    }
    const task = slot.task;
    // A task already past its timeout is handled as before parking existed (discard when there is room).
    if (slot.state !== 'busy' || !task || task.id !== taskId || task.timedOut) {
      this.#report.dropped++;
      return;
    }
    task.parkCall = key;
    this.#tryPark(slot, task);
  }

  /** Park `task` (its worker becomes idle) if max_workers has room for its call's thread. */
  #tryPark(slot: WorkerSlot, task: Task): boolean {
    if (this.#workers.total >= this.maxWorkers) {
      if (!this.#waitingPark.has(task)) {
        this.#waitingPark.add(task);
        this.#log.warn({ executor: this.name, task: task.id, op: task.op, state: this.state() }, `Too many workers (limit=${this.maxWorkers}), not parking more calls`);
      }
      return false;
    }
    this.#waitingPark.delete(task);
    const key = task.parkCall!;
    task.parkCall = undefined;
    task.prewarm = false;
    const now = this.#clock.now();
    this.#workers.calls.park(task, slot.id, key, now);
    this.#workers.notePeak();
    this.#report.noteWorkers(this.#workers.total);
    this.#report.parked++;
    slot.task = undefined;
    slot.state = 'idle';
    slot.idleSince = now;
    if (ch.park.hasSubscribers) ch.park.publish({ executor: this.name, taskId: task.id, op: task.op, workerId: slot.id, call: key, event: 'park' });
    this.#pump();
    return true;
  }

  #retryParks(): void {
    for (const task of [...this.#waitingPark]) {
      const slot = task.workerId === undefined ? undefined : this.#workers.get(task.workerId);
      if (!slot || slot.task !== task || task.timedOut || task.parkCall === undefined) {
        this.#waitingPark.delete(task);
        continue;
      }
      if (!this.#tryPark(slot, task)) break;
    }
  }

  #checkParked(task: Task, parked: ParkedCall): void {
    const now = this.#clock.now();
    const start = task.startedAt ?? parked.since;
    const due = start + task.timeoutMs!;
    if (now < due) return this.#armCheck(task, due - now);
    if (!task.discard) {
      // discard=false: the caller waits however long; logged and re-checked, as for a busy worker.
      if (!task.timedOut) this.#publishTimeout(task, parked.workerId, now - start, 'blocked');
      task.timedOut = true;
      this.#log.warn({ executor: this.name, task: task.id, op: task.op, call: parked.key }, 'Parked task blocked past its timeout');
      return this.#armCheck(task, task.timeoutMs!);
    }
    this.#parkedTimedOut(task, parked, now - start);
  }

  /** A parked task passed its timeout: the caller is told, the call abandoned, the worker kept. */
  #parkedTimedOut(task: Task, parked: ParkedCall, runtimeMs: number): void {
    this.#publishTimeout(task, parked.workerId, runtimeMs, 'abandon');
    this.#report.parkedTimeouts++;
    this.#tasks.finish(task);
    const abandoned = this.#letGoCall(parked.key, (key) => this.#parkedReturned(key), { task: task.id });
    if (abandoned) {
      // Its call thread goes on alone, still counted under max_workers until the call returns.
      this.#workers.calls.linger(task.id);
      this.#report.abandonedCalls++;
      this.#report.noteLingering(this.#workers.counts().lingering);
    } else {
      // It returned already: the worker runs on in the task; its late answer is dropped, and a further
      // call of it is abandoned at once (#abandonAnswered).
      this.#workers.calls.answer(task.id);
    }
    if (ch.park.hasSubscribers) ch.park.publish({ executor: this.name, taskId: task.id, op: task.op, workerId: parked.workerId, call: parked.key, event: 'abandon', lingering: abandoned });
    this.#log.info({ executor: this.name, task: task.id, op: task.op, worker: parked.workerId, call: parked.key, runtime_ms: Math.round(runtimeMs), lingering: abandoned }, 'Parked task timed out; its native call was abandoned, its worker kept');
    task.reject(vdsmError(Errors.TASK_DISCARDED, { op: task.op, task: task.id, timeout_ms: task.timeoutMs, worker: parked.workerId, call: parked.key }));
    this.#report.finished(task, false, Errors.TASK_DISCARDED.code, parked.workerId);
    this.#retryDiscards();
    this.#pump();
  }

  /**
   * Let native call `key` go (`onDone(key)` when it returns). false when it had returned already, or
   * could not be let go (logged): the caller then counts nothing.
   */
  #letGoCall(key: string, onDone: (key: string) => void, context: Record<string, unknown>): boolean {
    try {
      return this.#native.abandonCall(key, onDone);
    } catch (err) {
      this.#log.warn({ executor: this.name, call: key, ...context, err }, 'Could not abandon a parked task\'s native call');
      return false;
    }
  }

  /** A task answered at its timeout made another call: let it go now, counted until it returns. */
  #abandonAnswered(answered: ParkedCall, key: string): void {
    if (!this.#letGoCall(key, (k) => this.#parkedReturned(k), { task: answered.task.id })) return;
    this.#workers.calls.lingerAnswered(answered.task.id, key);
    this.#report.abandonedCalls++;
    this.#report.noteLingering(this.#workers.counts().lingering);
    if (ch.park.hasSubscribers) ch.park.publish({ executor: this.name, taskId: answered.task.id, op: answered.task.op, workerId: answered.workerId, call: key, event: 'abandon', lingering: true });
  }

  /** An abandoned call of a parked task returned: its place under max_workers is free. */
  #parkedReturned(key: string): void {
    const p = this.#workers.calls.release(key);
    if (!p) return;
    this.#report.abandonedCallsReturned++;
    if (ch.worker.hasSubscribers) ch.worker.publish({ executor: this.name, workerId: p.workerId, event: 'released', role: 'live', endReason: 'parked-timeout', call: key });
    if (ch.park.hasSubscribers) ch.park.publish({ executor: this.name, taskId: p.task.id, op: p.task.op, workerId: p.workerId, call: key, event: 'release' });
    this.#log.debug({ executor: this.name, worker: p.workerId, call: key }, 'Abandoned native call of a parked task returned; its place is free');
    for (const w of this.#exitWaiters) w();
    this.#retryDiscards();
    this.#pump();
  }

  /** A parked task's worker answered: settle it like any task. */
  #parkedDone(slot: WorkerSlot, parked: ParkedCall, msg: Extract<FromWorker, { type: 'done' }>): void {
    const task = parked.task;
    task.check?.cancel();
    task.check = undefined;
    this.#workers.calls.unpark(task.id);
    this.#tasks.finish(task);
    if (msg.ok) task.resolve(msg.value);
    else task.reject(fromWireError(msg.error));
    this.#report.finished(task, msg.ok, msg.ok ? undefined : msg.error.code, slot.id);
    // Stopping: a worker kept for its parked tasks ends with the last of them.
    if (this.#life.state === 'closing' && slot.state === 'idle' && this.#workers.calls.ofWorker(slot.id).length === 0) {
      this.#end(slot, 'stop');
      return;
    }
    this.#retryDiscards();
    this.#pump();
  }

  /** Let go the calls of the worker's parked tasks; each is kept on its slot until it returns. */
  #abandonParked(slot: WorkerSlot): number {
    let n = 0;
    for (const p of this.#workers.calls.ofWorker(slot.id)) {
      if (!this.#letGoCall(p.key, (key) => this.#nativeReturned(slot, key), { task: p.task.id, worker: slot.id })) continue;
      (slot.nativeCalls ??= new Set()).add(p.key);
      this.#report.abandonedCalls++;
      n++;
    }
    return n;
  }

  /** The worker of parked tasks is going (terminated or died): they fail with `error`. */
  #failParked(slot: WorkerSlot, error: (task: Task) => Error & { code?: string }): void {
    for (const p of this.#workers.calls.ofWorker(slot.id)) {
      const task = p.task;
      task.check?.cancel();
      task.check = undefined;
      this.#workers.calls.unpark(task.id);
      this.#tasks.finish(task);
      const err = error(task);
      task.reject(err);
      this.#report.finished(task, false, err.code, slot.id);
    }
  }

  #publishReplace(discardedWorkerId: number, workerId: number | undefined, via: 'spare' | 'surplus' | 'spawn', replacementMs: number, deferred: boolean): void {
    if (!deferred) this.#report.replaced(replacementMs);
    if (ch.replace.hasSubscribers) ch.replace.publish({ executor: this.name, discardedWorkerId, workerId, via, replacementMs, deferred });
  }

  #retryDiscards(): void {
    this.#retryParks();
    for (const task of [...this.#waitingDiscard]) {
      const worker = task.workerId === undefined ? undefined : this.#workers.get(task.workerId);
      if (!worker || worker.task !== task) {
        this.#waitingDiscard.delete(task);
        continue;
      }
      if (!this.#tryDiscard(task, worker, this.#clock.now() - (this.#startOf(task) ?? this.#clock.now()))) break;
    }
  }

  // ---- threads --------------------------------------------------------------------------------

  /** Start the threads planSpawns() asks for (see spawn-plan.ts for the policy). */
  #maintain(): void {
    if (!this.#life.running || this.#spawnHold?.valid) return;
    const c = this.#workers.counts();
    let imminent = 0;
    for (const t of this.#tasks.allRunning()) if (t.prewarm && !t.timedOut) imminent++;
    const plan = planSpawns({
      workersCount: this.workersCount, maxWorkers: this.maxWorkers, spares: this.#opts.spares,
      maxConcurrentSpawns: this.#opts.maxConcurrentSpawns, total: c.total, starting: c.starting,
      startingSpares: this.#workers.startingSpares(), live: c.live, readySpares: c.spares, queued: this.#tasks.queued,
      growOnBacklog: this.#opts.growOnBacklog, backlogOld: () => this.#backlogOld(), imminentDiscards: imminent,
    });
    for (const role of plan.spawn) this.#spawn(role);
    this.#armHousekeeping(plan.surplus);
  }

  /** True when the oldest queued task waited growAfterMs; otherwise arranges to look again then. */
  #backlogOld(): boolean {
    const oldest = this.#tasks.oldestEnqueuedAt();
    if (oldest === undefined) return false;
    const wait = oldest + this.#opts.growAfterMs - this.#clock.now();
    if (wait <= 0) return true;
    if (!this.#growCheck?.valid) this.#growCheck = this.#scheduler.schedule(wait, () => this.#pump(), `${this.name}:grow`);
    return false;
  }

  #spawn(role: 'live' | 'spare'): WorkerSlot {
    const id = this.#nextWorkerId++;
    const handle = this.#threads!.spawn(id, {
      onReady: (info) => this.#onReady(slot, info.tid, info.loadErrors),
      onMessage: (msg) => this.#onMessage(slot, msg),
      onExit: (crash) => this.#onExit(slot, crash),
    });
    const now = this.#clock.now();
    const slot: WorkerSlot = {
      id, handle, state: 'starting', role, task: undefined, spawnedAt: now, readyAt: undefined, idleSince: now,
      endReason: undefined, replacementFor: undefined,
    };
    this.#workers.add(slot);
    this.#report.noteWorkers(this.#workers.total);
    if (ch.worker.hasSubscribers) ch.worker.publish({ executor: this.name, workerId: id, event: 'spawn', role });
    return slot;
  }

  #onReady(slot: WorkerSlot, tid: number, loadErrors: string[]): void {
    if (slot.state !== 'starting') return;
    this.#startFailures = 0;
    slot.readyAt = this.#clock.now();
    slot.idleSince = slot.readyAt;
    slot.state = slot.role === 'spare' ? 'spare' : 'idle';
    if (loadErrors.length) this.#log.error({ executor: this.name, worker: slot.id, errors: loadErrors }, 'Worker failed to load some operations');
    if (ch.worker.hasSubscribers) ch.worker.publish({ executor: this.name, workerId: slot.id, event: 'ready', role: slot.role, tid });
    if (slot.replacementFor) {
      this.#publishReplace(slot.replacementFor.workerId, slot.id, 'spawn', slot.readyAt - slot.replacementFor.taskStartedAt, slot.replacementFor.deferred);
      slot.replacementFor = undefined;
    }
    if (!this.#life.running) {
      this.#end(slot, 'stop');
      return;
    }
    this.#log.debug({ executor: this.name, worker: slot.id, tid, counts: this.#workers.counts() }, 'New worker added');
    this.#retryDiscards();
    this.#pump();
  }

  #onMessage(slot: WorkerSlot, msg: FromWorker): void {
    if (msg.type === 'control') {
      this.#control.answer(msg);
      return;
    }
    if (msg.type === 'park') {
      this.#onPark(slot, msg.taskId, msg.call);
      return;
    }
    const task = slot.task;
    if (msg.type === 'done' && task?.id !== msg.taskId && slot.state !== 'lingering') {
      const parked = this.#workers.calls.get(msg.taskId);
      if (parked?.workerId === slot.id) {
        this.#parkedDone(slot, parked, msg);
        return;
      }
      if (this.#workers.calls.getAnswered(msg.taskId)?.workerId === slot.id) this.#workers.calls.dropAnswered(msg.taskId);
    }
    // Anything from a discarded worker, or about another task, is a late message of a discarded task.
    if (slot.state !== 'busy' || !task || msg.type === 'ready' || msg.taskId !== task.id) {
      this.#report.dropped++;
      return;
    }
    if (msg.type === 'start') {
      task.startedAt = this.#clockTime(msg.startedAt);
      if (ch.start.hasSubscribers) ch.start.publish({ executor: this.name, taskId: task.id, op: task.op, workerId: slot.id, waitedMs: task.startedAt - task.enqueuedAt });
      return;
    }
    task.check?.cancel();
    task.check = undefined;
    this.#waitingDiscard.delete(task);
    this.#waitingPark.delete(task);
    this.#tasks.finish(task);
    slot.task = undefined;
    slot.state = 'idle';
    slot.idleSince = this.#clock.now();
    if (msg.ok) task.resolve(msg.value);
    else task.reject(fromWireError(msg.error));
    this.#report.finished(task, msg.ok, msg.ok ? undefined : msg.error.code, slot.id);
    if (this.#life.state === 'closing') {
      // A worker with parked tasks stays until they end (or the grace does).
      if (this.#workers.calls.ofWorker(slot.id).length === 0) this.#end(slot, 'stop');
      return;
    }
    this.#retryDiscards();
    this.#pump();
  }

  #onExit(slot: WorkerSlot, crash: Error | undefined): void {
    const wasStarting = slot.state === 'starting';
    const task = slot.task;
    slot.threadExited = true;
    // A worker that died with parked tasks: their calls are let go (counted on its slot until they
    // return) and the tasks fail as its running task does.
    this.#workers.calls.dropWorker(slot.id);
    if (this.#workers.calls.ofWorker(slot.id).length > 0) {
      if (this.#abandonParked(slot) > 0) slot.state = 'lingering';
      this.#failParked(slot, (t) => vdsmError(Errors.WORKER_CRASHED, { op: t.op, task: t.id, worker: slot.id, reason: crash?.message ?? 'worker exited', parked: true }));
    }
    // Let go from a native call that has not returned: the slot stays, lingering, until it does.
    const callsLeft = slot.nativeCalls?.size ?? 0;
    if (callsLeft === 0) this.#workers.remove(slot.id);
    this.#control.workerGone(slot.id);
    if (ch.worker.hasSubscribers) {
      ch.worker.publish({ executor: this.name, workerId: slot.id, event: 'exit', role: slot.role, ...(crash ? { crash: crash.message } : {}), ...(slot.endReason ? { endReason: slot.endReason } : {}) });
    }
    for (const w of this.#exitWaiters) w();
    if (crash) {
      this.#report.crashed++;
      this.#log.error({ executor: this.name, worker: slot.id, err: crash, task: task?.id, op: task?.op }, 'Executor worker crashed');
      if (task) {
        task.check?.cancel();
        this.#waitingDiscard.delete(task);
        this.#tasks.finish(task);
        task.reject(vdsmError(Errors.WORKER_CRASHED, { op: task.op, task: task.id, worker: slot.id, reason: crash.message }));
        this.#report.finished(task, false, Errors.WORKER_CRASHED.code, slot.id);
      }
      if (wasStarting && this.#life.running) {
        // A thread that cannot even start will not start on the next try either: back off.
        this.#startFailures++;
        const delay = Math.min(10_000, 100 * 2 ** this.#startFailures);
        this.#spawnHold = this.#scheduler.schedule(delay, () => this.#pump(), `${this.name}:spawn-backoff`);
        return;
      }
    } else if (slot.endReason === 'discard') {
      if (callsLeft) this.#log.info({ executor: this.name, worker: slot.id, native_calls: callsLeft }, 'Discarded worker exited; its native call lingers in a call thread');
      else this.#log.debug({ executor: this.name, worker: slot.id }, 'Discarded worker exited');
    }
    this.#retryDiscards();
    this.#pump();
  }

  /** Terminate a worker we no longer want. */
  #end(slot: WorkerSlot, reason: string): void {
    slot.state = 'lingering';
    slot.endReason = reason;
    slot.handle.terminate();
    this.#letGo(slot);
  }

  /**
   * After terminate(): let the worker go from the offloaded native call it waits for, if any, so its
   * thread can exit now. The call's return is reported by the addon (#nativeReturned).
   */
  #letGo(slot: WorkerSlot): void {
    // Its parked tasks cannot be answered any more: their calls are let go (counted on this slot until
    // they return) and the tasks fail.
    if (this.#abandonParked(slot) > 0) this.#log.info({ executor: this.name, worker: slot.id, calls: [...slot.nativeCalls!] }, 'Worker ended with parked tasks; their native calls were let go');
    this.#failParked(slot, (t) => vdsmError(Errors.TASK_DISCARDED, { op: t.op, task: t.id, timeout_ms: t.timeoutMs, worker: slot.id, reason: `its worker was ended (${slot.endReason ?? 'discard'}) while the task was parked` }));
    // Answered tasks it still runs: their calls, if any, are let go below with the thread's others.
    this.#workers.calls.dropWorker(slot.id);
    if (slot.threadExited || slot.handle.tid <= 0) return;
    let keys: string[];
    try {
      keys = this.#native.abandon(slot.handle.tid, (key) => this.#nativeReturned(slot, key));
    } catch (err) {
      // An addon that cannot be asked leaves the worker lingering whole, as a synchronous call would.
      this.#log.warn({ executor: this.name, worker: slot.id, err }, 'Could not let the worker go from its native call');
      return;
    }
    if (keys.length === 0) return;
    slot.nativeCalls = new Set([...(slot.nativeCalls ?? []), ...keys]);
    this.#report.abandonedCalls += keys.length;
    this.#log.info({ executor: this.name, worker: slot.id, tid: slot.handle.tid, calls: keys }, 'Worker let go from its native call');
  }

  /** An abandoned native call returned: once the worker's thread is gone too, its slot is free. */
  #nativeReturned(slot: WorkerSlot, key: string): void {
    if (!slot.nativeCalls?.delete(key)) return;
    this.#report.abandonedCallsReturned++;
    if (slot.nativeCalls.size > 0 || !slot.threadExited || this.#workers.get(slot.id) !== slot) return;
    this.#workers.remove(slot.id);
    if (ch.worker.hasSubscribers) ch.worker.publish({ executor: this.name, workerId: slot.id, event: 'released', role: slot.role, ...(slot.endReason ? { endReason: slot.endReason } : {}) });
    this.#log.debug({ executor: this.name, worker: slot.id }, 'Abandoned native call returned; slot released');
    for (const w of this.#exitWaiters) w();
    this.#retryDiscards();
    this.#pump();
  }

  #armHousekeeping(surplus: boolean): void {
    if (!surplus || this.#housekeeping?.valid) return;
    this.#housekeeping = this.#scheduler.schedule(this.#opts.surplusIdleMs / 2, () => this.#retireSurplus(), `${this.name}:retire`);
  }

  #retireSurplus(): void {
    if (!this.#life.running) return;
    const now = this.#clock.now();
    const old = (s: WorkerSlot): boolean => now - s.idleSince >= this.#opts.surplusIdleMs;
    let c = this.#workers.counts();
    for (const s of this.#workers.all()) {
      if (s.state === 'idle' && c.live > this.workersCount && old(s) && this.#workers.calls.ofWorker(s.id).length === 0) this.#end(s, 'retire');
      else if (s.state === 'spare' && c.spares > this.#opts.spares && old(s)) this.#end(s, 'retire');
      c = this.#workers.counts();
    }
    this.#maintain();
    this.#armHousekeeping(c.live > this.workersCount || c.spares > this.#opts.spares);
  }

  // ---- stop -----------------------------------------------------------------------------------

  /**
   * Stop accepting work, fail queued tasks with NOT_RUNNING, let running tasks finish for up to
   * `graceMs`, then terminate everything. Resolves within the grace period plus a few ms: threads
   * blocked in native code cannot be joined; they are reported in `stuckThreads` and keep the
   * process alive (process.exit() would wait for them), so the daemon's shutdown must end with a
   * hard exit (e.g. process.kill(process.pid, 'SIGKILL')) when stuckThreads > 0.
   */
  stop(opts: { graceMs?: number } = {}): Promise<StopResult> {
    return this.#life.close(() => this.#stop(opts.graceMs ?? 5000), () => ({ stuckThreads: 0 }));
  }

  /** stop() by the lifecycle's name: every caller gets the first one's answer. */
  close(opts: { graceMs?: number } = {}): Promise<StopResult> {
    return this.stop(opts);
  }

  /** stop() without the grace period: running tasks fail and their threads are terminated now. */
  destroy(): Promise<StopResult> {
    return this.#life.destroy(() => {
      this.#graceOver = true;
      for (const w of [...this.#exitWaiters]) w();
    }, () => this.#stop(0), () => ({ stuckThreads: 0 }));
  }

  async #stop(graceMs: number): Promise<StopResult> {
    this.#housekeeping?.cancel();
    this.#growCheck?.cancel();
    this.#spawnHold?.cancel();
    for (const task of this.#tasks.drain()) {
      task.reject(vdsmError(Errors.NOT_RUNNING, `Executor ${this.name} stopped`));
      this.#report.finished(task, false, Errors.NOT_RUNNING.code);
    }
    for (const s of this.#workers.all()) {
      if ((s.state === 'idle' && this.#workers.calls.ofWorker(s.id).length === 0) || s.state === 'spare') this.#end(s, 'stop');
    }
    const deadline = Date.now() + graceMs;
    await this.#waitUntil(() => this.#graceOver || (this.#workers.counts().busy === 0 && this.#workers.calls.parked === 0), deadline);
    for (const s of this.#workers.all()) {
      this.#failParked(s, () => vdsmError(Errors.NOT_RUNNING, `Executor ${this.name} stopped`));
      if (s.state === 'busy' && s.task) {
        const task = s.task;
        task.check?.cancel();
        this.#tasks.finish(task);
        task.reject(vdsmError(Errors.NOT_RUNNING, `Executor ${this.name} stopped`));
        this.#report.finished(task, false, Errors.NOT_RUNNING.code, s.id);
        s.task = undefined;
      }
      // Starting threads are ended as they come up (#onReady), lingering ones are already ended.
      if (s.state !== 'starting' && s.state !== 'lingering') this.#end(s, 'stop');
    }
    // Worker threads let go from native calls exit; their call threads do not hold the process up.
    await this.#waitUntil(() => this.#workers.threadsAlive() === 0, Math.max(deadline, Date.now() + 50));
    const stuckThreads = this.#workers.threadsAlive();
    this.#threads?.destroy();
    this.#log.info({ executor: this.name, stuck_threads: stuckThreads }, 'Executor stopped');
    return { stuckThreads };
  }

  /** Wait, without polling, until `done()` or the wall-clock deadline (stop is real time by nature). */
  #waitUntil(done: () => boolean, deadline: number): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#exitWaiters.delete(check);
        resolve();
      };
      const check = (): void => {
        if (done()) finish();
      };
      const timer = setTimeout(finish, Math.max(0, deadline - Date.now()));
      this.#exitWaiters.add(check);
      // Busy tasks finishing also count; their completion ends the worker, which exits soon after.
    });
  }

  // ---- introspection --------------------------------------------------------------------------

  stats(): ExecutorStats {
    return this.#report.stats();
  }

  /** JSON picture of the Executor, as vdsm logs its repr with warnings. */
  state(): Record<string, unknown> {
    const c = this.#workers.counts();
    return {
      name: this.name, state: this.#life.state, workers_count: this.workersCount, max_workers: this.maxWorkers, max_tasks: this.maxTasks,
      queued: this.#tasks.queued, queued_by_op: this.#tasks.queuedByOp(), running: this.#tasks.running,
      ...c, waiting_discard: this.#waitingDiscard.size, waiting_park: this.#waitingPark.size, workers_peak: this.#workers.peak,
      workers: this.#workers.all().map((w) => this.#workerJson(w)),
      parked_calls: this.#workers.calls.all().map((p) => parkedView(p, this.#clock.now())),
      stats: this.#report.stats(),
    };
  }

  /** Counts only, cheap enough to sample every few ms. */
  counts(): WorkerCounts & { queued: number; running: number } {
    return { ...this.#workers.counts(), queued: this.#tasks.queued, running: this.#tasks.running };
  }

  /**
   * Ask worker threads about themselves (ThreadProbe operations: health, cpuProfile.start|stop,
   * heapSampling.start|stop, heapSnapshot): every ready thread, or those of `workerIds`. A thread busy
   * in a synchronous task answers when it ends; past `timeoutMs` its reply says unanswered.
   */
  control(op: string, args: unknown, opts: { timeoutMs: number; workerIds?: readonly number[] }): Promise<ControlReply[]> {
    const now = this.#clock.now();
    const targets = this.#workers.all()
      .filter((w) => w.state !== 'starting' && w.state !== 'lingering' && !w.handle.terminated && (opts.workerIds === undefined || opts.workerIds.includes(w.id)))
      .map((w) => ({ workerId: w.id, tid: w.handle.tid, busyWith: workerView(this.name, w, now).op ?? undefined, send: (m: Parameters<typeof w.handle.send>[0]) => w.handle.send(m) }));
    return this.#control.ask(targets, op, args, opts.timeoutMs);
  }

  /**
   * Each thread with its kernel thread id (from /proc/thread-self in the worker) and what it runs. A
   * discarded worker whose thread exited while its native call goes on is listed by its call thread.
   */
  threads(): ThreadInfo[] {
    const now = this.#clock.now();
    const slots = this.#workers.all();
    const parked = this.#workers.calls.all();
    const calls = slots.some((w) => w.nativeCalls?.size) || parked.length > 0 ? this.#native.list() : [];
    const rows = slots.map((w) => threadInfo(this.name, w, now, w.nativeCalls?.size ? calls.filter((c) => w.nativeCalls!.has(`${c.addon}:${c.id}`)) : []));
    // A parked (or abandoned) call is listed by its call thread, with its task.
    for (const p of parked) rows.push(parkedThreadInfo(this.name, p, now, calls.find((c) => `${c.addon}:${c.id}` === p.key)));
    return rows;
  }

  /** Calls running on native call threads now, every addon (abandoned ones with abandoned: true). */
  nativeCalls(): ReturnType<NativeCalls['list']> {
    return this.#native.list();
  }

  #workerJson(w: WorkerSlot): ReturnType<typeof workerView> {
    return workerView(this.name, w, this.#clock.now());
  }

  #describe(w: WorkerSlot): string {
    return describeWorker(this.name, w, this.#clock.now());
  }
}
