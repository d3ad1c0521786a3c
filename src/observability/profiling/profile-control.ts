// Starting and stopping profiles of a running agent, without a network endpoint: SIGUSR2 toggles a CPU
// profile of every thread (`kill -USR2 $(pidof vdsmd)` is enough), and `vdsm-tool profile` asks for an
// exact action by writing a request file into the run directory (writable by the agent's user and root
// only) before sending the signal. The agent answers in a state file beside it, which also says whether
// a profile runs. SIGUSR1 stays Node's (it opens the inspector).
import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ProfileResult, ThreadProfiler } from './thread-profiler.js';
import { errorMessage } from '../../errors.js';

export const PROFILE_STATE_FILE = 'vdsmd-profiling.json';
export const PROFILE_REQUEST_FILE = 'vdsmd-profiling.request';
export const PROFILE_SIGNAL = 'SIGUSR2';

export type ProfileAction = 'start' | 'stop' | 'toggle' | 'heap-snapshot';

export interface ProfileRequest {
  id: string;
  action: ProfileAction;
  /** With start: also a sampling heap profile. */
  heap?: boolean;
  /** With heap-snapshot: 'main' (default) or '<executor>/<worker id>'. */
  thread?: string;
}

export interface ProfileOutcome {
  id: string;
  action: ProfileAction;
  ok: boolean;
  /** What was done for a toggle. */
  did?: 'start' | 'stop';
  files?: string[];
  threads?: string[];
  missing?: string[];
  error?: string;
  at: string;
}

/** What the state file holds. */
export interface ProfileState {
  pid: number;
  /** Where run-time profiles are written. */
  profile_dir: string;
  running: boolean;
  profiler: Record<string, unknown>;
  last: ProfileOutcome | null;
  updated: string;
}

export interface ProfileControlOptions {
  profiler: ThreadProfiler;
  /** Where the request and state files live ([vars] run_dir). */
  runDir: string;
  /**
   * Where run-time profiles are written: the first of these directories that exists at start (the
   * directory of [devel] cpu_profile_filename, then [vars] run_dir for development agents).
   */
  profileDirs: readonly string[];
  log: Logger;
  pid?: number;
}

const isAction = (a: unknown): a is ProfileAction => a === 'start' || a === 'stop' || a === 'toggle' || a === 'heap-snapshot';

export class ProfileControl {
  #o: ProfileControlOptions;
  #queue: Promise<unknown> = Promise.resolve();
  #last: ProfileOutcome | null = null;
  #dir: string;
  #onSignal = (): void => {
    this.#queue = this.#queue.then(() => this.#fromSignal(), () => this.#fromSignal());
  };

  constructor(opts: ProfileControlOptions) {
    this.#o = opts;
    this.#dir = opts.profileDirs[0] ?? opts.runDir;
  }

  /** Where run-time profiles go. */
  get profileDir(): string {
    return this.#dir;
  }

  get pid(): number {
    return this.#o.pid ?? process.pid;
  }

  /** Write the state file and listen for SIGUSR2. */
  async start(): Promise<void> {
    for (const d of this.#o.profileDirs) {
      if (await stat(d).then((s) => s.isDirectory(), () => false)) {
        this.#dir = d;
        break;
      }
    }
    await this.writeState();
    process.on(PROFILE_SIGNAL, this.#onSignal);
  }

  async stop(): Promise<void> {
    process.off(PROFILE_SIGNAL, this.#onSignal);
    await this.#queue.catch(() => undefined);
    await rm(join(this.#o.runDir, PROFILE_STATE_FILE), { force: true });
  }

  /** Run one action now (the signal path, the debug endpoint and tests use this). */
  run(request: ProfileRequest): Promise<ProfileOutcome> {
    const p = this.#queue.then(() => this.#run(request), () => this.#run(request));
    this.#queue = p;
    return p;
  }

  /** Prefix of the files of a profile taken now. */
  target(kind = 'profile'): { base: string; pprof: string } {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const base = join(this.#dir, `vdsmd-${this.pid}-${stamp}${kind === 'profile' ? '' : `-${kind}`}`);
    return { base, pprof: `${base}.pb.gz` };
  }

  async writeState(): Promise<void> {
    const state: ProfileState = { pid: this.pid, profile_dir: this.#dir, running: this.#o.profiler.running, profiler: this.#o.profiler.state(), last: this.#last, updated: new Date().toISOString() };
    const file = join(this.#o.runDir, PROFILE_STATE_FILE);
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
    await rename(tmp, file);
  }

  async #fromSignal(): Promise<void> {
    const file = join(this.#o.runDir, PROFILE_REQUEST_FILE);
    let request: ProfileRequest = { id: randomUUID(), action: 'toggle' };
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<ProfileRequest>;
      await rm(file, { force: true });
      if (typeof parsed.id === 'string' && isAction(parsed.action)) request = parsed as ProfileRequest;
      else this.#o.log.warn({ file }, 'profiling request file is not a valid request; toggling instead');
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') this.#o.log.warn({ file, err: errorMessage(err) }, 'cannot read the profiling request; toggling instead');
    }
    await this.#run(request);
  }

  async #run(r: ProfileRequest): Promise<ProfileOutcome> {
    const at = (): string => new Date().toISOString();
    let outcome: ProfileOutcome;
    try {
      const action = r.action === 'toggle' ? (this.#o.profiler.running ? 'stop' : 'start') : r.action;
      if (action === 'start') {
        const { threads } = await this.#o.profiler.start({ heap: r.heap === true });
        outcome = { id: r.id, action: r.action, ok: true, did: 'start', threads, at: at() };
      } else if (action === 'stop') {
        const res: ProfileResult = await this.#o.profiler.stop(this.target());
        outcome = { id: r.id, action: r.action, ok: true, did: 'stop', files: res.files, threads: res.threads, missing: res.missing, at: at() };
      } else {
        const file = await this.#o.profiler.heapSnapshot(this.target('heap').base, r.thread ?? 'main');
        outcome = { id: r.id, action: r.action, ok: true, files: [file], at: at() };
        this.#o.log.info({ file, thread: r.thread ?? 'main' }, 'heap snapshot written');
      }
    } catch (err) {
      outcome = { id: r.id, action: r.action, ok: false, error: errorMessage(err), at: at() };
      this.#o.log.warn({ action: r.action, err: outcome.error }, 'profiling request failed');
    }
    this.#last = outcome;
    await this.writeState().catch((err: unknown) => this.#o.log.warn({ err: errorMessage(err) }, 'cannot write the profiling state file'));
    return outcome;
  }
}
