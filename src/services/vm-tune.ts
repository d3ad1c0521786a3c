// Resource limits of a running VM that MOM and the engine change: disk I/O limits (VM.setIoTune,
// virDomainSetBlockIoTune), the vCPU bandwidth (VM.setCpuTuneQuota / VM.setCpuTunePeriod,
// virDomainSetSchedulerParametersFlags: the cgroup cpu controller's vcpu_quota and vcpu_period) and the
// SLA policy kept in the domain metadata (VM.updateVmPolicy, virDomainSetMetadata). One libvirt call
// each, through the executor, on the live domain; afterwards libvirt's live XML becomes the VM's
// (Host.getAllVmIoTunePolicies reads the limits and the I/O policy from it).
import type { Logger } from 'pino';
import { Errors, vdsmError, type ErrorSpec } from '../errors.js';
import { Impact, MetadataType } from '../libvirt/constants.js';
import type { CallArgs, ConnOpName, Libvirt } from '../libvirt/client.js';
import type { OpResult } from '../contracts/operations.js';
import { diskIoTunes, IOTUNE_KEYS, type IoTuneKey } from '../virt/disk-iotune.js';
import { mergeIoTune, parseQos, qosXml, VM_TUNE_PREFIX, VM_TUNE_URI, type IoTunePolicy } from '../virt/vm-qos.js';
import type { Vm } from './vm-manager.js';
import { liveDomainXml, verbError } from './vm-devices.js';

export interface VmTuneHost {
  requireRunning(vmId: string): Vm;
  devicesChanged(vm: Vm): Promise<void>;
  readVcpuTune(vm: Vm): Promise<void>;
}

export interface VmTuneOptions {
  vms: VmTuneHost;
  libvirt: Libvirt;
  log: Logger;
}

/** One entry of VM.setIoTune: the disk by `name` (target) or `path`, and the limits to change. */
export interface IoTuneChange {
  name?: unknown;
  path?: unknown;
  ioTune?: unknown;
}

function policyError(detail: string): Error {
  return vdsmError(Errors.UPDATE_VM_POLICY, `${Errors.UPDATE_VM_POLICY.message}: ${detail}`);
}

function ioTuneError(detail: string): Error {
  return vdsmError(Errors.UPDATE_IOTUNE, `${Errors.UPDATE_IOTUNE.message}: ${detail}`);
}

/**
 * vdsm's rules for I/O limits: only the six keys, whole numbers >= 0, and a total limit excludes the
 * read and write limits of the same kind (libvirt refuses both at once).
 */
export function validIoTune(t: Record<IoTuneKey, number>): string | undefined {
  for (const k of IOTUNE_KEYS) if (!Number.isSafeInteger(t[k]) || t[k] < 0) return `${k} must be a whole number >= 0`;
  for (const kind of ['bytes', 'iops'] as const) {
    if (t[`total_${kind}_sec`] > 0 && (t[`read_${kind}_sec`] > 0 || t[`write_${kind}_sec`] > 0)) return `total_${kind}_sec cannot be set with read_${kind}_sec or write_${kind}_sec`;
  }
  return undefined;
}

function wholeNumber(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) ? n : undefined;
}

export class VmTune {
  readonly #o: VmTuneOptions;

  constructor(o: VmTuneOptions) {
    this.#o = o;
  }

