// vdsm-bench's command line from a checkout: the suite list, usage errors, a run against a running
// agent (-a/-p with the agent's certificates: the rpc suite runs, the in-process suites are skipped),
// an unreachable agent, and --compare between two runs with a regression flagged.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { caseKey, compareRuns, direction } from '../../bench/lib/compare.js';
import { SUITES } from '../../bench/suites.js';
import { AgentProcess } from '../helpers/agent-process.js';

const BIN = fileURLToPath(new URL('../../src/bin/vdsm-bench.js', import.meta.url));

function bench(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 170_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, VDSM_TRUST_STORE: '/nonexistent', VDSM_STATE_DIR: '/nonexistent', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'vdsm-bench-cli-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

void it('--list names every registered suite; a bad suite or option is a usage error', async () => {
  const list = await bench(['--list']);
  assert.equal(list.code, 0);
  for (const s of SUITES) assert.match(list.stdout, new RegExp(`^${s.name} +\\S`, 'm'));
  assert.match(list.stdout, /^rpc .*\[also against a running agent\]$/m);
  // The migration suite needs root and the real-VM tier: listed, run only when named.
  assert.match(list.stdout, /^migration .*\[only when named: needs root/m);
  assert.doesNotMatch(list.stdout, /^rpc .*only when named/m);
  const bad = await bench(['nosuch']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown suite nosuch; suites: executor-stuck, rpc/);
  assert.equal((await bench(['--bogus'])).code, 2);
  assert.match((await bench(['--version'])).stdout, /^vdsm-node \d+\.\d+\.\d+/);
});

void it('an agent that is not there: exit 3 saying so, before running anything', async () => {
  const r = await bench(['-a', '127.0.0.1', '-p', '1', '--insecure', '-o', join(dir, 'none')]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /nothing listens on 127\.0\.0\.1:1/);
  await assert.rejects(readdir(join(dir, 'none')), 'no report folder');
});

void describe('vdsm-bench -a HOST -p PORT against a running TLS agent', () => {
  let agent: AgentProcess;
  before(async () => {
    agent = await AgentProcess.start({ profile: 'embedded' });
    await agent.whenReady();
  });
  after(async () => { await agent?.cleanup(); });

  void it('runs the rpc suite against it with the host certificates and skips the in-process suites', async () => {
    const out = join(dir, 'remote');
    const r = await bench(['--quick', '-a', '127.0.0.1', '-p', String(agent.port), '-o', out], { VDSM_TRUST_STORE: join(agent.stateDir, 'pki') });
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const cases = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { suite: string; case: string; vms: number; transport: string; errors: number });
    assert.ok(cases.length >= 6);
    assert.ok(cases.every((c) => c.suite === 'rpc' && c.transport === 'tls' && c.errors === 0));
    assert.ok(cases.every((c) => c.vms === 4), 'the agent\'s own VMs');
    assert.match(r.stderr, new RegExp(`against 127\\.0\\.0\\.1:${agent.port} \\(TLS with the host certificate`));
    const md = await readFile(join(out, 'report.md'), 'utf8');
    assert.match(md, /\| \[executor-stuck\]\(#executor-stuck\) \| skipped: measures parts inside the agent's process/);
    assert.match(await readFile(join(out, 'rpc', 'report.md'), 'utf8'), /^Against a running agent/m);
  });
});

void it('--compare puts two runs side by side and flags a regression; --fail-on-regression exits 4', async () => {
  const old = [{ suite: 'rpc', case: 'ping2 seq tls', req_per_s: 3000, p99_ms: 1.0, errors: 0, load1: 1 }, { suite: 'rpc', case: 'gone', req_per_s: 1 }];
  const now = [{ suite: 'rpc', case: 'ping2 seq tls', req_per_s: 2000, p99_ms: 0.5, errors: 0, load1: 9 }, { suite: 'rpc', case: 'new', req_per_s: 1 }];
  await writeFile(join(dir, 'old.jsonl'), old.map((o) => JSON.stringify(o)).join('\n') + '\n');
  await writeFile(join(dir, 'new.jsonl'), `progress noise\n${now.map((o) => JSON.stringify(o)).join('\n')}\n`);
  const r = await bench(['--compare', join(dir, 'old.jsonl'), '--against', join(dir, 'new.jsonl')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^REGRESSION +rpc\/ping2 seq tls +req_per_s +3000 +2000 +0\.667x +higher$/m);
  assert.match(r.stderr, /^improved +rpc\/ping2 seq tls +p99_ms +1 +0\.500 +0\.500x +lower$/m);
  assert.match(r.stderr, /1 regression\(s\) beyond 10%/);
  assert.match(r.stderr, /Only in .*old\.jsonl: rpc\/gone/);
  assert.doesNotMatch(r.stderr, /load1/);
  assert.equal((await bench(['--compare', join(dir, 'old.jsonl'), '--against', join(dir, 'new.jsonl'), '--fail-on-regression'])).code, 4);
  assert.equal((await bench(['--compare', join(dir, 'old.jsonl'), '--against', join(dir, 'new.jsonl'), '--threshold', '50', '--fail-on-regression'])).code, 0);
});

void it('compare rules: which way is better, what is noise, how cases are matched', () => {
  assert.equal(direction('req_per_s'), 'higher');
  assert.equal(direction('vs_ping2'), 'higher');
  for (const m of ['p99_ms', 'callMsP50', 'loopDelayP99Ms', 'rss_peak_mb', 'response_bytes', 'errors', 'lateness_p99_ms']) assert.equal(direction(m), 'lower', m);
  for (const m of ['load1', 'repeats', 'vms', 'K', 'workers_peak']) assert.equal(direction(m), undefined, m);
  assert.equal(caseKey({ suite: 'x', case: 'a b' }), 'x/a b');
  assert.equal(caseKey({ suite: 'x', impl: 'e', K: 4, tls: true }), 'x/impl=e,tls=true');
  const noise = compareRuns([{ suite: 's', case: 'c', p50_ms: 0.01 }], [{ suite: 's', case: 'c', p50_ms: 0.03 }]);
  assert.equal(noise.regressions.length, 0, '0.01 -> 0.03 ms is below the noise floor');
  const errors = compareRuns([{ suite: 's', case: 'c', errors: 0 }], [{ suite: 's', case: 'c', errors: 3 }]);
  assert.equal(errors.regressions[0]?.ratio, Infinity);
});
