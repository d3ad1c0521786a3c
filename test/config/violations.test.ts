// Problems are collected: several bad values (and syntax errors, and bad --set options) across files
// produce ONE INVALID_CONFIGURATION error naming every one with file:line; unknown names only warn.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Errors, isError } from '../../src/errors.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigurationError } from '../../src/config/violations.js';
import { tempTree, type TempTree } from './temp-tree.js';

async function rejection(p: Promise<unknown>): Promise<ConfigurationError> {
  const err = await p.then(
    () => assert.fail('expected loadConfig to throw'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigurationError, String(err));
  return err;
}

void describe('configuration problems', () => {
  let tree: TempTree;
  before(async () => {
    tree = await tempTree();
  });
  after(async () => {
    await tree.remove();
  });

  void it('several bad values in one file give one error that names all of them with file:line', async () => {
    const file = await tree.write(
      'many/vdsm.conf',
      [
        '[vars]',
        'ssl = maybe',
        'vdsm_nice = 99',
        'log_level = loud',
        '[addresses]',
        'management_port = 54321x',
        '[mailbox]',
        'events_interval = fast',
        '[vars]',
        'garbage line',
        '',
      ].join('\n'),
    );
    const err = await rejection(loadConfig({ configFile: file, dropinDirs: [], overrides: ['rpc.worker_threads=0', 'nodot=1', 'vars.nosuchkey=1'] }));
    assert.equal(err.code, Errors.INVALID_CONFIGURATION.code);
    assert.equal(err.vdsmCode, 101);
    assert.ok(isError(err, Errors.INVALID_CONFIGURATION));
    const got = err.violations.map((v) => `${v.where}:${v.line ?? '-'}:${v.section ?? '-'}.${v.key ?? '-'}`).sort();
    assert.deepEqual(
      got,
      [
        `${file}:2:vars.ssl`,
        `${file}:3:vars.vdsm_nice`,
        `${file}:4:vars.log_level`,
        `${file}:6:addresses.management_port`,
        `${file}:8:mailbox.events_interval`,
        `${file}:9:-.-`, // [vars] twice
        `${file}:10:vars.-`, // unparsable line
        '--set:-:-.-', // nodot=1
        '--set:-:-.-', // vars.nosuchkey
        '--set:-:rpc.worker_threads',
      ].sort(),
    );
    // The message alone is enough for an admin: every problem on its own line.
    assert.match(err.message, /^Invalid configuration \(10 problems\):\n/);
    assert.equal(err.message.split('\n').length, 11);
    for (const needle of ['"maybe" is not a boolean', '"99" is above the maximum 19', '"loud" is not one of', '"54321x" is not an integer', '"fast" is not a number', 'below the minimum 1', "missing '.'", "unknown key 'nosuchkey'"]) {
      assert.ok(err.message.includes(needle), needle);
    }
  });

  void it('problems in different files are reported together', async () => {
    const main = await tree.write('two/vdsm.conf', '[vars]\nssl = nope\n');
    const dropin = await tree.write('two/vdsm.conf.d/10.conf', '[rpc]\nworker_timeout = -1\n');
    const err = await rejection(loadConfig({ configFile: main }));
    assert.deepEqual(err.violations.map((v) => v.where), [main, dropin]);
  });

  void it('a bad value overridden by a later layer is not a problem', async () => {
    const main = await tree.write('fixed/vdsm.conf', '[vars]\nssl = nope\n');
    const { config } = await loadConfig({ configFile: main, dropinDirs: [], overrides: ['vars.ssl=off'] });
    assert.equal(config.vars.ssl, false);
  });

  void it('unknown sections and keys are warnings with file:line and a suggestion, and are ignored', async () => {
    const file = await tree.write('warn/vdsm.conf', '[vars]\nsssl = false\nssl = true\n[adresses]\nmanagement_port = 1\n[lvm]\nfilter = x\n');
    const { config, warnings } = await loadConfig({ configFile: file, dropinDirs: [] });
    assert.equal(config.vars.ssl, true);
    assert.equal(config.addresses.management_port, 54321);
    assert.deepEqual(warnings, [
      `${file}:2: unknown key 'sssl' in section [vars] (did you mean 'ssl'?); ignored`,
      `${file}:4: unknown section [adresses] (did you mean 'addresses'?); ignored`,
      `${file}:6: vdsm section [lvm] is not used by vdsm-node; ignored`,
    ]);
  });

  void it('an inline comment gets a hint, since configparser keeps it in the value', async () => {
    const file = await tree.write('inline/vdsm.conf', '[vars]\nssl = false # plain TCP\n');
    const err = await rejection(loadConfig({ configFile: file, dropinDirs: [] }));
    assert.match(err.message, /inline comments are not supported/);
  });

  void it('a profile with an unknown key or a wrongly typed value is a violation', async () => {
    const profile = { vars: { ssl: 'yes', nosuch: 1 } } as never;
    const err = await rejection(loadConfig({ configFile: tree.path('none'), requireConfigFile: false, dropinDirs: [], profile }));
    assert.deepEqual(err.violations.map((v) => v.where), ['profile', 'profile']);
  });

  void it('an unreadable drop-in directory is a violation, a missing one is not', async () => {
    const notDir = await tree.write('file-not-dir', '');
    const err = await rejection(loadConfig({ configFile: tree.path('none'), requireConfigFile: false, dropinDirs: [tree.path('missing.d'), notDir] }));
    assert.equal(err.violations.length, 1);
    assert.match(err.message, /cannot read the drop-in directory/);
  });
});
