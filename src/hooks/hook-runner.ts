// Runs the scripts of one hook point the way vdsm runs them (lib/vdsm/common/hooks.py, _runHooksDir):
//   - the scripts are the runnable files of <hooksDir>/<point>/, one after the other in name order;
//   - the data (a domain XML, or a JSON document for JSON hook points) is written to a temporary file
//     named by `_hook_domxml` (or `_hook_json`) in the environment; a script may rewrite it in place, and
//     the file's content after the last script is the result; the file is removed afterwards;
//   - the environment is the agent's, plus the call's parameters, the VM's custom properties, `vmId`;
//   - exit 0 is success; 1 is an error that lets the remaining scripts run; 2 is an error that stops
//     them; anything else is an unexpected code, logged, counted as an error, and the next script runs.
// What differs (ours): each script has a time limit, past which its process group is killed and it
// counts as an exit-2 error (its edits may be half done); a script that cannot be started counts the
// same way. Output is bounded. Whether an error fails the operation is the hook point's rule (vm-hooks.ts).
import diagnostics_channel from 'node:diagnostics_channel';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../observability/logging.js';
import { monotonicClock, realTimers, type Clock, type Timers } from '../runtime/clock.js';
import { hookScripts } from '../contracts/hook-scripts.js';
import { runScript, type ScriptRun } from '../runtime/script-process.js';

/** Published once per script run: { point, script, rc, signal, timedOut, ms }. */
export const hookScriptChannel = diagnostics_channel.channel('vdsm:hooks:script');

/** vdsm-node's `hooking` Python module (packaging/python/hooking.py), for scripts written for vdsm. */
export const HOOKING_PYTHON_DIR = fileURLToPath(new URL('../../../packaging/python', import.meta.url));

/** Bytes of each script's stdout and stderr kept for the log (the rest is read and dropped). */
export const DEFAULT_OUTPUT_LIMIT = 64 * 1024;

export interface HookRunnerOptions {
  /** vdsm's hooks directory (one sub-directory per hook point). */
  hooksDir: string;
  /** Time limit of one script, ms. */
  timeoutMs: number;
  log: Logger;
  outputLimit?: number;
  /** Where the data files are made (default: the OS temporary directory, as vdsm's mkstemp). */
  tmpDir?: string;
  /** Environment every script starts from (default: this process's). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Appended to the scripts' PYTHONPATH (vdsm adds its `hooking` module's directory the same way). */
  pythonPath?: string;
  clock?: Clock;
  timers?: Timers;
}

export type HookData = { kind: 'domxml'; xml: string | undefined } | { kind: 'json'; value: unknown };

export interface HookRunRequest {
  point: string;
  data?: HookData;
  /** The VM whose operation this is (`vmId` in the environment). */
  vmId?: string;
  /** The VM's custom properties and the call's parameters, added to the environment. */
  env?: Record<string, string>;
}

export interface HookRunResult {
  point: string;
  /** Every script run, in order (empty when the point has no scripts). */
  runs: ScriptRun[];
  /** One entry per failed script: its stderr, or what went wrong when it has none. */
  errors: string[];
  /** The data after the scripts: the edited XML text, or the parsed JSON document. */
  xml?: string;
  json?: unknown;
}

/** Why a script run counts as failed, or undefined when it succeeded. */
function failureOf(run: ScriptRun, timeoutMs: number): string | undefined {
  if (run.spawnError !== undefined) return `could not be started: ${run.spawnError}`;
  if (run.timedOut) return `killed after its time limit of ${timeoutMs} ms`;
  if (run.rc === 0) return undefined;
  const stderr = run.stderr.text.trim();
  if (stderr !== '') return stderr;
  return run.rc === null ? `killed by ${run.signal ?? 'a signal'}` : `exit code ${run.rc}`;
}

/** A run after which no further script of the point may run: exit 2, a kill, a script that never started. */
function stopsThePoint(run: ScriptRun): boolean {
  return run.rc === 2 || run.rc === null;
}

/** A script running now, for /health. */
interface Running {
  point: string;
  script: string;
  vmId?: string;
  startedAt: number;
}

export class HookRunner {
  readonly #o: HookRunnerOptions;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #running = new Set<Running>();
  readonly #counts = { ran: 0, failed: 0, killed: 0 };

  constructor(opts: HookRunnerOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? monotonicClock;
    this.#timers = opts.timers ?? realTimers;
  }

  get hooksDir(): string {
    return this.#o.hooksDir;
  }

