// Entry of the storage task pool's threads (Piscina's task file): runs one job of one storage task.
// The job talks to the main thread over the MessagePort in the request: it sends each recovery and
// waits until the main thread has persisted it, reports progress and the child processes it runs, and
// listens for 'abort' (Task.stop). Imports only shared types, the error catalogue and workers/storage.
import { Errors, vdsmError, type ErrorSpec } from '../src/errors.js';
import type { FromJob, JobOutcome, JobRequest, ToJob } from '../src/contracts/storage-job-protocol.js';
import { toWireError } from './wire-error.js';
import type { RecoveryRecord } from '../src/contracts/task-format.js';
import type { WireError } from '../src/contracts/executor-protocol.js';
import { JOBS, type JobContext } from './storage/jobs.js';

const byCode = new Map<string, ErrorSpec>(Object.values(Errors).map((s) => [s.code, s]));

/** A failed persistence the main thread reports (an ack with an error): the job fails with its code. */
function ackError(w: WireError): Error {
  const spec = w.code === undefined ? undefined : byCode.get(w.code);
  return spec ? vdsmError(spec, w.message) : Object.assign(new Error(w.message), { name: w.name });
}

/**
 * Piscina's task function. It answers with an envelope rather than throwing: an Error thrown across the
 * thread boundary keeps only its name and message, and the task needs vdsm's numeric code.
 */
export default async function runJob(req: JobRequest): Promise<JobOutcome> {
  try {
    return { ok: true, value: await runJobs(req) };
  } catch (err) {
    return { ok: false, error: toWireError(err) };
  } finally {
    // Last on the task's own port: the main thread settles the task only after it has read every
    // message before this one (Piscina's answer comes on another channel and may overtake them).
    req.port.postMessage({ type: 'end' } satisfies FromJob);
    req.port.close();
  }
}

async function runJobs(req: JobRequest): Promise<unknown> {
  const { port } = req;
  const unknown = req.jobs.find((j) => JOBS[j.job] === undefined);
  if (unknown !== undefined) {
    throw vdsmError(Errors.UNKNOWN_OPERATION, `Unknown storage job: ${unknown.job}`);
  }
  const abort = new AbortController();
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let seq = 0;
  port.on('message', (msg: ToJob) => {
    if (msg.type === 'abort') abort.abort();
    else if (msg.type === 'ack') {
      const p = pending.get(msg.seq);
      pending.delete(msg.seq);
      if (msg.error) p?.reject(ackError(msg.error));
      else p?.resolve();
    }
  });
  const post = (m: FromJob): void => port.postMessage(m);
  const recovery = (action: 'push' | 'replace', rec: RecoveryRecord): Promise<void> =>
    new Promise((resolve, reject) => {
      const n = ++seq;
      pending.set(n, { resolve, reject });
      post({ type: 'recovery', action, rec, seq: n });
    });
  let lastPercent = -1;
  let current = '';
  const ctx: JobContext = {
    taskId: req.taskId,
    signal: abort.signal,
    pushRecovery: (rec) => recovery('push', rec),
    replaceRecoveries: (rec) => recovery('replace', rec),
    progress: (percent, step) => {
      // qemu-img prints a line per 1 %; the main thread needs no more than that.
      const p = Math.floor(percent);
      if (p === lastPercent) return;
      lastPercent = p;
      post({ type: 'progress', percent, step });
    },
    child: {
      signal: abort.signal,
      onSpawn: (pid) => post({ type: 'child', pid, command: current, running: true }),
      onExit: (pid) => post({ type: 'child', pid, command: current, running: false }),
    },
  };
  post({ type: 'start' });
  try {
    let result: unknown;
    for (const [index, call] of req.jobs.entries()) {
      // vdsm checks for an abort between jobs too.
      if (abort.signal.aborted) throw vdsmError(Errors.ACTION_STOPPED, `${Errors.ACTION_STOPPED.message}: task ${req.taskId}`);
      current = call.job;
      lastPercent = -1;
      post({ type: 'job', index });
      result = await JOBS[call.job]!(call.args, ctx);
    }
    return result;
  } finally {
    port.removeAllListeners('message');
  }
}
