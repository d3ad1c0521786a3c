// vdsm-tool's configuration verbs: show-config, show-default-config, validate-config. Each verb is
// data (name, help, parseArgs options) plus a run function writing to injected streams.
import type { ParseArgsConfig } from 'node:util';
import { CONFIG_OPTIONS_HELP, configArgOptions, loadOptionsFromArgs, type ConfigArgValues } from './cli-options.js';
import { loadConfig } from './load-config.js';
import { renderConfigDocs, renderEffectiveConfig, renderSampleConfig } from './render.js';
import { mergeArgs, readVdsmArgs, VDSM_ARGS_HELP, vdsmArgsOptions } from './vdsm-args.js';
import { ConfigurationError } from './violations.js';

export interface ToolIO {
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface ToolVerb {
  readonly name: string;
  readonly summary: string;
  readonly help: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  /** The verb takes words after its name (`vdsm-tool profile start`). */
  readonly positionals?: boolean;
  run(values: Record<string, unknown>, io: ToolIO, positionals?: readonly string[]): Promise<number>;
}

/** Exit codes: 0 fine, 1 the configuration is invalid, 2 bad usage. */
export const EXIT_OK = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;

/** The verb's configuration options over the unit's VDSM_ARGS (noted on stderr when applied). */
async function argsWithVdsmArgs(values: Record<string, unknown>, io: ToolIO): Promise<ConfigArgValues> {
  const unit = await readVdsmArgs({ sysconfig: values['sysconfig'] as string | undefined, ignore: values['no-vdsm-args'] === true });
  if (unit.source !== undefined) io.stderr(`note: applying ${unit.source}: ${unit.words.join(' ')}\n`);
  return mergeArgs(unit.values, values as ConfigArgValues);
}

function reportInvalid(err: unknown, io: ToolIO): number {
  if (!(err instanceof ConfigurationError)) throw err;
  io.stderr(`${err.message}\n`);
  return EXIT_INVALID;
}

const showConfig: ToolVerb = {
  name: 'show-config',
  summary: 'print the effective configuration and where each value came from',
  help: `Usage: vdsm-tool show-config [--config FILE] [--set SECTION.KEY=VALUE]... [--profile NAME]
                             [--sysconfig FILE | --no-vdsm-args] [--changed] [--json]

Loads the configuration as vdsmd does, with the unit's VDSM_ARGS, and prints every key's effective
value, annotated with its origin: default, profile, FILE:LINE or --set. Warnings (unknown keys) go to
stderr.

  --changed    only keys set by a profile, a file or --set
  --json       {config, sources, warnings, files} as JSON

${CONFIG_OPTIONS_HELP}
${VDSM_ARGS_HELP}`,
  options: { ...configArgOptions, ...vdsmArgsOptions, changed: { type: 'boolean' }, json: { type: 'boolean' } },
  async run(values, io) {
    try {
      const loaded = await loadConfig(loadOptionsFromArgs(await argsWithVdsmArgs(values, io)));
      for (const w of loaded.warnings) io.stderr(`warning: ${w}\n`);
      if (values['json'] === true) io.stdout(`${JSON.stringify(loaded, null, 2)}\n`);
      else io.stdout(renderEffectiveConfig(loaded, { changedOnly: values['changed'] === true }));
      return EXIT_OK;
    } catch (err) {
      return reportInvalid(err, io);
    }
  },
};

const showDefaultConfig: ToolVerb = {
  name: 'show-default-config',
  summary: 'print a vdsm.conf with every key commented out at its default',
  help: `Usage: vdsm-tool show-default-config [--markdown]

Prints the sample vdsm.conf generated from the schema: every section, every key commented out at its
default value, with its description and type. packaging/vdsm.conf is this output.

  --markdown   print the configuration reference (docs/config.md) instead
`,
  options: { markdown: { type: 'boolean' } },
  run(values, io) {
    io.stdout(values['markdown'] === true ? renderConfigDocs() : renderSampleConfig());
    return Promise.resolve(EXIT_OK);
  },
};

const validateConfig: ToolVerb = {
  name: 'validate-config',
  summary: 'check the configuration; exit 1 listing every problem',
  help: `Usage: vdsm-tool validate-config [--config FILE] [--set SECTION.KEY=VALUE]... [--profile NAME]
                                 [--sysconfig FILE | --no-vdsm-args] [--strict]

Loads the configuration as vdsmd does, with the unit's VDSM_ARGS. Exit 0 when it is valid (warnings
about unknown sections or keys go to stderr), 1 with every problem listed (file:line where known)
when it is not.

  --strict     treat warnings as problems (exit 1)

${CONFIG_OPTIONS_HELP}
${VDSM_ARGS_HELP}`,
  options: { ...configArgOptions, ...vdsmArgsOptions, strict: { type: 'boolean' } },
  async run(values, io) {
    try {
      const loaded = await loadConfig(loadOptionsFromArgs(await argsWithVdsmArgs(values, io)));
      for (const w of loaded.warnings) io.stderr(`warning: ${w}\n`);
      if (values['strict'] === true && loaded.warnings.length > 0) {
        io.stderr(`configuration has ${loaded.warnings.length} warning(s) and --strict was given\n`);
        return EXIT_INVALID;
      }
      const files = loaded.files.length === 0 ? 'no files; built-in defaults' : loaded.files.join(', ');
      io.stdout(`configuration is valid (${files})\n`);
      return EXIT_OK;
    } catch (err) {
      return reportInvalid(err, io);
    }
  },
};

export const configVerbs: readonly ToolVerb[] = [showConfig, showDefaultConfig, validateConfig];
