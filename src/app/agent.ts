// The agent: builds every part of vdsmd from a frozen configuration and owns their lifecycle
// (start in dependency order, stop in reverse, bounded even when worker threads are stuck in native
// calls). src/bin/vdsmd.ts is the program around it; tests build one in-process.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ArgumentRules } from '../api/argument-rules.js';
import { MethodTable } from '../api/method-table.js';
import { apiMethods as hostBasicMethods } from '../api/host-basic.js';
import { apiMethods as hostMethods } from '../api/host.js';
import { apiMethods as hostEngineMethods } from '../api/host-engine.js';
import { multipathDevices } from '../host/multipath-devices.js';
import { apiMethods as hostFenceMethods } from '../api/host-fence.js';
import { FenceAgents } from '../host/fence-agent.js';
import { apiMethods as hostSecretsMethods } from '../api/host-secrets.js';
import { LibvirtSecrets } from '../services/libvirt-secrets.js';
import { apiMethods as hostPrivilegedMethods } from '../api/host-privileged.js';
import { apiMethods as vmMethods } from '../api/vm.js';
import { apiMethods as storageMethods } from '../api/storage.js';
import { apiMethods as taskMethods } from '../api/tasks.js';
import { StorageService } from '../storage/storage-service.js';
import { apiMethods as vmMigrationMethods } from '../api/vm-migration.js';
import type { VdsmConfig } from '../config/index.js';
import { fakeKvmDomainXml, realArchitecture } from '../host/fake-kvm.js';
import { apiMethods as vmGuestMethods } from '../api/vm-guest.js';
import { apiMethods as vmDevicesMethods } from '../api/vm-devices.js';
import { VmDevices } from '../services/vm-devices.js';
import { apiMethods as vmTuneMethods } from '../api/vm-tune.js';
import { VmTune } from '../services/vm-tune.js';
import { GuestRuntime } from '../guest/guest-runtime.js';
import { LibvirtClient } from '../libvirt/client.js';
import { ConnectionManager } from '../libvirt/connection-manager.js';
import type { LogManager, Logger } from '../observability/logging.js';
import { FigureRegistry } from '../observability/metrics/prometheus-figures.js';
import { Observability } from '../observability/observability.js';
import { ensureDevPki, loadTlsFiles } from '../rpc/pki.js';
import { StompPeerAgent } from '../rpc/peer-agent.js';
import { createRpcServer, type RpcServer } from '../rpc/rpc-server.js';
import { socketActivationFd, type TlsMaterial } from '../rpc/acceptor.js';
import { connectionLimit, parseNofile } from '../rpc/admission.js';
import { monotonicClock, realTimers, type Clock, type Timers } from '../runtime/clock.js';
import { Executor } from '../runtime/executor/executor.js';
import { Lifecycle } from '../runtime/lifecycle.js';
import { fullGc, MemoryRelief } from '../runtime/memory-relief.js';
import { trimHeap } from '../native-sys.js';
import { Scheduler } from '../runtime/scheduler.js';
import { ReplyBufferPool } from '../runtime/reply-buffers.js';
import { SupervdsmClient } from '../supervdsm/client.js';
import { reportSupervdsmFigures } from '../supervdsm/client-metrics.js';
import { networkThroughHelper } from '../supervdsm/network.js';
import { supervdsmOf, type Supervdsm } from '../supervdsm/privileged.js';
import { StatsCache } from '../virt/stats-cache.js';
import { HostService } from '../services/host-service.js';
import { MigrationService } from '../services/migration/migration-service.js';
import { migrationLibvirt, migrationExecutor } from '../services/migration/migration-wiring.js';
import { MemoryRestorer } from '../services/migration/restore.js';
import { MigrationSlots } from '../services/migration/slots.js';
import { Recovery } from '../services/recovery.js';
import { VmHostResources } from '../services/vm-host-resources.js';
import { HOOKING_PYTHON_DIR, HookRunner } from '../hooks/hook-runner.js';
import { VmHooks } from '../hooks/vm-hooks.js';
import { VmManager } from '../services/vm-manager.js';
import { VmRecordStore } from '../services/vm-records.js';
import { VmSampling } from '../services/vm-sampling.js';
import { apiMethods as hostNetworkMethods } from '../api/host-network.js';
import type { MethodSpec } from '../api/method-table.js';
import { ConnectivityCheck } from '../network/connectivity.js';
import { fakeNicPatterns } from '../network/netinfo.js';
import { createInProcessNetwork } from '../network/in-process.js';
import { NetworkService, type NetworkPrivileged } from '../network/network-service.js';

