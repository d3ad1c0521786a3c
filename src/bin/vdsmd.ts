#!/usr/bin/env node
// vdsmd: the host agent. Loads the configuration, builds the Agent, serves until SIGTERM / SIGINT, and
// stops within a bounded time even when worker threads are stuck in native (libvirt) calls.
import { errorMessage } from '../errors.js';
import { mkdir } from 'node:fs/promises';
import pino from 'pino';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, readLibvirtPassword } from '../app/agent.js';
import { configArgOptions, CONFIG_OPTIONS_HELP, ConfigurationError, loadConfig, loadOptionsFromArgs, type VdsmConfig } from '../config/index.js';
import { writeNodeXml } from '../libvirt/fixture.js';
import { createRootLogger, LogManager } from '../observability/logging.js';
import { SdNotifier } from '../observability/sd-notify.js';
import { applyProcessSettings } from './process-settings.js';
import { exitNow, setThreadName } from '../native-sys.js';
import { AddonNativeCalls } from '../native-calls.js';
import { enrolmentHint, hostCertFiles, missingFiles } from '../ops/host-certs.js';
import { loadTlsFiles } from '../rpc/pki.js';
import { acquireInstanceLock, InstanceLockedError } from '../ops/instance-lock.js';
import { versionString } from '../ops/version.js';

const USAGE = `Usage: vdsmd [--config FILE] [--set SECTION.KEY=VALUE ...] [--profile NAME]

The vdsm-node host agent: serves the oVirt engine on the management port (default TCP 54321,
JSON-RPC over STOMP, TLS) and runs VMs through libvirt.

Examples:
  vdsmd                                   # a hypervisor: /etc/vdsm/vdsm.conf, qemu:///system
  vdsmd --profile embedded                # development: 127.0.0.1, TLS with a development PKI,
                                          # libvirt's test driver with a few generated VMs
  vdsmd --profile embedded --set libvirt.uri=qemu:///session
  vdsmd --profile dev --set addresses.management_port=54322   # plain TCP

${CONFIG_OPTIONS_HELP}
Other options:
  -h, --help       this text
  --version        print the version and exit

Signals: SIGTERM and SIGINT stop the agent (bounded: threads stuck in native calls are abandoned).
Logs: JSON lines on stdout (journald priority prefixes when run by systemd).
See also: vdsm-tool show-config, vdsm-client, docs/config.md.
`;

/** Grace given to worker threads at stop before the process exits regardless. */
const STOP_GRACE_MS = 3000;

/** Embedded development hypervisor: 3 running VMs and 1 paused one on libvirt's test driver. */
async function embeddedLibvirtUri(stateDir: string): Promise<string> {
  const dir = join(stateDir, 'embedded');
  await mkdir(dir, { recursive: true });
  return writeNodeXml(dir, { domains: 4, paused: 1, cpus: 4, memoryKiB: 8 * 1024 * 1024, namePrefix: 'embedded-vm' });
}

/**
 * _exit runs no exit handlers, so pino's asynchronous stdout stream would lose its last lines (those
 * that say why the process exits): let an in-flight write finish (bounded), write the rest
 * synchronously, then exit.
 */
function flushLogsThenExit(root: ReturnType<typeof createRootLogger>, code: number): void {
  const stream = (root as unknown as Record<symbol, { _writing?: boolean; flushSync?: () => void } | undefined>)[pino.symbols.streamSym];
  const giveUp = Date.now() + 500;
  const attempt = (): void => {
    if (stream?._writing && Date.now() < giveUp) {
      setImmediate(attempt);
      return;
    }
    try {
      stream?.flushSync?.();
    } catch {
      // nothing more can be done for the log; exit anyway
    }
    exitNow(code);
  };
  attempt();
}

