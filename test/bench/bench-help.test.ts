// Every bench script answers --help with what it measures and every option it reads, and runs nothing;
// an option it does not know is named on stderr (vdsm-bench passes its suite options to every suite, so
// it is not an error).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { benchFlags, benchUsage, unknownArgs, type BenchHelp } from '../../bench/lib/bench-help.js';
import { SUITES } from '../../bench/suites.js';

const BENCH = fileURLToPath(new URL('../../bench/', import.meta.url));

function run(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [`${BENCH}${script}`, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

/** The scripts that take options: the ones that read them through benchFlags. */
async function scripts(): Promise<{ name: string; source: string }[]> {
  const out: { name: string; source: string }[] = [];
  for (const f of (await readdir(BENCH)).filter((f) => f.endsWith('.js')).sort()) {
    const source = await readFile(`${BENCH}${f}`, 'utf8');
    if (/\bnew Flags\(|benchFlags\(/.test(source)) out.push({ name: f.slice(0, -3), source });
  }
  return out;
}

void describe('bench scripts: --help', () => {
  void it('every script that reads options reads them through benchFlags, and every suite is one of them', async () => {
    const all = await scripts();
    for (const { name, source } of all) assert.match(source, /benchFlags\(\{\s*name: '([\w-]+)'/, `${name}.js reads options without benchFlags (no --help)`);
    for (const s of SUITES) assert.ok(all.some((x) => x.name === s.name), `suite ${s.name} has no benchFlags`);
  });

  void it('--help prints usage with every option the script reads, exits 0 and measures nothing', async () => {
    for (const { name, source } of await scripts()) {
      const r = await run(`${name}.js`, ['--help']);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.ok(r.stdout.startsWith(`usage: node dist/bench/${name}.js`), `${name}: ${r.stdout.slice(0, 200)}`);
      assert.doesNotMatch(r.stdout, /"suite":/, `${name} ran a case`);
      assert.equal(r.stderr, '', `${name} wrote progress: ${r.stderr.slice(0, 300)}`);
      // Options read anywhere in the script: listed in its help, or declared internal (its children's).
      const internal = /internal: \[([^\]]*)\]/.exec(source)?.[1] ?? '';
      for (const [, opt] of source.matchAll(/\bflags\.(?:num|str|has|list)\('([\w-]+)'/g)) {
        assert.ok(new RegExp(`--${opt}\\b`).test(r.stdout) || internal.includes(`'${opt}'`), `${name}: --${opt} is read but neither in --help nor internal`);
      }
    }
  });
});

void describe('bench scripts: arguments', () => {
  const help: BenchHelp = { name: 'sampling', options: { vms: 'N,N: VM counts' }, internal: ['client'] };
  const io = (): { out: string[]; err: string[]; exits: number[]; io: Parameters<typeof benchFlags>[2] } => {
    const out: string[] = [];
    const err: string[] = [];
    const exits: number[] = [];
    return {
      out, err, exits,
      io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, exit: (c: number): never => { exits.push(c); throw new Error('exit'); } },
    };
  };

  void it('known options (the suite\'s, the common ones, internal ones) pass; others and bare words are named', () => {
    assert.deepEqual(unknownArgs(help, ['--vms=200', '--quick', '--out=/tmp/x', '--client', '--port=1', 'extra', '--vmz=3']), ['--port=1', 'extra', '--vmz=3']);
    const t = io();
    const flags = benchFlags(help, ['--vms=1000', '--vmz=3'], t.io);
    assert.deepEqual(flags.list('vms', []), ['1000']);
    assert.deepEqual(t.err, ['sampling: ignoring --vmz=3: not an option of this bench (--help lists them)\n']);
    assert.deepEqual(t.exits, []);
  });

  void it('--help or -h: the usage on stdout and exit 0, before anything else', () => {
    for (const arg of ['--help', '-h']) {
      const t = io();
      assert.throws(() => benchFlags(help, ['--vmz', arg], t.io), /exit/);
      assert.deepEqual(t.exits, [0]);
      assert.deepEqual(t.err, []);
      assert.equal(t.out.join(''), benchUsage(help));
    }
    const text = benchUsage(help);
    assert.match(text, /^usage: node dist\/bench\/sampling\.js \[options\] {3}\(also: vdsm-bench sampling -- \[options\]\)/);
    assert.match(text, /--vms=N,N {13}VM counts/);
    assert.match(text, /--out=DIR .*results\/sampling/);
    assert.doesNotMatch(text, /--client/);
  });
});
