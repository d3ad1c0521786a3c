// The host side of the engine API: HostMonitor (a periodic sample of /proc and /sys taken in a worker,
// kept as a two-sample window) for Host.getStats, and the capability and hardware reports assembled on
// the main thread from facts gathered in workers (never a blocking read on the main thread). What only
// root may read (DMI identity, debugfs switches) comes from supervdsm.
import { Lifecycle } from '../runtime/lifecycle.js';
import type { HardwareInfo, HostCapabilities } from '../contracts/api-types.js';
import { tmpdir } from 'node:os';
import type { Logger } from 'pino';
import { Errors, isError, vdsmError, wrapError, errorMessage } from '../errors.js';
import { buildCapabilities, type CapabilitiesOptions } from '../host/capabilities.js';
import { buildHardwareInfo, mergeHardwareInfo, unreadableStatement } from '../host/hardware-info.js';
import type { CapabilitiesRawFacts, HardwareRawFacts } from '../contracts/host-facts.js';
import { buildHostDevices, listByCaps, type HostDevices } from '../host/hostdev.js';
import type { OpArgs, OpResult } from '../contracts/operations.js';
import { parseLibvirtCapabilities } from '../host/libvirt-caps.js';
import { deviceByAddress } from '../host/netcaps.js';
import type { Libvirt } from '../libvirt/client.js';
import { parseHostSample } from '../host/sample.js';
import { buildHostStats, formatDateTime, HostStatsWindow } from '../host/stats.js';
import { CachedTemplate, slotMarker, type JsonTemplate } from '../runtime/json-template.js';
import { RawJson } from '../runtime/raw-json.js';
import { RawJsonBytes } from '../runtime/raw-json-bytes.js';
import { fmt2 } from '../virt/stringify.js';
import type { Clock } from '../runtime/clock.js';
import type { Dispatcher } from '../contracts/dispatcher.js';
import { Operation } from '../runtime/periodic.js';
import type { Scheduler } from '../runtime/scheduler.js';
import type { VmCounts } from '../virt/vm-container.js';
import type { Supervdsm } from '../supervdsm/privileged.js';

interface LibvirtFacts {
  capsXml: string;
  domCapsXml: string | undefined;
  libVersion: number;
  hvVersion: number | undefined;
}

export interface HostServiceOptions {
  /** Runs HostMonitor (monitoring work: the periodic executor). */
  executor: Dispatcher & { state?(): unknown };
  /**
   * Runs the facts behind engine calls (capabilities, hardware info, host devices): the engine's
   * executor, so a burst of engine calls can never make monitoring skip a cycle. Defaults to executor.
   */
  apiExecutor?: Dispatcher;
  /**
   * What libvirt says about itself (capabilities, versions), asked for engine calls: a client on the
   * engine's executor, for the same reason.
   */
  libvirt: Libvirt;
  scheduler: Scheduler;
  clock: Clock;
  log: Logger;
  vmCounts: () => VmCounts;
  /** [vars] host_sample_stats_interval, ms. */
  sampleIntervalMs: number;
  /** vdsm monitors the temp dir, /var/log and the run dir. */
  monitoredPaths?: string[];
  runDir: string;
  /** [vars] hooks_dir: the hook scripts getCapabilities lists with their checksums (default /usr/libexec/vdsm/hooks). */
  hooksDir?: string;
  /** vdsm's before_get_caps / after_get_caps hook scripts around getCapabilities (src/hooks/). */
  capsHooks?: { json<T>(point: 'before_get_caps' | 'after_get_caps', value: T): Promise<T> };
  capabilities: CapabilitiesOptions;
  callTimeoutMs: number;
  /** The DMI half of Host.getHardwareInfo, read by the privileged helper (supervdsm's dmidecode). */
  privilegedHardwareInfo?: () => Promise<HardwareInfo>;
  /** The privileged helper: the DMI host UUID and the debugfs switches of the capabilities. */
  supervdsm: Supervdsm;
  /** Storage domain health for getStats storageDomains ({} without storage). */
  storageDomains?: () => Record<string, unknown>;
  /** Host networking: the network keys of the capabilities, and whether the running config is unsaved. */
  network?: { caps(): Promise<object>; readonly dirty: boolean };
}

/** What the helper told about the host; it does not change while the host runs. */
interface PrivilegedFacts {
  productUuid: string | null;
  kernelFeatures: CapabilitiesRawFacts['kernelFeatures'] | undefined;
}

