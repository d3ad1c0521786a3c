// What the storage verbs need from the storage service (src/storage/: the HSM, its images and its task
// manager), in the wire's generated types. Parameters stay as the engine sent them (numbers where the
// schema says strings and the other way round): the HSM converts and checks them as vdsm does, so
// a port takes the validated params object or single values as `unknown`.
import type { ApiResult } from './ports.js';

/** A verb's params after the method table's checks, as the engine sent them. */
export type StorageParams = Readonly<Record<string, unknown>>;

/** Connections, domains, the pool and SPM (the HSM). */
export interface StoragePort {
  connectStorageServer(domType: unknown, spUUID: unknown, conList: unknown): Promise<{ statuslist: ApiResult<'StoragePool.connectStorageServer'> }>;
  disconnectStorageServer(domType: unknown, spUUID: unknown, conList: unknown): Promise<{ statuslist: ApiResult<'StoragePool.disconnectStorageServer'> }>;
  createStoragePool(a: StorageParams): Promise<ApiResult<'StoragePool.create'>>;
  connectStoragePool(a: StorageParams): Promise<ApiResult<'StoragePool.connect'>>;
  disconnectStoragePool(spUUID: unknown, hostID: unknown): Promise<ApiResult<'StoragePool.disconnect'>>;
  getSpmStatus(spUUID: unknown): Promise<ApiResult<'StoragePool.getSpmStatus'>>;
  /** The id of the task that takes the SPM role. */
  spmStart(a: StorageParams): Promise<ApiResult<'StoragePool.spmStart'>>;
  spmStop(spUUID: unknown): Promise<ApiResult<'StoragePool.spmStop'>>;
  getStoragePoolInfo(spUUID: unknown): Promise<ApiResult<'StoragePool.getInfo'>>;
  createStorageDomain(a: StorageParams): Promise<ApiResult<'StorageDomain.create'>>;
  getStorageDomainInfo(sdUUID: unknown): Promise<ApiResult<'StorageDomain.getInfo'>>;
  getStorageDomainStats(sdUUID: unknown): Promise<ApiResult<'StorageDomain.getStats'>>;
  getImagesList(sdUUID: unknown): Promise<ApiResult<'StorageDomain.getImages'>>;
  activateStorageDomain(sdUUID: unknown, spUUID: unknown): Promise<ApiResult<'StorageDomain.activate'>>;
  attachStorageDomain(sdUUID: unknown, spUUID: unknown): Promise<ApiResult<'StorageDomain.attach'>>;
  detachStorageDomain(sdUUID: unknown, spUUID: unknown, force: unknown): Promise<ApiResult<'StorageDomain.detach'>>;
  getConnectedStoragePoolsList(): ApiResult<'Host.getConnectedStoragePools'>;
  getStorageDomainsList(a: StorageParams): Promise<ApiResult<'Host.getStorageDomains'>>;
  repoStats(domains: readonly string[]): ApiResult<'Host.getStorageRepoStats'>;
  /** SPM tasks only; 654 (Not SPM) on a host that is not SPM. */
  getAllTasksStatuses(): ApiResult<'Host.getAllTasksStatuses'>;
  getAllTasksInfo(): ApiResult<'Host.getAllTasksInfo'>;
}

/** Volumes and images (HsmImages). The task verbs answer the new task's id. */
export interface ImagePort {
  createVolume(a: StorageParams): Promise<ApiResult<'Volume.create'>>;
  deleteVolume(a: StorageParams): Promise<ApiResult<'Volume.delete'>>;
  getVolumeInfo(a: StorageParams): Promise<ApiResult<'Volume.getInfo'>>;
  getVolumeSize(a: StorageParams): Promise<ApiResult<'Volume.getSize'>>;
  copyImage(a: StorageParams): Promise<ApiResult<'Volume.copy'>>;
  prepareImage(a: StorageParams): Promise<ApiResult<'Image.prepare'>>;
  teardownImage(a: StorageParams): Promise<ApiResult<'Image.teardown'>>;
  deleteImage(a: StorageParams): Promise<ApiResult<'Image.delete'>>;
}

/** Every task of this host, SPM or not (the TaskManager). Unknown ids are 401, malformed ones 1000. */
export interface TaskPort {
  getTaskStatus(taskID: unknown): ApiResult<'Task.getStatus'>;
  getTaskInfo(taskID: unknown): ApiResult<'Task.getInfo'>;
  stopTask(taskID: unknown): Promise<ApiResult<'Task.stop'>>;
  clearTask(taskID: unknown): Promise<void>;
  revertTask(taskID: unknown): Promise<void>;
  getAllTasks(): ApiResult<'Host.getAllTasks'>;
}
