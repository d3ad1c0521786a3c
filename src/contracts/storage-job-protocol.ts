// What the main thread and a task-pool worker say to each other while a storage job runs. Types only:
// workers/storage-task-worker.ts and src/storage/task/task-pool.ts both import this file.
import type { MessagePort } from 'node:worker_threads';
import type { WireError } from './executor-protocol.js';
import type { RecoveryRecord } from './task-format.js';

/** One job: a name in the worker's table (e.g. 'createVolume') and its plain-data arguments. */
export interface JobCall {
  job: string;
  args: unknown;
}

/** The Piscina task: the jobs of one storage task, run one after the other (vdsm's _runJobs). */
export interface JobRequest {
  taskId: string;
  jobs: JobCall[];
  /** Our end of a MessageChannel: progress and recoveries out, acks and abort in. */
  port: MessagePort;
}

export type FromJob =
  /** The worker picked the task up (vdsm's commit: the task becomes running). */
  | { type: 'start' }
  /** Job `index` of the task begins (message "running job <index+1> of <n>"). */
  | { type: 'job'; index: number }
  /** Persist this recovery before going on; the worker waits for the matching ack. */
  | { type: 'recovery'; action: 'push' | 'replace'; rec: RecoveryRecord; seq: number }
  /** Percent done of the current long step (qemu-img convert, preallocation). */
  | { type: 'progress'; percent: number; step: string }
  /** A child process the job runs (killed by the main thread if the worker cannot stop it). */
  | { type: 'child'; pid: number; command: string; running: boolean }
  /** The worker's last message on this port: everything it said before has been delivered. */
  | { type: 'end' };

export type ToJob =
  | { type: 'ack'; seq: number; error?: WireError }
  /** Task.stop: run the job's abort callbacks (kill its child process) and fail with ActionStopped. */
  | { type: 'abort' };

/** The worker's answer: the last job's result (vdsm stores it in the task result), or its error. */
export type JobOutcome = { ok: true; value: unknown } | { ok: false; error: WireError };
