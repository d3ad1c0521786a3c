// vdsm's config layering (acceptance cases 221-226): defaults, main file, drop-ins from three
// directories sorted together by file name, non-.conf files ignored. All under a temp root.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig, type LoadConfigOptions } from '../../src/config/load-config.js';
import { schema } from '../../src/config/schema.js';
import { tempTree, type TempTree } from './temp-tree.js';

const [VENDOR, RUNTIME, ADMIN] = ['usr/lib/vdsm/vdsm.conf.d', 'run/vdsm/vdsm.conf.d', 'etc/vdsm/vdsm.conf.d'];

void describe('config layering', () => {
  let tree: TempTree;
  let n = 0;
  // Each test gets its own sub-tree so tests do not see each other's files.
  const fresh = async (): Promise<{ write: (rel: string, text: string) => Promise<string>; opts: LoadConfigOptions }> => {
    const base = `case-${++n}`;
    const dirs = [VENDOR, RUNTIME, ADMIN].map((d) => tree.path(`${base}/${d}`));
    return {
      write: (rel, text) => tree.write(`${base}/${rel}`, text),
      opts: { configFile: tree.path(`${base}/etc/vdsm/vdsm.conf`), requireConfigFile: false, dropinDirs: dirs },
    };
  };
  before(async () => {
    tree = await tempTree();
  });
  after(async () => {
    await tree.remove();
  });

  void it('221: with no files every key has its built-in default', async () => {
    const { opts } = await fresh();
    const { config, sources, files, warnings } = await loadConfig(opts);
    assert.deepEqual(files, []);
    assert.deepEqual(warnings, []);
    assert.equal(config.vars.vm_command_timeout, schema.vars.vm_command_timeout.default);
    assert.equal(config.addresses.management_port, 54321);
    assert.equal(config.addresses.management_ip, '::');
    assert.equal(config.vars.ssl, true);
    assert.equal(config.vars.trust_store_path, '/etc/pki/vdsm');
    assert.equal(config.libvirt.uri, 'qemu:///system');
    assert.equal(config.irs.hsm_tasks, '/rhev/data-center/hsm-tasks');
    assert.deepEqual(config.addresses.request_queues, ['jms.topic.vdsm_requests', 'jms.topic.vdsm_irs_requests']);
    assert.deepEqual(sources.vars.ssl.from, { kind: 'default' });
  });

  void it('222: the main file overrides the default, and a drop-in in any of the three directories overrides it too', async () => {
    const { write, opts } = await fresh();
    const main = await write('etc/vdsm/vdsm.conf', '[vars]\nvm_command_timeout = 61\n');
    let loaded = await loadConfig(opts);
    assert.equal(loaded.config.vars.vm_command_timeout, 61);
    assert.deepEqual(loaded.sources.vars.vm_command_timeout.from, { kind: 'file', file: main, line: 2 });
    for (const [i, dir] of [VENDOR, RUNTIME, ADMIN].entries()) {
      const { write: w, opts: o } = await fresh();
      await w('etc/vdsm/vdsm.conf', '[vars]\nvm_command_timeout = 61\n');
      await w(`${dir}/52.conf`, `[vars]\nvm_command_timeout = ${70 + i}\n`);
      loaded = await loadConfig(o);
      assert.equal(loaded.config.vars.vm_command_timeout, 70 + i, dir);
    }
  });

  void it('223: a drop-in beats the main file', async () => {
    const { write, opts } = await fresh();
    await write('etc/vdsm/vdsm.conf', '[addresses]\nmanagement_port = 1111\n');
    const dropin = await write(`${RUNTIME}/51_runtime.conf`, '[addresses]\nmanagement_port = 2222\n');
    const { config, sources, files } = await loadConfig(opts);
    assert.equal(config.addresses.management_port, 2222);
    assert.equal(sources.addresses.management_port.from.kind, 'file');
    assert.equal(files.at(-1), dropin);
  });

  void it('224: drop-ins without the .conf suffix (and hidden or directory ones) are ignored', async () => {
    const { write, opts } = await fresh();
    await write(`${ADMIN}/51.conf`, '[vars]\nvm_command_timeout = 51\n');
    await write(`${ADMIN}/52.conf.rpmsave`, '[vars]\nvm_command_timeout = 52\n');
    await write(`${ADMIN}/53`, '[vars]\nvm_command_timeout = 53\n');
    await write(`${ADMIN}/.54.conf`, '[vars]\nvm_command_timeout = 54\n');
    await write(`${ADMIN}/55.conf/inner.conf`, '[vars]\nvm_command_timeout = 55\n');
    const { config, files } = await loadConfig(opts);
    assert.equal(config.vars.vm_command_timeout, 51);
    assert.equal(files.length, 1);
  });

  void it('225: within one directory the last file name wins', async () => {
    const { write, opts } = await fresh();
    for (const name of ['53', '51', '52']) await write(`${ADMIN}/${name}.conf`, `[vars]\nvm_command_timeout = ${name}\n`);
    assert.equal((await loadConfig(opts)).config.vars.vm_command_timeout, 53);
  });

  void it('225: across directories files are ordered by file name only, not by directory', async () => {
    const { write, opts } = await fresh();
    await write(`${ADMIN}/51.conf`, '[vars]\nvm_command_timeout = 51\n');
    await write(`${VENDOR}/52.conf`, '[vars]\nvm_command_timeout = 52\n');
    await write(`${RUNTIME}/53.conf`, '[vars]\nvm_command_timeout = 53\n');
    const { config, files } = await loadConfig(opts);
    assert.equal(config.vars.vm_command_timeout, 53);
    assert.deepEqual(files.map((f) => f.slice(f.lastIndexOf('/') + 1)), ['51.conf', '52.conf', '53.conf']);
  });

  void it('225: the same file name in two directories: the later directory (admin) wins', async () => {
    const { write, opts } = await fresh();
    await write(`${ADMIN}/50.conf`, '[vars]\nvm_command_timeout = 3\n');
    await write(`${VENDOR}/50.conf`, '[vars]\nvm_command_timeout = 1\n');
    await write(`${RUNTIME}/50.conf`, '[vars]\nvm_command_timeout = 2\n');
    assert.equal((await loadConfig(opts)).config.vars.vm_command_timeout, 3);
  });

  void it('226: keys a drop-in does not mention keep their defaults (or the main file value)', async () => {
    const { write, opts } = await fresh();
    await write('etc/vdsm/vdsm.conf', '[vars]\nguest_agent_timeout = 40\n');
    await write(`${VENDOR}/10.conf`, '[vars]\nvm_command_timeout = 90\n');
    const { config, sources } = await loadConfig(opts);
    assert.equal(config.vars.vm_command_timeout, 90);
    assert.equal(config.vars.guest_agent_timeout, 40);
    assert.equal(config.vars.sys_shutdown_timeout, 120);
    assert.deepEqual(sources.vars.sys_shutdown_timeout.from, { kind: 'default' });
  });

  void it('--config FILE reads FILE.d/*.conf as its only drop-in directory', async () => {
    const { write } = await fresh();
    const file = await write('custom/agent.conf', '[addresses]\nmanagement_port = 3333\n');
    await write('custom/agent.conf.d/10.conf', '[addresses]\nmanagement_ip = 127.0.0.1\n');
    const { config, files } = await loadConfig({ configFile: file });
    assert.equal(config.addresses.management_port, 3333);
    assert.equal(config.addresses.management_ip, '127.0.0.1');
    assert.equal(files.length, 2);
  });

  void it('a missing --config FILE is an error; a missing default main file is not', async () => {
    const { opts } = await fresh();
    await assert.rejects(loadConfig({ configFile: opts.configFile! }), { code: 'ERR_INVALID_CONFIGURATION', message: /cannot read the configuration file/ });
    await loadConfig(opts);
  });
});
