// vdsm-bench: runs the suites of bench/suites.ts, each as its own process (dist/bench/<name>.js), either
// starting what it measures itself or against a running agent (-a HOST -p PORT, the host's certificates
// by default). Progress on stderr (a bar on a terminal), every case as one JSON line on stdout, and a
// report folder with index.html, report.md, results.jsonl and each suite's own report and charts.
// --compare OLD.jsonl puts this run beside an earlier one and flags regressions.
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Readable } from 'node:stream';
import { CLIENT_TLS_HELP, clientTlsFromArgs, clientTlsOptions, ClientTlsError, describeTransport, explainConnectFailure, resolveClientTransport, type ClientTransport } from '../src/ops/client-tls.js';
import { versionString } from '../src/ops/version.js';
import { StompRpcClient } from '../src/rpc/stomp-client.js';
import { SUITES, type SuiteSpec } from './suites.js';
import { compareRuns, parseJsonLines, renderCompareText, type CaseLine, type Comparison } from './lib/compare.js';
import { ProgressDisplay } from './lib/progress-bar.js';
import { writeReport, type SuiteOutcome } from './lib/report.js';

export const EXIT_OK = 0;
export const EXIT_SUITE_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;
export const EXIT_REGRESSION = 4;

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));

export const USAGE = `Usage: vdsm-bench [SUITE...] [--quick] [-o DIR] [options] [-- SUITE-OPTIONS...]
       vdsm-bench -a HOST [-p PORT] [connection options] [SUITE...]
       vdsm-bench --compare OLD.jsonl [--against NEW.jsonl]
       vdsm-bench --list

Runs vdsm-node's benchmark suites and writes a report folder. Without SUITE, all of them but
those marked "only when named" in --list (${SUITES.filter((s) => s.onlyWhenNamed !== undefined).map((s) => s.name).join(', ')}).

  SUITE                 one of: ${SUITES.map((s) => s.name).join(', ')} (--list describes them)
      --quick           small sizes and one repeat: every suite together in under 2 minutes
  -o, --out DIR         the report folder (default ./vdsm-bench-<date>-<time>)
  -a, --host HOST       measure the agent running on HOST instead of starting one; suites that
                        can (${SUITES.filter((s) => s.remote).map((s) => s.name).join(', ')}) run against it, the others are skipped
  -p, --port PORT       its management port (default 54321)
      --compare OLD     after the run, compare with an earlier run's results.jsonl (or its stdout):
                        ratios per case and metric, regressions flagged
      --against NEW     with --compare: compare NEW with OLD and run nothing
      --threshold PCT   a change for the worse beyond PCT percent is a regression (default 10)
      --fail-on-regression
                        exit 4 when the comparison finds a regression
      --list            the suites and what each measures
      --version         print the version
  -h, --help            this text
  -- SUITE-OPTIONS      passed to every suite run (e.g. -- --repeats=5 --vms=200)

${CLIENT_TLS_HELP}
Output: progress on stderr, one JSON line per case on stdout ({"suite", "case", metrics...}), and the
report folder: index.html (one self-contained page), report.md, results.jsonl, compare.md (with
--compare) and one folder per suite with its report.md, charts and raw data.

Exit status: 0 done, 1 a suite failed, 2 bad usage, 3 the agent cannot be reached, 4 a regression
(with --fail-on-regression).
`;

class UsageError extends Error {}