export interface AgentOptions {
  config: VdsmConfig;
  logManager: LogManager;
  /** Use (and create on first run) the development PKI under state_dir instead of trust_store_path. */
  devPki?: boolean;
  /** SASL password for [libvirt] sasl_user (vdsm reads it from [libvirt] password_file). */
  libvirtPassword?: string;
  clock?: Clock;
  timers?: Timers;
  env?: NodeJS.ProcessEnv;
  /** Sends systemd's WATCHDOG=1 (vdsmd passes its SdNotifier); pings only when WATCHDOG_USEC is set. */
  watchdogPing?: (fields: Record<string, string>) => void;
  /** The privileged half of host networking; default: supervdsm's, or this process's when the helper is disabled. */
  networkPrivileged?: NetworkPrivileged;
}

/** The agent's version, for vdsm_build_info and --version. */
export const AGENT_VERSION = '0.1.0';


/** How long a libvirt call made for an API verb may run before its worker is discarded. */
const VERB_CALL_TIMEOUT_MS = 60_000;

export class Agent {
  readonly config: VdsmConfig;
  readonly log: Logger;
  readonly scheduler: Scheduler;
  readonly periodic: Executor;
  readonly jsonrpc: Executor;
  /** Only migrateToURI3, which blocks for a whole migration (without limit when the destination hangs). */
  readonly migration: Executor;
  readonly libvirt: ConnectionManager;
  readonly vms: VmManager;
  /** Device hot-plug, CD media and the balloon target of running VMs. */
  readonly vmDevices: VmDevices;
  /** Disk I/O limits and vCPU bandwidth of running VMs. */
  readonly vmTune: VmTune;
  /** libvirt secrets (Host.registerSecrets / unregisterSecrets). */
  readonly secrets: LibvirtSecrets;
  readonly migrations: MigrationService;
  readonly host: HostService;
  readonly sampling: VmSampling;
  readonly recovery: Recovery;
  /** The storage subsystem (HSM), unless [irs] irs_enable is false. */
  readonly storage: StorageService | undefined;
  readonly guest: GuestRuntime;
  readonly network: NetworkService;
  readonly connectivity: ConnectivityCheck;
  readonly metrics = new FigureRegistry();
  readonly observability: Observability;
  /** The privileged helper (supervdsmd), or a stand-in that refuses when [supervdsm] enable is false. */
  readonly supervdsm: Supervdsm;
  /** vdsm's hook scripts ([vars] hooks_dir), run at the VM's and the agent's hook points. */
  readonly hooks: VmHooks;
  #svdsmClient: SupervdsmClient | undefined;
  #svdsmMetricsOff: (() => void) | undefined;
  #o: AgentOptions;
  #rpc: RpcServer | undefined;
  readonly #life = new Lifecycle<{ stuckThreads: number }>('vdsm-node agent');
  #graceMs = 3000;
  #address: { address: string; port: number } | undefined;
  #background: Promise<void> | undefined;
  #relief: MemoryRelief | undefined;
  /** getAllVmStats reply buffers: built by the VM manager, given back by the RPC server once written. */
  readonly replyBuffers = new ReplyBufferPool();
  #tls: Promise<TlsMaterial> | undefined;