export class HostService {
  #o: HostServiceOptions;
  #window: HostStatsWindow;
  #monitor: Operation<'host.sample'>;
  /** Interfaces the capabilities report, so getStats lists the same ones. */
  #interfaces: Set<string> | undefined;
  #libvirtFacts: Promise<LibvirtFacts> | undefined;
  #unsubscribe: (() => void) | undefined;
  #privileged: PrivilegedFacts | undefined;
  #warnedNoHelper = false;
  readonly #life = new Lifecycle('host service');
  /** Host.getStats serialised once per host sample (or change of VM counts or interfaces). */
  readonly #statsTemplate = new CachedTemplate();
  /** The last statsJson() text and the read fields it was filled with (dateTime as JSON, per wall-clock second). */
  #lastStats: { template: JsonTemplate; elapsed: string; elapsedS: number; second: number; dateTime: string; json: RawJson } | undefined;

  constructor(opts: HostServiceOptions) {
    this.#o = opts;
    this.#window = new HostStatsWindow(opts.clock);
    const monitoredPaths = opts.monitoredPaths ?? [tmpdir(), '/var/log', opts.runDir];
    this.#monitor = new Operation({
      name: 'HostMonitor',
      periodMs: opts.sampleIntervalMs,
      scheduler: opts.scheduler,
      log: opts.log,
      exclusive: true,
      executor: opts.executor,
      op: 'host.sample',
      args: () => {
        const ksmdPid = this.#window.latest()?.ksm.ksmdPid;
        return { monitoredPaths, ...(ksmdPid !== undefined ? { ksmdPid } : {}) };
      },
      timeoutMs: opts.sampleIntervalMs,
      discard: false,
      onResult: (raw) => this.#window.append(parseHostSample(raw)),
      onError: (err) => opts.log.warn({ err }, 'host sample failed'),
    });
  }

  /** Start the host monitor. Idempotent (src/runtime/lifecycle.ts). */
  start(): void {
    this.#life.startSync(() => this.#monitor.start());
  }

  /** Stop the host monitor and forget libvirt's facts. Idempotent; reports still answer from the window. */
  close(): void {
    this.#life.closeSync(() => this.#monitor.stop());
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  destroy(): void {
    this.close();
  }

  /** Host.getStats: computed from the window; never reads /proc on the request path. */
  stats(): Record<string, unknown> {
    const produced = this.#window.produce(this.#interfaces ? { interfaces: this.#interfaces } : {});
    return buildHostStats(produced, {
      nowMs: Date.now(),
      meminfo: this.#window.latest()?.meminfo ?? {},
      vmCounts: this.#o.vmCounts(),
      ksm: this.#window.ksm(),
      ...(this.#o.storageDomains ? { storageDomains: this.#o.storageDomains() } : {}),
      netConfigDirty: this.#o.network?.dirty === true,
    });
  }

  /** Host.getNetworkStatistics: the interface part of getStats (vdsm's netstats.report()). */
  networkStatistics(): { network: Record<string, Record<string, unknown>>; rxDropped: string; txDropped: string } {
    const st = this.stats();
    return { network: st['network'] as Record<string, Record<string, unknown>>, rxDropped: String(st['rxDropped']), txDropped: String(st['txDropped']) };
  }

  /**
   * Host.getStats as JSON text: built and serialised once per host sample, VM count change or new
   * interface list; elapsedTime and dateTime (the read's own time) are filled in per read.
   */
  statsJson(): RawJson {
    const c = this.#o.vmCounts();
    const inputs = [this.#window.latest(), this.#interfaces, c.vmCount, c.vmActive, c.vmMigrating, c.incomingVmMigrations, c.outgoingVmMigrations];
    const template = this.#statsTemplate.get(inputs, () => {
      const value = this.stats();
      let holes = 0;
      for (const [key, slot] of [['elapsedTime', 0], ['dateTime', 1]] as const) {
        if (typeof value[key] !== 'string') continue;
        value[key] = slotMarker(slot);
        holes++;
      }
      return { value, holes };
    });
    if (template === undefined) return new RawJson(JSON.stringify(this.stats()));
    // The read's fields change every 10 ms (elapsedTime) and every second (dateTime): reads in between
    // get the text filled by the last one, not a toFixed, a Date, an ISO string and a 2 KB concatenation each.
    const elapsedS = this.#window.elapsedS();
    const last = this.#lastStats;
    // Within 4.9 ms of the value the last text shows, elapsedTime rounds to that same text (no toFixed).
    const elapsed = last !== undefined && Math.abs(elapsedS - last.elapsedS) < 0.0049 ? last.elapsed : fmt2(elapsedS);
    const wallMs = Date.now();
    const second = Math.floor(wallMs / 1000);
    if (last !== undefined && last.template === template && last.elapsed === elapsed && last.second === second) return last.json;
    const dateTime = last !== undefined && last.second === second ? last.dateTime : JSON.stringify(formatDateTime(wallMs));
    // Served to every read until the next fill: its bytes are made once (copied into each reply frame).
    const json = new RawJsonBytes(template.fill([JSON.stringify(elapsed), dateTime]));
    this.#lastStats = { template, elapsed, elapsedS: elapsed === last?.elapsed ? last.elapsedS : Number(elapsed), second, dateTime, json };
    return json;
  }

  /**
   * Host.getCapabilities. `localAddress` is our end of the caller's connection: the device holding it is
   * reported as lastClientIface, as vdsm's bridge adds it.
   */
  async capabilities(call: { localAddress?: string } = {}): Promise<HostCapabilities> {
    await this.#o.capsHooks?.json('before_get_caps', {});
    const [raw, lv, net] = await Promise.all([
      this.#call('host.capabilitiesFacts', this.#o.hooksDir !== undefined ? { hooksDir: this.#o.hooksDir } : {}),
      this.#libvirtFactsOnce(),
      this.#o.network?.caps(),
    ]);
    const facts = await this.#withPrivilegedFacts(raw);
    const caps = buildCapabilities({
      facts,
      libvirtCapabilitiesXml: lv.capsXml,
      ...(lv.domCapsXml !== undefined ? { domainCapabilitiesXml: lv.domCapsXml } : {}),
      libvirtVersion: lv.libVersion,
      ...(lv.hvVersion !== undefined && lv.hvVersion > 0 ? { qemuVersion: lv.hvVersion } : {}),
      options: this.#o.capabilities,
    });
    // The network keys come from host networking (ip -json and the running configuration).
    if (net !== undefined) Object.assign(caps, net);
    this.#interfaces = interfacesOf(caps);
    caps['lastClientIface'] = deviceByAddress(facts.ifaddrs, call.localAddress);
    return this.#o.capsHooks !== undefined ? this.#o.capsHooks.json('after_get_caps', caps) : caps;
  }

  /** Domain types libvirt offers for the host's architecture (kvm, qemu, test ...), per connection. */
  async offeredDomainTypes(): Promise<string[]> {
    return parseLibvirtCapabilities((await this.#libvirtFactsOnce()).capsXml).domainTypes;
  }

  /**
   * What libvirt says about itself and the hypervisor, which cannot change while a connection lasts:
   * fetched once and again after each reconnect (a restarted libvirtd is asked again). The engine calls
   * getCapabilities every 3 s while a host initializes, and QEMU's domain capabilities cost seconds the
   * first time.
   */
  #libvirtFactsOnce(): Promise<LibvirtFacts> {
    // A restarted libvirtd may be another version, with other capabilities: ask again.
    this.#unsubscribe ??= this.#o.libvirt.onReconnect(() => { this.#libvirtFacts = undefined; });
    if (this.#libvirtFacts === undefined) {
      const lv = this.#o.libvirt;
      const timeout = { timeoutMs: this.#o.callTimeoutMs, discard: true };
      const facts = Promise.all([
        lv.call('libvirt.getCapabilities', {}, timeout),
        // Not every driver has domain capabilities (the test driver has not): the CPU models then
        // come from the host CPU alone.
        lv.call('libvirt.getDomainCapabilities', {}, timeout).catch(() => undefined),
        lv.call('libvirt.getLibVersion', {}, timeout),
        lv.call('libvirt.getVersion', {}, timeout).catch(() => undefined),
      ]).then(([capsXml, domCapsXml, libVersion, hvVersion]) => ({ capsXml, domCapsXml, libVersion, hvVersion }));
      this.#libvirtFacts = facts;
      // A failed fetch is not kept: the next call asks again.
      facts.catch(() => { if (this.#libvirtFacts === facts) this.#libvirtFacts = undefined; });
    }
    return this.#libvirtFacts;
  }

  #call<K extends 'host.capabilitiesFacts' | 'host.hardwareInfo' | 'host.devices'>(op: K, args: OpArgs<K>): Promise<OpResult<K>> {
    return (this.#o.apiExecutor ?? this.#o.executor).dispatch(op, args, { timeoutMs: this.#o.callTimeoutMs, discard: true });
  }

  /**
   * Host.getHardwareInfo: the unprivileged reads, overlaid by the privileged helper's when one is given.
   * Error 57 with a statement of what is missing when neither knows anything (vdsm: hwInfoErr).
   */
  async hardwareInfo(): Promise<HardwareInfo> {
    let raw: HardwareRawFacts;
    try {
      raw = await this.#call('host.hardwareInfo', {});
    } catch (err) {
      throw wrapError(Errors.HWINFO, err);
    }
    let privileged: HardwareInfo | undefined;
    let helper: 'absent' | 'failed' | 'empty' = 'absent';
    if (this.#o.privilegedHardwareInfo !== undefined) {
      try {
        privileged = await this.#o.privilegedHardwareInfo();
        helper = 'empty';
      } catch (err) {
        // The helper's "this host has no DMI tables" is an answer, not a failure.
        helper = isError(err, Errors.SVDSM_NO_DMI) ? 'empty' : 'failed';
        if (helper === 'failed') this.#o.log.warn({ err }, 'privileged hardware information unavailable');
      }
    }
    const info = mergeHardwareInfo(buildHardwareInfo(raw), privileged);
    if (Object.keys(info).length === 0) throw wrapError(Errors.HWINFO, unreadableStatement(raw, helper));
    return info;
  }

  /**
   * Facts only root may read, from supervdsm: the DMI product UUID (the host's identity for the
   * engine, unless /etc/vdsm/vdsm.id holds one) and the debugfs mitigation switches. Asked once; a
   * failed ask is asked again next time. Without DMI the UUID falls back to the machine id, as before;
   * with DMI present, no vdsm.id and the helper unreachable, getCapabilities fails rather than report a
   * different host UUID.
   */
  async #withPrivilegedFacts(raw: CapabilitiesRawFacts): Promise<CapabilitiesRawFacts> {
    if (raw.productUuid !== null) return raw; // readable: running as root (development)
    if (this.#privileged === undefined) {
      const helper = this.#o.supervdsm;
      if (!helper.enabled) {
        if (raw.dmiPresent && !this.#warnedNoHelper) {
          this.#warnedNoHelper = true;
          this.#o.log.warn('supervdsm is disabled: the host UUID falls back to the machine id instead of the DMI product UUID');
        }
        return raw;
      }
      let productUuid: string | null = null;
      // A persisted vdsm.id (vdsm-tool vdsm-id at deploy) is the identity; DMI is asked only without one.
      if (raw.dmiPresent && !raw.vdsmId?.trim()) {
        try {
          productUuid = (await helper.call('getHardwareInfo', {})).systemUUID ?? null;
        } catch (err) {
          if (!isError(err, Errors.SVDSM_NO_DMI)) {
            throw vdsmError(Errors.SVDSM_UNAVAILABLE, `the host UUID comes from DMI through supervdsm, which did not answer: ${errorMessage(err)}`);
          }
        }
      }
      const kf = await helper.call('getKernelFeatures', {}).catch(() => undefined);
      const text = (n: number): string | null => (n < 0 ? null : String(n));
      this.#privileged = { productUuid, kernelFeatures: kf && { pti: text(kf.pti), ibpb: text(kf.ibpb), ibrs: text(kf.ibrs) } };
    }
    const p = this.#privileged;
    const debugfsUnread = raw.kernelFeatures.pti === null && raw.kernelFeatures.ibpb === null && raw.kernelFeatures.ibrs === null;
    return {
      ...raw,
      productUuid: p.productUuid,
      ...(debugfsUnread && p.kernelFeatures !== undefined ? { kernelFeatures: p.kernelFeatures } : {}),
    };
  }

  /** Host.hostdevListByCaps: sysfs is read in a worker (`host.devices`), the result built here. */
  async hostDevices(caps: readonly string[]): Promise<HostDevices> {
    const facts = await this.#call('host.devices', {});
    return listByCaps(buildHostDevices(facts), caps);
  }

  state(): Record<string, unknown> {
    return { lifecycle: this.#life.state, window: this.#window.describe(), monitor: this.#monitor.state() };
  }
}

function interfacesOf(caps: Record<string, unknown>): Set<string> {
  const names = new Set<string>();
  for (const key of ['nics', 'bondings', 'vlans', 'bridges']) {
    const group = caps[key];
    if (group && typeof group === 'object') for (const n of Object.keys(group)) names.add(n);
  }
  return names;
}