  /** Run a hook point's scripts. Never rejects for a script's failure (see `errors`); rejects on I/O errors of the data file. */
  async run(req: HookRunRequest): Promise<HookRunResult> {
    const data = req.data ?? { kind: 'domxml', xml: undefined };
    const scripts = await hookScripts(this.#o.hooksDir, req.point);
    const unchanged = data.kind === 'domxml' ? { xml: data.xml ?? '' } : { json: data.value };
    if (scripts.length === 0) return { point: req.point, runs: [], errors: [], ...unchanged };
    const dir = await mkdtemp(join(this.#o.tmpDir ?? tmpdir(), 'vdsm-hook-'));
    try {
      const file = join(dir, data.kind === 'domxml' ? 'domxml' : 'data.json');
      await writeFile(file, data.kind === 'domxml' ? (data.xml ?? '') : JSON.stringify(data.value), { mode: 0o600 });
      const env: NodeJS.ProcessEnv = { ...(this.#o.baseEnv ?? process.env), ...req.env };
      if (req.vmId !== undefined) env['vmId'] = req.vmId;
      if (this.#o.pythonPath !== undefined) env['PYTHONPATH'] = [env['PYTHONPATH'], this.#o.pythonPath].filter((p) => p !== undefined && p !== '').join(':');
      env[data.kind === 'domxml' ? '_hook_domxml' : '_hook_json'] = file;
      const runs: ScriptRun[] = [];
      const errors: string[] = [];
      for (const script of scripts) {
        const run = await this.#runOne(req, script, env);
        runs.push(run);
        const failure = failureOf(run, this.#o.timeoutMs);
        if (failure !== undefined) errors.push(failure);
        if (stopsThePoint(run)) break;
      }
      const text = await readFile(file, 'utf8');
      if (data.kind === 'domxml') return { point: req.point, runs, errors, xml: text };
      try {
        return { point: req.point, runs, errors, json: JSON.parse(text) as unknown };
      } catch {
        return { point: req.point, runs, errors: [...errors, 'the scripts left a document that is not JSON'], json: data.value };
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** /health: the scripts running now (a hung one shows here until its time limit) and totals. */
  describe(): Record<string, unknown> {
    const now = this.#clock.now();
    return {
      dir: this.#o.hooksDir,
      timeoutMs: this.#o.timeoutMs,
      running: [...this.#running].map((r) => ({ point: r.point, script: r.script, ...(r.vmId !== undefined ? { vmId: r.vmId } : {}), runningMs: Math.round(now - r.startedAt) })),
      ...this.#counts,
    };
  }

  async #runOne(req: HookRunRequest, script: string, env: NodeJS.ProcessEnv): Promise<ScriptRun> {
    const started = this.#clock.now();
    const entry: Running = { point: req.point, script, startedAt: started, ...(req.vmId !== undefined ? { vmId: req.vmId } : {}) };
    this.#running.add(entry);
    let run: ScriptRun;
    try {
      run = await runScript(script, {
        env,
        timeoutMs: this.#o.timeoutMs,
        outputLimit: this.#o.outputLimit ?? DEFAULT_OUTPUT_LIMIT,
        timers: this.#timers,
      });
    } finally {
      this.#running.delete(entry);
    }
    this.#counts.ran++;
    if (run.rc !== 0) this.#counts.failed++;
    if (run.timedOut) this.#counts.killed++;
    const ms = Math.round(this.#clock.now() - started);
    if (hookScriptChannel.hasSubscribers) {
      hookScriptChannel.publish({ point: req.point, script, rc: run.rc, signal: run.signal, timedOut: run.timedOut, ms });
    }
    const fields = {
      hook: req.point, script, rc: run.rc, ms,
      ...(req.vmId !== undefined ? { vmId: req.vmId } : {}),
      ...(run.signal !== null ? { signal: run.signal } : {}),
      err: run.stderr.text,
      ...(run.stderr.dropped > 0 ? { errDropped: run.stderr.dropped } : {}),
      ...(run.stdout.text !== '' ? { out: run.stdout.text } : {}),
      ...(run.stdout.dropped > 0 ? { outDropped: run.stdout.dropped } : {}),
    };
    if (run.spawnError !== undefined) this.#o.log.error({ ...fields, spawnError: run.spawnError }, 'hook script could not be started');
    else if (run.timedOut) this.#o.log.error({ ...fields, timeoutMs: this.#o.timeoutMs }, 'hook script ran over its time limit: its process group was killed');
    else if (run.rc !== null && run.rc > 2) this.#o.log.warn(fields, 'hook script returned an unexpected exit code');
    else this.#o.log.info(fields, 'hook script ran');
    return run;
  }
}
