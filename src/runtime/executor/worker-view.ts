// How the Executor describes one worker in state(), the thread listing and "Worker blocked" lines.
import type { WorkerSlot } from './worker-ledger.js';
import type { ParkedCall } from './parked-calls.js';
import type { NativeCallRow } from '../../native-calls.js';

export interface WorkerView {
  id: number;
  name: string;
  /** starting | spare | idle | busy | blocked (timed out, left running) | lingering */
  state: string;
  tid: number;
  op: string | null;
  task_id: number | null;
  runtime_ms: number | null;
  timed_out: boolean;
}

/** One row of the ops thread listing. */
export interface ThreadInfo {
  executor: string;
  /** vdsm-style thread name: <executor>/<n>, n ever increasing. */
  name: string;
  worker_id: number;
  /** Kernel thread id, reported by the worker from /proc/thread-self (-1 until it is up). */
  tid: number;
  thread_id: number;
  state: string;
  op: string | null;
  task_id: number | null;
  runtime_ms: number | null;
  /** Since the Executor started the thread. */
  age_ms: number;
  /** A lingering (discarded) worker: the operation it was left running, and for how long. */
  stuck_op?: string;
  stuck_task_id?: number;
  stuck_ms?: number;
  /**
   * A lingering worker let go from an offloaded native call: its own thread exited (tid is then the
   * call thread's, named virt/call or sleep/call) and the call it left behind.
   */
  thread_exited?: boolean;
  native_call?: { addon: string; what: string; worker_tid: number; call_tid: number; age_ms: number };
  /**
   * A row of a parked task's native call (state parked), or of one abandoned when its task timed out
   * (state lingering): tid is the call thread's, worker_id the worker that made the call (it serves on).
   */
  parked_call?: { key: string; parked_ms: number };
}

/** A parked (or abandoned) call as state() shows it. */
export interface ParkedView { worker_id: number; task_id: number; op: string; call: string; state: string; parked_ms: number }

export function parkedView(p: ParkedCall, now: number): ParkedView {
  return { worker_id: p.workerId, task_id: p.task.id, op: p.task.op, call: p.key, state: p.state, parked_ms: Math.round(now - p.since) };
}

/** The listing's row for a parked call: its call thread, its task. */
export function parkedThreadInfo(executor: string, p: ParkedCall, now: number, call: (NativeCallRow & { addon: string }) | undefined): ThreadInfo {
  const start = p.task.startedAt ?? p.since;
  return {
    executor, name: `${executor}/${p.workerId}`, worker_id: p.workerId, tid: call?.callTid ?? -1, thread_id: -1,
    state: p.state, op: p.task.op, task_id: p.task.id, runtime_ms: Math.round(now - start), age_ms: Math.round(now - p.since),
    ...(p.state === 'lingering' ? { stuck_op: p.task.op, stuck_task_id: p.task.id, stuck_ms: Math.round(now - start) } : {}),
    ...(call ? { native_call: { addon: call.addon, what: call.what, worker_tid: call.tid, call_tid: call.callTid, age_ms: Math.round(call.ageMs) } } : {}),
    parked_call: { key: p.key, parked_ms: Math.round(now - p.since) },
  };
}

export function workerView(executor: string, w: WorkerSlot, now: number): WorkerView {
  const t = w.task;
  const start = t ? (t.startedAt ?? t.assignedAt) : undefined;
  return {
    id: w.id, name: `${executor}/${w.id}`, state: t?.timedOut ? 'blocked' : w.state, tid: w.handle.tid,
    op: t?.op ?? null, task_id: t?.id ?? null, runtime_ms: start === undefined ? null : Math.round(now - start),
    timed_out: t?.timedOut ?? false,
  };
}

export function threadInfo(executor: string, w: WorkerSlot, now: number, calls: ReadonlyArray<NativeCallRow & { addon: string }> = []): ThreadInfo {
  const v = workerView(executor, w, now);
  const call = calls[0];
  return {
    executor, name: v.name, worker_id: w.id, tid: w.threadExited && call ? call.callTid : w.handle.tid, thread_id: w.handle.threadId,
    state: v.state, op: v.op, task_id: v.task_id, runtime_ms: v.runtime_ms, age_ms: Math.round(now - w.spawnedAt),
    ...(w.discardedTask ? { stuck_op: w.discardedTask.op, stuck_task_id: w.discardedTask.taskId, stuck_ms: Math.round(now - w.discardedTask.startedAt) } : {}),
    ...(w.threadExited ? { thread_exited: true } : {}),
    ...(call ? { native_call: { addon: call.addon, what: call.what, worker_tid: call.tid, call_tid: call.callTid, age_ms: Math.round(call.ageMs) } } : {}),
  };
}

/** vdsm-like repr for log lines: <Worker name=... running <Task ...>>. */
export function describeWorker(executor: string, w: WorkerSlot, now: number): string {
  const v = workerView(executor, w, now);
  return `<Worker name=${v.name} tid=${v.tid} running <Task op=${v.op} id=${v.task_id} discard=${w.task?.discard ?? false} timeout=${w.task?.timeoutMs ?? null} duration=${v.runtime_ms}ms>>`;
}
