// The host storage manager (vdsm's hsm.HSM): storage connections, domains, the one connected pool
// and its SPM role, and the task verbs. Every verb runs inside a task of the TaskManager, as vdsm's
// storage dispatcher runs it; SPM verbs schedule a job and answer with the task id. Volume and image
// verbs are in hsm-images.ts. All storage access goes through worker operations (StorageIo) or child
// processes; this class only coordinates.
import type { Logger } from 'pino';
import { Errors, errorMessage, storageError } from '../errors.js';
import type { ApiMethodName, ApiMethods } from '../contracts/api-types.js';
import type { Dispatcher } from '../contracts/dispatcher.js';
import type { Timers } from '../runtime/clock.js';
import {
  ALIGNMENT_1M, BLANK_UUID, BLOCK_SIZE_512, DOMAIN_TYPE_NAMES, DomainClass, DomainType, SUPPORTED_DOMAIN_VERSIONS, SpmRole,
} from '../contracts/storage-constants.js';
import { DomainMonitor, type DomainVitals } from './domain-monitor.js';
import { DomainRegistry } from './domain-registry.js';
import { RepoLayout, isCleanAbsolutePath } from '../contracts/storage-layout.js';
import { domainPools, newDomainMetadata } from '../contracts/sd-metadata.js';
import { LocalLock } from './local-lock.js';
import { MOUNT_TYPES, mountRequest, mountTarget, type StorageMounter } from './mount-connections.js';
import { boolParam, domainClassParam, domainTypeParam, intParam, optionalIntParam, stringParam, uuidParam } from './params.js';
import { ResourceLocks } from './resource-locks.js';
import { StorageIo } from './storage-io.js';
import { StoragePool, domainMapParam, type StoragePoolDeps } from './storage-pool.js';
import { TaskManager, type TaskStatus } from './task/task-manager.js';
import type { TaskPool } from './task/task-pool.js';
import { TaskStore } from './task/task-store.js';


/** A verb's result as the method table declares it (the wire's generated types). */
type ApiResult<M extends ApiMethodName> = ApiMethods[M]['result'];

export interface HsmOptions {
  /** [irs] repository */
  repository: string;
  /** [vars] run_dir: prepared images are linked under <run_dir>/storage. */
  runDir: string;
  /** The Executor running the storage worker operations. */
  dispatcher: Dispatcher;
  pool: TaskPool;
  /** [irs] process_pool_timeout, ms: a storage call's time limit. */
  ioTimeoutMs: number;
  /** [irs] sd_health_check_delay, ms. */
  monitorIntervalMs: number;
  /** [irs] progress_interval, ms. */
  progressLogMs?: number;
  /** supervdsm's mount / umount, for NFS, POSIXFS and GLUSTERFS connections; absent: they answer 477. */
  mounter?: StorageMounter;
  /** [irs] nfs_mount_options */
  nfsMountOptions?: string;
  log: Logger;
  timers?: Timers;
}

/** What hsm-images.ts needs from the HSM. */
export interface HsmContext {
  io: StorageIo;
  layout: RepoLayout;
  domains: DomainRegistry;
  tasks: TaskManager;
  locks: ResourceLocks;
  log: Logger;
  runDir: string;
  getPool(spUUID: unknown): StoragePool;
}

export class Hsm implements HsmContext {
  readonly io: StorageIo;
  readonly layout: RepoLayout;
  readonly domains: DomainRegistry;
  readonly tasks: TaskManager;
  readonly monitor: DomainMonitor;
  readonly lock: LocalLock;
  readonly locks = new ResourceLocks();
  readonly log: Logger;
  readonly runDir: string;
  #pool: StoragePool | undefined;
  /** whenPoolConnected() callers waiting for StoragePool.connect. */
  readonly #poolWaiters: (() => void)[] = [];
  #poolDeps: StoragePoolDeps;
  #mounter: StorageMounter | undefined;
  #nfsMountOptions: string;
  /** Mount points of the connections made, by connection id. */
  #connections = new Map<string, string>();

