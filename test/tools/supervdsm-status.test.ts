// `vdsm-tool supervdsm` against the real supervdsmd: as root and as the agent's user it prints the
// helper's status; as another user it is refused (exit 4); with no helper it says so (exit 3).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { instanceRunning } from '../../src/ops/instance-lock.js';
import { SupervdsmProcess } from '../helpers/supervdsm-process.js';
import { createTestAccount, type TestAccount } from '../helpers/test-account.js';

/** These tests create users, run supervdsmd or act as other uids: root only (CI runs as root). */
const NEEDS_ROOT = process.getuid?.() === 0 ? false : 'needs root';

const TOOL = fileURLToPath(new URL('../../src/bin/vdsm-tool.js', import.meta.url));

function tool(args: string[], asUid?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, argv] = asUid === undefined ? [process.execPath, [TOOL, ...args]] : ['setpriv', [`--reuid=${asUid}`, `--regid=${asUid}`, '--clear-groups', '--', process.execPath, TOOL, ...args]];
  return new Promise((resolve) => {
    execFile(cmd, argv, { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

void describe('vdsm-tool supervdsm', { skip: NEEDS_ROOT }, () => {
  let dir: string;
  let account: TestAccount;
  let helper: SupervdsmProcess;
  let sock: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-tool-svdsm-'));
    await chmod(dir, 0o755);
    account = await createTestAccount();
    const run = join(dir, 'run');
    await mkdir(run);
    await chown(run, account.uid, account.gid);
    sock = join(run, 'svdsm.sock');
    helper = await SupervdsmProcess.start(['--set', `vars.run_dir=${run}`, '--set', `supervdsm.user=${account.user}`, '--set', `supervdsm.group=${account.group}`]);
  });
  after(async () => {
    await helper?.stop();
    await account?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  void it('as root: the pid, the uids it accepts, the calls and the functions', async () => {
    const r = await tool(['supervdsm', '--socket', sock]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^supervdsmd pid ${helper.pid}, up \\d+ s, protocol 1, socket ${sock}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^accepts uids 0, ${account.uid}; refused 0 connection`, 'm'));
    assert.match(r.stdout, /^functions: .*ksmTune.*prepareVmChannel/m);
    const json = JSON.parse((await tool(['supervdsm', '--socket', sock, '--json'])).stdout) as { pid: number; functions: string[] };
    assert.equal(json.pid, helper.pid);
  });

  void it('as the agent user it works too; as anyone else it is refused with exit 4', async () => {
    const asAgent = await tool(['supervdsm', '--socket', sock], account.uid);
    assert.equal(asAgent.code, 0, asAgent.stderr);
    const other = await tool(['supervdsm', '--socket', sock], 65534);
    assert.equal(other.code, 4, other.stdout + other.stderr);
    assert.match(other.stderr, /accepts root and \[supervdsm\] user only/);
  });

  void it('SIGTERM stops it in order: exit 0, the socket removed, the lock free', async () => {
    const code = await helper.stop();
    assert.equal(code, 0, helper.tail());
    await helper.waitForLog((l) => l['msg'] === 'stopped');
    await assert.rejects(stat(sock), { code: 'ENOENT' });
    assert.deepEqual(instanceRunning(join(dir, 'run'), 'supervdsmd'), { running: false }, 'the lock is free (the file may stay)');
    const r = await tool(['supervdsm', '--socket', sock]);
    assert.equal(r.code, 3);
  });

  void it('with no helper at the socket: exit 3 and what to do', async () => {
    const r = await tool(['supervdsm', '--socket', join(dir, 'nothing.sock')]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /not reachable at .*nothing\.sock: ENOENT/);
    assert.match(r.stderr, /systemctl status supervdsmd/);
  });
});
