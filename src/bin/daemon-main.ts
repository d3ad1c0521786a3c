// What the daemons (vdsmd, supervdsmd) share around their composition roots: the command line
// (configuration options, --help, --version), loading the configuration with a message that says
// what to do, the bounded stop on SIGTERM / SIGINT, and the exit.
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { configArgOptions, ConfigurationError, loadConfig, loadOptionsFromArgs, type ConfigArgValues, type VdsmConfig } from '../config/index.js';
import { exitNow } from '../native-sys.js';
import type { SdNotifier } from '../observability/sd-notify.js';
import { errorMessage } from '../errors.js';

export const VERSION = 'vdsm-node 0.1.0';

/** The configuration options of `argv`, or the exit code when the program is done (help, version, usage error). */
export function parseDaemonArgs(program: string, argv: readonly string[], usage: string): ConfigArgValues | number {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: { ...configArgOptions, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } }, strict: true }));
  } catch (err) {
    process.stderr.write(`${program}: ${errorMessage(err)}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  return values;
}

/** The configuration, or exit code 1 after printing every problem and how to check a file. */
export async function loadDaemonConfig(program: string, values: ConfigArgValues): Promise<{ config: VdsmConfig; warnings: readonly string[] } | number> {
  try {
    return await loadConfig(loadOptionsFromArgs(values));
  } catch (err) {
    if (err instanceof ConfigurationError) {
      process.stderr.write(`${program}: ${err.message}\nFix the file or the --set option named above; 'vdsm-tool validate-config' checks a configuration without starting.\n`);
      return 1;
    }
    throw err;
  }
}

export interface StopPlan {
  log: Logger;
  /** Flushed before the process exits. */
  root: { flush(): void };
  notifier: SdNotifier;
  /** After this long the process kills itself whatever stop() is doing. */
  hardExitMs: number;
  /** Stop every part; the threads still blocked in native calls (then the process exits without them). */
  stop(): Promise<{ stuckThreads: number }>;
}

/** SIGTERM and SIGINT run `plan.stop()` once, bounded; the process then exits 0 (or is killed, with stuck threads). */
export function stopOnSignals(plan: StopPlan): void {
  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    plan.log.info({ signal }, 'stopping');
    void plan.notifier.stopping(`stopping on ${signal}`);
    const hardExit = setTimeout(() => {
      plan.log.error('stop did not finish in time; exiting');
      process.kill(process.pid, 'SIGKILL');
    }, plan.hardExitMs);
    hardExit.unref();
    plan.stop().then(({ stuckThreads }) => {
      if (stuckThreads > 0) {
        // process.exit() would join threads blocked in native code; they hold nothing we need: _exit.
        plan.log.warn({ stuckThreads }, 'worker threads still blocked in native calls; exiting without them');
        plan.root.flush();
        exitNow(0);
      }
      plan.log.info('stopped');
      plan.root.flush();
      process.exit(0);
    }, (err: unknown) => {
      plan.log.error({ err }, 'stop failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

/** Run a daemon's main: exit with its code, or keep running when it returns -1. */
export function runDaemon(program: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then((code) => {
    if (code >= 0) process.exit(code);
  }, (err: unknown) => {
    process.stderr.write(`${program}: ${err instanceof Error && err.stack !== undefined ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
