// The storage subsystem of vdsmd, assembled from the [irs] configuration: an Executor for storage
// file-system calls (its threads are the only place the agent touches storage), the HSM task pool,
// the HSM with its domain monitor, the VM-disk bridge, the OVF upload handler, the UpdateVolumes
// periodic sampling of VM disk sizes, and storage metrics. One start / stop for the agent.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { metricsChannels, type CollectRequest } from '../observability/metrics/convention.js';
import type { Logger } from 'pino';
import type { Clock, Timers } from '../runtime/clock.js';
import { Executor } from '../runtime/executor/executor.js';
import { Lifecycle } from '../runtime/lifecycle.js';
import { Operation } from '../runtime/periodic.js';
import type { Scheduler } from '../runtime/scheduler.js';
import { Hsm } from './hsm.js';
import { HsmImages } from './hsm-images.js';
import type { StorageMounter } from './mount-connections.js';
import { imageRunLink } from '../contracts/storage-layout.js';
import { ovfUploadHandler } from './ovf-upload.js';
import { TaskPool } from './task/task-pool.js';
import type { PreparedDrive } from '../virt/storage-drives.js';

/** Storage worker threads: metadata reads and writes are short; more threads only cover hung ones. */
const IO_WORKERS = 1;
const IO_MAX_WORKERS = 16;
const IO_MAX_TASKS = 400;

export interface StorageConfig {
  repository: string;
  runDir: string;
  threadPoolSize: number;
  maxTasks: number;
  /** [irs] process_pool_timeout, seconds. */
  ioTimeoutS: number;
  /** [irs] sd_health_check_delay, seconds. */
  healthCheckDelayS: number;
  /** [irs] vol_size_sample_interval, seconds. */
  volSizeSampleIntervalS: number;
  /** [irs] progress_interval, seconds. */
  progressIntervalS: number;
  /** [irs] nfs_mount_options */
  nfsMountOptions: string;
}

export interface StorageServiceOptions {
  config: StorageConfig;
  scheduler: Scheduler;
  clock: Clock;
  timers?: Timers;
  log: Logger;
  /** The VMs whose disk sizes UpdateVolumes refreshes. */
  refreshVmDriveSizes: () => Promise<void>;
  /** supervdsm's mount / umount for NFS, POSIXFS and GLUSTERFS connections (absent: they answer 477). */
  mounter?: StorageMounter;
}

export class StorageService {
  readonly executor: Executor;
  readonly pool: TaskPool;
  readonly hsm: Hsm;
  readonly images: HsmImages;
  #updateVolumes: Operation;
  #log: Logger;
  readonly #life = new Lifecycle<{ stuckThreads: number }>('storage service');

