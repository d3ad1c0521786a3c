// vdsm-bench as a user gets it: `npm pack` of this checkout installed into a temporary prefix (not the
// checkout: its own node_modules, the prebuilt addons from the tarball), `vdsm-bench --quick` run from
// there, and the report page it leaves opened in Debian's headless chromium: one self-contained page
// (nothing fetched but the file itself) that shows every registered suite with its status and charts.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
// Flags for a quiet, offline headless chromium on this kind of machine (no sandbox as root, no GPU,
// nothing phoning home); playwright adds a fresh temporary --user-data-dir.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} missing (apt-get install chromium; scripts/setup.sh does)`;

function run(cmd: string, args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024, timeout: 280_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

void it('in CI chromium is present (a missing browser must not turn the report check into a skip)', { skip: process.env['CI'] === undefined }, () => {
  assert.equal(missing, undefined);
});

void describe('vdsm-bench --quick from an installed layout', { skip: missing ?? false, timeout: 400_000 }, () => {
  let tmp: string;
  let prefix: string;
  let report: string;
  let bench: { code: number; stdout: string; stderr: string };
  let suites: { name: string }[];

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vdsm-installed-'));
    prefix = join(tmp, 'prefix');
    report = join(tmp, 'report');
    // dist/ is already built (npm test builds first); --ignore-scripts skips prepack's second tsc.
    const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], { cwd: ROOT });
    assert.equal(pack.code, 0, pack.stderr);
    const tarball = (await readdir(tmp)).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack made a tarball');
    // The tarball carries the built addons; --ignore-scripts skips the node-gyp rebuild of a real install.
    const install = await run('npm', ['install', '--global', '--prefix', prefix, '--ignore-scripts', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', join(tmp, tarball)], { cwd: tmp });
    assert.equal(install.code, 0, install.stderr);
    const pkgDir = join(prefix, 'lib', 'node_modules', 'vdsm-node');
    // Suites that run only when named (root, the real-VM tier) are not part of a run of every suite.
    const all = (await import(pathToFileURL(join(pkgDir, 'dist', 'bench', 'suites.js')).href)) as { SUITES: { name: string; onlyWhenNamed?: string }[] };
    suites = all.SUITES.filter((s) => s.onlyWhenNamed === undefined);
    // From the prefix's bin/, in a directory that is not the checkout.
    bench = await run(join(prefix, 'bin', 'vdsm-bench'), ['--quick', '-o', report], { cwd: tmp, env: { ...process.env, NODE_PATH: '' } });
  });
  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  void it('runs every suite from the installed copy and prints one JSON line per case', () => {
    assert.equal(bench.code, 0, bench.stderr.slice(-4000));
    assert.ok(!bench.stdout.includes(ROOT), 'nothing ran from the checkout');
    const cases = bench.stdout.trim().split('\n').map((l) => JSON.parse(l) as { suite: string; case: string });
    for (const s of suites) assert.ok(cases.some((c) => c.suite === s.name && typeof c.case === 'string'), `cases of ${s.name} on stdout`);
    assert.match(bench.stderr, /vdsm-bench: report in .*index\.html/);
    // The rpc suite measured the engine's verbs, not a synthetic one.
    const rpc = cases.filter((c) => c.suite === 'rpc').map((c) => c.case);
    for (const verb of ['ping2', 'getStats', 'getAllVmStats']) assert.ok(rpc.some((c) => c.startsWith(`${verb} `)), `rpc measured ${verb}`);
  });

  void it('leaves the report folder: index.html, report.md, results.jsonl, and each suite\'s report and charts', async () => {
    const top = await readdir(report);
    for (const f of ['index.html', 'report.md', 'results.jsonl']) assert.ok(top.includes(f), `${f} in the report folder`);
    for (const s of suites) {
      const files = await readdir(join(report, s.name));
      assert.ok(files.includes('report.md'), `${s.name}/report.md`);
      assert.ok(files.some((f) => f.endsWith('.svg')), `${s.name} has an SVG chart`);
    }
    const md = await readFile(join(report, 'report.md'), 'utf8');
    for (const s of suites) assert.match(md, new RegExp(`^## ${s.name}$`, 'm'));
  });

  void it('headless chromium shows every suite on one self-contained page', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      const url = pathToFileURL(join(report, 'index.html')).href;
      await page.goto(url, { waitUntil: 'load' });
      assert.deepEqual(requests.filter((r) => r !== url && !r.startsWith('data:')), [], 'the page fetches nothing but itself');
      assert.equal(await page.title().then((t) => t.startsWith('vdsm-bench report')), true);
      for (const s of suites) {
        const section = page.locator(`section#suite-${s.name}`);
        assert.equal(await section.count(), 1, `one section for ${s.name}`);
        await section.scrollIntoViewIfNeeded();
        assert.equal(await section.isVisible(), true, `${s.name} is visible`);
        assert.equal((await section.locator('h2').first().textContent())?.trim(), s.name);
        assert.equal(await section.getAttribute('data-status'), 'ok', `${s.name} ran`);
        const charts = section.locator('img');
        assert.ok((await charts.count()) > 0, `${s.name} shows a chart`);
        const drawn = await charts.first().evaluate((img: { complete: boolean; naturalWidth: number }) => img.complete && img.naturalWidth > 0);
        assert.equal(drawn, true, `${s.name}'s chart is drawn`);
        assert.equal(await page.locator(`#summary tr[data-suite="${s.name}"] td.status-ok`).isVisible(), true, `${s.name} in the summary`);
      }
      await page.screenshot({ path: join(report, 'page.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});

void it('npm pack leaves test code and the fuzz script out of the package', async () => {
  const r = await new Promise<string>((resolve, reject) => {
    const child = spawn('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`npm pack exited ${code}`))));
  });
  const files = (JSON.parse(r) as [{ files: { path: string }[] }])[0].files.map((f) => f.path);
  assert.ok(files.includes('dist/src/bin/vdsm-bench.js') && files.includes('dist/bench/suites.js') && files.includes('build/Release/virt.node'));
  assert.ok(files.includes('packaging/systemd/vdsmd.service'));
  assert.deepEqual(files.filter((f) => f.startsWith('dist/test/') || f.includes('rpc-fuzz')), []);
});
