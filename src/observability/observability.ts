// Builds and runs everything observability adds to vdsmd from the configuration: the MetricsHub and its
// sources, the push reporter ([metrics]), the health monitor ([health]), systemd's watchdog
// (WATCHDOG_USEC), profiling ([devel] at start, SIGUSR2 / vdsm-tool at run time) and the loopback
// profiling endpoint. The agent hands in its parts as narrow views; nothing here is imported by them.
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { VdsmConfig } from '../config/index.js';
import type { Clock, Timers } from '../runtime/clock.js';
import type { Scheduler } from '../runtime/scheduler.js';
import type { ControlReply } from '../runtime/executor/thread-control.js';
import type { LogManager } from './logging.js';
import { HealthMonitor } from './health/health-monitor.js';
import { ProcessFigures } from './health/process-figures.js';
import { Watchdog, type WatchedScheduler } from './health/watchdog.js';
import { HawkularReporter } from './metrics/hawkular-reporter.js';
import { hostFigures } from './metrics/host-figures.js';
import { MetricsHub } from './metrics/hub.js';
import type { FigureRegistry } from './metrics/prometheus-figures.js';
import { ReportLoop, type MetricsSink } from './metrics/report-loop.js';
import { RuntimeFigures, type ExecutorView, type LibvirtView } from './metrics/runtime-figures.js';
import { StatsdReporter } from './metrics/statsd-reporter.js';
import { vmFigures } from './metrics/vm-figures.js';
import { DebugServer } from './profiling/debug-server.js';
import { ProfileControl } from './profiling/profile-control.js';
import { ThreadProfiler } from './profiling/thread-profiler.js';
import { ThreadProbe } from './thread-probe.js';
import { errorMessage } from '../errors.js';

/** An Executor as observability sees it. */
export interface ObservedExecutor extends ExecutorView {
  dispatch(op: string, args: unknown, opts: { timeoutMs: number }): Promise<unknown>;
  control(op: string, args: unknown, opts: { timeoutMs: number; workerIds?: readonly number[] }): Promise<ControlReply[]>;
}

export interface ObservabilityOptions {
  config: VdsmConfig;
  logs: LogManager;
  registry: FigureRegistry;
  executors: readonly ObservedExecutor[];
  scheduler: WatchedScheduler & Pick<Scheduler, 'stats'>;
  libvirt: LibvirtView;
  /** Host.getStats, as computed from the host sample window. */
  hostStats: () => Readonly<Record<string, unknown>>;
  /** Host.getAllVmStats reports. */
  vmReports: () => readonly Readonly<Record<string, unknown>>[];
  /** Sends WATCHDOG=1 (the SdNotifier); absent in tests that build the agent in-process. */
  watchdogPing?: (fields: Record<string, string>) => void;
  clock: Clock;
  timers: Timers;
  env: NodeJS.ProcessEnv;
  version: string;
}

/** Sources only the Prometheus endpoint gets unless [metrics] host_vm_metrics is set. */
const HOST_VM_SOURCES = new Set(['host', 'vms']);

export class Observability {
  readonly hub: MetricsHub;
  readonly probe = new ThreadProbe();
  readonly health: HealthMonitor | undefined;
  readonly watchdog: Watchdog;
  readonly profiler: ThreadProfiler;
  readonly profileControl: ProfileControl;
  #o: ObservabilityOptions;
  #log: Logger;
  #runtime: RuntimeFigures;
  #report: ReportLoop | undefined;
  #debug: DebugServer | undefined;
  #debugAddress: { address: string; port: number } | undefined;
  #startProfile = false;
  #started = false;

  constructor(opts: ObservabilityOptions) {
    this.#o = opts;
    const cfg = opts.config;
    this.#log = opts.logs.get('observability');
    this.#runtime = new RuntimeFigures({ executors: opts.executors, scheduler: opts.scheduler, libvirt: opts.libvirt });
    this.hub = new MetricsHub({
      clock: opts.clock,
      log: opts.logs.get('metrics'),
      reservedNames: () => opts.registry.ownNames(),
      sources: [
        new ProcessFigures({ probe: this.probe, version: opts.version }),
        this.#runtime,
        { source: 'host', collect: () => hostFigures(opts.hostStats()) },
        { source: 'vms', collect: () => vmFigures(opts.vmReports()) },
      ],
    });
    opts.registry.attach(this.hub);
    if (cfg.health.monitor_enable) {
      this.health = new HealthMonitor({ intervalMs: cfg.health.check_interval * 1000, probe: this.probe, executors: opts.executors, log: opts.logs.get('health'), timers: opts.timers });
      this.hub.addSource(this.health);
    }
    this.watchdog = new Watchdog({
      ping: opts.watchdogPing ?? (() => undefined),
      env: opts.env,
      scheduler: opts.scheduler,
      executors: opts.executors,
      clock: opts.clock,
      timers: opts.timers,
      log: opts.logs.get('watchdog'),
    });
    this.profiler = new ThreadProfiler({
      probe: this.probe,
      executors: opts.executors,
      log: opts.logs.get('profiling'),
      builtins: cfg.devel.cpu_profile_builtins,
      clock: cfg.devel.cpu_profile_clock,
    });
    this.profileControl = new ProfileControl({ profiler: this.profiler, runDir: cfg.vars.run_dir, profileDirs: [dirname(cfg.devel.cpu_profile_filename), cfg.vars.run_dir], log: opts.logs.get('profiling') });
  }

