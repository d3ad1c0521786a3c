// Storage connections that are mounts (POSIXFS here; NFS and GLUSTERFS take the same path), in the
// production arrangement: vdsmd as an unprivileged test user, the real supervdsmd as root doing the
// mount. The "remote" file system is a small tmpfs the test's connection names, mounted below a test
// repository, never anything of this machine's; the test unmounts whatever is left.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient } from '../helpers/engine-client.js';
import { BLANK } from '../helpers/storage-engine.js';
import { SupervdsmProcess } from '../helpers/supervdsm-process.js';
import { createTestAccount, type TestAccount } from '../helpers/test-account.js';

const run = promisify(execFile);
/** supervdsmd, a test user and mounts: root only (CI runs as root). */
const NEEDS_ROOT = process.getuid?.() === 0 ? false : 'needs root';
type Obj = Record<string, unknown>;

/** The mount table's lines for `target`: [source, target, type, options]. */
async function mountsAt(target: string): Promise<string[][]> {
  return (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')).filter((f) => f[1] === target);
}

void describe('mount storage connections through supervdsmd (vdsmd unprivileged)', { skip: NEEDS_ROOT }, () => {
  let dir: string;
  let repo: string;
  let account: TestAccount;
  let helper: SupervdsmProcess;
  let agent: AgentProcess;
  let engine: EngineClient;
  const spec = `vdsm-e2e-${randomUUID().slice(0, 8)}`;
  let target: string;
  const sdUUID = randomUUID();
  const connection = (vfs: string): Obj[] => [{
    id: 'c-posix', connection: spec, vfs_type: vfs, mnt_options: `size=64m,mode=0750,uid=${account.uid},gid=${account.gid}`,
    port: '', iqn: '', user: '', password: '', ipv6_enabled: 'false',
  }];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-storage-mount-'));
    await chmod(dir, 0o755);
    account = await createTestAccount();
    repo = join(dir, 'rhev', 'data-center');
    target = join(repo, 'mnt', spec);
    const runDir = join(dir, 'run');
    await mkdir(join(repo, 'mnt'), { recursive: true });
    await mkdir(runDir);
    for (const p of [join(dir, 'rhev'), repo, join(repo, 'mnt'), runDir]) await chown(p, account.uid, account.gid);
    const shared = ['--set', `vars.run_dir=${runDir}`, '--set', `supervdsm.user=${account.user}`, '--set', `supervdsm.group=${account.group}`, '--set', `irs.repository=${repo}`];
    helper = await SupervdsmProcess.start([...shared, '--set', 'supervdsm.mount_types=tmpfs']);
    agent = await AgentProcess.start({ runDir, asUser: account, args: [...shared, '--set', 'supervdsm.enable=true', '--set', 'irs.sd_health_check_delay=1'] });
    engine = await EngineClient.connect({ port: agent.port });
    await agent.whenReady();
    await agent.waitForLog((l) => l['msg'] === 'connected to supervdsm' && l['serverPid'] === helper.pid, 30_000);
  });

  after(async () => {
    engine?.close();
    await agent?.cleanup();
    await helper?.stop();
    if (target !== undefined && (await mountsAt(target)).length > 0) await run('umount', [target]).catch(() => undefined);
    await account?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  void it('connectStorageServer mounts once (nosuid,nodev), as the engine calls it repeatedly; a domain is made and found on it', async () => {
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(await engine.call('StoragePool.connectStorageServer', { storagepoolID: BLANK, domainType: 6, connectionParams: connection('tmpfs') }), [{ id: 'c-posix', status: 0 }]);
    }
    const lines = await mountsAt(target);
    assert.equal(lines.length, 1, `mounted once: ${JSON.stringify(lines)}`);
    assert.equal(lines[0]![2], 'tmpfs');
    assert.ok(lines[0]![3]!.split(',').includes('nosuid') && lines[0]![3]!.split(',').includes('nodev'), lines[0]![3]);

    assert.equal(await engine.call('StorageDomain.create', {
      storagedomainID: sdUUID, domainType: 6, typeArgs: spec, name: 'posix-e2e', domainClass: 1, version: '5', blockSize: 0, maxHosts: 250,
    }), true);
    assert.ok(existsSync(join(target, sdUUID, 'dom_md', 'metadata')), 'the domain lives on the mounted file system');
    const info = await engine.call<Obj>('StorageDomain.getInfo', { storagedomainID: sdUUID });
    assert.equal(info['type'], 'POSIXFS');
    assert.equal(info['remotePath'], spec);
    const stats = await engine.call<Obj>('StorageDomain.getStats', { storagedomainID: sdUUID });
    assert.equal(stats['disktotal'], String(64 * 2 ** 20), 'the tmpfs size, seen through the mount');
  });

  void it('disconnectStorageServer unmounts it and forgets its domains; the empty mount point goes', async () => {
    assert.deepEqual(await engine.call('StoragePool.disconnectStorageServer', { storagepoolID: BLANK, domainType: 6, connectionParams: connection('tmpfs') }), [{ id: 'c-posix', status: 0 }]);
    assert.deepEqual(await mountsAt(target), []);
    assert.ok(!existsSync(target), 'mount point removed');
    const gone = await engine.request('StorageDomain.getInfo', { storagedomainID: sdUUID });
    assert.equal(gone.error?.code, 358, JSON.stringify(gone.error));
    // A domain on a connection that is not mounted would land on this host's own disk: refused.
    const unmounted = await engine.request('StorageDomain.create', {
      storagedomainID: randomUUID(), domainType: 6, typeArgs: spec, name: 'posix-e2e', domainClass: 1, version: '5', blockSize: 0, maxHosts: 250,
    });
    assert.equal(unmounted.error?.code, 360, JSON.stringify(unmounted.error));
  });

  void it('a file system type supervdsm does not mount answers 477 and leaves no mount point', async () => {
    assert.deepEqual(await engine.call('StoragePool.connectStorageServer', { storagepoolID: BLANK, domainType: 6, connectionParams: connection('ext4') }), [{ id: 'c-posix', status: 477 }]);
    assert.deepEqual(await mountsAt(target), []);
    assert.ok(!existsSync(target));
  });
});