  /**
   * VM.setIoTune: for each entry, the disk it names gets the given limits merged over its current ones
   * (from libvirt's live XML), checked by vdsm's rules, and set live. Stops at the first failure (64).
   */
  async setIoTune(vmId: string, tunables: unknown): Promise<true> {
    const vm = this.#o.vms.requireRunning(vmId);
    if (!Array.isArray(tunables)) throw vdsmError(Errors.INVALID_PARAMS, `${Errors.INVALID_PARAMS.message}: tunables: a list is required`);
    let live = await this.#liveXml(vm);
    for (const raw of tunables as IoTuneChange[]) {
      if (typeof raw !== 'object' || raw === null) throw ioTuneError('each entry must be an object');
      const current = diskIoTunes(live).find((d) => (typeof raw.name === 'string' && raw.name !== '' && d.name === raw.name) || (typeof raw.path === 'string' && raw.path !== '' && d.path === raw.path));
      if (current === undefined) throw ioTuneError(`Device ${String(raw.name ?? raw.path)} not found`);
      const change = raw.ioTune;
      if (typeof change !== 'object' || change === null || Array.isArray(change)) throw ioTuneError('ioTune must be an object');
      const merged = { ...current.ioTune };
      for (const [k, v] of Object.entries(change)) {
        if (!(IOTUNE_KEYS as readonly string[]).includes(k)) throw ioTuneError(`Invalid ioTune value: unknown key ${k}`);
        const n = wholeNumber(v);
        if (n === undefined) throw ioTuneError(`Invalid ioTune value: ${k}`);
        merged[k as IoTuneKey] = n;
      }
      const invalid = validIoTune(merged);
      if (invalid !== undefined) throw ioTuneError(`Invalid ioTune value: ${invalid}`);
      try {
        await this.#call('libvirt.setBlockIoTune', { uuid: vm.vmId, disk: current.name, params: merged, flags: Impact.LIVE });
      } catch (err) {
        throw this.#libvirtError(vm, err, Errors.UPDATE_IOTUNE);
      }
      this.#o.log.info({ vmId: vm.vmId, drive: current.name, ioTune: merged }, 'disk I/O limits set');
      live = await this.#liveXml(vm);
    }
    await this.#o.vms.devicesChanged(vm);
    return true;
  }

  /** VM.setCpuTuneQuota: the vCPUs' quota per period in µs (-1: no limit), as vdsm's vcpu_quota. */
  setCpuTuneQuota(vmId: string, quota: unknown): Promise<true> {
    return this.#scheduler(vmId, 'vcpu_quota', quota);
  }

  /** VM.setCpuTunePeriod: the period in µs (1000-1000000) the quota applies to, as vdsm's vcpu_period. */
  setCpuTunePeriod(vmId: string, period: unknown): Promise<true> {
    return this.#scheduler(vmId, 'vcpu_period', period);
  }

