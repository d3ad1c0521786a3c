// Task persistence in vdsm's format: the exact bytes of each file, a round trip through the worker that
// swaps directories, the loading order after a crash mid-swap, and recovery after a simulated crash
// at every state a task persists (a new manager loads what the old one left and recovers it).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseTaskFiles, taskFiles, type RecoveryRecord, type TaskRecord } from '../../src/contracts/task-format.js';
import { TaskManager } from '../../src/storage/task/task-manager.js';
import { TaskStore } from '../../src/storage/task/task-store.js';
import type { Task } from '../../src/storage/task/task.js';
import { captureLog } from '../runtime/capture-log.js';
import { taskHarness, type TaskHarness } from './storage-harness.js';

const ID = '5b3c8a2e-1111-4c6a-9d3e-2f6b7c8d9e0a';

function sample(): TaskRecord {
  return {
    id: ID, name: 'createVolume', tag: 'spm', store: '/rhev/data-center/sp/mastersd/master/tasks',
    recoveryPolicy: 'auto', persistPolicy: 'auto', cleanPolicy: 'manual', priority: 'low', state: 'finished',
    metadataVersion: 1,
    jobs: [{ name: 'createVolume', runcmd: 'createVolume (args: {"size":1}) x=1' }],
    recoveries: [{ name: 'Create volume rollback', moduleName: 'fileVolume', object: 'FileVolume', function: 'createVolumeRollback', params: ['/rhev/data-center/sp', 'sd', 'img', 'vol', '/p/images/img'] }],
    result: { code: 0, message: '1 jobs completed successfully', result: '{"uuid":"vol"}' },
  };
}

class RecordingStore extends TaskStore {
  saved: TaskRecord[] = [];
  override save(rec: TaskRecord): Promise<void> {
    this.saved.push(structuredClone(rec));
    return super.save(rec);
  }
}