  constructor(o: HsmOptions) {
    this.log = o.log;
    this.runDir = o.runDir;
    this.#mounter = o.mounter;
    this.#nfsMountOptions = o.nfsMountOptions ?? 'soft,nosharecache';
    this.layout = new RepoLayout(o.repository);
    this.io = new StorageIo(o.dispatcher, o.ioTimeoutMs);
    this.domains = new DomainRegistry(this.io, this.layout);
    this.lock = new LocalLock();
    this.monitor = new DomainMonitor({
      intervalMs: o.monitorIntervalMs,
      log: o.log.child({ name: 'storage.Monitor' }),
      hasHostId: (sd) => this.#pool !== undefined && this.lock.hasHostId(sd, this.#pool.hostId),
      ...(o.timers ? { timers: o.timers } : {}),
    });
    this.tasks = new TaskManager({
      pool: o.pool,
      store: new TaskStore(o.dispatcher, o.ioTimeoutMs),
      runRecovery: async (_task, rec) => {
        await this.io.recover(rec, this.domains.snapshot());
      },
      log: o.log.child({ name: 'storage.taskmanager' }),
      ...(o.progressLogMs !== undefined ? { progressLogMs: o.progressLogMs } : {}),
    });
    this.#poolDeps = { io: this.io, layout: this.layout, domains: this.domains, monitor: this.monitor, lock: this.lock, tasks: this.tasks, log: o.log.child({ name: 'storage.StoragePool' }) };
  }

  get pool(): StoragePool | undefined {
    return this.#pool;
  }

