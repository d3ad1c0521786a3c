// The storage pool (data center) this host is connected to, as vdsm's sp.StoragePool with its two
// backends: "disk" (the pool metadata lives in the master domain's metadata: POOL_DOMAINS,
// POOL_DESCRIPTION, POOL_SPM_ID, POOL_SPM_LVER, MASTER_VERSION) and "memory" (the engine passes the
// domain map and master version with every connect, as engines since 3.4 do). It owns the SPM role:
// the local flock on the master domain, the master/{tasks,vms} tree, and the SPM's persisted tasks.
import type { Logger } from 'pino';
import { Errors, errorMessage, storageError } from '../errors.js';
import { DomainRole, DomainStatus, LVER_INVALID, SPM_ID_FREE, SpmRole, type DomainStatusName, type SpmRoleName } from '../contracts/storage-constants.js';
import { DomainLayout, type RepoLayout } from '../contracts/storage-layout.js';
import { decodeDomainMap, domainPools, encodeDomainMap, type SdMetadata } from '../contracts/sd-metadata.js';
import type { DomainMonitor } from './domain-monitor.js';
import type { DomainRegistry } from './domain-registry.js';
import type { LocalLock } from './local-lock.js';
import type { StorageIo } from './storage-io.js';
import type { TaskManager } from './task/task-manager.js';

export interface StoragePoolDeps {
  io: StorageIo;
  layout: RepoLayout;
  domains: DomainRegistry;
  monitor: DomainMonitor;
  lock: LocalLock;
  tasks: TaskManager;
  log: Logger;
}

type Backend = { kind: 'disk' } | { kind: 'memory'; masterVersion: number; domains: Record<string, DomainStatusName> };

function capitalized(status: string): DomainStatusName {
  const s = status.charAt(0).toUpperCase() + status.slice(1).toLowerCase();
  if (!(Object.values(DomainStatus) as string[]).includes(s)) throw storageError(Errors.SD_DOMAIN_STATUS, [status]);
  return s as DomainStatusName;
}

export function domainMapParam(dict: Record<string, unknown>): Record<string, DomainStatusName> {
  // "Inactive" is vdsm's deprecated name of Attached.
  return Object.fromEntries(Object.entries(dict).map(([sd, st]) => [sd, String(st).toLowerCase() === 'inactive' ? DomainStatus.ATTACHED : capitalized(String(st))]));
}

export class StoragePool {
  readonly spUUID: string;
  hostId: number;
  masterSdUUID: string;
  spmRole: SpmRoleName = SpmRole.FREE;
  lver = LVER_INVALID;
  #backend: Backend;
  #d: StoragePoolDeps;

  private constructor(spUUID: string, hostId: number, masterSdUUID: string, backend: Backend, d: StoragePoolDeps) {
    this.spUUID = spUUID;
    this.hostId = hostId;
    this.masterSdUUID = masterSdUUID;
    this.#backend = backend;
    this.#d = d;
  }

