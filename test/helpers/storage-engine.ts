// The engine's storage calls for a local-storage data center, with the engine's own argument types
// (read from ovirt-engine's request builders, see issue 18): numbers where vdsm-api.yml says strings and
// the other way round, `connection` for the path. Shared by the storage e2e tests.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import type { EngineClient } from './engine-client.js';

export const BLANK = '00000000-0000-0000-0000-000000000000';

export interface LocalDc {
  spUUID: string;
  sdUUID: string;
  connId: string;
  path: string;
}

export function newDc(path: string): LocalDc {
  return { spUUID: randomUUID(), sdUUID: randomUUID(), connId: randomUUID(), path };
}

/** connectionParams exactly as the engine builds them for a local path (every value a string). */
export function localConnection(dc: LocalDc): Record<string, unknown>[] {
  return [{ id: dc.connId, connection: dc.path, port: '', iqn: '', user: '', password: '', ipv6_enabled: 'false' }];
}

export async function connectStorage(engine: EngineClient, dc: LocalDc, storagepoolID = BLANK): Promise<unknown> {
  return engine.call('StoragePool.connectStorageServer', { storagepoolID, domainType: 4, connectionParams: localConnection(dc) });
}

export async function connectPool(engine: EngineClient, dc: LocalDc): Promise<unknown> {
  return engine.call('StoragePool.connect', {
    storagepoolID: dc.spUUID, hostID: 1, scsiKey: dc.spUUID, masterSdUUID: dc.sdUUID, masterVersion: 1, domainDict: { [dc.sdUUID]: 'active' },
  });
}

export interface TaskStatus {
  taskID: string;
  taskState: string;
  taskResult: string;
  code: number;
  message: string;
}

/**
 * Poll Host.getAllTasksStatuses as the engine does (here every 100 ms instead of 10 s) until the task
 * is done; asserts it is listed on every poll, as the engine requires.
 */
export async function waitTaskByAllStatuses(engine: EngineClient, taskId: string, timeoutMs = 60_000): Promise<TaskStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await engine.call<Record<string, TaskStatus>>('Host.getAllTasksStatuses');
    const st = all[taskId];
    assert.ok(st, `task ${taskId} listed by Host.getAllTasksStatuses until Task.clear`);
    assert.equal(typeof st.code, 'number');
    if (st.taskState === 'finished') return st;
    if (Date.now() > deadline) throw new Error(`task ${taskId} not finished in ${timeoutMs} ms: ${JSON.stringify(st)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Poll Task.getStatus (the engine does every second for spmStart). */
export async function waitTaskByStatus(engine: EngineClient, taskId: string, timeoutMs = 60_000): Promise<TaskStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await engine.call<TaskStatus>('Task.getStatus', { taskID: taskId });
    if (st.taskState === 'finished') return st;
    if (Date.now() > deadline) throw new Error(`task ${taskId} not finished in ${timeoutMs} ms: ${JSON.stringify(st)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Create the domain and the pool, connect twice, and become SPM: the engine's order. */
export async function bringUpLocalDc(engine: EngineClient, dc: LocalDc): Promise<void> {
  for (let i = 0; i < 4; i++) assert.deepEqual(await connectStorage(engine, dc), [{ id: dc.connId, status: 0 }]);
  assert.equal(await engine.call('StorageDomain.create', {
    storagedomainID: dc.sdUUID, domainType: 4, typeArgs: dc.path, name: 'local-e2e', domainClass: 1, version: '5', blockSize: 0, maxHosts: 250,
  }), true);
  assert.equal(await engine.call('StoragePool.create', {
    storagepoolID: dc.spUUID, name: 'dc-e2e', masterSdUUID: dc.sdUUID, masterVersion: 1, domainList: [dc.sdUUID],
    lockRenewalIntervalSec: 5, leaseTimeSec: 60, ioOpTimeoutSec: 10, leaseRetries: 3,
  }), true);
  assert.equal(await connectPool(engine, dc), true);
  assert.equal(await connectPool(engine, dc), true);
  await becomeSpm(engine, dc);
}

export async function becomeSpm(engine: EngineClient, dc: LocalDc): Promise<void> {
  const taskId = await engine.call<string>('StoragePool.spmStart', {
    storagepoolID: dc.spUUID, prevID: -1, prevLver: '-1', enableScsiFencing: 'false', maxHostID: 250, domVersion: '5',
  });
  const st = await waitTaskByStatus(engine, taskId);
  assert.equal(st.taskResult, 'success', JSON.stringify(st));
  assert.equal(await engine.call('Task.clear', { taskID: taskId }), true);
}

export async function createVolume(engine: EngineClient, dc: LocalDc, v: { imgUUID: string; volUUID: string; size: number; volFormat: number; preallocate: number; diskType?: string; srcVolUUID?: string }): Promise<string> {
  return engine.call<string>('Volume.create', {
    volumeID: v.volUUID, storagepoolID: dc.spUUID, storagedomainID: dc.sdUUID, imageID: v.imgUUID, size: String(v.size),
    volFormat: v.volFormat, preallocate: v.preallocate, diskType: v.diskType ?? 'DATA',
    desc: JSON.stringify({ DiskAlias: 'e2e', DiskDescription: '' }), srcImgUUID: v.srcVolUUID ? v.imgUUID : BLANK, srcVolUUID: v.srcVolUUID ?? BLANK,
  });
}

/** Whether an image is prepared: its run link (/run/vdsm/storage/<sd>/<img>) exists as a symlink. */
export async function isPrepared(runLink: string): Promise<boolean> {
  return lstat(runLink).then((st) => st.isSymbolicLink(), (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return false;
    throw err;
  });
}