  constructor(o: StorageServiceOptions) {
    const c = o.config;
    this.#log = o.log;
    this.executor = new Executor({
      name: 'storage', workersCount: IO_WORKERS, maxWorkers: IO_MAX_WORKERS, maxTasks: IO_MAX_TASKS,
      scheduler: o.scheduler, log: o.log.child({ name: 'Executor.storage' }), clock: o.clock,
      opsModules: ['storage-tasks', 'storage-recovery', 'storage-domain', 'storage-volume'],
    });
    this.pool = new TaskPool({ threads: c.threadPoolSize, maxTasks: c.maxTasks, log: o.log.child({ name: 'storage.ThreadPool' }) });
    this.hsm = new Hsm({
      repository: c.repository, runDir: c.runDir, dispatcher: this.executor, pool: this.pool,
      ioTimeoutMs: c.ioTimeoutS * 1000, monitorIntervalMs: c.healthCheckDelayS * 1000, progressLogMs: c.progressIntervalS * 1000,
      nfsMountOptions: c.nfsMountOptions, ...(o.mounter ? { mounter: o.mounter } : {}),
      log: o.log, ...(o.timers ? { timers: o.timers } : {}),
    });
    this.images = new HsmImages(this.hsm);
    this.#updateVolumes = new Operation({
      name: 'UpdateVolumes',
      periodMs: c.volSizeSampleIntervalS * 1000,
      scheduler: o.scheduler,
      log: o.log,
      exclusive: true,
      run: () => o.refreshVmDriveSizes(),
    });
  }

  /** Figures for /metrics, statsd and Hawkular, computed when a reporter collects (the metrics convention). */
  #collect = (req: unknown): void => (req as CollectRequest).add('storage', this.hsm.monitor.figures());

  /** Start the executor, the task pool and the sampling. Idempotent; once stopped it stays stopped. */
  start(): void {
    this.#life.startSync(() => this.#start());
  }

  #start(): void {
    this.executor.start();
    this.pool.start();
    this.#updateVolumes.start();
    metricsChannels.collect.subscribe(this.#collect);
    this.#log.info({ threads: this.pool.threads, maxTasks: this.pool.maxTasks }, 'storage started (HSM)');
  }

  /** The VM side of storage disks (VmManager's VmDriveStorage). */
  get drives(): { prepare(d: { poolID: string; domainID: string; imageID: string; volumeID: string }): Promise<string>; teardown(d: PreparedDrive): Promise<void>; sizes(paths: string[]): Promise<Record<string, { apparentsize: number; truesize: number }>>; poolConnected(): Promise<void> } {
    return {
      prepare: (d) => this.images.prepareVmDrive(d),
      poolConnected: () => this.hsm.whenPoolConnected(),
      teardown: (d) => this.#teardownVmImage(d),
      sizes: (paths) => this.images.volumeSizes(paths),
    };
  }

  /** Hibernation's memory and configuration volumes (the migration service's MemoryVolumeStorage). */
  get memoryVolumes(): { prepare(d: { poolID: string; domainID: string; imageID: string; volumeID: string }): Promise<string>; teardown(d: { domainID: string; imageID: string }): Promise<void>; write(path: string, data: Uint8Array): Promise<void>; read(path: string, maxBytes: number): Promise<Buffer> } {
    return {
      prepare: (d) => this.images.prepareVmDrive(d),
      teardown: (d) => this.#teardownVmImage(d),
      write: async (path, data) => {
        await this.hsm.io.call('storage.writeVolumeHead', { path, data });
      },
      read: async (path, maxBytes) => {
        const u8 = await this.hsm.io.call('storage.readVolumeHead', { path, maxBytes });
        return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
      },
    };
  }

  /** A VM's image prepared by prepareVmDrive: its run link removed (VM disks and hibernation volumes alike). */
  async #teardownVmImage(d: { domainID: string; imageID: string }): Promise<void> {
    await this.hsm.io.teardownImage(imageRunLink(this.hsm.runDir, d.domainID, d.imageID));
  }

  get httpUpload(): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
    return ovfUploadHandler(this.images, this.#log.child({ name: 'storage.upload' }));
  }

  /** Host.getStats storageDomains. */
  storageDomains(): Record<string, unknown> {
    return this.hsm.repoStats();
  }

  /** vdsm's storage metrics, as Prometheus gauges read on scrape. */
  state(): Record<string, unknown> {
    return { hsm: this.hsm.state(), executor: this.executor.state(), pool: this.pool.state() };
  }

  threads(): ReturnType<Executor['threads']> {
    return this.executor.threads();
  }

  /** Stop in reverse: no new checks, the pool (jobs end, their children die), the executor. */
  stop(graceMs: number): Promise<{ stuckThreads: number }> {
    return this.#life.close(() => this.#stop(graceMs), () => ({ stuckThreads: 0 }));
  }

  /** stop() without the grace period: the storage threads are terminated at once. */
  destroy(): Promise<{ stuckThreads: number }> {
    return this.#life.destroy(() => void this.executor.destroy(), () => this.#stop(0), () => ({ stuckThreads: 0 }));
  }

  async #stop(graceMs: number): Promise<{ stuckThreads: number }> {
    metricsChannels.collect.unsubscribe(this.#collect);
    this.#updateVolumes.stop();
    await this.hsm.close();
    await this.pool.stop();
    return this.executor.stop({ graceMs });
  }
}