async function main(argv: string[]): Promise<number> {
  // The process's name in ps, top and systemctl status (thread group leader's comm), instead of "node".
  setThreadName('vdsmd');
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { ...configArgOptions, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } }, strict: true }));
  } catch (err) {
    process.stderr.write(`vdsmd: ${errorMessage(err)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${versionString()}\n`);
    return 0;
  }

  let config: VdsmConfig;
  let warnings: readonly string[];
  try {
    ({ config, warnings } = await loadConfig(loadOptionsFromArgs(values)));
  } catch (err) {
    if (err instanceof ConfigurationError) {
      process.stderr.write(`vdsmd: ${err.message}\nFix the file or the --set option named above; 'vdsm-tool validate-config' checks a configuration without starting.\n`);
      return 1;
    }
    throw err;
  }

  const root = createRootLogger({ level: config.vars.log_level });
  const logs = new LogManager(root);
  const log = logs.get('vdsm');
  for (const w of warnings) log.warn(`configuration: ${w}`);

  const embedded = config.devel.embedded;
  await mkdir(config.vars.state_dir, { recursive: true });
  await mkdir(config.vars.run_dir, { recursive: true });
  // One agent per run and state directory: a second one would adopt the same VMs.
  try {
    for (const dir of new Set([config.vars.run_dir, config.vars.state_dir])) acquireInstanceLock(dir);
  } catch (err) {
    if (!(err instanceof InstanceLockedError)) throw err;
    log.fatal({ lock: err.path, owner_pid: err.pid }, 'another vdsmd is running');
    process.stderr.write(`vdsmd: ${err.message}.\nStop it first (systemctl stop vdsmd${err.pid !== undefined ? `, or kill ${err.pid}` : ''}), or give this one its own --set vars.run_dir=... and --set vars.state_dir=...\n`);
    return 1;
  }
  if (config.vars.ssl && !embedded) {
    const files = hostCertFiles(config.vars.trust_store_path);
    const missing = await missingFiles(files);
    if (missing.length > 0) {
      // Name every bad file, the present but unusable ones too (loadTlsFiles checks them all).
      const unusable = await loadTlsFiles(files).then(() => undefined, (err: unknown) => errorMessage(err));
      log.fatal({ missing, ...(unusable !== undefined ? { unusable } : {}) }, 'host certificate missing');
      process.stderr.write(`vdsmd: ${enrolmentHint(config.vars.trust_store_path, missing)}\n${unusable !== undefined ? `${unusable}\n` : ''}`);
      return 1;
    }
  }
  if (config.libvirt.uri === 'embedded') {
    const uri = await embeddedLibvirtUri(config.vars.state_dir);
    config = Object.freeze({ ...config, libvirt: Object.freeze({ ...config.libvirt, uri }) });
    log.info({ uri }, 'embedded development hypervisor: libvirt test driver on a generated node XML');
  }

  // Before any worker thread exists: they inherit niceness and CPU affinity from the main thread.
  await applyProcessSettings({ nice: config.vars.vdsm_nice, cpuAffinity: config.vars.cpu_affinity, coreDumps: config.vars.core_dump_enable }, log);

  const password = config.libvirt.uri.startsWith('qemu') ? await readLibvirtPassword(config.libvirt.password_file) : undefined;
  const notifier = new SdNotifier({ onError: (err) => log.warn({ err: err.message }, 'sd_notify failed') });
  const agent = new Agent({
    config, logManager: logs, devPki: embedded, ...(password !== undefined ? { libvirtPassword: password } : {}),
    watchdogPing: (fields) => void notifier.watchdog(fields),
  });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    void notifier.stopping(`stopping on ${signal}`);
    const hardExit = setTimeout(() => {
      log.error('stop did not finish in time; exiting');
      flushLogsThenExit(root, 1);
    }, STOP_GRACE_MS * 3);
    hardExit.unref();
    // Always end with _exit: process.exit() joins every thread, and one stuck in a native call (an
    // Executor worker, the libvirt control thread waiting on a frozen libvirtd) would make it wait
    // forever. Once the agent has stopped, nothing those threads hold is needed; systemd sees status 0.
    agent.stop(STOP_GRACE_MS).then(({ stuckThreads }) => {
      if (stuckThreads > 0) log.warn({ stuckThreads }, 'worker threads still blocked in native calls; exiting without them');
      // Workers let go from libvirt calls have exited; the calls themselves may still wait in libvirt
      // on their call threads (a frozen libvirtd): say so, they end with the process.
      const calls = new AddonNativeCalls().list().filter((c) => c.abandoned);
      if (calls.length > 0) {
        log.warn({ abandonedCalls: calls.length, calls: calls.slice(0, 10).map((c) => ({ what: c.what, call_tid: c.callTid, age_ms: Math.round(c.ageMs) })) },
          'native calls still blocked on their call threads (their worker threads were let go); exiting without them');
      }
      log.info('stopped');
      flushLogsThenExit(root, 0);
    }, (err: unknown) => {
      log.error({ err }, 'stop failed');
      flushLogsThenExit(root, 1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  try {
    const addr = await agent.start();
    void notifier.ready(`serving ${addr.address}:${addr.port}; recovering VMs`);
    void agent.whenReady().then(() => notifier.status(`serving ${addr.address}:${addr.port}; ready`));
  } catch (err) {
    log.fatal({ err }, 'vdsmd failed to start');
    await agent.stop(STOP_GRACE_MS).catch(() => undefined);
    process.stderr.write(`vdsmd: failed to start: ${errorMessage(err)}\n`);
    return 1;
  }
  return -1; // keep running
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exit(code);
}, (err: unknown) => {
  process.stderr.write(`vdsmd: ${err instanceof Error && err.stack !== undefined ? err.stack : String(err)}\n`);
  process.exit(1);
});