  constructor(opts: AgentOptions) {
    const cfg = opts.config;
    const clock = opts.clock ?? monotonicClock;
    const timers = opts.timers ?? realTimers;
    const logs = opts.logManager;
    this.#o = opts;
    this.config = cfg;
    this.log = logs.get('vdsm');
    this.scheduler = new Scheduler({ clock, timers, log: logs.get('Scheduler') });
    this.periodic = new Executor({
      name: 'periodic',
      workersCount: cfg.sampling.periodic_workers,
      maxWorkers: cfg.sampling.max_workers,
      maxTasks: cfg.sampling.periodic_workers * cfg.sampling.periodic_task_per_worker,
      scheduler: this.scheduler,
      log: logs.get('Executor.periodic'),
      clock,
    });
    // vdsm runs every JSON-RPC call in its 'jsonrpc' executor; here calls run on the main thread and
    // only their blocking libvirt steps go to this executor, sized by the same [rpc] keys.
    this.jsonrpc = new Executor({
      name: 'jsonrpc',
      workersCount: cfg.rpc.worker_threads,
      maxWorkers: cfg.rpc.worker_threads * 2,
      maxTasks: cfg.rpc.worker_threads * cfg.rpc.tasks_per_worker,
      scheduler: this.scheduler,
      log: logs.get('Executor.jsonrpc'),
      clock,
    });
    this.migration = migrationExecutor({ maxOutgoing: cfg.vars.max_outgoing_migrations, maxRestores: cfg.vars.max_incoming_migrations, scheduler: this.scheduler, log: logs.get('Executor.migration'), clock });
    this.libvirt = new ConnectionManager({
      uri: cfg.libvirt.uri,
      ...(opts.libvirtPassword !== undefined ? { authName: cfg.libvirt.sasl_user, passphrase: opts.libvirtPassword } : {}),
      keepaliveInterval: Math.max(0, cfg.libvirt.keepalive_interval),
      keepaliveCount: cfg.libvirt.keepalive_count,
      backoffMaxMs: cfg.libvirt.reconnect_max_delay * 1000,
      startTimeoutMs: 0,
      log: logs.get('libvirt'),
      clock,
      timers,
    });
    // The one way to libvirt: verbs and recovery through the jsonrpc executor, monitoring through the
    // periodic one; both report failures to the connection manager and pass on its events.
    const verbsLibvirt = new LibvirtClient({ dispatcher: this.jsonrpc, connections: this.libvirt, defaults: { timeoutMs: VERB_CALL_TIMEOUT_MS, discard: true } });
    const monitorLibvirt = new LibvirtClient({ dispatcher: this.periodic, connections: this.libvirt, defaults: { timeoutMs: VERB_CALL_TIMEOUT_MS, discard: true } });
    // vdsmd runs unprivileged; whatever needs root goes through supervdsmd on <run_dir>/svdsm.sock.
    this.#svdsmClient = cfg.supervdsm.enable ? new SupervdsmClient({
      path: join(cfg.vars.run_dir, 'svdsm.sock'),
      log: logs.get('supervdsm'),
      defaultTimeoutMs: cfg.supervdsm.call_timeout * 1000,
      maxFrameBytes: cfg.supervdsm.max_frame_size,
      clock,
      timers,
    }) : undefined;
    this.supervdsm = supervdsmOf(this.#svdsmClient);
    this.storage = cfg.irs.irs_enable ? new StorageService({
      config: {
        repository: cfg.irs.repository, runDir: cfg.vars.run_dir, threadPoolSize: cfg.irs.thread_pool_size, maxTasks: cfg.irs.max_tasks,
        ioTimeoutS: cfg.irs.process_pool_timeout, healthCheckDelayS: cfg.irs.sd_health_check_delay,
        volSizeSampleIntervalS: cfg.irs.vol_size_sample_interval, progressIntervalS: cfg.irs.progress_interval,
        nfsMountOptions: cfg.irs.nfs_mount_options,
      },
      scheduler: this.scheduler, clock, timers, log: logs.get('storage'),
      refreshVmDriveSizes: () => this.vms.refreshDriveSizes(),
      // NFS, POSIXFS and GLUSTERFS connections are mounts: root's work, supervdsm's mount function.
      ...(this.#svdsmClient !== undefined ? { mounter: { mount: (a) => this.supervdsm.call('mount', a), umount: (a) => this.supervdsm.call('umount', a) } } : {}),
    }) : undefined;
    this.guest = new GuestRuntime({
      config: cfg,
      scheduler: this.scheduler,
      clock,
      timers,
      log: (name) => logs.get(name),
      connections: this.libvirt,
      vms: () => this.vms.container.values().map((vm) => ({ vmId: vm.vmId, domain: vm.domain, status: vm.state.status, startedAt: vm.state.startedAt })),
      onGuestStatus: (vmId, up, cause) => this.vms.guestStatusChanged(vmId, up, cause),
    });
    const records = new VmRecordStore(cfg.vars.state_dir, logs.get('virt.records'));
    this.hooks = new VmHooks(new HookRunner({ hooksDir: cfg.vars.hooks_dir, timeoutMs: cfg.vars.hook_timeout * 1000, pythonPath: HOOKING_PYTHON_DIR, log: logs.get('hooks'), clock, timers }), logs.get('hooks'));
    const statsCache = new StatsCache(clock, { warn: (m: string) => logs.get('virt.sampling').warn(m) });
    this.secrets = new LibvirtSecrets({ libvirt: verbsLibvirt, log: logs.get('virt.secret') });
    this.vms = new VmManager({
      replyBuffers: this.replyBuffers,
      libvirt: verbsLibvirt,
      records,
      statsCache,
      clock,
      timers,
      log: logs.get('virt.vm'),
      publish: (method, params) => this.#rpc?.publish(method, params),
      // A big reply leaving in chunks: the background report rebuild waits for it (not for a small reply
      // the socket still holds: over TLS that is every reply until its write callback, and polling for
      // it cost an idle agent a 1 ms timer per slice).
      outputPending: () => this.#rpc?.outputQueued() ?? false,
      ...(cfg.addresses.management_ip !== '::' && cfg.addresses.management_ip !== '0.0.0.0' ? { displayIp: cfg.addresses.management_ip } : {}),
      sysShutdownTimeoutS: cfg.vars.sys_shutdown_timeout,
      userShutdownTimeoutS: cfg.vars.user_shutdown_timeout,
      jobsAutodeleteDelayS: cfg.jobs.autodelete_delay,
      guest: this.guest.agents,
      timeSync: this.guest.timeSync,
      vmCommandTimeoutS: cfg.vars.vm_command_timeout,
      guestEventWaitMs: cfg.vars.guest_lifecycle_event_reply_timeout * 1000,
      guestWaitTimeoutMs: cfg.vars.guest_wait_timeout * 1000,
      scriptHooks: this.hooks,
      // VNC tickets with fips: saslpasswd2 on QEMU's SASL database ([supervdsm] sasl_vnc_db) in the helper.
      ...(this.supervdsm.enabled ? {
        vncPasswords: {
          set: (user: string, password: string) => this.supervdsm.call('saslSetPassword', { db: 'vnc', user, password }),
          remove: (user: string) => this.supervdsm.call('saslRemovePassword', { db: 'vnc', user }),
        },
      } : {}),
      hostHooks: new VmHostResources({
        supervdsm: this.supervdsm,
        log: logs.get('virt.vm'),
        channelDirs: cfg.supervdsm.channel_dirs,
        prepareChannels: this.#svdsmClient !== undefined,
        hugepages: {
          dynamic: cfg.performance.use_dynamic_hugepages,
          usePreallocated: cfg.performance.use_preallocated_hugepages,
          reservedCount: cfg.performance.reserved_hugepage_count,
          reservedSizeKiB: /^\d+$/.test(cfg.performance.reserved_hugepage_size) ? Number(cfg.performance.reserved_hugepage_size) : undefined,
        },
      }),
      ...(cfg.vars.fake_kvm_support ? { prepareXml: (xml: string) => this.#fakeKvmXml(xml) } : {}),
      // QEMU processes exist only under the QEMU driver (not libvirt's test driver).
      ...(/^qemu/.test(cfg.libvirt.uri) ? {
        qemuPid: (vmId: string) => this.periodic.dispatch('host.qemuPid', { uuid: vmId }, { timeoutMs: VERB_CALL_TIMEOUT_MS, discard: true }).then((p) => p ?? undefined),
      } : {}),
      ...(this.storage ? { drives: this.storage.drives, memoryVolumes: this.storage.memoryVolumes } : {}),
      ...(this.storage ? { restorer: new MemoryRestorer({ libvirt: migrationLibvirt({ short: this.periodic, migration: this.migration, connections: this.libvirt }), storage: this.storage.memoryVolumes, slots: new MigrationSlots('restore', cfg.vars.max_incoming_migrations), log: logs.get('virt.vm') }) } : {}),
      monitorReachable: (vmId) => this.libvirt.state === 'connected' && !this.sampling.isUnresponsive(vmId),
    });
    this.vmDevices = new VmDevices({ vms: this.vms, libvirt: verbsLibvirt, timers, log: logs.get('virt.vm'), ...(this.storage ? { drives: this.storage.drives } : {}) });
    this.vmTune = new VmTune({ vms: this.vms, libvirt: verbsLibvirt, log: logs.get('virt.vm') });
    this.migrations = new MigrationService({
      libvirt: migrationLibvirt({ short: this.periodic, migration: this.migration, connections: this.libvirt }),
      vms: this.vms,
      clock,
      timers,
      log: logs.get('virt.migration'),
      publish: (method, params) => this.#rpc?.publish(method, params),
      connectPeer: async (host, port) => StompPeerAgent.connect(host, port, {
        ...(cfg.vars.ssl ? { tls: await this.#tlsMaterial() } : {}),
        requestQueue: cfg.addresses.request_queues[0] ?? 'jms.topic.vdsm_requests',
        createTimeoutMs: cfg.vars.migration_create_timeout * 1000,
      }),
      config: {
        maxOutgoing: cfg.vars.max_outgoing_migrations,
        maxIncoming: cfg.vars.max_incoming_migrations,
        managementPort: cfg.addresses.management_port,
        maxBandwidth: cfg.vars.migration_max_bandwidth,
        downtime: cfg.vars.migration_downtime,
        downtimeSteps: cfg.vars.migration_downtime_steps,
        duriTemplate: cfg.libvirt.migration_uri,
        ssl: cfg.vars.ssl,
        monitorIntervalMs: cfg.vars.migration_monitor_interval * 1000,
        retryTimeoutMs: cfg.vars.migration_retry_timeout * 1000,
        destinationTimeoutMs: cfg.vars.migration_destination_timeout * 1000,
        guestEventWaitMs: cfg.vars.guest_lifecycle_event_reply_timeout * 1000,
      },
      ...(this.storage ? { storage: this.storage.memoryVolumes } : {}),
      guest: {
        ovirtResponsive: (vmId) => this.guest.agents.ovirtResponsive(vmId),
        desktopLock: (vmId) => this.guest.agents.desktopLock(vmId),
        sessionLocked: (vmId, waitMs, signal) => this.guest.agents.sessionLocked(vmId, waitMs, signal),
        lifecycleEvent: (vmId, type, opts) => this.guest.agents.channels.lifecycleEvent(vmId, type, opts),
      },
    });
    this.vms.setMigrationView(this.migrations);
    this.sampling = new VmSampling({
      libvirt: monitorLibvirt,
      executor: this.periodic,
      scheduler: this.scheduler,
      clock,
      statsCache,
      log: logs.get('virt.sampling'),
      vmIds: () => this.vms.running().map((vm) => vm.vmId),
      periodMs: cfg.vars.vm_sample_interval * 1000,
      nowait: cfg.vars.nowait_domain_stats,
      onSample: () => this.vms.refreshReports(),
    });
    this.connectivity = new ConnectivityCheck(clock, timers);
    this.network = new NetworkService({
      // Through the helper where there is one (vdsmd unprivileged); in this process otherwise (the dev
      // profile, [supervdsm] enable = false: vdsmd must then be root to change the host's networks).
      privileged: opts.networkPrivileged ?? (this.#svdsmClient !== undefined ? networkThroughHelper(this.supervdsm) : createInProcessNetwork({
        stateDir: cfg.vars.state_dir, runDir: cfg.vars.run_dir, fakeNics: fakeNicPatterns(cfg.vars.fake_nics),
        resolvConf: cfg.vars.net_resolv_conf, log: logs.get('network'),
      })),
      connectivity: this.connectivity,
      log: logs.get('network'),
      fakeNics: fakeNicPatterns(cfg.vars.fake_nics),
    });
    this.host = new HostService({
      executor: this.periodic,
      // Engine calls' facts (capabilities, hardware, devices) on the engine's executor, apart from HostMonitor.
      apiExecutor: this.jsonrpc,
      libvirt: verbsLibvirt,
      scheduler: this.scheduler,
      clock,
      log: logs.get('host'),
      vmCounts: () => this.vms.vmCounts(),
      sampleIntervalMs: cfg.vars.host_sample_stats_interval * 1000,
      runDir: cfg.vars.run_dir,
      hooksDir: cfg.vars.hooks_dir,
      capsHooks: this.hooks,
      capabilities: {
        reservedMemMiB: cfg.vars.host_mem_reserve + cfg.vars.extra_mem_reserve,
        guestOverheadMiB: cfg.vars.guest_ram_overhead,
        reportHostThreadsAsCores: cfg.vars.report_host_threads_as_cores,
        ...(cfg.vars.fake_kvm_support ? { fakeKvm: { arch: cfg.vars.fake_kvm_architecture, realArch: realArchitecture(process.arch) } } : {}),
      },
      callTimeoutMs: VERB_CALL_TIMEOUT_MS,
      supervdsm: this.supervdsm,
      ...(this.#svdsmClient !== undefined ? { privilegedHardwareInfo: () => this.supervdsm.call('getHardwareInfo', {}) } : {}),
      ...(this.storage ? { storageDomains: () => this.storage!.storageDomains() } : {}),
      network: this.network,
    });
    this.recovery = new Recovery({
      libvirt: verbsLibvirt,
      vms: this.vms,
      records,
      timers,
      log: logs.get('virt.recovery'),
    });
    this.observability = new Observability({
      config: cfg,
      logs,
      registry: this.metrics,
      executors: [this.periodic, this.jsonrpc, this.migration, this.guest.executor, ...(this.storage ? [this.storage.executor] : [])],
      scheduler: this.scheduler,
      libvirt: this.libvirt,
      hostStats: () => this.host.stats(),
      vmReports: () => this.vms.reports(),
      ...(opts.watchdogPing ? { watchdogPing: opts.watchdogPing } : {}),
      clock,
      timers,
      env: opts.env ?? process.env,
      version: AGENT_VERSION,
    });
  }

  /** Every request tells the connectivity check the engine got through (setupNetworks' rollback). */
  #seenByConnectivity(spec: MethodSpec): MethodSpec {
    const check = this.connectivity;
    return {
      ...spec,
      handler: (params, ctx) => {
        check.request(spec.name, ctx.clientAddress);
        return spec.handler(params, ctx);
      },
    };
  }

  /** Fake KVM: the engine's kvm domain runs as a type libvirt offers (see src/host/fake-kvm.ts). */
  async #fakeKvmXml(xml: string): Promise<string> {
    const change = fakeKvmDomainXml(xml, await this.host.offeredDomainTypes());
    if (change === undefined) return xml;
    this.log.info({ from: change.from, to: change.to }, 'fake KVM: domain type translated for this hypervisor');
    return change.xml;
  }

  get ready(): boolean {
    return this.recovery.done;
  }

  /** Where the management port listens, once started. */
  get address(): { address: string; port: number } | undefined {
    return this.#address;
  }

  /**
   * Start serving: executors, the management port (requests get error 99 until recovery completes),
   * then, in the background, the libvirt connection, VM recovery and the periodic operations.
   */
  async start(): Promise<{ address: string; port: number }> {
    await this.#life.start(() => this.#start());
    return this.#address!;
  }

  async #start(): Promise<void> {
    const cfg = this.config;
    // As vdsm, before anything is served; failures are logged only.
    await this.hooks.agent('before_vdsm_start');
    this.#svdsmClient?.start();
    if (this.#svdsmClient !== undefined) this.#svdsmMetricsOff = reportSupervdsmFigures(() => this.supervdsm.health());
    this.scheduler.start();
    this.periodic.start();
    this.jsonrpc.start();
    this.migration.start();
    this.guest.start();
    await this.observability.start().catch((err: unknown) => this.log.error({ err }, 'observability failed to start; serving without it'));
    this.storage?.start();
    const methods = new MethodTable([
      ...hostBasicMethods({ logManager: this.#o.logManager }),
      ...hostMethods({ host: this.host, vms: this.vms, log: this.log }),
      ...hostEngineMethods({ vms: this.vms, blockDevices: (guids, checkStatus) => multipathDevices(guids, checkStatus) }),
      ...hostSecretsMethods({ secrets: this.secrets }),
      ...hostFenceMethods({ fence: new FenceAgents({ dir: cfg.vars.fence_agent_dir, timeoutMs: cfg.vars.fence_timeout * 1000, log: this.log, ...(this.#o.timers ? { timers: this.#o.timers } : {}) }) }),
      ...vmMethods({ vms: this.vms, sysShutdownTimeoutS: cfg.vars.sys_shutdown_timeout }),
      ...hostPrivilegedMethods({ supervdsm: this.supervdsm }),
      ...(this.storage ? [...storageMethods({ hsm: this.storage.hsm, images: this.storage.images }), ...taskMethods({ hsm: this.storage.hsm, tasks: this.storage.hsm.tasks })] : []),
      ...vmMigrationMethods({ migrations: this.migrations }),
      ...vmGuestMethods({ vms: this.vms, guest: this.guest.agents }),
      ...vmDevicesMethods({ devices: this.vmDevices }),
      ...vmTuneMethods({ tune: this.vmTune }),
      ...hostNetworkMethods({
        network: {
          setupNetworks: (n, b, o) => this.network.setupNetworks(n, b, o),
          setSafeNetworkConfig: () => this.network.setSafeNetworkConfig(),
          caps: () => this.network.caps(),
          statistics: () => this.host.networkStatistics(),
        },
      }),
    ].map((spec) => this.#seenByConnectivity(spec)), { rules: new ArgumentRules({ strict: cfg.devel.api_strict_mode, log: this.#o.logManager.get('schema.inconsistency') }) });
    const gc = fullGc();
    if (gc) {
      const clock = this.#o.clock ?? monotonicClock;
      // A full collection frees the buffers; trimming gives the freed heap pages back to the kernel.
      this.#relief = new MemoryRelief({ collect: () => { gc(); trimHeap(); }, timers: this.#o.timers ?? realTimers, now: () => clock.now() });
    }

    const fd = socketActivationFd(this.#o.env ?? process.env, process.pid);
    this.#rpc = createRpcServer({
      host: cfg.addresses.management_ip,
      port: cfg.addresses.management_port,
      ...(cfg.vars.ssl ? { tls: await this.#tlsMaterial() } : {}),
      ...(fd !== undefined ? { fd } : {}),
      methods,
      logManager: this.#o.logManager,
      isReady: () => this.ready,
      healthProvider: () => this.health(),
      metricsRegistry: this.metrics,
      requestQueues: cfg.addresses.request_queues,
      eventQueue: cfg.addresses.event_queue,
      ...(this.#relief ? { relieveMemory: () => this.#relief?.request() } : {}),
      limits: {
        maxBodyBytes: cfg.addresses.max_frame_size,
        maxConnections: connectionLimit(cfg.addresses.max_connections, parseNofile(await readFile('/proc/self/limits', 'utf8').catch(() => ''))),
        memoryBudgetBytes: cfg.addresses.max_buffered_bytes,
        frameTimeoutMs: cfg.addresses.frame_timeout * 1000,
      },
      ...(this.storage ? { httpUpload: this.storage.httpUpload } : {}),
      replyBuffers: this.replyBuffers,
    });
    this.#address = await this.#rpc.start();
    this.log.info({ ...this.#address, tls: cfg.vars.ssl, libvirt: cfg.libvirt.uri }, 'vdsm-node serving the management port');
    this.#background = this.#bringUp();
  }

  /** Resolves once libvirt is connected and recovery has completed (tests wait on it). */
  whenReady(): Promise<void> {
    return this.#background ?? Promise.reject(new Error('agent not started'));
  }

  async #bringUp(): Promise<void> {
    try {
      // netConfigDirty in getStats from the first call, not only after a getCapabilities.
      this.network.refresh().catch((err: unknown) => this.log.warn({ err }, 'network configuration unreadable'));
      await this.libvirt.start();
      // As vdsm: no oVirt secret outlives the agent that registered it (the engine registers them again).
      await this.secrets.clear();
      this.vms.start();
      this.migrations.start();
      await this.recovery.start();
      if (this.#life.closing) return;
      this.#rpc?.readyChanged();
      if (this.config.sampling.enable) {
        this.sampling.start();
        this.host.start();
      }
      this.guest.startPolling();
      this.log.info('vdsm-node ready');
    } catch (err) {
      if (!this.#life.closing) this.log.error({ err }, 'bring-up failed');
    }
  }

  /** The host's key, certificate and CA: the management port's and, as vdsm, the migration client's. */
  #tlsMaterial(): Promise<TlsMaterial> {
    this.#tls ??= this.#loadTls();
    return this.#tls;
  }

  async #loadTls(): Promise<TlsMaterial> {
    const cfg = this.config;
    if (this.#o.devPki) {
      const pki = await ensureDevPki(cfg.vars.state_dir);
      this.log.info({ dir: pki.dir }, 'TLS with the development PKI (client certificate for vdsm-client under pki/)');
      return loadTlsFiles(pki.server);
    }
    const root = cfg.vars.trust_store_path;
    return loadTlsFiles({ keyFile: join(root, 'keys', 'vdsmkey.pem'), certFile: join(root, 'certs', 'vdsmcert.pem'), caFile: join(root, 'certs', 'cacert.pem') });
  }

  /** What /health reports. */
  health(): Record<string, unknown> {
    return {
      live: this.#life.running,
      lifecycle: this.#life.state,
      ready: this.ready,
      libvirt: this.libvirt.health(),
      supervdsm: this.supervdsm.health(),
      recovery: this.recovery.state(),
      executors: { periodic: this.periodic.state(), jsonrpc: this.jsonrpc.state(), migration: this.migration.state(), qgapoller: this.guest.executor.state() },
      guestAgents: this.guest.poller?.describe() ?? { poller: 'disabled' },
      scheduler: this.scheduler.stats(),
      vms: this.vms.container.counts(),
      migrations: this.migrations.health(),
      hooks: this.hooks.health(),
      sampling: this.sampling.state(),
      ...(this.storage ? { storage: this.storage.state() } : {}),
      host: this.host.state(),
      network: this.network.state(),
      threads: this.threadReport(),
      observability: this.observability.state(),
      memoryRelief: this.#relief?.state() ?? null,
    };
  }

  /** Every thread the agent knows it runs, with what it does (read by `vdsm-tool threads`). */
  threadReport(): { pid: number; threads: Record<string, unknown>[] } {
    const control = this.libvirt.health().control;
    return {
      pid: process.pid,
      threads: [
        { tid: process.pid, name: 'main', role: 'acceptor, STOMP / JSON-RPC, scheduler, VM state machines, event fan-out' },
        ...(control !== undefined && control.tid > 0
          ? [{ tid: control.tid, name: 'libvirt/control', role: 'opens libvirt connections, registers and forwards domain events', pending: control.pending }]
          : []),
        ...this.guest.threads(),
        // A worker still starting has no kernel thread id yet: it is listed once it runs.
        ...this.threads().filter((t) => t.tid > 0).map((t) => ({ ...t, role: `${t.executor} executor worker` })),
      ],
    };
  }

  /** Every worker thread with what it runs (the thread-listing tool reads this). */
  threads(): ReturnType<Executor['threads']> {
    return [...this.periodic.threads(), ...this.jsonrpc.threads(), ...this.migration.threads(), ...this.guest.executor.threads(), ...(this.storage?.threads() ?? [])];
  }

  /**
   * Stop in reverse order; resolves within about `graceMs` even with threads stuck in native calls.
   * Idempotent: a stop() while stopping waits for the first one and gets its answer (vdsmd decides on
   * a hard exit from `stuckThreads`). A stop() during start() waits for the start to settle.
   */
  stop(graceMs = 3000): Promise<{ stuckThreads: number }> {
    this.#graceMs = graceMs;
    return this.#life.close(() => this.#stop(), () => ({ stuckThreads: 0 }));
  }

  /** stop() without the grace period: worker threads are terminated at once. */
  destroy(): Promise<{ stuckThreads: number }> {
    return this.#life.destroy(() => {
      this.#graceMs = 0;
      void this.periodic.destroy();
      void this.jsonrpc.destroy();
      void this.storage?.destroy();
      void this.migration.destroy();
      void this.guest.destroy();
    }, () => this.#stop(), () => ({ stuckThreads: 0 }));
  }

  async #stop(): Promise<{ stuckThreads: number }> {
    const graceMs = this.#graceMs;
    // First: a start-to-stop profile needs every worker alive to hand its part over.
    await this.observability.stop().catch((err: unknown) => this.log.warn({ err }, 'observability stop failed'));
    this.recovery.close();
    this.sampling.close();
    this.host.close();
    await this.#rpc?.close();
    this.#relief?.close();
    this.migrations.close();
    this.vms.close();
    // As vdsm at shutdown: no oVirt secret outlives the agent (the engine registers them again on
    // connect). After the RPC server closed, so no registration races it; bounded by the grace period.
    if (this.libvirt.state === 'connected') await this.#bounded(this.secrets.clear(), graceMs, 'clearing oVirt secrets');
    await this.libvirt.close().catch((err: unknown) => this.log.warn({ err }, 'libvirt close failed'));
    await this.#svdsmClient?.close();
    this.#svdsmMetricsOff?.();
    const [a, b, c, d, e] = await Promise.all([this.periodic.stop({ graceMs }), this.jsonrpc.stop({ graceMs }), this.migration.stop({ graceMs }), this.guest.stop(graceMs), this.storage?.stop(graceMs) ?? { stuckThreads: 0 }]);
    this.scheduler.close();
    // As vdsm, once everything stopped; failures are logged only ([vars] hook_timeout bounds each script).
    await this.hooks.agent('after_vdsm_stop');
    return { stuckThreads: a.stuckThreads + b.stuckThreads + c.stuckThreads + d.stuckThreads + e.stuckThreads };
  }

  /** Wait for a best-effort stop step at most `ms`; past it, log and go on (the step may still finish). */
  async #bounded(step: Promise<void>, ms: number, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), ms); });
    try {
      if (await Promise.race([step.then(() => 'done' as const), late]) === 'late') this.log.warn({ ms }, `${what} did not finish within the stop's grace period; going on`);
    } catch (err) {
      this.log.warn({ err }, `${what} failed`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Read the SASL password (first line of [libvirt] password_file), or undefined when there is none. */
export async function readLibvirtPassword(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).split('\n')[0];
  } catch {
    return undefined;
  }
}
