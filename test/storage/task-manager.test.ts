// The task manager with real parts (job worker threads, persistence in a worker, recoveries in a
// worker): vdsm's task_test / taskmanager_test cases (vdsm-acceptance-cases §P) and the API view.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Task } from '../../src/storage/task/task.js';
import { taskHarness, type TaskHarness } from './storage-harness.js';

async function touchTask(h: TaskHarness, name: string, args: Record<string, unknown>, store: string | null = null): Promise<string> {
  return h.manager.schedule(name, async (task: Task) => {
    await h.manager.scheduleJob(task, 'spm', store, { name, runcmd: `test.touch ${JSON.stringify(args)}`, call: { job: 'test.touch', args } });
  });
}

void describe('storage task manager', () => {
  let h: TaskHarness;
  before(async () => {
    h = await taskHarness({ threads: 2, maxTasks: 4 });
  });
  after(async () => h.close());

  void it('a synchronous verb finishes with its result and is never listed', async () => {
    const r = await h.manager.run('getStorageDomainInfo', () => ({ info: 42 }));
    assert.deepEqual(r, { info: 42 });
    assert.deepEqual(h.manager.getAllTasksStatuses(), {});
  });

  void it('a failing synchronous verb rethrows its own error after aborting the task', async () => {
    await assert.rejects(h.manager.run('getVolumeInfo', () => {
      throw Object.assign(new Error('Volume does not exist: (\'x\',)'), { vdsmCode: 201 });
    }), /Volume does not exist/);
  });

  void it('a job runs on the pool: running job 1 of 1, then "1 jobs completed successfully"', async () => {
    const path = join(h.dir, 'a.txt');
    const id = await touchTask(h, 'createVolume', { path });
    const st0 = h.manager.getTaskStatus(id);
    assert.equal(st0.taskID, id);
    await h.reached(id, 'finished');
    assert.deepEqual(h.manager.getTaskStatus(id), { taskID: id, taskState: 'finished', taskResult: 'success', code: 0, message: '1 jobs completed successfully' });
    assert.deepEqual(h.manager.getAllTasksInfo('spm'), { [id]: { id, verb: 'createVolume' } });
    assert.equal(await readFile(path, 'utf8'), id);
    const seen = h.transitions.filter((e) => e.taskId === id).map((e) => e.to);
    assert.deepEqual(seen, ['preparing', 'acquiring', 'queued', 'running', 'finished']);
    await h.manager.clearTask(id);
    await assert.rejects(async () => h.manager.getTaskStatus(id), (e: { vdsmCode?: number; message: string }) => e.vdsmCode === 401 && e.message === `Task id unknown: ('${id}',)`);
  });

  void it('a failing job is rolled back (auto recovery): finished / cleanSuccess with the job error code', async () => {
    const path = join(h.dir, 'b.txt');
    const id = await touchTask(h, 'createVolume', { path, fail: 'disk on fire' });
    await h.reached(id, 'recovered');
    const st = h.manager.getTaskStatus(id);
    assert.equal(st.taskState, 'finished');
    assert.equal(st.taskResult, 'cleanSuccess');
    assert.equal(st.code, 200);
    assert.match(st.message, /disk on fire/);
    assert.equal(existsSync(path), false, 'the recovery removed what the job made');
    const seen = h.transitions.filter((e) => e.taskId === id).map((e) => e.to);
    assert.deepEqual(seen, ['preparing', 'acquiring', 'queued', 'running', 'aborting', 'racquiring', 'recovering', 'recovered']);
  });

  void it('Task.stop on a running job kills it and rolls back; Task.clear of a running task is 410', async () => {
    const path = join(h.dir, 'c.txt');
    const id = await touchTask(h, 'copyImage', { path, holdMs: 60_000 });
    await h.reached(id, 'running');
    await assert.rejects(h.manager.clearTask(id), (e: { vdsmCode?: number }) => e.vdsmCode === 410);
    await h.manager.stopTask(id);
    await h.reached(id, 'recovered');
    assert.equal(h.manager.getTaskStatus(id).taskResult, 'cleanSuccess');
    assert.equal(existsSync(path), false);
  });

  void it('Task.revert of a finished task runs its recoveries; of a running one is 403', async () => {
    const path = join(h.dir, 'd.txt');
    const id = await touchTask(h, 'createVolume', { path, holdMs: 60_000 });
    await h.reached(id, 'running');
    await assert.rejects(h.manager.revertTask(id), (e: { vdsmCode?: number }) => e.vdsmCode === 403);
    await h.manager.stopTask(id);
    await h.reached(id, 'recovered');
    const id2 = await touchTask(h, 'createVolume', { path });
    await h.reached(id2, 'finished');
    assert.equal(existsSync(path), true);
    await h.manager.revertTask(id2);
    await h.reached(id2, 'recovered');
    assert.equal(existsSync(path), false);
  });

  void it('unknown and malformed task ids get 401 and 1000', async () => {
    await assert.rejects(async () => h.manager.getTaskStatus('no-such-task'), (e: { vdsmCode?: number }) => e.vdsmCode === 401);
    await assert.rejects(async () => h.manager.getTaskStatus(''), (e: { vdsmCode?: number }) => e.vdsmCode === 1000);
    await assert.rejects(async () => h.manager.getTaskStatus('a.temp'), (e: { vdsmCode?: number; message: string }) => e.vdsmCode === 1000 && e.message === "Invalid parameter: 'taskID=a.temp'");
  });
});
