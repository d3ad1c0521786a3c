// Typed calls of the storage worker operations (workers/ops/storage-*.ts), each one an Executor task
// with the storage timeout ([irs] process_pool_timeout, vdsm's ioprocess timeout) after which a hung
// call's thread is discarded. The main thread never touches storage itself.
import type { Dispatcher } from '../contracts/dispatcher.js';
import type { OpArgs, OpName, OpResult } from '../contracts/operations.js';
import type { SdMetadata } from '../contracts/sd-metadata.js';
import type { FoundDomain, ImageVolume, PreparedImage, PrepareImageArgs, VolumeInfo, VolumeSizes } from '../contracts/storage-ops.js';
import type { RecoveryRecord } from '../contracts/task-format.js';

export type { FoundDomain, ImageVolume, PreparedImage } from '../contracts/storage-ops.js';

export class StorageIo {
  #d: Dispatcher;
  #timeoutMs: number;

  constructor(dispatcher: Dispatcher, timeoutMs: number) {
    this.#d = dispatcher;
    this.#timeoutMs = timeoutMs;
  }

  call<K extends OpName>(op: K, args: OpArgs<K>): Promise<OpResult<K>> {
    return this.#d.dispatch(op, args, { timeoutMs: this.#timeoutMs, discard: true });
  }

  connectLocal(mountPoint: string, path: string): Promise<FoundDomain[]> {
    return this.call('storage.connectLocal', { mountPoint, path });
  }

  disconnectLocal(mountPoint: string): Promise<boolean> {
    return this.call('storage.disconnectLocal', { mountPoint });
  }

  prepareMountPoint(mountPoint: string): Promise<{ mounted: boolean }> {
    return this.call('storage.prepareMountPoint', { mountPoint });
  }

  releaseMountPoint(mountPoint: string): Promise<{ mounted: boolean }> {
    return this.call('storage.releaseMountPoint', { mountPoint });
  }

  isMounted(mountPoint: string): Promise<boolean> {
    return this.call('storage.isMounted', { mountPoint });
  }

  domainsAt(mountPoint: string): Promise<FoundDomain[]> {
    return this.call('storage.domainsAt', { mountPoint });
  }

  findDomains(mountDir: string): Promise<FoundDomain[]> {
    return this.call('storage.findDomains', { mountDir });
  }

  createDomain(args: { mountPoint: string; sdUUID: string; metadata: SdMetadata; isoImageDir?: string }): Promise<FoundDomain> {
    return this.call('storage.createDomain', args);
  }

  async readDomain(dir: string): Promise<SdMetadata> {
    return (await this.call('storage.readDomain', { dir })).metadata;
  }

  async writeDomainMetadata(dir: string, set: Record<string, string>, unset: string[] = []): Promise<SdMetadata> {
    return (await this.call('storage.writeDomainMetadata', { dir, set, unset })).metadata;
  }

  domainStats(dir: string): Promise<{ disktotal: string; diskfree: string }> {
    return this.call('storage.domainStats', { dir });
  }

  listImages(dir: string): Promise<string[]> {
    return this.call('storage.listImages', { dir });
  }

  createMasterTree(dir: string): Promise<boolean> {
    return this.call('storage.createMasterTree', { dir });
  }

  linkPool(poolDir: string, links: { name: string; target: string }[], prune: boolean): Promise<boolean> {
    return this.call('storage.linkPool', { poolDir, links, prune });
  }

  removePoolDir(poolDir: string): Promise<boolean> {
    return this.call('storage.removePoolDir', { poolDir });
  }

  readlink(path: string): Promise<string> {
    return this.call('storage.readlink', { path });
  }

  volumeInfo(dir: string, sdUUID: string, imgUUID: string, volUUID: string): Promise<VolumeInfo> {
    return this.call('storage.volumeInfo', { dir, sdUUID, imgUUID, volUUID });
  }

  volumeSize(dir: string, imgUUID: string, volUUID: string): Promise<{ apparentsize: string; truesize: string }> {
    return this.call('storage.volumeSize', { dir, imgUUID, volUUID });
  }

  pathSizes(paths: string[]): Promise<Record<string, VolumeSizes>> {
    return this.call('storage.pathSizes', { paths });
  }

  imageVolumes(dir: string, imgUUID: string): Promise<ImageVolume[]> {
    return this.call('storage.imageVolumes', { dir, imgUUID });
  }

  prepareImage(args: PrepareImageArgs): Promise<PreparedImage> {
    return this.call('storage.prepareImage', args);
  }

  teardownImage(runLink: string): Promise<boolean> {
    return this.call('storage.teardownImage', { runLink });
  }

  markImageRemoved(dir: string, sdUUID: string, imgUUID: string): Promise<string[]> {
    return this.call('storage.markImageRemoved', { dir, sdUUID, imgUUID });
  }

  recover(rec: RecoveryRecord, domains: Record<string, string>): Promise<boolean> {
    return this.call('storage.recover', { rec, domains });
  }
}