void describe('task persistence', () => {
  let h: TaskHarness;
  before(async () => {
    h = await taskHarness({ threads: 2, maxTasks: 10 });
  });
  after(async () => h.close());

  void it('writes each file as vdsm does: "key = value" lines in vdsm\'s field order, "=" as _eq_', () => {
    const files = taskFiles(sample());
    assert.deepEqual(Object.keys(files).sort(), [`${ID}.job.0`, `${ID}.recover.0`, `${ID}.result`, `${ID}.task`]);
    assert.equal(files[`${ID}.task`], [
      `id = ${ID}`, 'name = createVolume', 'tag = spm', 'store = /rhev/data-center/sp/mastersd/master/tasks',
      'recoveryPolicy = auto', 'persistPolicy = auto', 'cleanPolicy = manual', 'priority = low', 'state = finished',
      'njobs = 1', 'nrecoveries = 1', 'metadataVersion = 1', '',
    ].join('\n'));
    assert.equal(files[`${ID}.job.0`], 'name = createVolume\nruncmd = createVolume (args: {"size":1}) x_eq_1\n');
    assert.equal(files[`${ID}.recover.0`], 'name = Create volume rollback\nmoduleName = fileVolume\nobject = FileVolume\nfunction = createVolumeRollback\nparams = /rhev/data-center/sp,sd,img,vol,/p/images/img\n');
    assert.equal(files[`${ID}.result`], 'code = 0\nmessage = 1 jobs completed successfully\nresult = {"uuid":"vol"}\n');
    assert.deepEqual(parseTaskFiles(ID, files), sample());
    // Only a finished task keeps a result file (vdsm's _save).
    assert.equal(taskFiles({ ...sample(), state: 'running' })[`${ID}.result`], undefined);
  });

  void it('reads a task directory as vdsm writes it (unknown fields and malformed lines ignored)', () => {
    const files = {
      [`${ID}.task`]: `id = ${ID}\nname = deleteImage\ntag = spm\nstore = None\nrecoveryPolicy = auto\npersistPolicy = auto\ncleanPolicy = manual\npriority = low\nstate = running\nnjobs = 0\nnrecoveries = 1\nmetadataVersion = 1\nbogus = 1\na = b = c\n`,
      [`${ID}.recover.0`]: 'name = rollback sentinel\nmoduleName = fileVolume\nobject = FileVolume\nfunction = startCreateVolumeRollback\nparams = a, b ,c\n',
    };
    const rec = parseTaskFiles(ID, files);
    assert.equal(rec.store, null);
    assert.equal(rec.state, 'running');
    assert.deepEqual(rec.recoveries[0]!.params, ['a', 'b', 'c']);
    assert.throws(() => parseTaskFiles('other-id', { ['other-id.task']: `id = ${ID}\n` }), /does not match/);
  });

  void it('round-trips through the worker and swaps directories atomically; a crash mid-swap loads the backup', async () => {
    const store = join(h.dir, 'store1');
    await h.store.save({ ...sample(), store });
    const { records, errors } = await h.store.loadAll(store);
    assert.deepEqual(errors, []);
    assert.deepEqual(records, [{ ...sample(), store }]);
    assert.deepEqual((await readdir(store)).sort(), [ID]);
    // vdsm renames <id> to <id>.backup before moving <id>.temp into place: a crash in between leaves
    // only the backup (and maybe the temp); loading takes the temp first, then the backup.
    await rename(join(store, ID), join(store, `${ID}.backup`));
    const again = await h.store.loadAll(store);
    assert.equal(again.records[0]?.id, ID);
    await mkdir(join(store, `${ID}.temp`));
    await writeFile(join(store, `${ID}.temp`, `${ID}.task`), taskFiles({ ...sample(), state: 'running', store })[`${ID}.task`]!);
    for (const f of Object.keys(taskFiles({ ...sample(), state: 'running', store })).filter((n) => !n.endsWith('.task'))) {
      await writeFile(join(store, `${ID}.temp`, f), taskFiles({ ...sample(), state: 'running', store })[f]!);
    }
    const fromTemp = await h.store.loadAll(store);
    assert.equal(fromTemp.records[0]?.state, 'running', 'the .temp directory wins over the .backup');
    await h.store.clean(store, ID);
    assert.deepEqual(await readdir(store), []);
  });

  void it('persists a scheduled task on every transition, in its store, until Task.clear', async () => {
    const store = join(h.dir, 'store2');
    const path = join(h.dir, 'p2');
    const id = await h.manager.schedule('createVolume', async (t: Task) => {
      await h.manager.scheduleJob(t, 'spm', store, { name: 'createVolume', runcmd: 'test.touch', call: { job: 'test.touch', args: { path } } });
    });
    await h.reached(id, 'finished');
    await h.manager.get(id).whenPersisted();
    const text = await readFile(join(store, id, `${id}.task`), 'utf8');
    assert.match(text, /^state = finished$/m);
    assert.match(text, /^cleanPolicy = manual$/m);
    assert.match(await readFile(join(store, id, `${id}.recover.0`), 'utf8'), /^function = removeFile$/m);
    await h.manager.clearTask(id);
    assert.equal(existsSync(join(store, id)), false);
  });

  for (const scenario of ['succeeds', 'fails', 'fails and its recovery fails'] as const) {
    void it(`recovers a task whose job ${scenario} from every state it persisted (simulated crash)`, async (t) => {
      const store = join(h.dir, `crash-${scenario.replace(/ /g, '-')}`);
      const path = join(h.dir, `side-${scenario.replace(/ /g, '-')}`);
      const recording = new RecordingStore(h.executor, 30_000);
      const runRecovery = (_t: unknown, rec: RecoveryRecord): Promise<void> =>
        h.executor.dispatch('storage.recover', { rec, domains: {} }, { timeoutMs: 30_000, discard: true }).then(() => undefined);
      const m1 = new TaskManager({ pool: h.pool, store: recording, runRecovery, log: captureLog().log });
      const args = { path, ...(scenario === 'succeeds' ? {} : { fail: 'boom' }), ...(scenario === 'fails and its recovery fails' ? { recoveryFails: true } : {}) };
      const id = await m1.schedule('createVolume', async (t: Task) => {
        await m1.scheduleJob(t, 'spm', store, { name: 'createVolume', runcmd: 'test.touch', call: { job: 'test.touch', args } });
      });
      const final = scenario === 'succeeds' ? 'finished' : scenario === 'fails' ? 'recovered' : 'failed';
      await m1.get(id).whenDone();
      await m1.get(id).whenPersisted();
      assert.equal(recording.saved.at(-1)?.state, final);
      const states: string[] = [...new Set(recording.saved.map((s) => s.state))];
      const expectedStates: string[] = {
        succeeds: ['preparing', 'acquiring', 'queued', 'running', 'finished'],
        fails: ['preparing', 'acquiring', 'queued', 'running', 'aborting', 'racquiring', 'recovering', 'recovered'],
        'fails and its recovery fails': ['preparing', 'acquiring', 'queued', 'running', 'aborting', 'racquiring', 'recovering', 'raborting', 'failed'],
      }[scenario];
      // Saves coalesce, so a fast transition may be skipped on disk; the ends never are.
      assert.deepEqual(states.filter((s) => expectedStates.includes(s)), states);
      t.diagnostic(`persisted states: ${states.join(' ')}`);
      for (const s of ['preparing', 'running', final]) assert.ok(states.includes(s), `${s} persisted (saw ${states.join(' ')})`);

      for (const snap of recording.saved) {
        // "Crash": a fresh store holds only this snapshot; the job's side effect exists when a recovery for it was saved.
        const crashStore = join(h.dir, `after-${snap.state}-${scenario.replace(/ /g, '-')}-${recording.saved.indexOf(snap)}`);
        await h.store.save({ ...snap, store: crashStore });
        const made = snap.recoveries.some((x) => x.function === 'removeFile');
        if (made) await writeFile(path, 'made');
        const m2 = new TaskManager({ pool: h.pool, store: h.store, runRecovery, log: captureLog().log });
        assert.deepEqual(await m2.loadDumpedTasks(crashStore), [id]);
        await m2.recoverDumpedTasks();
        const st = m2.getTaskStatus(id);
        const expect = {
          preparing: 'recovered', acquiring: 'recovered', queued: 'recovered', running: 'recovered',
          finished: 'finished', aborting: 'recovered', racquiring: 'recovered', recovering: 'recovered', recovered: 'recovered',
          raborting: 'failed', failed: 'failed',
        }[snap.state as string];
        const got = m2.get(id).state;
        if (scenario === 'fails and its recovery fails' && expect === 'recovered' && snap.recoveries.some((x) => x.function === 'fail')) {
          assert.equal(got, 'failed', `after a crash in ${snap.state}: the failing recovery fails the task`);
        } else {
          assert.equal(got, expect, `after a crash in ${snap.state}`);
        }
        assert.match(st.taskState, /^finished$/);
        if (got === 'recovered' && made) assert.equal(existsSync(path), false, `rolled back after a crash in ${snap.state}`);
        if (snap.state === 'finished') assert.equal(existsSync(path), true, 'a finished task is not rolled back');
        // The recovered state is persisted too: a second restart finds it at rest.
        await m2.get(id).whenPersisted();
        assert.match(await readFile(join(crashStore, id, `${id}.task`), 'utf8'), new RegExp(`^state = ${got}$`, 'm'));
      }
    });
  }

  void it('recovers from a crash in each of the 13 states a task can persist (every policy the SPM uses: auto recovery)', async () => {
    const runRecovery = (_t: unknown, rec: RecoveryRecord): Promise<void> =>
      h.executor.dispatch('storage.recover', { rec, domains: {} }, { timeoutMs: 30_000, discard: true }).then(() => undefined);
    const expect: Record<string, string> = {
      preparing: 'recovered', blocked: 'recovered', acquiring: 'recovered', queued: 'recovered', running: 'recovered',
      finished: 'finished', aborting: 'recovered', waitrecover: 'waitrecover', racquiring: 'recovered',
      recovering: 'recovered', raborting: 'failed', recovered: 'recovered', failed: 'failed',
    };
    for (const [state, after] of Object.entries(expect)) {
      const store = join(h.dir, `each-${state}`);
      const side = join(h.dir, `each-side-${state}`);
      await writeFile(side, 'made by the job');
      const rec: TaskRecord = {
        ...sample(), store, state: state as TaskRecord['state'],
        recoveries: [{ name: 'undo', moduleName: 'vdsmnode', object: 'Test', function: 'removeFile', params: [side] }],
      };
      await h.store.save(rec);
      const m = new TaskManager({ pool: h.pool, store: h.store, runRecovery, log: captureLog().log });
      await m.loadDumpedTasks(store);
      await m.recoverDumpedTasks();
      assert.equal(m.get(ID).state, after, `crash in ${state}`);
      const rolledBack = after === 'recovered' && state !== 'recovered';
      assert.equal(existsSync(side), !rolledBack, `side effect after a crash in ${state}`);
      await m.get(ID).whenPersisted();
      assert.match(await readFile(join(store, ID, `${ID}.task`), 'utf8'), new RegExp(`^state = ${after}$`, 'm'));
    }
  });
});
