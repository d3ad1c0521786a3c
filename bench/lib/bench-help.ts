// Every bench script's command line: `--help` (or -h) prints what the script measures and the options it
// takes, then exits before anything runs; an option the script does not know is named on stderr (it is
// not an error: vdsm-bench passes its `-- SUITE-OPTIONS` to every suite, and each takes what it knows).
import { isMainThread } from 'node:worker_threads';
import { Flags } from './output.js';
import { SUITES } from '../suites.js';

export interface BenchHelp {
  /** The script is dist/bench/<name>.js; a suite of vdsm-bench has the same name. */
  readonly name: string;
  /** What it measures, when it is not a vdsm-bench suite (a suite's summary comes from suites.ts). */
  readonly about?: string;
  /** The options it takes (name without --, then what it does and its default), in the order shown. */
  readonly options: Readonly<Record<string, string>>;
  /** Options its own child processes are started with: accepted, not listed. */
  readonly internal?: readonly string[];
  /** Lines after the options (examples, what it needs). */
  readonly notes?: string;
}

/** Options every suite takes (docs/bench.md, "Adding a suite"). */
const COMMON = ['quick', 'out'];
const commonHelp = (name: string): Record<string, string> => ({
  quick: 'small sizes and one repeat (what vdsm-bench --quick runs)',
  out: `DIR: where report.md and the charts go (default results/${name})`,
});

/** "VALUE: what it does" → ["--name=VALUE", "what it does"]; a description without a value stays whole. */
function optionLine(name: string, desc: string): [string, string] {
  const m = /^(\S+): (.*)$/s.exec(desc);
  return m ? [`--${name}=${m[1]!}`, m[2]!] : [`--${name}`, desc];
}

/** Words of `text` in lines of at most `width` columns (a longer word stays whole). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

const COLUMNS = 100;

/** The --help text of a bench script. */
export function benchUsage(help: BenchHelp): string {
  const suite = SUITES.find((s) => s.name === help.name);
  const options = [...Object.entries({ ...(suite ? commonHelp(help.name) : {}), ...help.options }), ['help', 'this text'] as const].map(([n, d]) => optionLine(n, d));
  const lines = [
    `usage: node dist/bench/${help.name}.js [options]${suite ? `   (also: vdsm-bench ${help.name} -- [options])` : ''}`,
    '',
    ...wrap(help.about ?? suite?.summary ?? '', COLUMNS),
    '',
    'options:',
  ];
  for (const [flag, desc] of options) {
    const text = wrap(desc, COLUMNS - 6);
    if (flag.length <= 20) lines.push(`  ${flag.padEnd(20)}  ${text[0] ?? ''}`, ...text.slice(1).map((l) => `${' '.repeat(24)}${l}`));
    else lines.push(`  ${flag}`, ...text.map((l) => `${' '.repeat(24)}${l}`));
  }
  lines.push('', 'Output: one JSON line per case on stdout, progress on stderr.');
  if (help.notes !== undefined) lines.push('', ...wrap(help.notes, COLUMNS));
  return `${lines.join('\n')}\n`;
}

/** The arguments the script does not know (options not listed or internal, and bare words). */
export function unknownArgs(help: BenchHelp, argv: readonly string[]): string[] {
  const known = new Set([...COMMON, ...Object.keys(help.options), ...(help.internal ?? []), 'help']);
  return argv.filter((a) => {
    const m = /^--([^=]+)/.exec(a);
    return m === null ? a !== '-h' : !known.has(m[1]!);
  });
}

export interface BenchIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  exit(code: number): never;
}

/**
 * The script's flags, after --help (usage on stdout, exit 0) and a note on stderr for each argument it
 * does not know.
 */
export function benchFlags(help: BenchHelp, argv: readonly string[] = process.argv.slice(2), io: BenchIO = { stdout: process.stdout, stderr: process.stderr, exit: (c) => process.exit(c) }): Flags {
  if (!isMainThread) return new Flags(argv); // a script that is also its own worker: the main thread spoke
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(benchUsage(help));
    io.exit(0);
  }
  for (const a of unknownArgs(help, argv)) io.stderr.write(`${help.name}: ignoring ${a}: not an option of this bench (--help lists them)\n`);
  return new Flags(argv);
}
