// `vdsm-tool restore-nets`: bring the host's networks back to the safe configuration (the one
// Host.setSafeNetworkConfig persisted). Run as root by vdsm-network.service at boot, before vdsmd; by
// hand after a crash. A change a crash left half done is rolled back first (its journal in the run
// directory); then networks and bonds added since the safe configuration was saved are removed and
// changed ones set back. Once per boot unless --force (vdsm's nets_restored mark).
import { loadConfig } from '../config/load-config.js';
import { CONFIG_OPTIONS_HELP, configArgOptions, loadOptionsFromArgs, type ConfigArgValues } from '../config/cli-options.js';
import { ConfigurationError } from '../config/violations.js';
import { EXIT_INVALID, EXIT_OK, type ToolIO, type ToolVerb } from '../config/tool-verbs.js';
import { createInProcessNetwork } from '../network/in-process.js';
import { fakeNicPatterns } from '../network/netinfo.js';
import { createRootLogger } from '../observability/logging.js';

const EXIT_FAILED = 3;

export const restoreNetsVerb: ToolVerb = {
  name: 'restore-nets',
  summary: 'restore the safe network configuration (at boot, or after a crash mid-change)',
  help: `Usage: vdsm-tool restore-nets [--force] [--config FILE] [--set SECTION.KEY=VALUE]... [--profile NAME]

Makes the host's networks match the safe configuration saved by Host.setSafeNetworkConfig
(<state_dir>/netconf/safe.json): a setupNetworks change left unfinished by a crash is rolled back
first, then networks and bonds that are not in the safe configuration are removed and the others set
as saved (DHCP networks wait for their lease). Runs once per boot: a second run does nothing unless
--force. Needs root. Log lines (JSON) go to stdout; the exit code is 0 when everything was restored,
3 when a step failed (the log says which).

  --force    restore even if restore-nets already ran in this boot

${CONFIG_OPTIONS_HELP}`,
  options: { ...configArgOptions, force: { type: 'boolean' } },
  async run(values, io: ToolIO) {
    let cfg;
    try {
      cfg = (await loadConfig(loadOptionsFromArgs(values as ConfigArgValues))).config;
    } catch (err) {
      if (!(err instanceof ConfigurationError)) throw err;
      io.stderr(`${err.message}\n`);
      return EXIT_INVALID;
    }
    const log = createRootLogger({ level: cfg.vars.log_level }).child({ logger: 'restore-nets' });
    const net = createInProcessNetwork({
      stateDir: cfg.vars.state_dir, runDir: cfg.vars.run_dir, fakeNics: fakeNicPatterns(cfg.vars.fake_nics), resolvConf: cfg.vars.net_resolv_conf, log,
    });
    if (values['force'] !== true && (await net.store.restoredThisBoot()) && (await net.store.pending()) === undefined) {
      io.stdout('restore-nets: networks already restored in this boot; nothing to do (--force to restore again)\n');
      return EXIT_OK;
    }
    const r = await net.applier.restore();
    io.stdout(`restore-nets: ${r.rolledBack ? 'rolled back an unfinished change; ' : ''}${r.steps} step(s) to the safe configuration (networks: ${Object.keys(r.config.networks).join(', ') || 'none'}; bonds: ${Object.keys(r.config.bonds).join(', ') || 'none'})${r.errors.length > 0 ? `; ${r.errors.length} failed:\n  ${r.errors.join('\n  ')}` : ''}\n`);
    return r.errors.length > 0 ? EXIT_FAILED : EXIT_OK;
  },
};
