#!/usr/bin/env node
// supervdsmd: the privileged half of vdsm-node. Runs as root, reads the same configuration as vdsmd,
// and serves the functions of src/supervdsm/functions/ on <run_dir>/svdsm.sock (owned by the agent's
// user and group, mode 0660) to root and the agent's user only. One instance per run directory.
import { chown, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CONFIG_OPTIONS_HELP } from '../config/index.js';
import { peerCredentials } from '../native-sys.js';
import { createRootLogger, LogManager } from '../observability/logging.js';
import { SdNotifier } from '../observability/sd-notify.js';
import { Executor } from '../runtime/executor/executor.js';
import { Scheduler } from '../runtime/scheduler.js';
import { CommandRunner, locateCommands } from '../supervdsm/command-runner.js';
import { resolveGroup, resolveUser } from '../supervdsm/functions/accounts.js';
import { ALL_FUNCTIONS } from '../supervdsm/functions/index.js';
import { buildPolicy, policyProblems } from '../supervdsm/policy.js';
import { createInProcessNetwork } from '../network/in-process.js';
import { fakeNicPatterns } from '../network/netinfo.js';
import { FunctionRegistry } from '../supervdsm/registry.js';
import { SupervdsmServer } from '../supervdsm/server.js';
import { acquireInstanceLock, InstanceLockedError, releaseInstanceLock, type InstanceLock } from '../ops/instance-lock.js';
import { loadDaemonConfig, parseDaemonArgs, runDaemon, stopOnSignals } from './daemon-main.js';
import { errorMessage } from '../errors.js';

const USAGE = `Usage: supervdsmd [--config FILE] [--set SECTION.KEY=VALUE ...] [--profile NAME]

The privileged helper of vdsm-node: runs as root and does, for vdsmd (which runs as the unprivileged
[supervdsm] user), the few things that need root: DMI hardware info, KSM tuning, hugepages, guest
channel sockets, udev rules, storage mounts, SASL passwords, access checks as another user, fuser.
It listens on <run_dir>/svdsm.sock (default /run/vdsm/svdsm.sock), owned by [supervdsm] user and group,
mode 0660, and accepts connections from root and that user only. Give it the same options as vdsmd.

Examples:
  supervdsmd                                  # /etc/vdsm/vdsm.conf, as systemd starts it
  supervdsmd --set vars.run_dir=/tmp/vdsm-run --set supervdsm.user=$USER
  vdsm-tool supervdsm                         # is it up, and what is it doing?

${CONFIG_OPTIONS_HELP}
Other options:
  -h, --help       this text
  --version        print the version and exit

Signals: SIGTERM and SIGINT stop it: calls in flight get 5 s, then are aborted; the socket is removed.
Logs: JSON lines on stdout (journald priority prefixes when run by systemd).
See also: docs/supervdsm.md (the functions, the protocol, the security rules).
`;

const STOP_GRACE_MS = 5000;

async function prepareRunDir(dir: string, uid: number, gid: number): Promise<void> {
  try {
    await stat(dir);
  } catch {
    // Normally tmpfiles.d or vdsmd.service's RuntimeDirectory made it; make it the same way.
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await chown(dir, uid, gid);
  }
}

