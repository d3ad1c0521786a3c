// --set overrides, the profile layer, value origins, and the frozen, typed result.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadOptionsFromArgs } from '../../src/config/cli-options.js';
import { describeSource, loadConfig } from '../../src/config/load-config.js';
import { PROFILES } from '../../src/config/profiles.js';
import type { VdsmConfig } from '../../src/config/schema.js';
import { parseSetOption } from '../../src/config/set-option.js';
import { tempTree, type TempTree } from './temp-tree.js';

void describe('overrides and profiles', () => {
  let tree: TempTree;
  before(async () => {
    tree = await tempTree();
  });
  after(async () => {
    await tree.remove();
  });
  const noFiles = () => ({ configFile: tree.path('absent.conf'), requireConfigFile: false, dropinDirs: [] as string[] });

  void it('parseSetOption splits section, key (lower-cased) and value (which may contain = and .)', () => {
    assert.deepEqual(parseSetOption('libvirt.URI=test:///a.xml?x=1'), { section: 'libvirt', key: 'uri', value: 'test:///a.xml?x=1', option: 'libvirt.URI=test:///a.xml?x=1' });
    assert.deepEqual(parseSetOption(' vars.cpu_affinity = '), { section: 'vars', key: 'cpu_affinity', value: '', option: ' vars.cpu_affinity = ' });
  });

  void it('parseSetOption says what is wrong and shows the expected form', () => {
    for (const [bad, why] of [
      ['vars.ssl', "missing '='"],
      ['ssl=1', "missing '.'"],
      ['.ssl=1', 'empty section'],
      ['vars.=1', 'empty key'],
    ] as const) {
      assert.throws(() => parseSetOption(bad), (err: Error & { code?: string }) => err.code === 'ERR_INVALID_CONFIGURATION' && err.message.includes(why) && err.message.includes('section.key=value'));
    }
  });

  void it('--set wins over files, later --set wins over earlier, and the origin is recorded', async () => {
    const file = await tree.write('set/vdsm.conf', '[addresses]\nmanagement_port = 1000\n');
    const { config, sources } = await loadConfig({ configFile: file, overrides: ['addresses.management_port=2000', 'addresses.management_port=0'] });
    assert.equal(config.addresses.management_port, 0);
    assert.equal(describeSource(sources.addresses.management_port.from), '--set addresses.management_port=0');
  });

  void it('a profile sits between the defaults and the files', async () => {
    const file = await tree.write('profile/vdsm.conf', '[vars]\nssl = true\n');
    const { config, sources } = await loadConfig({ configFile: file, dropinDirs: [], profile: PROFILES.dev });
    assert.equal(config.addresses.management_ip, '127.0.0.1');
    assert.equal(config.libvirt.uri, 'embedded');
    assert.equal(config.devel.embedded, true);
    assert.equal(config.vars.ssl, true, 'the file beats the profile');
    assert.equal(describeSource(sources.addresses.management_ip.from), 'profile');
    assert.equal(describeSource(sources.vars.ssl.from), `${file}:2`);
    assert.equal(describeSource(sources.vars.http_enable.from), 'default');
  });

  void it('loadOptionsFromArgs maps --config/--set/--profile and rejects an unknown profile', async () => {
    assert.deepEqual(loadOptionsFromArgs({ config: '/x.conf', set: ['a.b=c'], profile: 'dev' }), { configFile: '/x.conf', overrides: ['a.b=c'], profile: PROFILES.dev });
    assert.deepEqual(loadOptionsFromArgs({}, { vars: { ssl: false } }), { profile: { vars: { ssl: false } } });
    assert.throws(() => loadOptionsFromArgs({ profile: 'nope' }), /unknown profile "nope"; known: production, embedded, dev/);
  });

  void it('the result is deeply frozen', async () => {
    const loaded = await loadConfig(noFiles());
    const cfg: VdsmConfig = loaded.config;
    assert.ok(Object.isFrozen(loaded));
    assert.ok(Object.isFrozen(cfg));
    assert.ok(Object.isFrozen(cfg.vars));
    assert.ok(Object.isFrozen(cfg.addresses.request_queues));
    assert.ok(Object.isFrozen(loaded.sources.vars.ssl));
    assert.throws(() => {
      (cfg.vars as { ssl: boolean }).ssl = false;
    }, TypeError);
    assert.throws(() => (cfg.addresses.request_queues as string[]).push('x'), TypeError);
    assert.equal(cfg.vars.ssl, true);
  });

  void it('is typed with vdsm key names', async () => {
    const { config } = await loadConfig(noFiles());
    // Compile-time checks: these lines fail `tsc` if the types drift.
    const ssl: boolean = config.vars.ssl;
    const port: number = config.addresses.management_port;
    const collector: 'statsd' | 'hawkular' = config.metrics.collector_type;
    const queues: readonly string[] = config.addresses.request_queues;
    const neverCalled = (): void => {
      // @ts-expect-error a key that does not exist
      void config.vars.no_such_key;
      // @ts-expect-error read-only
      config.vars.ssl = false;
    };
    void neverCalled;
    assert.deepEqual([ssl, port, collector, queues.length], [true, 54321, 'statsd', 2]);
  });
});