export interface CliIO {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

function defaultOutDir(now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `vdsm-bench-${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}

/** A suite's command line: its script, --quick, --out, the remote target, and the pass-through options. */
function suiteArgs(spec: SuiteSpec, dir: string, quick: boolean, remote: { host: string; port: number; transport: ClientTransport } | undefined, extra: readonly string[]): string[] {
  const args = [join(BENCH_DIR, `${spec.name}.js`), `--out=${dir}`];
  if (quick) args.push('--quick');
  if (remote) {
    args.push(`--agent=${remote.host}:${remote.port}`);
    if (remote.transport.tls) args.push(`--cert=${remote.transport.files.certFile}`, `--key=${remote.transport.files.keyFile}`, `--cacert=${remote.transport.files.caFile}`);
    else args.push('--insecure');
  }
  return [...args, ...extra];
}

function lines(stream: Readable, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolveLines) => {
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', onLine);
    rl.on('close', () => resolveLines());
  });
}

/** Run one suite process; its cases go to stdout as they come, its stderr above the bar and into stderr.log. */
async function runSuite(spec: SuiteSpec, args: string[], io: CliIO, bar: ProgressDisplay, dir: string): Promise<SuiteOutcome> {
  const t0 = Date.now();
  await mkdir(dir, { recursive: true });
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: { ...process.env, VDSM_BENCH_PROGRESS_FD: '3' } });
  const cases: CaseLine[] = [];
  const errLog: string[] = [];
  bar.suiteStarted(spec.name);
  const out = lines(child.stdout!, (line) => {
    const parsed = parseJsonLines(line)[0];
    if (!parsed) {
      if (line.trim()) bar.log(`[${spec.name}] ${line}`);
      return;
    }
    const rec: CaseLine = { ...parsed, suite: spec.name };
    if (parsed['suite'] !== undefined && parsed['suite'] !== spec.name) rec['group'] = parsed['suite'];
    if (rec['load1'] === undefined) rec['load1'] = Math.round((loadavg()[0] ?? 0) * 100) / 100;
    cases.push(rec);
    io.stdout.write(`${JSON.stringify(rec)}\n`);
  });
  const err = lines(child.stderr!, (line) => {
    errLog.push(line);
    bar.log(`[${spec.name}] ${line}`);
  });
  const prog = lines(child.stdio[3] as Readable, (line) => {
    try {
      const p = JSON.parse(line) as { done: number; total: number; label: string };
      bar.step(spec.name, p.done, p.total, p.label);
    } catch {
      // not a progress record
    }
  });
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  await Promise.all([out, err, prog]);
  await writeFile(join(dir, 'stderr.log'), errLog.join('\n') + '\n');
  const seconds = (Date.now() - t0) / 1000;
  const ok = code === 0;
  bar.suiteEnded(spec.name, ok ? `done (${cases.length} cases)` : `FAILED (exit ${code})`, seconds);
  return ok
    ? { spec, status: 'ok', seconds, cases }
    : { spec, status: 'failed', reason: `exit code ${code}; last lines of stderr:\n${errLog.slice(-15).join('\n')}`, seconds, cases };
}

async function readCases(file: string): Promise<CaseLine[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const cases = parseJsonLines(text);
  if (cases.length === 0) throw new UsageError(`${file} holds no case lines (JSON objects, one per line)`);
  return cases;
}

/** Is the agent there, and does it answer with these credentials? Says what is wrong otherwise. */
async function checkAgent(host: string, port: number, transport: ClientTransport): Promise<string | undefined> {
  const client = new StompRpcClient({ host, port, connectTimeoutMs: 10_000, ...(transport.tls ? { tls: transport.material } : {}) });
  try {
    await client.connect();
    await client.call('Host.ping2', {}, 10_000);
    return undefined;
  } catch (err) {
    const why = await explainConnectFailure(host, port, transport);
    return `cannot reach the agent on ${host}:${port} (${describeTransport(transport)}): ${(err as Error).message}${why ? `\n${why}` : ''}`;
  } finally {
    client.close();
  }
}

export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const dashdash = argv.indexOf('--');
  const own = dashdash >= 0 ? argv.slice(0, dashdash) : [...argv];
  const extra = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: own, allowPositionals: true, strict: true,
      options: {
        quick: { type: 'boolean', default: false },
        out: { type: 'string', short: 'o' },
        host: { type: 'string', short: 'a' },
        port: { type: 'string', short: 'p', default: '54321' },
        compare: { type: 'string' },
        against: { type: 'string' },
        threshold: { type: 'string', default: '10' },
        'fail-on-regression': { type: 'boolean', default: false },
        list: { type: 'boolean', default: false },
        version: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        ...clientTlsOptions,
      },
    }));
  } catch (err) {
    io.stderr.write(`vdsm-bench: ${(err as Error).message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  try {
    return await run(values, positionals, extra, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`vdsm-bench: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

async function run(values: Record<string, unknown>, positionals: string[], extra: string[], io: CliIO): Promise<number> {
  if (values['help'] === true) {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }
  if (values['version'] === true) {
    io.stdout.write(`${versionString()}\n`);
    return EXIT_OK;
  }
  if (values['list'] === true) {
    const w = Math.max(...SUITES.map((s) => s.name.length));
    io.stdout.write(SUITES.map((s) => `${s.name.padEnd(w)}  ${s.summary}${s.remote ? ' [also against a running agent]' : ''}${s.onlyWhenNamed !== undefined ? ` [only when named: ${s.onlyWhenNamed}]` : ''}\n`).join(''));
    return EXIT_OK;
  }
  const threshold = Number(values['threshold']) / 100;
  if (!(threshold >= 0)) throw new UsageError(`--threshold must be a percentage, got ${String(values['threshold'])}`);
  const compareFile = values['compare'] as string | undefined;
  const oldCases = compareFile !== undefined ? await readCases(compareFile) : undefined;
  const finishCompare = (c: Comparison): number => {
    io.stderr.write(renderCompareText(c, compareFile!));
    return c.regressions.length > 0 && values['fail-on-regression'] === true ? EXIT_REGRESSION : EXIT_OK;
  };
  if (values['against'] !== undefined) {
    if (!oldCases) throw new UsageError('--against needs --compare OLD.jsonl');
    return finishCompare(compareRuns(oldCases, await readCases(values['against'] as string), threshold));
  }

  const unknown = positionals.filter((p) => !SUITES.some((s) => s.name === p));
  if (unknown.length) throw new UsageError(`unknown suite ${unknown.join(', ')}; suites: ${SUITES.map((s) => s.name).join(', ')}`);
  const selected = positionals.length ? SUITES.filter((s) => positionals.includes(s.name)) : SUITES.filter((s) => s.onlyWhenNamed === undefined);

  let remote: { host: string; port: number; transport: ClientTransport } | undefined;
  if (values['host'] !== undefined) {
    const port = Number(values['port']);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new UsageError(`invalid port: ${String(values['port'])}`);
    let transport: ClientTransport;
    try {
      transport = await resolveClientTransport(clientTlsFromArgs(values));
    } catch (err) {
      if (!(err instanceof ClientTlsError)) throw err;
      io.stderr.write(`vdsm-bench: ${err.message}\n`);
      return EXIT_UNREACHABLE;
    }
    const host = values['host'] as string;
    const problem = await checkAgent(host, port, transport);
    if (problem) {
      io.stderr.write(`vdsm-bench: ${problem}\n`);
      return EXIT_UNREACHABLE;
    }
    remote = { host, port, transport };
  }

  const root = resolve((values['out'] as string | undefined) ?? defaultOutDir());
  await mkdir(root, { recursive: true });
  const quick = values['quick'] === true;
  const runnable = selected.filter((s) => !remote || s.remote);
  const bar = new ProgressDisplay(io.stderr, runnable.map((s) => ({ name: s.name, weight: s.quickSeconds ?? 30 })));
  const started = new Date();
  const load1Start = loadavg()[0] ?? 0;
  bar.log(`vdsm-bench: ${runnable.length} suite(s)${remote ? ` against ${remote.host}:${remote.port} (${describeTransport(remote.transport)})` : ''}, report in ${root}`);
  const outcomes: SuiteOutcome[] = [];
  for (const spec of selected) {
    if (remote && !spec.remote) {
      outcomes.push({ spec, status: 'skipped', reason: 'measures parts inside the agent\'s process; runs only without -a', seconds: 0, cases: [] });
      continue;
    }
    const dir = join(root, spec.name);
    outcomes.push(await runSuite(spec, suiteArgs(spec, dir, quick, remote, extra), io, bar, dir));
  }
  bar.finish();
  const newCases = outcomes.flatMap((o) => o.cases);
  const comparison = oldCases ? compareRuns(oldCases, newCases, threshold) : undefined;
  await writeReport(root, {
    version: versionString(), started: started.toISOString(), seconds: (Date.now() - started.getTime()) / 1000, node: process.version,
    cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', load1Start, load1End: loadavg()[0] ?? 0,
    command: ['vdsm-bench', ...process.argv.slice(2)].join(' '), target: remote ? `${remote.host}:${remote.port}` : 'agents and components started by each suite on this machine', quick,
  }, outcomes, comparison ? { c: comparison, name: compareFile! } : undefined);
  io.stderr.write(`vdsm-bench: report in ${join(root, 'index.html')} (and report.md, results.jsonl)\n`);
  const failed = outcomes.filter((o) => o.status === 'failed');
  if (failed.length) io.stderr.write(`vdsm-bench: failed: ${failed.map((o) => o.spec.name).join(', ')} (see their stderr.log)\n`);
  const compareExit = comparison ? finishCompare(comparison) : EXIT_OK;
  return failed.length ? EXIT_SUITE_FAILED : compareExit;
}
