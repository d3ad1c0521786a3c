// vdsmd's start-up guards, against the real program: one agent per run/state directory (an flock the
// kernel drops when the holder dies, so a crash leaves nothing stale), the refusal naming the running
// pid, and a start without host certificates that says how to enrol the host or use --profile embedded.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acquireInstanceLock, instanceRunning, InstanceLockedError, releaseInstanceLock } from '../../src/ops/instance-lock.js';
import { AgentProcess, VDSMD } from '../helpers/agent-process.js';

function vdsmd(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [VDSMD, ...args], { timeout: 30_000, env: { ...process.env, JOURNAL_STREAM: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

void describe('single-instance lock', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'vdsm-lock-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  void it('a second holder is refused with the first one\'s pid; released, the lock can be taken again', () => {
    const first = acquireInstanceLock(dir, 4242);
    try {
      assert.deepEqual(instanceRunning(dir), { running: true, pid: 4242 });
      assert.throws(() => acquireInstanceLock(dir), (err: unknown) => err instanceof InstanceLockedError && err.pid === 4242 && err.path === join(dir, 'vdsmd.lock'));
    } finally {
      releaseInstanceLock(first);
    }
    assert.deepEqual(instanceRunning(dir), { running: false });
    releaseInstanceLock(acquireInstanceLock(dir));
  });

  void it('a second vdsmd on the same directories exits 1 naming the running pid; after a crash the next one starts', async () => {
    const first = await AgentProcess.start();
    try {
      assert.equal((await readFile(join(first.stateDir, 'run', 'vdsmd.lock'), 'utf8')).trim(), String(first.pid));
      const second = await vdsmd(['--profile', 'dev', '--set', 'addresses.management_port=0', '--set', `vars.state_dir=${first.stateDir}`, '--set', `vars.run_dir=${join(first.stateDir, 'run')}`]);
      assert.equal(second.code, 1);
      assert.match(second.stderr, new RegExp(`another vdsmd \\(pid ${first.pid}\\) is running on this directory: it holds ${join(first.stateDir, 'run', 'vdsmd.lock')}`));
      assert.match(second.stderr, /systemctl stop vdsmd/);
      // Same state directory, different run directory: still refused (the VM records are shared).
      const third = await vdsmd(['--profile', 'dev', '--set', 'addresses.management_port=0', '--set', `vars.state_dir=${first.stateDir}`, '--set', `vars.run_dir=${join(first.stateDir, 'run2')}`]);
      assert.equal(third.code, 1);
      assert.match(third.stderr, new RegExp(`pid ${first.pid}.*${join(first.stateDir, 'vdsmd.lock')}`));
      await first.kill(); // SIGKILL: no cleanup, the lock file stays behind
      const next = await AgentProcess.start({ stateDir: first.stateDir });
      try {
        await next.whenReady();
        assert.equal((await readFile(join(first.stateDir, 'run', 'vdsmd.lock'), 'utf8')).trim(), String(next.pid));
      } finally {
        await next.kill();
      }
    } finally {
      await first.cleanup();
    }
  });
});

void it('a TLS start without host certificates explains enrolment and --profile embedded', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-nocert-'));
  try {
    const r = await vdsmd(['--set', `vars.trust_store_path=${dir}/pki`, '--set', `vars.state_dir=${dir}`, '--set', `vars.run_dir=${dir}/run`, '--set', 'addresses.management_port=0', '--set', 'libvirt.uri=test:///default']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`the host certificate is missing: ${dir}/pki/certs/vdsmcert\\.pem`));
    assert.match(r.stderr, /Enroll Certificate/);
    assert.match(r.stderr, /vdsmd --profile embedded/);
    assert.doesNotMatch(r.stderr, /ENOENT/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
