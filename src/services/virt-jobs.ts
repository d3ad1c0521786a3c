// The host's virt jobs, as vdsm keeps them for Host.getJobs (job_type `virt`): work a verb starts and
// answers at once, the engine then following the job by id until it is `done` or `failed` (VM.snapshot's
// `snapshot_vm`). A job is registered `running` when the verb answers, finished once, and forgotten
// `[jobs] autodelete_delay` seconds after it finished (vdsm deletes its virt jobs the same way; a negative
// delay keeps them). However the engine calls, the map stays bounded: the oldest finished jobs go first
// past `kept`, and a running job is never dropped (at most one runs per VM).
import type { Timers } from '../runtime/clock.js';

/** A virt job as Host.getJobs reports it (vdsm's job info: no `progress` for these jobs). */
export interface VirtJobInfo {
  id: string;
  status: 'running' | 'done' | 'failed';
  description: string;
  job_type: 'virt';
  error?: { code: number; message: string };
}

export interface VirtJobsOptions {
  timers: Timers;
  /** Seconds a finished job stays listed ([jobs] autodelete_delay); negative keeps it until the bound drops it. */
  autodeleteDelayS: number;
  /** Finished jobs kept at most (the oldest dropped first). */
  kept?: number;
  /** Told when a job finishes (vdsm sends its `|jobs|status|<id>` event then, with the job's info). */
  onFinished?: (job: VirtJobInfo) => void;
}

/** Finished jobs kept at most by default. */
const DEFAULT_KEPT = 100;

export class VirtJobs {
  readonly #o: VirtJobsOptions;
  /** By id, in the order they started (a finished job moves to the end). */
  readonly #jobs = new Map<string, VirtJobInfo>();
  /** Pending autodelete timers, by job id. */
  readonly #deletes = new Map<string, unknown>();

  constructor(opts: VirtJobsOptions) {
    this.#o = opts;
  }

  has(id: string): boolean {
    return this.#jobs.has(id);
  }

  /** Register job `id` as running; false when a job of that id is still listed (vdsm's JobExistsError). */
  start(id: string, description: string): boolean {
    if (this.#jobs.has(id)) return false;
    const job: VirtJobInfo = { id, status: 'running', description, job_type: 'virt' };
    this.#jobs.set(id, job);
    return true;
  }

  /** Job `id` finished: `done`, or `failed` with `error`; forgotten after the autodelete delay. */
  finish(id: string, error?: { code: number; message: string }): void {
    const job = this.#jobs.get(id);
    if (job === undefined || job.status !== 'running') return;
    const next: VirtJobInfo = { id, status: error === undefined ? 'done' : 'failed', description: job.description, job_type: 'virt', ...(error !== undefined ? { error } : {}) };
    this.#jobs.delete(id);
    this.#jobs.set(id, next);
    this.#o.onFinished?.({ ...next, ...(next.error !== undefined ? { error: { ...next.error } } : {}) });
    if (this.#o.autodeleteDelayS >= 0) {
      this.#deletes.set(id, this.#o.timers.setTimeout(() => this.#forget(id), this.#o.autodeleteDelayS * 1000));
    }
    this.#bound();
  }

  /** Host.getJobs: every job, or those of `ids` (a copy). */
  info(ids: readonly string[] = []): Record<string, VirtJobInfo> {
    const out: Record<string, VirtJobInfo> = {};
    for (const [id, job] of this.#jobs) if (ids.length === 0 || ids.includes(id)) out[id] = { ...job, ...(job.error !== undefined ? { error: { ...job.error } } : {}) };
    return out;
  }

  /** Cancel the autodelete timers (the agent stops). */
  close(): void {
    for (const handle of this.#deletes.values()) this.#o.timers.clearTimeout(handle);
    this.#deletes.clear();
  }

  #forget(id: string): void {
    this.#deletes.delete(id);
    const job = this.#jobs.get(id);
    if (job !== undefined && job.status !== 'running') this.#jobs.delete(id);
  }

  #bound(): void {
    const kept = this.#o.kept ?? DEFAULT_KEPT;
    let finished = 0;
    for (const job of this.#jobs.values()) if (job.status !== 'running') finished++;
    for (const [id, job] of this.#jobs) {
      if (finished <= kept) break;
      if (job.status === 'running') continue;
      this.#jobs.delete(id);
      const handle = this.#deletes.get(id);
      if (handle !== undefined) this.#o.timers.clearTimeout(handle);
      this.#deletes.delete(id);
      finished--;
    }
  }
}
