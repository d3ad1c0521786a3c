// `vdsm-tool profile start|stop|status|heap-snapshot`: run-time profiling of a running vdsmd on this
// host. The tool finds the agent through the state file it keeps in the run directory, writes its
// request beside it and sends SIGUSR2 (see src/observability/profiling/profile-control.ts); only the
// agent's user and root can do either.
import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { configArgOptions, CONFIG_OPTIONS_HELP, loadOptionsFromArgs, type ConfigArgValues } from '../config/cli-options.js';
import { loadConfig } from '../config/load-config.js';
import { EXIT_OK, EXIT_USAGE, type ToolIO, type ToolVerb } from '../config/tool-verbs.js';
import { ConfigurationError } from '../config/violations.js';
import {
  PROFILE_REQUEST_FILE, PROFILE_SIGNAL, PROFILE_STATE_FILE,
  type ProfileAction, type ProfileOutcome, type ProfileRequest, type ProfileState,
} from '../observability/profiling/profile-control.js';
import { errorMessage } from '../errors.js';

const EXIT_FAILED = 1;
const EXIT_UNREACHABLE = 3;
/** How often the tool looks at the state file while it waits for the agent's answer. */
const POLL_MS = 100;

const HELP = `Usage: vdsm-tool profile ACTION [--heap] [--thread NAME] [--run-dir DIR] [--timeout S] [--json]

Profiles a running vdsmd on this host: every thread (the main thread and each executor worker).

Actions:
  start          start a CPU profile of every thread (--heap: also a sampling heap profile)
  stop           stop it and write the profiles; prints the files:
                   <dir>/vdsmd-<pid>-<time>.pb.gz            pprof, all threads (go tool pprof)
                   <dir>/vdsmd-<pid>-<time>.<thread>.cpuprofile  one per thread (Chrome DevTools)
  status         whether a profile runs, and the last result
  heap-snapshot  write a heap snapshot of one thread (--thread main or <executor>/<worker id>;
                 'vdsm-tool threads' lists them); the thread pauses while it is taken

<dir> is the directory of [devel] cpu_profile_filename (default /run/vdsm). Without this tool,
'kill -USR2 <vdsmd pid>' toggles the CPU profile.

  --run-dir DIR   the agent's [vars] run_dir (default: from the configuration)
  --timeout S     how long to wait for the agent (default 60)
  --json          print the agent's answer as JSON

${CONFIG_OPTIONS_HELP}`;

async function readState(runDir: string): Promise<ProfileState> {
  return JSON.parse(await readFile(join(runDir, PROFILE_STATE_FILE), 'utf8')) as ProfileState;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

function describe(o: ProfileOutcome): string {
  if (!o.ok) return `failed: ${o.error ?? 'unknown error'}\n`;
  const did = o.did ?? o.action;
  if (did === 'start') return `profiling ${o.threads?.length ?? 0} thread(s): ${(o.threads ?? []).join(', ')}\n`;
  const missing = o.missing !== undefined && o.missing.length > 0 ? `\nthreads that ended before handing their profile over: ${o.missing.join(', ')}` : '';
  return `${did === 'stop' ? `profiled ${o.threads?.length ?? 0} thread(s); wrote` : 'wrote'}:\n${(o.files ?? []).map((f) => `  ${f}`).join('\n')}${missing}\n`;
}

export const profileVerb: ToolVerb = {
  name: 'profile',
  summary: 'CPU and heap profiles of every thread of the running agent',
  help: HELP,
  positionals: true,
  options: {
    ...configArgOptions,
    'run-dir': { type: 'string' },
    heap: { type: 'boolean', default: false },
    thread: { type: 'string' },
    timeout: { type: 'string', default: '60' },
    json: { type: 'boolean', default: false },
  },
  async run(values, io: ToolIO, positionals: readonly string[] = []): Promise<number> {
    const [action, ...extra] = positionals;
    const actions: Record<string, ProfileAction | 'status'> = { start: 'start', stop: 'stop', status: 'status', 'heap-snapshot': 'heap-snapshot' };
    if (action === undefined || actions[action] === undefined || extra.length > 0) {
      io.stderr(`vdsm-tool profile: ${action === undefined ? 'an action is required' : `unknown action ${JSON.stringify([action, ...extra].join(' '))}`}\n\n${HELP}`);
      return EXIT_USAGE;
    }
    let runDir = values['run-dir'] as string | undefined;
    if (runDir === undefined) {
      try {
        runDir = (await loadConfig(loadOptionsFromArgs(values as ConfigArgValues))).config.vars.run_dir;
      } catch (err) {
        if (!(err instanceof ConfigurationError)) throw err;
        io.stderr(`${err.message}\n`);
        return EXIT_FAILED;
      }
    }
    let state: ProfileState;
    try {
      state = await readState(runDir);
    } catch (err) {
      io.stderr(`vdsm-tool profile: no running vdsmd found: cannot read ${join(runDir, PROFILE_STATE_FILE)} (${errorMessage(err)}).\nIs vdsmd running, and is its run directory ${runDir}? Use --run-dir or --config.\n`);
      return EXIT_UNREACHABLE;
    }
    if (!alive(state.pid)) {
      io.stderr(`vdsm-tool profile: vdsmd (pid ${state.pid}) is not running any more; ${join(runDir, PROFILE_STATE_FILE)} is stale.\n`);
      return EXIT_UNREACHABLE;
    }
    if (action === 'status') {
      if (values['json'] === true) io.stdout(`${JSON.stringify(state, null, 2)}\n`);
      else io.stdout(`vdsmd pid ${state.pid}: ${state.running ? 'profiling' : 'not profiling'}${state.last ? `; last: ${state.last.action} at ${state.last.at}, ${describe(state.last)}` : '\n'}`);
      return EXIT_OK;
    }
    const request: ProfileRequest = {
      id: randomUUID(), action: actions[action] as ProfileAction,
      ...(values['heap'] === true ? { heap: true } : {}),
      ...(typeof values['thread'] === 'string' ? { thread: values['thread'] } : {}),
    };
    const file = join(runDir, PROFILE_REQUEST_FILE);
    await writeFile(`${file}.tmp`, JSON.stringify(request), { mode: 0o600 });
    await rename(`${file}.tmp`, file);
    try {
      process.kill(state.pid, PROFILE_SIGNAL);
    } catch (err) {
      io.stderr(`vdsm-tool profile: cannot signal vdsmd (pid ${state.pid}): ${errorMessage(err)}; run as root or as the agent's user.\n`);
      return EXIT_FAILED;
    }
    const deadline = Date.now() + Number(values['timeout']) * 1000;
    for (;;) {
      const s = await readState(runDir).catch(() => undefined);
      if (s?.last?.id === request.id) {
        io.stdout(values['json'] === true ? `${JSON.stringify(s.last, null, 2)}\n` : describe(s.last));
        return s.last.ok ? EXIT_OK : EXIT_FAILED;
      }
      if (Date.now() > deadline) {
        io.stderr(`vdsm-tool profile: vdsmd (pid ${state.pid}) did not answer within ${String(values['timeout'])} s; 'vdsm-tool profile status' shows what it did.\n`);
        return EXIT_FAILED;
      }
      await sleep(POLL_MS);
    }
  },
};
