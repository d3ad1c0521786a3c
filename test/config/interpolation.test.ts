// %(name)s interpolation in vdsm.conf values: same section, [DEFAULT], defaults that refer to other
// keys (irs.hsm_tasks), %% escapes, and the errors for missing references and cycles.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { interpolate, MAX_INTERPOLATION_DEPTH } from '../../src/config/interpolation.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigurationError } from '../../src/config/violations.js';
import { tempTree, type TempTree } from './temp-tree.js';

void describe('interpolation', () => {
  const table = new Map(Object.entries({ a: 'x', b: '%(a)s-y', c: '%(b)s-z', loop: '%(loop)s' }));
  const lookup = (n: string): string | undefined => table.get(n);

  void it('expands references recursively, and case-insensitively like keys', () => {
    assert.deepEqual(interpolate('<%(C)s>', lookup), { ok: true, value: '<x-y-z>' });
  });

  void it('turns %% into %, and leaves text without % alone', () => {
    assert.deepEqual(interpolate('100%% %(a)s', lookup), { ok: true, value: '100% x' });
    assert.deepEqual(interpolate('plain', lookup), { ok: true, value: 'plain' });
  });

  void it('explains a missing reference, a lone %, a malformed reference and a cycle', () => {
    const problem = (raw: string): string => {
      const r = interpolate(raw, lookup);
      assert.equal(r.ok, false, raw);
      return r.ok ? '' : r.problem;
    };
    assert.match(problem('%(nope)s'), /%\(nope\)s, which is not set/);
    assert.match(problem('50%'), /must be followed by '%' or '\('/);
    assert.match(problem('%(a)d'), /expected %\(name\)s/);
    assert.match(problem('%(loop)s'), new RegExp(`deeper than ${MAX_INTERPOLATION_DEPTH}`));
  });

  void describe('in loaded files', () => {
    let tree: TempTree;
    before(async () => {
      tree = await tempTree();
    });
    after(async () => {
      await tree.remove();
    });

    void it('a default that refers to another key follows a file that changes that key', async () => {
      const file = await tree.write('a/vdsm.conf', '[irs]\nrepository = /srv/dc\n');
      const { config, sources } = await loadConfig({ configFile: file, dropinDirs: [] });
      assert.equal(config.irs.hsm_tasks, '/srv/dc/hsm-tasks');
      assert.equal(sources.irs.hsm_tasks.raw, '%(repository)s/hsm-tasks');
    });

    void it('...and follows --set, which is interpolated too', async () => {
      const { config } = await loadConfig({ configFile: tree.path('none.conf'), requireConfigFile: false, dropinDirs: [], overrides: ['irs.repository=/x', 'irs.thread_pool_size=%(max_tasks)s'] });
      assert.equal(config.irs.hsm_tasks, '/x/hsm-tasks');
      assert.equal(config.irs.thread_pool_size, 500);
    });

    void it('reads variables from [DEFAULT] and from unknown keys of the same section', async () => {
      const file = await tree.write('b/vdsm.conf', '[DEFAULT]\nbase = /opt/v\n\n[vars]\nmine = pki\ntrust_store_path = %(base)s/%(mine)s\n');
      const { config, warnings } = await loadConfig({ configFile: file, dropinDirs: [] });
      assert.equal(config.vars.trust_store_path, '/opt/v/pki');
      assert.equal(warnings.length, 1, 'the unknown key still warns');
    });

    void it('a key of the same section wins over [DEFAULT]', async () => {
      const file = await tree.write('c/vdsm.conf', '[DEFAULT]\nrepository = /wrong\n[irs]\nrepository = /right\n');
      assert.equal((await loadConfig({ configFile: file, dropinDirs: [] })).config.irs.hsm_tasks, '/right/hsm-tasks');
    });

    void it('profile values are literal: a % in them is not a reference', async () => {
      const { config } = await loadConfig({ configFile: tree.path('none.conf'), requireConfigFile: false, dropinDirs: [], profile: { mom: { socket_path: '/run/%(x)s.sock' } } });
      assert.equal(config.mom.socket_path, '/run/%(x)s.sock');
    });

    void it('a bad reference is a violation naming the file, line and key', async () => {
      const file = await tree.write('d/vdsm.conf', '[vars]\n\ntrust_store_path = %(missing)s/pki\n');
      const err = await loadConfig({ configFile: file, dropinDirs: [] }).then(
        () => assert.fail('should throw'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConfigurationError);
      assert.deepEqual(
        err.violations.map((v) => [v.where, v.line, v.section, v.key]),
        [[file, 3, 'vars', 'trust_store_path']],
      );
    });
  });
});
