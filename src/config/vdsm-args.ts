// The daemon's extra arguments as systemd passes them: vdsmd.service runs `vdsmd $VDSM_ARGS` with
// VDSM_ARGS from /etc/sysconfig/vdsm (EnvironmentFile=). `vdsm-tool validate-config` and `show-config`
// read the same words, so they check the configuration the unit will really start with.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { configArgOptions, type ConfigArgValues } from './cli-options.js';
import { ConfigurationError } from './violations.js';
import { errorMessage } from '../errors.js';

export const DEFAULT_SYSCONFIG = '/etc/sysconfig/vdsm';

/** Options of the verbs that honour VDSM_ARGS. */
export const vdsmArgsOptions = {
  sysconfig: { type: 'string' },
  'no-vdsm-args': { type: 'boolean' },
} as const;

export const VDSM_ARGS_HELP = `Arguments the unit passes (vdsmd.service runs vdsmd $VDSM_ARGS):
  --sysconfig FILE           read VDSM_ARGS from FILE (default ${DEFAULT_SYSCONFIG}, when it exists);
                             VDSM_ARGS in the environment wins over the file
  --no-vdsm-args             ignore VDSM_ARGS
  Options given here are applied after VDSM_ARGS: --set adds to its --set, --config and
  --profile replace its.
`;

/**
 * KEY=VALUE assignments of a systemd EnvironmentFile: '#' and ';' comment lines, optional quotes around
 * the value (double quotes take backslash escapes), a trailing backslash joins the next line.
 */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.replace(/\\\r?\n/g, '').split(/\r?\n/);
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!;
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    else if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) value = value.slice(1, -1);
    out[m[1]!] = value;
  }
  return out;
}

/** How systemd expands an unquoted `$VDSM_ARGS` in ExecStart=: split at whitespace, no quoting. */
export function splitVdsmArgs(value: string): string[] {
  return value.split(/\s+/).filter((w) => w !== '');
}

export interface VdsmArgs {
  /** Where the words came from, for a note on stderr; undefined when there were none. */
  source: string | undefined;
  words: string[];
  values: ConfigArgValues;
}

/** Find VDSM_ARGS (environment first, then the sysconfig file) and parse it as vdsmd would. */
export async function readVdsmArgs(
  opts: { sysconfig?: string | undefined; ignore?: boolean | undefined; defaultFile?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): Promise<VdsmArgs> {
  if (opts.ignore) return { source: undefined, words: [], values: {} };
  let source: string | undefined;
  let text: string | undefined;
  if (env['VDSM_ARGS'] !== undefined) {
    source = 'VDSM_ARGS from the environment';
    text = env['VDSM_ARGS'];
  } else {
    const file = opts.sysconfig ?? opts.defaultFile ?? DEFAULT_SYSCONFIG;
    let content: string | undefined;
    try {
      content = await readFile(file, 'utf8');
    } catch (err) {
      if (opts.sysconfig !== undefined) throw new ConfigurationError([{ where: '--sysconfig', message: `cannot read ${file}: ${errorMessage(err)}` }]);
    }
    const assigned = content === undefined ? undefined : parseEnvironmentFile(content)['VDSM_ARGS'];
    if (assigned !== undefined) {
      source = `VDSM_ARGS in ${file}`;
      text = assigned;
    }
  }
  const words = splitVdsmArgs(text ?? '');
  if (words.length === 0) return { source: undefined, words, values: {} };
  try {
    const { values } = parseArgs({ args: words, options: configArgOptions, strict: true, allowPositionals: false });
    return { source, words, values };
  } catch (err) {
    throw new ConfigurationError([{ where: source ?? 'VDSM_ARGS', message: `${errorMessage(err)} (vdsmd accepts --config, --set and --profile there)` }]);
  }
}

/** The verb's own options applied over VDSM_ARGS: --set accumulates, --config and --profile replace. */
export function mergeArgs(fromUnit: ConfigArgValues, own: ConfigArgValues): ConfigArgValues {
  const set = [...(fromUnit.set ?? []), ...(own.set ?? [])];
  const config = own.config ?? fromUnit.config;
  const profile = own.profile ?? fromUnit.profile;
  return { ...(config !== undefined ? { config } : {}), ...(profile !== undefined ? { profile } : {}), ...(set.length ? { set } : {}) };
}