  /**
   * StoragePool.create (sp.create): every domain must exist and be unattached; the master domain gets
   * the pool metadata and the Master role, the others are attached; nothing stays attached on failure.
   */
  static async create(d: StoragePoolDeps, a: { spUUID: string; name: string; msdUUID: string; domList: string[]; masterVersion: number; leaseParams: Record<string, string> }): Promise<void> {
    if (!a.domList.includes(a.msdUUID)) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `masterDom=${a.msdUUID}` });
    const mds = new Map<string, SdMetadata>();
    let msdVersion = '';
    for (const sd of a.domList) {
      let md: SdMetadata;
      try {
        md = await d.io.readDomain(await d.domains.produce(sd));
      } catch (err) {
        d.log.error({ err, sdUUID: sd }, 'pool create: domain not accessible');
        throw storageError(Errors.SD_DOMAIN_ACCESS, [sd], { cause: err });
      }
      const pools = domainPools(md);
      if (pools.length > 0 && md['CLASS'] !== 'Iso') throw storageError(Errors.SD_DOMAIN_ALREADY_ATTACHED, { value: `domain=${sd}, pool=${pools[0]}` });
      mds.set(sd, md);
      if (sd === a.msdUUID) msdVersion = md['VERSION'] ?? '';
    }
    for (const [sd, md] of mds) {
      if (md['CLASS'] === 'Data' && md['VERSION'] !== msdVersion) {
        throw storageError(Errors.SD_MIXED_VERSION, [`Domain \`${sd}\` version (${md['VERSION']}) is different from msd ${a.msdUUID} version (${msdVersion})`]);
      }
    }
    const msdDir = await d.domains.produce(a.msdUUID);
    const ids = new DomainLayout(msdDir).ids;
    // The temporary cluster lock of sp.create, with the reserved host id.
    d.lock.acquireHostId(a.msdUUID, 2000);
    await d.lock.acquire(a.msdUUID, ids);
    const attached: string[] = [];
    try {
      await d.io.writeDomainMetadata(msdDir, {
        ...a.leaseParams,
        ROLE: DomainRole.MASTER,
        POOL_UUID: a.spUUID,
        MASTER_VERSION: String(a.masterVersion),
        POOL_DESCRIPTION: a.name,
        POOL_DOMAINS: encodeDomainMap({ [a.msdUUID]: DomainStatus.ACTIVE }),
        POOL_SPM_ID: String(SPM_ID_FREE),
        POOL_SPM_LVER: String(LVER_INVALID),
      });
      attached.push(a.msdUUID);
      const map: Record<string, DomainStatusName> = { [a.msdUUID]: DomainStatus.ACTIVE };
      for (const sd of a.domList.filter((x) => x !== a.msdUUID)) {
        await d.io.writeDomainMetadata(await d.domains.produce(sd), { POOL_UUID: a.spUUID, ROLE: DomainRole.REGULAR });
        attached.push(sd);
        map[sd] = DomainStatus.ATTACHED;
      }
      await d.io.writeDomainMetadata(msdDir, { POOL_DOMAINS: encodeDomainMap(map) });
      await d.io.linkPool(d.layout.poolDir(a.spUUID), [
        ...await Promise.all(a.domList.map(async (sd) => ({ name: sd, target: await d.domains.produce(sd) }))),
        { name: 'mastersd', target: msdDir },
      ], true);
    } catch (err) {
      d.log.error({ err, spUUID: a.spUUID }, 'Create pool canceled; detaching its domains');
      for (const sd of attached) {
        await d.io.writeDomainMetadata(await d.domains.produce(sd), { POOL_UUID: '', ROLE: DomainRole.REGULAR }, ['POOL_DOMAINS', 'POOL_DESCRIPTION', 'POOL_SPM_ID', 'POOL_SPM_LVER', 'MASTER_VERSION'])
          .catch((e: unknown) => d.log.error({ err: e, sdUUID: sd }, 'detach after failed pool create failed'));
      }
      await d.io.removePoolDir(d.layout.poolDir(a.spUUID)).catch(() => undefined);
      throw err instanceof Error && typeof (err as { vdsmCode?: unknown }).vdsmCode === 'number' ? err : storageError(Errors.SD_POOL_CREATION, [`spUUID=${a.spUUID}: ${errorMessage(err)}`], { cause: err });
    } finally {
      await d.lock.release(a.msdUUID);
      d.lock.releaseHostId(a.msdUUID);
    }
  }

  /** StoragePool.connect: verify the master domain and its version, link the active domains, monitor them. */
  static async connect(d: StoragePoolDeps, a: { spUUID: string; hostId: number; msdUUID: string; masterVersion: number; domainMap?: Record<string, DomainStatusName> }): Promise<StoragePool> {
    const backend: Backend = a.domainMap ? { kind: 'memory', masterVersion: a.masterVersion, domains: a.domainMap } : { kind: 'disk' };
    const pool = new StoragePool(a.spUUID, a.hostId, a.msdUUID, backend, d);
    await pool.refresh(a.msdUUID, a.masterVersion);
    return pool;
  }

  /** Reconnect with new arguments (the engine connects again after each change). */
  async update(a: { hostId: number; msdUUID: string; masterVersion: number; domainMap?: Record<string, DomainStatusName> }): Promise<void> {
    if (a.hostId !== this.hostId) throw storageError(Errors.SD_POOL_CONNECTED, [`hostId=${this.hostId}, newHostId=${a.hostId}`]);
    if (a.domainMap) this.#backend = { kind: 'memory', masterVersion: a.masterVersion, domains: a.domainMap };
    else if (this.#backend.kind === 'memory') throw storageError(Errors.SD_POOL_CONNECTED, ['Cannot downgrade pool backend']);
    await this.refresh(a.msdUUID, a.masterVersion);
  }

  /** sp.__rebuild: validate the master, link every active domain and mastersd, drop stale links. */
  async refresh(msdUUID: string, masterVersion: number): Promise<void> {
    const d = this.#d;
    let msdDir: string;
    let md: SdMetadata;
    try {
      msdDir = await d.domains.produce(msdUUID);
      md = await d.io.readDomain(msdDir);
    } catch (err) {
      throw storageError(Errors.SD_POOL_MASTER_NOT_FOUND, { value: `spUUID=${this.spUUID}, msdUUID=${msdUUID}` }, { cause: err });
    }
    if (md['ROLE'] !== DomainRole.MASTER || !domainPools(md).includes(this.spUUID)) {
      d.log.error({ msdUUID, role: md['ROLE'], pools: md['POOL_UUID'] }, 'requested master domain is not the master of this pool');
      throw storageError(Errors.SD_POOL_WRONG_MASTER, { value: `SD=${msdUUID}, pool=${this.spUUID}` });
    }
    const version = this.#backend.kind === 'memory' ? this.#backend.masterVersion : Number(md['MASTER_VERSION']);
    if (version !== masterVersion) throw storageError(Errors.SD_POOL_WRONG_MASTER, { value: `SD=${msdUUID}, pool=${this.spUUID}` });
    this.masterSdUUID = msdUUID;
    const domains = await this.domainsMap();
    const active = Object.entries(domains).filter(([, s]) => s === DomainStatus.ACTIVE).map(([sd]) => sd);
    if (!active.includes(msdUUID)) throw storageError(Errors.SD_POOL_WRONG_MASTER, { value: `SD=${msdUUID}, pool=${this.spUUID}` });
    const links: { name: string; target: string }[] = [];
    for (const sd of active) {
      try {
        links.push({ name: sd, target: await d.domains.produce(sd) });
      } catch (err) {
        d.log.warn({ sdUUID: sd, err }, 'active pool domain not found; not linked');
      }
    }
    links.push({ name: 'mastersd', target: msdDir });
    await d.io.linkPool(d.layout.poolDir(this.spUUID), links, true);
    await this.updateMonitoring();
  }

  /** Monitor exactly the active domains (sp.updateMonitoringThreads). */
  async updateMonitoring(): Promise<void> {
    const d = this.#d;
    const active = Object.entries(await this.domainsMap()).filter(([, s]) => s === DomainStatus.ACTIVE).map(([sd]) => sd);
    d.monitor.stopMonitoring(d.monitor.poolDomains.filter((sd) => !active.includes(sd)));
    for (const sd of active) {
      if (d.monitor.isMonitoring(sd)) continue;
      try {
        d.monitor.startMonitoring(sd, await d.domains.produce(sd));
        d.lock.acquireHostId(sd, this.hostId);
      } catch (err) {
        d.log.warn({ sdUUID: sd, err }, 'cannot monitor pool domain');
      }
    }
  }

  async domainsMap(): Promise<Record<string, DomainStatusName>> {
    if (this.#backend.kind === 'memory') return { ...this.#backend.domains };
    const md = await this.#d.io.readDomain(await this.#d.domains.produce(this.masterSdUUID));
    return decodeDomainMap(md['POOL_DOMAINS']);
  }

  async #setDomainsMap(map: Record<string, DomainStatusName>): Promise<void> {
    if (this.#backend.kind === 'memory') {
      this.#backend.domains = map;
      return;
    }
    await this.#d.io.writeDomainMetadata(await this.#d.domains.produce(this.masterSdUUID), { POOL_DOMAINS: encodeDomainMap(map) });
  }

  get backend(): 'disk' | 'memory' {
    return this.#backend.kind;
  }

  async masterVersion(): Promise<number> {
    if (this.#backend.kind === 'memory') return this.#backend.masterVersion;
    return Number((await this.#d.io.readDomain(await this.#d.domains.produce(this.masterSdUUID)))['MASTER_VERSION']);
  }

  validateSPM(): void {
    if (this.spmRole !== SpmRole.SPM) throw storageError(Errors.SD_NOT_SPM, [this.spUUID]);
  }

  validateNotSPM(): void {
    if (this.spmRole !== SpmRole.FREE) throw storageError(Errors.SD_IS_SPM, [this.spUUID]);
  }

  /** (lver, spm id) of the pool: the local lock's holder (memory backend) or the pool metadata (disk). */
  async spmStatus(): Promise<{ lver: number; spmId: number }> {
    if (this.#backend.kind === 'memory') {
      const { lver, hostId } = this.#d.lock.inquire(this.masterSdUUID);
      // vdsm: `lVer or LVER_INVALID, spmId or SPM_ID_FREE`: the local lock's lver 0 reads as -1.
      return { lver: lver || LVER_INVALID, spmId: hostId || SPM_ID_FREE };
    }
    const md = await this.#d.io.readDomain(await this.#d.domains.produce(this.masterSdUUID));
    return { lver: Number(md['POOL_SPM_LVER'] ?? LVER_INVALID), spmId: Number(md['POOL_SPM_ID'] ?? SPM_ID_FREE) };
  }

  /** The spmStart job (sp.startSpm): lock, master tree, then load and recover the dumped SPM tasks. */
  async startSpm(expectedDomVersion: number | undefined, isCurrent: () => boolean): Promise<void> {
    const d = this.#d;
    if (this.spmRole === SpmRole.SPM) return;
    if (this.spmRole === SpmRole.CONTEND) throw storageError(Errors.SD_SPM_START, [`spm start ${this.spUUID} already in progress`]);
    const msdDir = await d.domains.produce(this.masterSdUUID);
    const md = await d.io.readDomain(msdDir);
    const version = Number(md['VERSION']);
    if (expectedDomVersion !== undefined && version > expectedDomVersion) {
      throw storageError(Errors.SD_SPM_START, [`Current domain \`${this.masterSdUUID}\` version is too advanced, expected \`${expectedDomVersion}\` and found \`${version}\``]);
    }
    const old = await this.spmStatus();
    this.spmRole = SpmRole.CONTEND;
    try {
      d.lock.acquireHostId(this.masterSdUUID, this.hostId);
      await d.lock.acquire(this.masterSdUUID, new DomainLayout(msdDir).ids);
    } catch (err) {
      this.spmRole = SpmRole.FREE;
      throw err;
    }
    try {
      this.lver = old.lver + 1;
      if (this.#backend.kind === 'disk') await d.io.writeDomainMetadata(msdDir, { POOL_SPM_LVER: String(this.lver), POOL_SPM_ID: String(this.hostId) });
      await d.io.createMasterTree(msdDir);
      if (!isCurrent()) throw storageError(Errors.SD_SPM_START, [`pool ${this.spUUID} disconnected during spm start`]);
      await d.tasks.loadDumpedTasks(d.layout.poolTasksDir(this.spUUID));
      this.spmRole = SpmRole.SPM;
      d.log.info({ spUUID: this.spUUID, hostId: this.hostId, lver: this.lver }, 'this host is SPM');
      // Restoring tasks comes last: their recoveries are SPM work (vdsm: recoverDumpedTasks).
      void d.tasks.recoverDumpedTasks();
    } catch (err) {
      d.log.error({ err }, 'spm start failed');
      await this.stopSpm(true);
      throw err;
    }
  }

  /** spmStop: refused (653) while SPM tasks are unfinished; frees the role and the lock. */
  async stopSpm(force = false): Promise<void> {
    const d = this.#d;
    if (!force && this.spmRole === SpmRole.FREE) return;
    const running = d.tasks.tasks('spm').filter((t) => !t.isDone());
    if (!force && running.length > 0) throw storageError(Errors.SD_SPM_STOP, { value: `spUUID=${this.spUUID}, task=${running.map((t) => t.id).join(',')}` });
    if (this.#backend.kind === 'disk') {
      await d.io.writeDomainMetadata(await d.domains.produce(this.masterSdUUID), { POOL_SPM_ID: String(SPM_ID_FREE) }).catch(() => undefined);
    }
    await d.lock.release(this.masterSdUUID);
    d.tasks.unloadTasks('spm');
    this.spmRole = SpmRole.FREE;
    d.log.info({ spUUID: this.spUUID }, 'SPM stopped');
  }

  /** StorageDomain.activate (sp.activateSD): an attached domain of this pool becomes Active. */
  async activateSD(sdUUID: string): Promise<void> {
    const map = await this.#validateAttached(sdUUID);
    if (map[sdUUID] === DomainStatus.ACTIVE) return;
    map[sdUUID] = DomainStatus.ACTIVE;
    await this.#setDomainsMap(map);
    await this.refresh(this.masterSdUUID, await this.masterVersion());
  }

  /** StorageDomain.attach (sp.attachSD). */
  async attachSD(sdUUID: string): Promise<void> {
    const d = this.#d;
    const map = await this.domainsMap();
    const dir = await d.domains.produce(sdUUID);
    const md = await d.io.readDomain(dir);
    const pools = domainPools(md);
    if (pools.includes(this.spUUID) && map[sdUUID] !== undefined) return;
    if (pools.length > 0 && md['CLASS'] !== 'Iso') throw storageError(Errors.SD_DOMAIN_ALREADY_ATTACHED, { value: `domain=${sdUUID}, pool=${pools[0]}` });
    await d.io.writeDomainMetadata(dir, { POOL_UUID: [...pools, this.spUUID].join(','), ROLE: DomainRole.REGULAR });
    map[sdUUID] = DomainStatus.ATTACHED;
    await this.#setDomainsMap(map);
  }

  /** StorageDomain.detach (sp.detachSD / forcedDetachSD): never the master (383). */
  async detachSD(sdUUID: string, force: boolean): Promise<void> {
    const d = this.#d;
    if (sdUUID === this.masterSdUUID) throw storageError(Errors.SD_CANNOT_DETACH_MASTER, [sdUUID]);
    const map = force ? await this.domainsMap() : await this.#validateAttached(sdUUID);
    if (!force) {
      const dir = await d.domains.produce(sdUUID);
      const md = await d.io.readDomain(dir);
      await d.io.writeDomainMetadata(dir, { POOL_UUID: domainPools(md).filter((p) => p !== this.spUUID).join(','), ROLE: DomainRole.REGULAR });
    }
    delete map[sdUUID];
    await this.#setDomainsMap(map);
    await this.refresh(this.masterSdUUID, await this.masterVersion());
  }

  async #validateAttached(sdUUID: string): Promise<Record<string, DomainStatusName>> {
    const map = await this.domainsMap();
    if (map[sdUUID] === undefined) throw storageError(Errors.SD_DOMAIN_NOT_MEMBER_OF_POOL, { value: `pool=${this.spUUID}, domain=${sdUUID}` });
    const md = await this.#d.io.readDomain(await this.#d.domains.produce(sdUUID));
    if (!domainPools(md).includes(this.spUUID)) throw storageError(Errors.SD_DOMAIN_NOT_IN_POOL, { value: `domain=${sdUUID}, pool=${this.spUUID}` });
    return map;
  }

  /** StoragePool.disconnect: unlink and stop monitoring; refused (656) while SPM. */
  async disconnect(): Promise<void> {
    this.validateNotSPM();
    const d = this.#d;
    d.monitor.stopMonitoring(d.monitor.poolDomains);
    for (const sd of Object.keys(await this.domainsMap().catch(() => ({})))) d.lock.releaseHostId(sd);
    await d.io.removePoolDir(d.layout.poolDir(this.spUUID));
  }

  /** StoragePool.getInfo's `info` (sp.getInfo plus the backend's part). */
  async info(): Promise<Record<string, unknown>> {
    const d = this.#d;
    let md: SdMetadata;
    try {
      md = await d.io.readDomain(await d.domains.produce(this.masterSdUUID));
    } catch (err) {
      throw storageError(Errors.SD_POOL_MASTER_NOT_FOUND, { value: `spUUID=${this.spUUID}, msdUUID=${this.masterSdUUID}` }, { cause: err });
    }
    const spm = await this.spmStatus();
    const map = await this.domainsMap();
    return {
      domains: encodeDomainMap(map),
      isoprefix: '',
      lver: spm.lver,
      master_uuid: this.masterSdUUID,
      master_ver: await this.masterVersion(),
      name: this.#backend.kind === 'memory' ? 'No Description' : md['POOL_DESCRIPTION'] ?? '',
      pool_status: 'connected',
      spm_id: spm.spmId,
      type: md['TYPE'] ?? 'UNKNOWN',
      version: md['VERSION'] ?? '',
    };
  }
}
