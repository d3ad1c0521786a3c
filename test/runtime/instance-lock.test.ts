// One daemon per run directory: the second taker is told who holds the lock; a holder that dies, however
// it dies, leaves nothing behind (the lock is an abstract socket the kernel drops with the process).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Errors, isError } from '../../src/errors.js';
import { InstanceLock } from '../../src/runtime/instance-lock.js';

const MODULE = fileURLToPath(new URL('../../src/runtime/instance-lock.js', import.meta.url));

void describe('InstanceLock', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'vdsm-lock-')); });
  after(() => rm(dir, { recursive: true, force: true }));

  void it('the second taker gets ERR_ALREADY_RUNNING naming the pid; release lets the next one in', async () => {
    const lock = await InstanceLock.acquire(dir, 'supervdsmd');
    assert.equal((await readFile(join(dir, 'supervdsmd.lock'), 'utf8')).trim(), String(process.pid));
    await assert.rejects(InstanceLock.acquire(dir, 'supervdsmd'), (e: Error) => isError(e, Errors.ALREADY_RUNNING) && e.message.includes(`as pid ${process.pid}`));
    const other = await InstanceLock.acquire(dir, 'vdsmd');
    await other.release();
    await lock.release();
    await assert.rejects(stat(join(dir, 'supervdsmd.lock')), { code: 'ENOENT' });
    const again = await InstanceLock.acquire(dir, 'supervdsmd');
    await again.release();
    await again.release();
  });

  void it('a holder killed with SIGKILL releases the lock with its death (its pid file stays, harmlessly)', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e',
      `const { InstanceLock } = await import(${JSON.stringify(MODULE)}); await InstanceLock.acquire(${JSON.stringify(dir)}, 'crashy'); console.log('held'); setInterval(() => {}, 1000);`,
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(child.stdout!, 'data');
    await assert.rejects(InstanceLock.acquire(dir, 'crashy'), (e: Error) => e.message.includes(`as pid ${child.pid}`));
    child.kill('SIGKILL');
    await once(child, 'exit');
    const lock = await InstanceLock.acquire(dir, 'crashy');
    assert.equal((await readFile(join(dir, 'crashy.lock'), 'utf8')).trim(), String(process.pid));
    await lock.release();
  });
});