async function main(argv: string[]): Promise<number> {
  const values = parseDaemonArgs('supervdsmd', argv, USAGE);
  if (typeof values === 'number') return values;
  if (process.geteuid?.() !== 0) {
    process.stderr.write(`supervdsmd: must run as root (it does vdsmd's privileged work); running as uid ${process.geteuid?.()}\n`);
    return 1;
  }
  const loaded = await loadDaemonConfig('supervdsmd', values);
  if (typeof loaded === 'number') return loaded;
  const { config, warnings } = loaded;
  const problems = policyProblems(config);
  if (problems.length > 0) {
    process.stderr.write(`supervdsmd: invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
    return 1;
  }

  const root = createRootLogger({ level: config.vars.log_level, base: { daemon: 'supervdsmd' } });
  const logs = new LogManager(root);
  const log = logs.get('supervdsm');
  for (const w of warnings) log.warn(`configuration: ${w}`);

  const runner = new CommandRunner(await locateCommands());
  const lookup = { run: (c: Parameters<CommandRunner['run']>[0], a: readonly string[]) => runner.run(c, a, { timeoutMs: 10_000 }) };
  let agent: Awaited<ReturnType<typeof resolveUser>>;
  let groupGid: number;
  try {
    agent = await resolveUser(lookup, config.supervdsm.user);
    groupGid = await resolveGroup(lookup, config.supervdsm.group);
  } catch (err) {
    process.stderr.write(`supervdsmd: cannot resolve [supervdsm] user ${JSON.stringify(config.supervdsm.user)} or group ${JSON.stringify(config.supervdsm.group)}: ${errorMessage(err)}\nCreate them (systemd-sysusers /usr/lib/sysusers.d/vdsm-node.conf) or set supervdsm.user / supervdsm.group.\n`);
    return 1;
  }
  const runDir = config.vars.run_dir;
  await prepareRunDir(runDir, agent.uid, groupGid);
  let lock: InstanceLock;
  try {
    lock = acquireInstanceLock(runDir, process.pid, 'supervdsmd');
  } catch (err) {
    if (!(err instanceof InstanceLockedError)) throw err;
    process.stderr.write(`supervdsmd: ${err.message}.\nStop it first (systemctl stop supervdsmd${err.pid !== undefined ? `, or kill ${err.pid}` : ''}), or give this one its own --set vars.run_dir=...\n`);
    return 1;
  }

  const policy = buildPolicy({ config, agent, groupGid });
  const scheduler = new Scheduler({ name: 'supervdsm.Scheduler', log: logs.get('Scheduler') });
  const workers = config.supervdsm.workers;
  const executor = new Executor({
    name: 'supervdsm', workersCount: workers, maxWorkers: Math.max(workers * 4, workers + 2), maxTasks: config.supervdsm.max_calls * 4,
    scheduler, log: logs.get('Executor.supervdsm'), opsModules: ['supervdsm'],
  });
  // Host networking's one applier: a change pending its connectivity check lives here between calls.
  const network = createInProcessNetwork({
    stateDir: config.vars.state_dir, runDir, fakeNics: fakeNicPatterns(config.vars.fake_nics), resolvConf: config.vars.net_resolv_conf, log: logs.get('network'),
  });
  const server = new SupervdsmServer({
    path: join(runDir, 'svdsm.sock'),
    registry: new FunctionRegistry(ALL_FUNCTIONS),
    policy, runner, executor, log, peerCredentials,
    maxFrameBytes: config.supervdsm.max_frame_size,
    maxCalls: config.supervdsm.max_calls,
    network,
  });
  const notifier = new SdNotifier({ onError: (err) => log.warn({ err: err.message }, 'sd_notify failed') });

  stopOnSignals({
    log, root, notifier, hardExitMs: STOP_GRACE_MS * 3,
    stop: async () => {
      await server.stop(STOP_GRACE_MS);
      const { stuckThreads } = await executor.stop({ graceMs: 1000 });
      scheduler.stop();
      releaseInstanceLock(lock);
      return { stuckThreads };
    },
  });

  try {
    scheduler.start();
    executor.start();
    await server.start();
    // A previous helper that died mid-change left its journal: network calls queue behind this.
    network.applier.recover().catch((err: unknown) => log.error({ err }, 'rolling back a network change left unfinished failed'));
  } catch (err) {
    log.fatal({ err }, 'supervdsmd failed to start');
    process.stderr.write(`supervdsmd: failed to start: ${errorMessage(err)}\n`);
    releaseInstanceLock(lock);
    return 1;
  }
  log.info({ socket: server.path, user: agent.name, uid: agent.uid, group: config.supervdsm.group, gid: groupGid, functions: ALL_FUNCTIONS.length },
    'supervdsmd serving');
  void notifier.ready(`serving ${server.path} for ${agent.name}`);
  return -1;
}

runDaemon('supervdsmd', main);
