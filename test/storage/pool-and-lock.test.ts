// The HSM thread pool's bound ([irs] max_tasks: a full pool refuses at once with 405, never blocks the
// verb) and the SPM's local lock (an exclusive flock on dom_md/ids held by a child process: a second
// holder is refused with 651, and the lock goes with its holder).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalLock } from '../../src/storage/local-lock.js';
import type { Task } from '../../src/storage/task/task.js';
import { taskHarness, type TaskHarness } from './storage-harness.js';

const SD = '5b1c2d3e-0000-4000-8000-00000000abcd';

function holdTask(h: TaskHarness, holdMs: number): Promise<string> {
  return h.manager.schedule('copyImage', async (task: Task) => {
    await h.manager.scheduleJob(task, 'spm', null, { name: 'copyImage', runcmd: 'test.touch hold', call: { job: 'test.touch', args: { holdMs } } });
  });
}

void describe('storage thread pool bound', () => {
  let h: TaskHarness;
  before(async () => {
    h = await taskHarness({ threads: 1, maxTasks: 2 });
  });
  after(async () => h.close());

  void it('refuses the task beyond max_tasks at once with 405, and takes new ones once a place frees', async () => {
    const running = await holdTask(h, 60_000);
    const queued = await holdTask(h, 60_000);
    await h.reached(running, 'running');
    // One thread: the second task waits in Piscina's queue, and the third has no place.
    assert.equal(h.manager.getTaskStatus(queued).taskState, 'running');
    await assert.rejects(holdTask(h, 0), (e: { vdsmCode?: number; message: string }) => e.vdsmCode === 405 && /max_tasks=2/.test(e.message));
    assert.equal(h.pool.state()['refused'], 1);

    await h.manager.stopTask(queued);
    await h.reached(queued, 'recovered');
    await h.manager.stopTask(running);
    await h.reached(running, 'recovered');
    const next = await holdTask(h, 0);
    await h.reached(next, 'finished');
    for (const id of [running, queued, next]) await h.manager.clearTask(id);
  });
});

void describe('local SPM lock', () => {
  let h: TaskHarness;
  before(async () => {
    h = await taskHarness();
  });
  after(async () => h.close());

  void it('one holder at a time: a second is refused with 651 until the first releases', async () => {
    const ids = join(h.dir, 'ids');
    writeFileSync(ids, '');
    const a = new LocalLock();
    const b = new LocalLock({ acquireTimeoutMs: 5000 });
    a.acquireHostId(SD, 1);
    await a.acquire(SD, ids);
    await a.acquire(SD, ids);
    assert.deepEqual(a.inquire(SD), { lver: 0, hostId: 1 });
    await assert.rejects(b.acquire(SD, ids), (e: { vdsmCode?: number; message: string }) => e.vdsmCode === 651 && /held by another process/.test(e.message));
    await a.release(SD);
    assert.deepEqual(a.inquire(SD), { lver: 0, hostId: undefined });
    await b.acquire(SD, ids);
    await b.releaseAll();
  });

  void it('the lock dies with its holder: a killed holder frees the ids file', async () => {
    const ids = join(h.dir, 'ids2');
    writeFileSync(ids, '');
    const a = new LocalLock();
    a.acquireHostId(SD, 1);
    await a.acquire(SD, ids);
    const pid = (a.state()['locks'] as Record<string, { pid: number }>)[SD]!.pid;
    process.kill(pid, 'SIGKILL');
    // The kernel frees a flock when its last holder exits: wait for the holder's exit, not for time.
    await a.holderGone(SD);
    const b = new LocalLock();
    await b.acquire(SD, ids);
    assert.equal(a.inquire(SD).hostId, undefined);
    await b.releaseAll();
    await a.releaseAll();
  });
});
