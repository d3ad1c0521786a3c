// Command-line options every program that loads the configuration shares (vdsmd, vdsm-tool):
// `--config FILE`, `--set section.key=value` (repeatable), `--profile NAME`, in node:util parseArgs form.
import type { ParseArgsConfig } from 'node:util';
import type { LoadConfigOptions } from './load-config.js';
import { isProfileName, PROFILES } from './profiles.js';
import type { PartialConfig } from './schema.js';
import { ConfigurationError } from './violations.js';

/** Spread into parseArgs' `options`. */
export const configArgOptions = {
  config: { type: 'string' },
  set: { type: 'string', multiple: true },
  profile: { type: 'string' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** What parseArgs returns for configArgOptions. */
export interface ConfigArgValues {
  config?: string | undefined;
  set?: string[] | undefined;
  profile?: string | undefined;
}

export const CONFIG_OPTIONS_HELP = `Configuration options:
  --config FILE              read FILE instead of /etc/vdsm/vdsm.conf; its drop-ins are then
                             FILE.d/*.conf instead of /usr/lib/vdsm/vdsm.conf.d, /run/vdsm/vdsm.conf.d
                             and /etc/vdsm/vdsm.conf.d (all sorted together by file name)
  --set SECTION.KEY=VALUE    override one key after every file (repeatable), e.g.
                             --set addresses.management_port=54322
  --profile NAME             built-in defaults applied under every file: ${Object.keys(PROFILES).join(', ')}
`;

/**
 * Turn parsed options into loadConfig options. `fallbackProfile` is what a program uses when no
 * --profile is given (the daemon's embedded default). Throws INVALID_CONFIGURATION for an unknown profile.
 */
export function loadOptionsFromArgs(values: ConfigArgValues, fallbackProfile?: PartialConfig): LoadConfigOptions {
  let profile = fallbackProfile;
  if (values.profile !== undefined) {
    if (!isProfileName(values.profile)) {
      throw new ConfigurationError([{ where: '--profile', message: `unknown profile ${JSON.stringify(values.profile)}; known: ${Object.keys(PROFILES).join(', ')}` }]);
    }
    profile = PROFILES[values.profile];
  }
  return {
    ...(values.config === undefined ? {} : { configFile: values.config }),
    ...(values.set === undefined ? {} : { overrides: values.set }),
    ...(profile === undefined ? {} : { profile }),
  };
}