  /** libvirt checks the range (quota -1 or 1000 and up, period 1000-1000000) and says so (62). */
  async #scheduler(vmId: string, field: 'vcpu_quota' | 'vcpu_period', value: unknown): Promise<true> {
    const vm = this.#o.vms.requireRunning(vmId);
    const n = wholeNumber(value);
    if (n === undefined) throw vdsmError(Errors.CPU_TUNE, `${Errors.CPU_TUNE.message}: an integer is required for ${field === 'vcpu_quota' ? 'quota' : 'period'}`);
    if (field === 'vcpu_period' && n < 0) throw vdsmError(Errors.CPU_TUNE, `${Errors.CPU_TUNE.message}: vcpu_period cannot be negative`);
    try {
      // AFFECT_CURRENT (the running domain), as vdsm's setSchedulerParameters; the test driver refuses LIVE.
      await this.#call('libvirt.setSchedulerParameters', { uuid: vm.vmId, params: { [field]: n }, flags: Impact.CURRENT });
    } catch (err) {
      throw this.#libvirtError(vm, err, Errors.CPU_TUNE);
    }
    this.#o.log.info({ vmId: vm.vmId, [field]: n }, 'vCPU tune set');
    // Read back as vdsm does: VM stats report libvirt's values (vcpuQuota / vcpuPeriod), not the request.
    await this.#o.vms.readVcpuTune(vm);
    await this.#o.vms.devicesChanged(vm);
    return true;
  }

  /**
   * VM.updateVmPolicy: the VM's SLA policy kept in its domain metadata, as vdsm keeps it (MOM applies it;
   * Host.getAllVmIoTunePolicies reports the I/O part): `vcpuLimit` (percent) replaces the one kept;
   * `ioTune` entries (a disk by name or path, or by its storage volume's ids; `maximum` and `guaranteed`
   * limits) replace the kept entry of their disk. Nothing is applied to the running VM here.
   */
  async updateVmPolicy(vmId: string, params: unknown): Promise<true> {
    const vm = this.#o.vms.requireRunning(vmId);
    if (typeof params !== 'object' || params === null || Array.isArray(params) || Object.keys(params).length === 0) {
      throw vdsmError(Errors.MISSING_PARAM, `${Errors.MISSING_PARAM.message}: updateVmPolicy got an empty policy.`);
    }
    const p = params as Record<string, unknown>;
    const qos = parseQos(await this.#liveXml(vm));
    if (p['vcpuLimit'] !== undefined) {
      const limit = String(p['vcpuLimit']);
      if (!/^\d+$/.test(limit)) throw policyError(`vcpuLimit must be a whole number, got ${JSON.stringify(p['vcpuLimit'])}`);
      qos.vcpuLimit = limit;
    }
    let ioTune = qos.ioTune;
    if (p['ioTune'] !== undefined) {
      if (!Array.isArray(p['ioTune'])) throw policyError('ioTune must be a list');
      const live = diskIoTunes(await this.#liveXml(vm));
      const updates = (p['ioTune'] as unknown[]).map((entry) => this.#ioTunePolicy(vm, entry, live));
      ioTune = mergeIoTune(ioTune, updates);
    }
    const unknown = Object.keys(p).filter((k) => k !== 'vcpuLimit' && k !== 'ioTune' && k !== 'vmId');
    if (unknown.length > 0) this.#o.log.warn({ vmId: vm.vmId, keys: unknown }, 'updateVmPolicy got unknown parameters');
    const metadata = qosXml({ ...(qos.vcpuLimit !== undefined ? { vcpuLimit: qos.vcpuLimit } : {}), ioTune });
    try {
      await this.#call('libvirt.setMetadata', { uuid: vm.vmId, type: MetadataType.ELEMENT, metadata, key: VM_TUNE_PREFIX, uri: VM_TUNE_URI, flags: Impact.CURRENT });
    } catch (err) {
      throw this.#libvirtError(vm, err, Errors.UPDATE_VM_POLICY);
    }
    this.#o.log.info({ vmId: vm.vmId, vcpuLimit: qos.vcpuLimit, ioTune: ioTune.length }, 'VM SLA policy updated');
    await this.#o.vms.devicesChanged(vm);
    return true;
  }

  #ioTunePolicy(vm: Vm, entry: unknown, live: ReturnType<typeof diskIoTunes>): IoTunePolicy {
    if (typeof entry !== 'object' || entry === null) throw policyError('each ioTune entry must be an object');
    const e = entry as Record<string, unknown>;
    let name = typeof e['name'] === 'string' ? e['name'] : '';
    let path = typeof e['path'] === 'string' ? e['path'] : '';
    if (name === '' && path === '') {
      // As vdsm: the disk named by all four ids of its storage volume.
      const d = vm.storageDrives.find((s) => s.domainID === e['domainID'] && s.poolID === e['poolID'] && s.imageID === e['imageID'] && s.volumeID === e['volumeID']);
      if (d === undefined) throw policyError(`no drive with the ids ${JSON.stringify({ domainID: e['domainID'], poolID: e['poolID'], imageID: e['imageID'], volumeID: e['volumeID'] })}`);
      name = d.name;
      path = live.find((l) => l.name === d.name)?.path ?? d.path;
    }
    const values = (v: unknown, what: string): Record<string, number> => {
      if (v === undefined) return {};
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw policyError(`${what} must be an object`);
      const out: Record<string, number> = {};
      for (const [k, raw] of Object.entries(v)) {
        const n = wholeNumber(raw);
        if (!(IOTUNE_KEYS as readonly string[]).includes(k) || n === undefined || n < 0) throw policyError(`${what}.${k}: not an I/O limit`);
        out[k] = n;
      }
      return out;
    };
    return { name, path, maximum: values(e['maximum'], 'maximum'), guaranteed: values(e['guaranteed'], 'guaranteed') };
  }

  #liveXml(vm: Vm): Promise<string> {
    return liveDomainXml(this.#o.libvirt, vm);
  }

  #libvirtError(vm: Vm, err: unknown, which: ErrorSpec): Error {
    return verbError(this.#o.log, vm, err, which);
  }

  #call<K extends ConnOpName>(op: K, args: CallArgs<K>): Promise<OpResult<K>> {
    return this.#o.libvirt.call(op, args);
  }
}