  /** After the executors started: profiling at start, metrics, health, watchdog, the profiling endpoint. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const cfg = this.#o.config;
    this.probe.watch();
    if (cfg.devel.cpu_profile_enable) {
      await this.profiler.start();
      this.#startProfile = true;
      this.#log.info({ file: cfg.devel.cpu_profile_filename }, 'profiling every thread from start to orderly stop ([devel] cpu_profile_enable)');
    }
    this.hub.start();
    this.#runtime.start();
    if (cfg.metrics.enabled) {
      const sink = this.#sink();
      if (sink !== undefined) {
        const hostVm = cfg.metrics.host_vm_metrics;
        this.#report = new ReportLoop({
          hub: this.hub, sink, intervalMs: cfg.vars.host_sample_stats_interval * 1000, timers: this.#o.timers, log: this.#o.logs.get('metrics'),
          include: (source) => hostVm || !HOST_VM_SOURCES.has(source),
        });
        this.#report.start();
        this.#log.info({ collector: sink.type, target: sink.target, every_s: cfg.vars.host_sample_stats_interval, host_vm_metrics: hostVm }, 'sending metrics');
      }
    }
    this.health?.start();
    this.watchdog.start();
    await this.profileControl.start().catch((err: unknown) => this.#log.warn({ err: errorMessage(err), run_dir: cfg.vars.run_dir }, 'run-time profiling control unavailable (cannot write its state file)'));
    if (cfg.devel.memory_profile_enable) {
      this.#debug = new DebugServer({
        port: cfg.devel.memory_profile_port, profiler: this.profiler, log: this.#log, clock: this.#o.clock,
        testHooks: this.#o.env['VDSM_TEST_HOOKS'] === '1',
        dispatch: (name, op, args) => {
          const ex = this.#o.executors.find((e) => e.name === name);
          if (ex === undefined) return Promise.reject(new Error(`no executor ${name}`));
          return ex.dispatch(op, args, { timeoutMs: 60_000 });
        },
      });
      try {
        this.#debugAddress = await this.#debug.start();
        this.#log.info({ ...this.#debugAddress }, 'profiling endpoint listening on loopback ([devel] memory_profile_enable)');
      } catch (err) {
        this.#debug = undefined;
        this.#log.error({ err: errorMessage(err), port: cfg.devel.memory_profile_port }, 'profiling endpoint could not listen');
      }
    }
  }

  /** Before the executors stop: the start-up profile is written while every worker can still hand its part over. */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.watchdog.stop();
    this.health?.stop();
    await this.#debug?.close();
    await this.profileControl.stop();
    const cfg = this.#o.config;
    if (this.profiler.running) {
      const file = cfg.devel.cpu_profile_filename;
      const target = this.#startProfile ? { base: file.replace(/\.[^./]*$/, ''), pprof: file } : this.profileControl.target();
      await this.profiler.stop(target).catch((err: unknown) => this.#log.error({ err: errorMessage(err) }, 'could not write the profile at stop'));
    }
    await this.#report?.stop();
    this.#runtime.stop();
    this.hub.stop();
    this.probe.close();
  }

  state(): Record<string, unknown> {
    return {
      metrics: { hub: this.hub.state(), report: this.#report?.state() ?? null },
      health: this.health === undefined ? { enabled: false } : { enabled: true, last: this.health.last() ?? null },
      watchdog: this.watchdog.state(),
      profiling: this.profiler.state(),
      profiling_endpoint: this.#debugAddress ?? null,
    };
  }

  #sink(): MetricsSink | undefined {
    const cfg = this.#o.config;
    try {
      if (cfg.metrics.collector_type === 'hawkular') {
        return new HawkularReporter({ address: cfg.metrics.collector_address, queueSize: cfg.metrics.queue_size, log: this.#o.logs.get('metrics'), timers: this.#o.timers });
      }
      return new StatsdReporter({ address: cfg.metrics.collector_address });
    } catch (err) {
      this.#log.error({ err: errorMessage(err), collector_address: cfg.metrics.collector_address }, 'metrics reporter not started');
      return undefined;
    }
  }
}