  /** vdsm's HSM.getPool: 309 unless connected to exactly this pool. */
  getPool(spUUID: unknown): StoragePool {
    if (this.#pool !== undefined && this.#pool.spUUID === spUUID) return this.#pool;
    throw storageError(Errors.SD_POOL_UNKNOWN, [spUUID]);
  }

  // --- storage connections -----------------------------------------------------------------------

  /**
   * StoragePool.connectStorageServer: a status per connection (0 or a vdsm error code). LOCALFS links
   * <repo>/mnt/<mangled path> to the directory; NFS, POSIXFS and GLUSTERFS are mounted there by
   * supervdsm (once: a connection already mounted is connected).
   */
  connectStorageServer(domType: unknown, spUUID: unknown, conList: unknown): Promise<{ statuslist: { id: string; status: number }[] }> {
    return this.tasks.run('connectStorageServer', async () => {
      const type = domainTypeParam(domType);
      if (!Array.isArray(conList)) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `connectionParams=${JSON.stringify(conList)}` });
      const statuslist: { id: string; status: number }[] = [];
      for (const con of conList as unknown[]) {
        const c = (typeof con === 'object' && con !== null ? con : {}) as Record<string, unknown>;
        const id = stringParam('id', c['id'], '');
        try {
          await this.#connect(type, id, c);
          statuslist.push({ id, status: 0 });
        } catch (err) {
          const code = typeof (err as { vdsmCode?: unknown }).vdsmCode === 'number' ? (err as { vdsmCode: number }).vdsmCode : Errors.GENERAL.vdsmCode;
          this.log.error({ err, connection: c['connection'] ?? c['path'], domainType: type, spUUID }, 'Could not connect to storageServer');
          statuslist.push({ id, status: code });
        }
      }
      return { statuslist };
    });
  }

  async #connect(type: number, id: string, c: Record<string, unknown>): Promise<void> {
    if (MOUNT_TYPES.has(type)) return this.#connectMount(type, id, c);
    if (type !== DomainType.LOCALFS) throw storageError(Errors.SD_SERVER_CONNECTION, [`${DOMAIN_TYPE_NAMES[type] ?? type} storage is not supported by vdsm-node`]);
    // The engine sends `connection`; vdsm-api.yml names it `path` for local storage.
    const path = c['connection'] ?? c['path'];
    if (typeof path !== 'string' || !isCleanAbsolutePath(path)) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `path=${String(path)}` });
    const mountPoint = this.layout.mountPoint(path);
    const found = await this.io.connectLocal(mountPoint, path);
    for (const d of found) this.domains.add(d.sdUUID, d.dir);
    if (id !== '') this.#connections.set(id, mountPoint);
  }

  /** A mount connection: the mount point made, mounted by supervdsm unless it is already, its domains found. */
  async #connectMount(type: number, id: string, c: Record<string, unknown>): Promise<void> {
    const req = mountRequest(type, c, this.layout, this.#nfsMountOptions);
    if (this.#mounter === undefined) {
      throw storageError(Errors.SD_MOUNT, [`${req.spec}: mounting ${DOMAIN_TYPE_NAMES[type]} storage needs the privileged helper (set [supervdsm] enable = true and run supervdsmd)`]);
    }
    const { mounted } = await this.io.prepareMountPoint(req.target);
    if (!mounted) {
      try {
        await this.#mounter.mount(req);
      } catch (err) {
        await this.io.releaseMountPoint(req.target).catch(() => undefined);
        throw storageError(Errors.SD_MOUNT, [`${req.spec} on ${req.target}: ${errorMessage(err)}`], { cause: err });
      }
      this.log.info({ spec: req.spec, target: req.target, vfstype: req.vfstype, options: req.options }, 'storage connection mounted');
    }
    for (const d of await this.io.domainsAt(req.target)) this.domains.add(d.sdUUID, d.dir);
    if (id !== '') this.#connections.set(id, req.target);
  }

  /** Unmount a mount connection (if mounted), forget its domains and remove the empty mount point. */
  async #disconnectMount(type: number, c: Record<string, unknown>): Promise<void> {
    const req = mountRequest(type, c, this.layout, this.#nfsMountOptions);
    if (this.#mounter === undefined) throw storageError(Errors.SD_MOUNT, [`${req.spec}: unmounting needs the privileged helper`]);
    if ((await this.io.releaseMountPoint(req.target)).mounted) {
      try {
        await this.#mounter.umount({ target: req.target });
      } catch (err) {
        throw storageError(Errors.SD_MOUNT, [`umount ${req.target}: ${errorMessage(err)}`], { cause: err });
      }
      this.log.info({ spec: req.spec, target: req.target }, 'storage connection unmounted');
      await this.io.releaseMountPoint(req.target);
    }
    this.domains.removeUnder(req.target);
  }

  disconnectStorageServer(domType: unknown, _spUUID: unknown, conList: unknown): Promise<{ statuslist: { id: string; status: number }[] }> {
    return this.tasks.run('disconnectStorageServer', async () => {
      const type = domainTypeParam(domType);
      const statuslist: { id: string; status: number }[] = [];
      for (const con of Array.isArray(conList) ? (conList as unknown[]) : []) {
        const c = (typeof con === 'object' && con !== null ? con : {}) as Record<string, unknown>;
        const id = stringParam('id', c['id'], '');
        let status = 0;
        const path = c['connection'] ?? c['path'];
        try {
          if (MOUNT_TYPES.has(type)) {
            await this.#disconnectMount(type, c);
          } else if (type === DomainType.LOCALFS && typeof path === 'string') {
            const mountPoint = this.layout.mountPoint(path);
            await this.io.disconnectLocal(mountPoint);
            this.domains.removeUnder(mountPoint);
          }
        } catch (err) {
          status = (err as { vdsmCode?: number }).vdsmCode ?? Errors.GENERAL.vdsmCode;
          this.log.error({ err, connection: path, domainType: type }, 'Could not disconnect from storageServer');
        }
        this.#connections.delete(id);
        statuslist.push({ id, status });
      }
      return { statuslist };
    });
  }

  // --- storage domains ---------------------------------------------------------------------------

  /** StorageDomain.create (hsm.createStorageDomain / localFsSD.create). */
  createStorageDomain(a: Record<string, unknown>): Promise<ApiResult<'StorageDomain.create'>> {
    return this.tasks.run('createStorageDomain', async () => {
      const sdUUID = uuidParam('sdUUID', a['storagedomainID']);
      const type = domainTypeParam(a['domainType']);
      const name = stringParam('domainName', a['name']);
      const domClass = domainClassParam(a['domainClass']);
      const version = optionalIntParam('domVersion', a['version'], 5);
      const blockSize = optionalIntParam('block_size', a['blockSize'], BLOCK_SIZE_512);
      const maxHosts = optionalIntParam('max_hosts', a['maxHosts'], 2000);
      return this.locks.with([sdUUID], async () => {
        if (this.domains.known(sdUUID) !== undefined) throw storageError(Errors.SD_DOMAIN_ALREADY_EXISTS, [sdUUID]);
        await this.domains.refresh();
        if (this.domains.known(sdUUID) !== undefined) throw storageError(Errors.SD_DOMAIN_ALREADY_EXISTS, [sdUUID]);
        if (type !== DomainType.LOCALFS && !MOUNT_TYPES.has(type)) throw storageError(Errors.SD_DOMAIN_TYPE, [String(a['domainType'])]);
        if (!SUPPORTED_DOMAIN_VERSIONS.includes(version)) throw storageError(Errors.SD_UNSUPPORTED_DOMAIN_VERSION, { value: `Domain version \`${version}\` is unsupported by this version of VDSM` });
        // Local domains support 512-byte blocks only; 0 means "detect", which on a file system is 512.
        if (blockSize !== 0 && blockSize !== BLOCK_SIZE_512) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `block_size=${blockSize}` });
        if (maxHosts < 1 || maxHosts > 2000) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `max_hosts=${maxHosts}` });
        // typeArgs: the local directory (LOCALFS) or the connection's spec, already mounted (nfsSD.create).
        const remotePath = a['typeArgs'];
        if (typeof remotePath !== 'string' || (type === DomainType.LOCALFS ? !isCleanAbsolutePath(remotePath) : remotePath.trim() === '')) {
          throw storageError(Errors.SD_ILLEGAL_REMOTE_PATH, [String(remotePath)]);
        }
        const mountPoint = type === DomainType.LOCALFS ? this.layout.mountPoint(remotePath) : mountTarget(type, remotePath, this.layout);
        // Never a domain in the empty directory of a connection that is not mounted (nfsSD's check).
        if (type !== DomainType.LOCALFS && !(await this.io.isMounted(mountPoint))) throw storageError(Errors.SD_FS_NOT_MOUNTED, [mountPoint]);
        const metadata = newDomainMetadata({ sdUUID, name, domainType: type, domainClass: domClass, version, remotePath, blockSize: BLOCK_SIZE_512, alignment: ALIGNMENT_1M });
        const created = await this.io.createDomain({
          mountPoint, sdUUID, metadata,
          ...(domClass === DomainClass.ISO ? { isoImageDir: '11111111-1111-1111-1111-111111111111' } : {}),
        });
        this.domains.add(sdUUID, created.dir);
        this.log.info({ sdUUID, remotePath, version, name }, 'storage domain created');
        return true;
      });
    });
  }

  /** StorageDomain.getInfo: vdsm's sd.getInfo plus remotePath, block_size and alignment. */
  getStorageDomainInfo(sdUUID: unknown): Promise<ApiResult<'StorageDomain.getInfo'>> {
    return this.tasks.run('getStorageDomainInfo', async () => {
      const sd = uuidParam('sdUUID', sdUUID);
      const dir = await this.domains.produce(sd);
      const md = await this.io.readDomain(dir);
      const link = this.layout.mountPoint(md['REMOTE_PATH'] ?? '');
      const info: ApiResult<'StorageDomain.getInfo'> & Record<string, unknown> = {
        uuid: sd,
        type: md['TYPE'] ?? 'UNKNOWN',
        class: md['CLASS'] ?? '',
        name: md['DESCRIPTION'] ?? '',
        role: md['ROLE'] ?? '',
        pool: domainPools(md),
        version: md['VERSION'] ?? '',
        block_size: Number(md['BLOCK_SIZE'] ?? BLOCK_SIZE_512),
        alignment: Number(md['ALIGNMENT'] ?? ALIGNMENT_1M),
        remotePath: (await this.io.readlink(link)) || md['REMOTE_PATH'] || '',
      };
      if (md['MASTER_VERSION'] !== undefined) info['master_ver'] = Number(md['MASTER_VERSION']);
      if (md['POOL_SPM_ID'] !== undefined) info['spm_id'] = Number(md['POOL_SPM_ID']);
      if (md['POOL_SPM_LVER'] !== undefined) info['lver'] = Number(md['POOL_SPM_LVER']);
      return info;
    });
  }

  /** StorageDomain.getStats: disktotal / diskfree as strings (fileSD.getStats). */
  getStorageDomainStats(sdUUID: unknown): Promise<ApiResult<'StorageDomain.getStats'>> {
    return this.tasks.run('getStorageDomainStats', async () => {
      const dir = await this.domains.produce(uuidParam('sdUUID', sdUUID));
      const st = await this.io.domainStats(dir);
      return { ...st, mdavalid: true, mdathreshold: true, mdasize: 0, mdafree: 0 };
    });
  }

  getImagesList(sdUUID: unknown): Promise<ApiResult<'StorageDomain.getImages'>> {
    return this.tasks.run('getImagesList', async () => this.io.listImages(await this.domains.produce(uuidParam('sdUUID', sdUUID))));
  }

  /** Host.getStorageDomains: known domains, filtered by pool, class, type and remote path. */
  getStorageDomainsList(a: Record<string, unknown>): Promise<ApiResult<'Host.getStorageDomains'>> {
    return this.tasks.run('getStorageDomainsList', async () => {
      await this.domains.refresh();
      const spUUID = a['storagepoolID'];
      let ids = [...this.domains.all().keys()];
      if (typeof spUUID === 'string' && spUUID !== '' && spUUID !== BLANK_UUID) ids = Object.keys(await this.getPool(spUUID).domainsMap());
      const out: string[] = [];
      for (const sd of ids) {
        try {
          const md = await this.io.readDomain(await this.domains.produce(sd));
          if (a['domainClass'] !== undefined && a['domainClass'] !== null && md['CLASS'] !== domainClassName(a['domainClass'])) continue;
          if (a['storageType'] !== undefined && a['storageType'] !== null && md['TYPE'] !== DOMAIN_TYPE_NAMES[domainTypeParam(a['storageType'])]) continue;
          if (typeof a['remotePath'] === 'string' && a['remotePath'] !== '' && md['REMOTE_PATH'] !== a['remotePath']) continue;
          out.push(sd);
        } catch (err) {
          this.log.error({ err, sdUUID: sd }, 'Unexpected error listing a storage domain');
        }
      }
      return out;
    });
  }

  activateStorageDomain(sdUUID: unknown, spUUID: unknown): Promise<ApiResult<'StorageDomain.activate'>> {
    return this.tasks.run('activateStorageDomain', async () => {
      const sd = uuidParam('sdUUID', sdUUID);
      return this.locks.with([String(spUUID), sd], async () => {
        await this.getPool(spUUID).activateSD(sd);
        return true;
      });
    });
  }

  attachStorageDomain(sdUUID: unknown, spUUID: unknown): Promise<ApiResult<'StorageDomain.attach'>> {
    return this.tasks.run('attachStorageDomain', async () => {
      const sd = uuidParam('sdUUID', sdUUID);
      return this.locks.with([String(spUUID), sd], async () => {
        await this.getPool(spUUID).attachSD(sd);
        return true;
      });
    });
  }

  detachStorageDomain(sdUUID: unknown, spUUID: unknown, force: unknown): Promise<ApiResult<'StorageDomain.detach'>> {
    return this.tasks.run('detachStorageDomain', async () => {
      const sd = uuidParam('sdUUID', sdUUID);
      return this.locks.with([String(spUUID), sd], async () => {
        await this.getPool(spUUID).detachSD(sd, boolParam(force));
        return true;
      });
    });
  }

  // --- the storage pool --------------------------------------------------------------------------

  createStoragePool(a: Record<string, unknown>): Promise<ApiResult<'StoragePool.create'>> {
    return this.tasks.run('createStoragePool', async () => {
      const spUUID = uuidParam('spUUID', a['storagepoolID']);
      const msdUUID = uuidParam('masterDom', a['masterSdUUID']);
      const domList = Array.isArray(a['domainList']) ? (a['domainList'] as unknown[]).map((d) => uuidParam('domList', d)) : stringParam('domainList', a['domainList']).split(',').map((d) => uuidParam('domList', d.trim()));
      const name = stringParam('poolName', a['name'], '');
      if (name.length > 50) throw storageError(Errors.SD_POOL_CREATION, ['Storage pool description is too long']);
      const lease: Record<string, string> = {};
      const lp = (key: string, param: string): void => {
        const v = optionalIntParam(param, a[param], 0);
        if (v > 0) lease[key] = String(v);
      };
      lp('LOCKRENEWALINTERVALSEC', 'lockRenewalIntervalSec');
      lp('LEASETIMESEC', 'leaseTimeSec');
      lp('IOOPTIMEOUTSEC', 'ioOpTimeoutSec');
      lp('LEASERETRIES', 'leaseRetries');
      return this.locks.with([spUUID, ...domList], async () => {
        await StoragePool.create(this.#poolDeps, { spUUID, name, msdUUID, domList, masterVersion: intParam('masterVersion', a['masterVersion']), leaseParams: Object.keys(lease).length === 4 ? lease : {} });
        return true;
      });
    });
  }

  connectStoragePool(a: Record<string, unknown>): Promise<ApiResult<'StoragePool.connect'>> {
    return this.tasks.run('connectStoragePool', async () => {
      const spUUID = uuidParam('spUUID', a['storagepoolID']);
      const hostId = intParam('hostID', a['hostID']);
      const msdUUID = uuidParam('msdUUID', a['masterSdUUID']);
      const masterVersion = intParam('masterVersion', a['masterVersion']);
      const dict = a['domainDict'];
      const domainMap = dict !== undefined && dict !== null && typeof dict === 'object' ? domainMapParam(dict as Record<string, unknown>) : undefined;
      return this.locks.with(['HsmDomainMonitorLock', spUUID], async () => {
        if (this.#pool !== undefined && this.#pool.spUUID !== spUUID) throw storageError(Errors.SD_CANNOT_CONNECT_MULTIPLE_POOLS, [this.#pool.spUUID]);
        if (this.#pool !== undefined) await this.#pool.update({ hostId, msdUUID, masterVersion, ...(domainMap ? { domainMap } : {}) });
        else {
          this.#pool = await StoragePool.connect(this.#poolDeps, { spUUID, hostId, msdUUID, masterVersion, ...(domainMap ? { domainMap } : {}) });
          for (const wake of this.#poolWaiters.splice(0)) wake();
        }
        return true;
      });
    });
  }

  disconnectStoragePool(spUUID: unknown, hostID: unknown): Promise<ApiResult<'StoragePool.disconnect'>> {
    return this.tasks.run('disconnectStoragePool', async () => {
      intParam('hostID', hostID);
      if (this.#pool === undefined || this.#pool.spUUID !== spUUID) {
        this.log.warn({ spUUID }, 'Already disconnected');
        return true;
      }
      return this.locks.with(['HsmDomainMonitorLock', String(spUUID)], async () => {
        const pool = this.getPool(spUUID);
        await pool.disconnect();
        this.#pool = undefined;
        return true;
      });
    });
  }

  /** Resolves once a storage pool is connected (at once when one is): recovered VMs' drives wait for it. */
  whenPoolConnected(): Promise<void> {
    if (this.#pool !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.#poolWaiters.push(resolve));
  }

  getConnectedStoragePoolsList(): string[] {
    return this.#pool !== undefined ? [this.#pool.spUUID] : [];
  }

  getSpmStatus(spUUID: unknown): Promise<ApiResult<'StoragePool.getSpmStatus'>> {
    return this.tasks.run('getSpmStatus', async () => {
      const pool = this.getPool(spUUID);
      const st = await pool.spmStatus();
      return { spmStatus: pool.spmRole, spmLver: st.lver, spmId: st.spmId };
    });
  }

  /** StoragePool.spmStart: 656 when already SPM; otherwise an hsm task whose job takes the role. */
  spmStart(a: Record<string, unknown>): Promise<string> {
    return this.tasks.schedule('spmStart', async (task) => {
      const spUUID = a['storagepoolID'];
      const domVersion = a['domVersion'] === undefined || a['domVersion'] === null ? undefined : intParam('domVersion', a['domVersion']);
      if (domVersion !== undefined && !SUPPORTED_DOMAIN_VERSIONS.includes(domVersion)) throw storageError(Errors.SD_UNSUPPORTED_DOMAIN_VERSION, { value: `Domain version \`${domVersion}\` is unsupported by this version of VDSM` });
      const pool = this.getPool(spUUID);
      pool.validateNotSPM();
      await this.tasks.scheduleJob(task, 'hsm', null, {
        name: 'spmStart',
        runcmd: `startSpm (args: ${JSON.stringify([a['prevID'], a['prevLver'], a['maxHostID'], domVersion])})`,
        main: () => this.locks.with([pool.spUUID], () => pool.startSpm(domVersion, () => this.#pool === pool)),
      });
    });
  }

  spmStop(spUUID: unknown): Promise<ApiResult<'StoragePool.spmStop'>> {
    return this.tasks.run('spmStop', async () => {
      const pool = this.getPool(spUUID);
      return this.locks.with([pool.spUUID], async () => {
        await pool.stopSpm();
        return true;
      });
    });
  }

  /** StoragePool.getInfo: {info, dominfo} with type "LOCALFS" and the monitored domains' space. */
  getStoragePoolInfo(spUUID: unknown): Promise<ApiResult<'StoragePool.getInfo'>> {
    return this.tasks.run('getStoragePoolInfo', async () => {
      const pool = this.getPool(spUUID);
      const info = await pool.info();
      const stats = this.monitor.repoStats();
      const dominfo: Record<string, Record<string, unknown>> = {};
      for (const [sd, status] of Object.entries(await pool.domainsMap())) {
        const d: Record<string, unknown> = { status, alerts: [], isoprefix: '' };
        const v = stats[sd];
        if (status === 'Active' && v !== undefined) {
          d['version'] = v.version;
          const du = this.monitor.diskUtilization(sd);
          if (du) Object.assign(d, du);
        }
        dominfo[sd] = d;
      }
      return { info, dominfo };
    });
  }

  // --- tasks -------------------------------------------------------------------------------------

  /** Host.getAllTasksStatuses: SPM tasks only; 654 unless connected and SPM. */
  getAllTasksStatuses(): Record<string, TaskStatus> {
    this.#requireSpmForTasks();
    return this.tasks.getAllTasksStatuses('spm');
  }

  getAllTasksInfo(): Record<string, { id: string; verb: string }> {
    this.#requireSpmForTasks();
    return this.tasks.getAllTasksInfo('spm');
  }

  #requireSpmForTasks(): void {
    if (this.#pool === undefined || this.#pool.spmRole !== SpmRole.SPM) throw storageError(Errors.SD_NOT_SPM, []);
  }

  repoStats(domains: readonly string[] = []): Record<string, DomainVitals> {
    return this.monitor.repoStats(domains);
  }

  state(): Record<string, unknown> {
    return {
      pool: this.#pool ? { spUUID: this.#pool.spUUID, hostId: this.#pool.hostId, master: this.#pool.masterSdUUID, spm: this.#pool.spmRole, backend: this.#pool.backend } : null,
      domains: this.domains.snapshot(),
      monitored: this.monitor.domains,
      lock: this.lock.state(),
      tasks: this.tasks.state(),
      locksHeld: this.locks.held(),
    };
  }

  /** Stop monitoring and release the SPM lock (the agent is stopping; tasks stay on disk). */
  async close(): Promise<void> {
    this.monitor.close();
    await this.lock.releaseAll();
  }
}

function domainClassName(v: unknown): string {
  return ({ 1: 'Data', 2: 'Iso', 3: 'Backup' } as Record<number, string>)[domainClassParam(v)] ?? '';
}
