// vdsm-tool's configuration verbs, run as the real program (a child node process) on temp files.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.js';
import { schemaEntries } from '../../src/config/schema.js';
import { tempTree, type TempTree } from './temp-tree.js';

const TOOL = fileURLToPath(new URL('../../src/bin/vdsm-tool.js', import.meta.url));

function tool(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TOOL, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

void describe('vdsm-tool', () => {
  let tree: TempTree;
  before(async () => {
    tree = await tempTree();
  });
  after(async () => {
    await tree.remove();
  });

  void it('show-config prints every value with its origin: default, file:line, --set', async () => {
    const file = await tree.write('show/vdsm.conf', '[vars]\nssl = no\n[bogus]\n');
    const r = await tool('show-config', '--config', file, '--set', 'addresses.management_port=4444');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ssl = false +; .*show\/vdsm\.conf:2 \(from "no"\)$/m);
    assert.match(r.stdout, /^management_port = 4444 +; --set addresses\.management_port=4444$/m);
    assert.match(r.stdout, /^management_ip = :: +; default$/m);
    assert.match(r.stdout, /^hsm_tasks = \/rhev\/data-center\/hsm-tasks +; default \(from "%\(repository\)s\/hsm-tasks"\)$/m);
    assert.match(r.stderr, /warning: .*:3: unknown section \[bogus\]/);
    const keyLines = r.stdout.split('\n').filter((l) => !l.startsWith('#') && / ; /.test(l));
    assert.equal(keyLines.length, [...schemaEntries()].length, 'one line per schema key');
  });

  void it('show-config --changed --json gives machine-readable values and sources', async () => {
    const r = await tool('show-config', '--config', tree.path('absent.conf'), '--profile', 'dev', '--json');
    // --config that does not exist is an error: the admin named it.
    assert.equal(r.code, 1);
    const ok = await tool('show-config', '--profile', 'dev', '--json', '--set', 'vars.ssl=yes', '--config', await tree.write('json/vdsm.conf', ''));
    assert.equal(ok.code, 0, ok.stderr);
    const parsed = JSON.parse(ok.stdout) as { config: { addresses: { management_ip: string }; vars: { ssl: boolean } }; sources: { addresses: { management_ip: { from: { kind: string } } } } };
    assert.equal(parsed.config.addresses.management_ip, '127.0.0.1');
    assert.equal(parsed.config.vars.ssl, true);
    assert.equal(parsed.sources.addresses.management_ip.from.kind, 'profile');
  });

  void it('validate-config exits 1 and lists every violation with file:line', async () => {
    const file = await tree.write('bad/vdsm.conf', '[vars]\nssl = maybe\n[rpc]\nworker_threads = many\n');
    const r = await tool('validate-config', '--config', file);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Invalid configuration \(2 problems\)/);
    assert.match(r.stderr, /bad\/vdsm\.conf:2: \[vars\] ssl: "maybe" is not a boolean/);
    assert.match(r.stderr, /bad\/vdsm\.conf:4: \[rpc\] worker_threads: "many" is not an integer/);
    assert.equal(r.stdout, '');
  });

  void it('validate-config exits 0 on a good file, and 1 on warnings with --strict', async () => {
    const file = await tree.write('good/vdsm.conf', '[vars]\nssl = false\nsssl = 1\n');
    const r = await tool('validate-config', '--config', file);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /configuration is valid/);
    assert.match(r.stderr, /did you mean 'ssl'/);
    assert.equal((await tool('validate-config', '--config', file, '--strict')).code, 1);
  });

  void it('show-default-config prints a sample that loads to the defaults, commented or not', async () => {
    const r = await tool('show-default-config');
    assert.equal(r.code, 0, r.stderr);
    for (const { section, key } of schemaEntries()) assert.ok(r.stdout.includes(`\n#${key} = `), `${section}.${key} in the sample`);
    const commented = await tree.write('sample/commented.conf', r.stdout);
    const uncommented = await tree.write('sample/uncommented.conf', r.stdout.replace(/^#(\w+ = )/gm, '$1'));
    const defaults = await loadConfig({ configFile: commented, dropinDirs: [] });
    const explicit = await loadConfig({ configFile: uncommented, dropinDirs: [] });
    assert.deepEqual(defaults.warnings, []);
    assert.deepEqual(explicit.warnings, []);
    assert.deepEqual(explicit.config, defaults.config);
    assert.equal(explicit.sources.vars.ssl.from.kind, 'file');
  });

  void it('--help lists the verbs; a verb --help shows its options; misuse exits 2', async () => {
    const help = await tool('--help');
    assert.equal(help.code, 0);
    for (const verb of ['show-config', 'show-default-config', 'validate-config']) assert.match(help.stdout, new RegExp(`^  ${verb} `, 'm'));
    const verbHelp = await tool('show-config', '--help');
    assert.match(verbHelp.stdout, /--set SECTION\.KEY=VALUE/);
    assert.equal((await tool()).code, 2);
    assert.equal((await tool('frobnicate')).code, 2);
    const badOption = await tool('validate-config', '--nope');
    assert.equal(badOption.code, 2);
    assert.match(badOption.stderr, /Unknown option '--nope'/);
  });
});
