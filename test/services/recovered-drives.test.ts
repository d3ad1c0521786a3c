// The background re-preparation of a recovered VM's drives (src/services/recovered-drives.ts): it waits
// for a connected storage pool, prepares each drive still in the VM's list, keeps the VM's path when a
// prepare fails, and stops (ending a wait for the pool) when the VM is destroyed; a prepare in flight
// when its drive is released (the VM ends, the drive is unplugged) tears the image down again when it
// returns, so nothing has to wait for it. The storage side here is a stand-in that records calls and
// answers when the test says (the real storage layer is exercised by test/realvm/recovery-storage-vm).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { DriveRepreparation } from '../../src/services/recovered-drives.js';
import type { PreparedDrive } from '../../src/virt/storage-drives.js';

const log = pino({ level: 'silent' });
const drive = (name: string, path = `/run/${name}`): PreparedDrive => ({ name, path, poolID: 'p', domainID: 'd', imageID: `img-${name}`, volumeID: `vol-${name}` });

interface Deferred<T> { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void }
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** Storage whose pool connects and whose prepares answer when the test resolves them. */
function storage() {
  const pool = deferred<void>();
  const calls: { name: string; answer: Deferred<string> }[] = [];
  const teardowns: string[] = [];
  let notify: (() => void) | undefined;
  return {
    pool,
    calls,
    teardowns,
    /** Resolves once `n` prepares were asked for. */
    async prepares(n: number): Promise<void> {
      while (calls.length < n) await new Promise<void>((r) => { notify = r; });
    },
    api: {
      poolConnected: () => pool.promise,
      prepare: (d: { imageID: string }): Promise<string> => {
        const answer = deferred<string>();
        calls.push({ name: d.imageID.slice(4), answer });
        notify?.();
        return answer.promise;
      },
      teardown: (d: { imageID: string }): Promise<void> => {
        teardowns.push(d.imageID.slice(4));
        return Promise.resolve();
      },
    },
  };
}

void describe('re-preparing a recovered VM\'s drives', () => {
  void it('waits for the pool, prepares each drive in turn, and keeps the VM\'s path when one fails', async () => {
    const s = storage();
    const drives = [drive('vda'), drive('vdb', '')];
    const r = new DriveRepreparation(drives, s.api, { vmId: 'vm', log });
    await Promise.resolve();
    assert.equal(s.calls.length, 0, 'nothing is prepared before a pool is connected');
    s.pool.resolve();
    await s.prepares(1);
    assert.equal(s.calls.length, 1, 'one at a time');
    s.calls[0]!.answer.reject(new Error('domain unreachable'));
    await s.prepares(2);
    s.calls[1]!.answer.resolve('/run/prepared-vdb');
    await r.done;
    assert.deepEqual(drives.map((d) => d.path), ['/run/vda', '/run/prepared-vdb'], 'a failed drive keeps its path; one without takes the prepared one');
  });

  void it('skips a drive unplugged meanwhile', async () => {
    const s = storage();
    const drives = [drive('vda'), drive('vdb')];
    const r = new DriveRepreparation(drives, s.api, { vmId: 'vm', log });
    drives.splice(1, 1);
    s.pool.resolve();
    await s.prepares(1);
    s.calls[0]!.answer.resolve('/run/vda');
    await r.done;
    assert.deepEqual(s.calls.map((c) => c.name), ['vda']);
  });

  void it('stop() ends a wait for a pool that never connects; nothing is prepared after', async () => {
    const s = storage();
    const r = new DriveRepreparation([drive('vda')], s.api, { vmId: 'vm', log });
    r.stop();
    await r.done;
    s.pool.resolve();
    await Promise.resolve();
    assert.equal(s.calls.length, 0);
  });

  void it('a prepare that returns after the VM was released tears its image down again; no prepare starts after stop()', async () => {
    const s = storage();
    const r = new DriveRepreparation([drive('vda'), drive('vdb')], s.api, { vmId: 'vm', log });
    s.pool.resolve();
    await s.prepares(1);
    r.stop();
    let ended = false;
    const waiting = r.done.then(() => { ended = true; });
    await Promise.resolve();
    assert.equal(ended, false, 'the prepare in flight goes on after stop()');
    s.calls[0]!.answer.resolve('/run/vda');
    await waiting;
    assert.deepEqual(s.calls.map((c) => c.name), ['vda'], 'no prepare starts after stop()');
    assert.deepEqual(s.teardowns, ['vda'], 'the image prepared after the release is torn down');
  });

  void it('a prepare that returns (or fails) after its drive was unplugged tears that image down; the others are kept', async () => {
    const s = storage();
    const drives = [drive('vda'), drive('vdb')];
    const r = new DriveRepreparation(drives, s.api, { vmId: 'vm', log });
    s.pool.resolve();
    await s.prepares(1);
    drives.splice(0, 1); // vda unplugged while its prepare hangs
    s.calls[0]!.answer.reject(new Error('storage timeout'));
    await s.prepares(2);
    s.calls[1]!.answer.resolve('/run/vdb');
    await r.done;
    assert.deepEqual(s.teardowns, ['vda']);
  });
});
