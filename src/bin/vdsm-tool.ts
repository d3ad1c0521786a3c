#!/usr/bin/env node
// vdsm-tool: administrative verbs (vdsm's `vdsm-tool VERB`). Verbs are modules listing their own
// options and help; this file only routes argv to one and sets the exit code.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { configVerbs, EXIT_OK, EXIT_USAGE, type ToolIO, type ToolVerb } from '../config/tool-verbs.js';
import { profileVerb } from './tool-profile.js';
import { configureVerbs } from '../ops/tool-configure.js';
import { supervdsmVerb } from '../ops/tool-supervdsm.js';
import { threadsVerb } from '../ops/tool-threads.js';
import { versionString } from '../ops/version.js';
import { restoreNetsVerb } from './tool-restore-nets.js';

const VERBS: readonly ToolVerb[] = [...configVerbs, threadsVerb, profileVerb, ...configureVerbs, supervdsmVerb, restoreNetsVerb];

function usage(): string {
  const width = Math.max(...VERBS.map((v) => v.name.length));
  return `Usage: vdsm-tool VERB [OPTIONS]
       vdsm-tool VERB --help
       vdsm-tool --version

Administrative commands of vdsm-node, the oVirt host agent.

Verbs:
${VERBS.map((v) => `  ${v.name.padEnd(width)}  ${v.summary}`).join('\n')}

Examples:
  vdsm-tool show-config --set addresses.management_port=54322
  vdsm-tool validate-config --config ./vdsm.conf
  vdsm-tool show-default-config > /etc/vdsm/vdsm.conf
  vdsm-tool threads                  # what every thread of the running agent is doing
  vdsm-tool profile start; vdsm-tool profile stop   # CPU profile of every thread
  vdsm-tool configure --force        # libvirt, its SASL login and the certificates, as host deploy does
  vdsm-tool is-configured            # exit 1 when something is not set up
  vdsm-tool vdsm-id                  # the host id the engine knows this host by
  vdsm-tool supervdsm                # is the privileged helper up, and what is it doing?
  vdsm-tool restore-nets --force     # networks back to the safe configuration
`;
}

/** Run one command line; returns the exit code. Streams are injected so tests can capture them. */
export async function main(argv: readonly string[], io: ToolIO): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr(usage());
    return EXIT_USAGE;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    io.stdout(usage());
    return EXIT_OK;
  }
  if (first === '--version') {
    io.stdout(`${versionString()}\n`);
    return EXIT_OK;
  }
  const verb = VERBS.find((v) => v.name === first);
  if (verb === undefined) {
    io.stderr(`vdsm-tool: unknown verb ${JSON.stringify(first)}\n\n${usage()}`);
    return EXIT_USAGE;
  }
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...rest], options: { ...verb.options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: verb.positionals === true }));
  } catch (err) {
    io.stderr(`vdsm-tool ${verb.name}: ${err instanceof Error ? err.message : String(err)}\n\n${verb.help}`);
    return EXIT_USAGE;
  }
  if (values['help'] === true) {
    io.stdout(verb.help);
    return EXIT_OK;
  }
  return verb.run(values, io, positionals);
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const io: ToolIO = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`vdsm-tool: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
