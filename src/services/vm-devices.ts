// Device changes of a running VM: NIC and disk hot-plug and unplug, CD-ROM and floppy media (VM.changeCD, VM.changeFloppy) and the
// balloon target (VM.setBalloonTarget). Each is one libvirt call through the executor (attach, detach,
// update device, set memory; virDomainAttachDeviceFlags & co. with VIR_DOMAIN_AFFECT_LIVE, as vdsm's
// attachDevice on its transient domains), framed by vdsm's hook points; afterwards libvirt's live XML
// becomes the VM's, so VM stats and Host.dumpxmls show the change. An unplug answers once
// the guest released the device (libvirt's DEVICE_REMOVED event), as vdsm waits for it, at most
// HOTUNPLUG_TIMEOUT_MS. Disks on storage volumes are prepared before the plug and torn down after the
// unplug, through the same storage as VM.create's disks.
import type { Logger } from 'pino';
import { errorMessage, Errors, vdsmError, wrapError, type ErrorSpec } from '../errors.js';
import { Impact, MetadataType } from '../libvirt/constants.js';
import type { CallArgs, ConnOpName, Libvirt } from '../libvirt/client.js';
import { isNoDomain } from '../libvirt/errors.js';
import type { OpResult } from '../contracts/operations.js';
import type { Timers } from '../runtime/clock.js';
import type { VmHookPoint, VmHookSubject } from '../hooks/vm-hooks.js';
import { VmStatus } from '../virt/vm-state.js';
import { OVIRT_VM_NS } from '../virt/domain-xml.js';
import { withDriveDevice, withoutDriveDevice } from '../virt/drive-metadata.js';
import {
  changedMedium, DeviceSpecError, deviceAlias, deviceCustom, diskIdentity, driveXmlFromParams, engineDevice, liveDisk, liveInterface, macOf,
  nicXmlFromParams, volumeOf, withSource, type DeviceRequest, type DiskMatch, type DriveSpec, type VmDefinition,
} from '../virt/device-xml.js';
import type { Vm, VmDriveStorage } from './vm-manager.js';

export type { DeviceRequest, VmDefinition } from '../virt/device-xml.js';

/** vdsm's [vars] hotunplug_timeout default: how long the guest has to release an unplugged device. */
export const HOTUNPLUG_TIMEOUT_MS = 30_000;

/** What the device verbs need of the VM manager. */
export interface VmDevicesHost {
  requireRunning(vmId: string): Vm;
  get(vmId: string): Vm | undefined;
  devicesChanged(vm: Vm): Promise<void>;
  runHook(point: VmHookPoint, vm: VmHookSubject, params?: Record<string, string>): Promise<void>;
  runFailingHook(point: VmHookPoint, vm: VmHookSubject, params?: Record<string, string>): Promise<string>;
}

export interface VmDevicesOptions {
  vms: VmDevicesHost;
  libvirt: Libvirt;
  /** Storage for disks given as volumes (absent: such a hot-plug is refused with 45). */
  drives?: VmDriveStorage;
  timers: Timers;
  log: Logger;
  hotunplugTimeoutMs?: number;
}

function badSpec(err: unknown): never {
  if (err instanceof DeviceSpecError) throw vdsmError(Errors.INVALID_PARAMS, `${Errors.INVALID_PARAMS.message}: ${err.message}`);
  throw err;
}

function dict(v: unknown, name: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw vdsmError(Errors.INVALID_PARAMS, `${Errors.INVALID_PARAMS.message}: ${name}: an object is required`);
  return v as Record<string, unknown>;
}

/** libvirt's live XML of a running VM, through the executor (NO_VM when the domain is gone). */
export async function liveDomainXml(libvirt: Libvirt, vm: Vm): Promise<string> {
  try {
    return await libvirt.call('libvirt.xmlDesc', { uuid: vm.vmId, flags: 0 });
  } catch (err) {
    if (isNoDomain(err)) throw vdsmError(Errors.NO_VM, { vmId: vm.vmId });
    throw err;
  }
}

/** libvirt refusing a device or tuning verb: vdsm's error `which` with libvirt's reason (NO_VM for a domain gone), logged. */
export function verbError(log: Logger, vm: Vm, err: unknown, which: ErrorSpec): Error {
  if (isNoDomain(err)) return vdsmError(Errors.NO_VM, { vmId: vm.vmId });
  log.warn({ vmId: vm.vmId, err: errorMessage(err) }, which.message);
  return vdsmError(which, `${which.message}: ${errorMessage(err)}`, { cause: err });
}

export class VmDevices {
  readonly #o: VmDevicesOptions;
  /** Unplugs waiting for libvirt's DEVICE_REMOVED, per VM id then device alias. */
  readonly #removals = new Map<string, Map<string, () => void>>();

  constructor(o: VmDevicesOptions) {
    this.#o = o;
    o.libvirt.onEvent((e) => {
      if (e.event !== 'device-removed') return;
      const vmId = e.domain.uuid.toLowerCase();
      const wake = e.devAlias === null ? undefined : this.#removals.get(vmId)?.get(e.devAlias);
      if (wake !== undefined) return wake();
      // A device the guest released late (after its unplug timed out), or one removed by someone else.
      const vm = this.#o.vms.get(vmId);
      if (vm !== undefined && !vm.state.isDown) void this.#o.vms.devicesChanged(vm).catch(() => undefined);
    });
  }

  /** VM.hotplugNic: `<interface>` from the engine's XML or NIC dictionary, attached to the running domain. */
  async hotplugNic(vmId: string, req: DeviceRequest): Promise<VmDefinition> {
    const vm = this.#plugTarget(vmId);
    let xml: string;
    let custom: Record<string, string>;
    try {
      if (req.xml !== undefined) {
        const dev = engineDevice(req.xml as string, 'interface');
        xml = dev.xml;
        custom = dev.custom ?? {};
      } else {
        const nic = dict(req.nic, 'nic');
        xml = nicXmlFromParams(nic).xml;
        custom = deviceCustom(nic['custom']);
      }
    } catch (err) {
      badSpec(err);
    }
    const mac = macOf(xml);
    // As vdsm, the scripts get the NIC's custom properties (a vNIC profile's) in their environment.
    xml = await this.#o.vms.runFailingHook('before_nic_hotplug', this.#subject(vm, xml), custom);
    this.#o.log.info({ vmId: vm.vmId, mac }, 'hot-plugging a NIC');
    try {
      await this.#call('libvirt.attachDeviceFlags', { uuid: vm.vmId, xml, flags: Impact.LIVE });
    } catch (err) {
      await this.#o.vms.runHook('after_nic_hotplug_fail', this.#subject(vm, xml), custom);
      throw this.#libvirtError(vm, err, Errors.HOTPLUG_NIC);
    }
    await this.#o.vms.devicesChanged(vm);
    await this.#o.vms.runHook('after_nic_hotplug', this.#subject(vm, xml), custom);
    return this.definition(vm);
  }

  /** VM.hotunplugNic: the live NIC with the request's MAC address detached; answers once the guest let it go. */
  async hotunplugNic(vmId: string, req: DeviceRequest): Promise<VmDefinition> {
    const vm = this.#plugTarget(vmId);
    let mac: string | undefined;
    try {
      mac = req.xml !== undefined ? macOf(engineDevice(req.xml as string, 'interface').xml) : String(dict(req.nic, 'nic')['macAddr'] ?? '');
    } catch (err) {
      badSpec(err);
    }
    if (mac === undefined || mac === '') throw vdsmError(Errors.INVALID_PARAMS, `${Errors.INVALID_PARAMS.message}: the NIC's MAC address is required`);
    const live = await this.#liveXml(vm);
    const xml = liveInterface(live, mac);
    if (xml === undefined) throw vdsmError(Errors.HOTUNPLUG_NIC, `${Errors.HOTUNPLUG_NIC.message}: NIC not found: ${mac}`);
    await this.#o.vms.runFailingHook('before_nic_hotunplug', this.#subject(vm, xml));
    this.#o.log.info({ vmId: vm.vmId, mac }, 'hot-unplugging a NIC');
    try {
      await this.#detach(vm, xml);
    } catch (err) {
      await this.#o.vms.runHook('after_nic_hotunplug_fail', this.#subject(vm, xml));
      throw this.#libvirtError(vm, err, Errors.HOTUNPLUG_NIC);
    }
    await this.#o.vms.devicesChanged(vm);
    await this.#o.vms.runHook('after_nic_hotunplug', this.#subject(vm, xml));
    return this.definition(vm);
  }

  /**
   * VM.hotplugDisk: `<disk>` from the engine's XML or drive dictionary; a disk on a storage volume
   * (poolID/domainID/imageID/volumeID, in the dictionary or the XML's metadata) is prepared first and
   * its source pointed at the volume, as VM.create does.
   */
  async hotplugDisk(vmId: string, req: DeviceRequest): Promise<VmDefinition> {
    const vm = this.#plugTarget(vmId);
    const used = new Set(vm.domain.disks.map((d) => d.target));
    let spec: DriveSpec;
    let drive: Record<string, unknown> | undefined;
    try {
      if (req.xml !== undefined) {
        const dev = engineDevice(req.xml as string, 'disk');
        const target = diskIdentity(dev.xml).target ?? '';
        if (target === '') throw new DeviceSpecError('xml: the disk has no <target dev>');
        if (used.has(target)) throw new DeviceSpecError(`xml: the VM already has a disk ${target}`);
        const volume = dev.metadata !== undefined ? volumeOf(dev.metadata) : undefined;
        spec = { xml: dev.xml, target, ...(volume !== undefined ? { volume } : {}) };
      } else {
        drive = dict(req.drive, 'drive');
        const volume = volumeOf(drive);
        // Validated before anything is prepared; the real path is filled in once it is.
        spec = driveXmlFromParams(drive, used, volume !== undefined ? '/volume' : undefined);
      }
    } catch (err) {
      badSpec(err);
    }
    let prepared: string | undefined;
    if (spec.volume !== undefined) {
      if (this.#o.drives === undefined) throw vdsmError(Errors.HOTPLUG_DISK, `${Errors.HOTPLUG_DISK.message}: this agent has no storage to prepare the volume`);
      try {
        prepared = await this.#o.drives.prepare(spec.volume);
      } catch (err) {
        throw wrapError(Errors.HOTPLUG_DISK, err, { vmId: vm.vmId });
      }
      spec.xml = drive !== undefined ? driveXmlFromParams(drive, used, prepared).xml : withSource(spec.xml, prepared);
    }
    const teardown = async (): Promise<void> => {
      if (spec.volume === undefined || prepared === undefined) return;
      await this.#o.drives!.teardown({ name: spec.target, ...spec.volume, path: prepared }).catch((err: unknown) => this.#o.log.warn({ vmId: vm.vmId, drive: spec.target, err: errorMessage(err) }, 'image teardown failed'));
    };
    let xml: string;
    try {
      xml = await this.#o.vms.runFailingHook('before_disk_hotplug', this.#subject(vm, spec.xml));
    } catch (err) {
      await teardown();
      throw err;
    }
    this.#o.log.info({ vmId: vm.vmId, drive: spec.target, ...(prepared !== undefined ? { path: prepared } : {}) }, 'hot-plugging a disk');
    try {
      await this.#call('libvirt.attachDeviceFlags', { uuid: vm.vmId, xml, flags: Impact.LIVE });
    } catch (err) {
      await teardown();
      throw this.#libvirtError(vm, err, Errors.HOTPLUG_DISK);
    }
    if (spec.volume !== undefined && prepared !== undefined) {
      const d = { name: spec.target, ...spec.volume, path: prepared };
      vm.storageDrives.push(d);
      // As vdsm: the drive's identity in the domain metadata, so a restarted agent still knows its image.
      await this.#setDriveMetadata(vm, (live) => withDriveDevice(live, d), d.name);
    }
    await this.#o.vms.devicesChanged(vm);
    await this.#o.vms.runHook('after_disk_hotplug', this.#subject(vm, xml));
    return this.definition(vm);
  }

  /**
   * VM.hotunplugDisk: the live disk the request names (alias, target, path or serial in the XML; path,
   * name, serial or the storage volume in the dictionary) detached; answers once the guest let it go,
   * then a prepared volume is torn down.
   */
  async hotunplugDisk(vmId: string, req: DeviceRequest): Promise<VmDefinition> {
    const vm = this.#plugTarget(vmId);
    let match: DiskMatch;
    try {
      match = req.xml !== undefined ? diskIdentity(engineDevice(req.xml as string, 'disk').xml) : this.#driveMatch(vm, dict(req.drive, 'drive'));
    } catch (err) {
      badSpec(err);
    }
    const live = await this.#liveXml(vm);
    const disk = liveDisk(live, match);
    if (disk === undefined) throw vdsmError(Errors.HOTUNPLUG_DISK, `${Errors.HOTUNPLUG_DISK.message}: disk not found: ${JSON.stringify(match)}`);
    await this.#o.vms.runFailingHook('before_disk_hotunplug', this.#subject(vm, disk.xml));
    this.#o.log.info({ vmId: vm.vmId, drive: disk.target }, 'hot-unplugging a disk');
    try {
      await this.#detach(vm, disk.xml);
    } catch (err) {
      throw this.#libvirtError(vm, err, Errors.HOTUNPLUG_DISK);
    }
    const i = vm.storageDrives.findIndex((d) => d.name === disk.target);
    if (i >= 0) {
      const [d] = vm.storageDrives.splice(i, 1);
      // A recovered VM: the drive is no longer prepared again; a prepare of it still in flight (which may
      // hang on its storage) is not waited for, it tears the image down again when it returns.
      await this.#o.drives?.teardown(d!).catch((err: unknown) => this.#o.log.warn({ vmId: vm.vmId, drive: d!.name, err: errorMessage(err) }, 'image teardown failed'));
      await this.#setDriveMetadata(vm, (live) => withoutDriveDevice(live, d!.name), d!.name);
    }
    await this.#o.vms.devicesChanged(vm);
    await this.#o.vms.runHook('after_disk_hotunplug', this.#subject(vm, disk.xml));
    return this.definition(vm);
  }

  /**
   * VM.changeCD: a new medium in the VM's CD-ROM (its first, or the one `driveSpec` names by
   * `name` / iface+index), or none: an empty path ejects. `driveSpec` is a path or `{path}` (a storage
   * volume medium is not served: 41).
   */
  changeCD(vmId: string, driveSpec: unknown): Promise<VmDefinition> {
    return this.#changeMedium(vmId, driveSpec, 'cdrom');
  }

  /** VM.changeFloppy: the same as changeCD for the VM's floppy drive (vdsm's twin verb, error 41 too). */
  changeFloppy(vmId: string, driveSpec: unknown): Promise<VmDefinition> {
    return this.#changeMedium(vmId, driveSpec, 'floppy');
  }

  async #changeMedium(vmId: string, driveSpec: unknown, device: 'cdrom' | 'floppy'): Promise<VmDefinition> {
    const vm = this.#o.vms.requireRunning(vmId);
    const what = device === 'cdrom' ? 'CD' : 'floppy';
    let path: string;
    let target: string | undefined;
    if (typeof driveSpec === 'string') path = driveSpec;
    else if (typeof driveSpec === 'object' && driveSpec !== null && !Array.isArray(driveSpec)) {
      const d = driveSpec as Record<string, unknown>;
      if (d['domainID'] !== undefined || d['imageID'] !== undefined) throw vdsmError(Errors.CHANGE_DISK, `${Errors.CHANGE_DISK.message}: a ${what} on a storage volume is not served here (give its path)`);
      path = typeof d['path'] === 'string' ? d['path'] : '';
      if (typeof d['name'] === 'string' && d['name'] !== '') target = d['name'];
    } else throw vdsmError(Errors.INVALID_PARAMS, `${Errors.INVALID_PARAMS.message}: driveSpec: a path or {path} is required`);
    if (path.includes('\0')) throw vdsmError(Errors.INVALID_PARAMS, `${Errors.INVALID_PARAMS.message}: driveSpec: a path cannot hold NUL`);
    const live = await this.#liveXml(vm);
    const drive = changedMedium(live, device, path, target);
    if (drive === undefined) throw vdsmError(Errors.CHANGE_DISK, `${Errors.CHANGE_DISK.message}: the VM has no ${device === 'cdrom' ? 'CD-ROM' : 'floppy'} drive${target !== undefined ? ` ${target}` : ''}`);
    this.#o.log.info({ vmId: vm.vmId, drive: drive.target, path: path === '' ? undefined : path }, path === '' ? `ejecting the ${what}` : `changing the ${what}`);
    try {
      await this.#call('libvirt.updateDeviceFlags', { uuid: vm.vmId, xml: drive.xml, flags: Impact.LIVE });
    } catch (err) {
      throw this.#libvirtError(vm, err, Errors.CHANGE_DISK);
    }
    await this.#o.vms.devicesChanged(vm);
    return this.definition(vm);
  }

  /** VM.setBalloonTarget: the guest's memory target in KiB (virDomainSetMemoryFlags, live). */
  async setBalloonTarget(vmId: string, target: unknown): Promise<true> {
    const vm = this.#o.vms.requireRunning(vmId);
    const kib = typeof target === 'string' && /^\d+$/.test(target) ? Number(target) : target;
    if (typeof kib !== 'number' || !Number.isSafeInteger(kib) || kib < 0) throw vdsmError(Errors.BALLOON, `${Errors.BALLOON.message}: target: a whole number of KiB is required, got ${JSON.stringify(target)}`);
    if (!vm.domain.balloon) throw vdsmError(Errors.BALLOON, `${Errors.BALLOON.message}: the VM has no balloon device`);
    if (kib > vm.domain.memoryKiB) throw vdsmError(Errors.BALLOON, `${Errors.BALLOON.message}: target ${kib} KiB is above the VM's memory (${vm.domain.memoryKiB} KiB)`);
    try {
      await this.#call('libvirt.setMemoryFlags', { uuid: vm.vmId, memoryKiB: kib, flags: Impact.LIVE });
    } catch (err) {
      throw this.#libvirtError(vm, err, Errors.BALLOON);
    }
    this.#o.log.info({ vmId: vm.vmId, targetKiB: kib }, 'balloon target set');
    await this.#o.vms.devicesChanged(vm);
    return true;
  }

  /** vdsm's `vmList` of a device verb: the VM's status and its NICs and disks as they are now. */
  definition(vm: Vm): VmDefinition {
    const d = vm.domain;
    const devices: Record<string, unknown>[] = [
      ...d.nics.map((n) => ({
        type: 'interface', device: n.type, macAddr: n.mac, nicModel: n.model,
        ...(n.source !== undefined ? { network: n.source } : {}), ...(n.target !== undefined ? { name: n.target } : {}), ...(n.alias !== undefined ? { alias: n.alias } : {}),
      })),
      ...d.disks.map((k) => {
        const volume = vm.storageDrives.find((s) => s.name === k.target);
        return {
          type: 'disk', device: k.device, name: k.target, ...(k.bus !== undefined ? { iface: k.bus } : {}), ...(k.path !== undefined ? { path: k.path } : {}),
          ...(k.serial !== undefined ? { serial: k.serial } : {}), ...(k.format !== undefined ? { format: k.format === 'qcow2' ? 'cow' : k.format } : {}),
          readonly: k.readonly, ...(k.alias !== undefined ? { alias: k.alias } : {}),
          ...(volume !== undefined ? { poolID: volume.poolID, domainID: volume.domainID, imageID: volume.imageID, volumeID: volume.volumeID } : {}),
        };
      }),
    ];
    return { vmId: vm.vmId, status: vm.state.status, statusTime: String(vm.state.statusTime), devices };
  }

  /** A running VM that is not migrating away (vdsm's _not_migrating guard: 51). */
  #plugTarget(vmId: string): Vm {
    const vm = this.#o.vms.requireRunning(vmId);
    if (vm.state.status === VmStatus.MIGRATION_SOURCE) throw vdsmError(Errors.MIGRATION_IN_PROGRESS, { vmId: vm.vmId });
    return vm;
  }

  /** The disk a drive dictionary names: its storage volume's target, else path, name or serial. */
  #driveMatch(vm: Vm, d: Record<string, unknown>): DiskMatch {
    const volume = volumeOf(d);
    if (volume !== undefined) {
      const prepared = vm.storageDrives.find((s) => s.imageID === volume.imageID && s.volumeID === volume.volumeID && s.domainID === volume.domainID);
      if (prepared === undefined) throw vdsmError(Errors.HOTUNPLUG_DISK, `${Errors.HOTUNPLUG_DISK.message}: no disk of volume ${volume.volumeID}`);
      return { target: prepared.name };
    }
    for (const [key, name] of [['path', 'path'], ['target', 'name'], ['serial', 'serial']] as const) {
      const v = d[name];
      if (typeof v === 'string' && v !== '') return { [key]: v };
    }
    throw new DeviceSpecError('drive: path, name, serial or domainID/imageID/volumeID is required');
  }

  /** The hook scripts get the device's XML (vdsm's nicxml / drivexml) and the VM's custom properties. */
  #subject(vm: Vm, xml: string): VmHookSubject {
    return { vmId: vm.vmId, xml, domain: vm.domain };
  }

  /**
   * Rewrite the live ovirt-vm metadata (virDomainSetMetadata, live: the domain is transient) with the
   * fragment `change` makes of the live XML (undefined: nothing to change). The device is already
   * plugged or unplugged, so a failure is logged, not returned.
   */
  async #setDriveMetadata(vm: Vm, change: (live: string) => string | undefined, drive: string): Promise<void> {
    try {
      const metadata = change(await this.#o.libvirt.call('libvirt.xmlDesc', { uuid: vm.vmId, flags: 0 }));
      if (metadata === undefined) return;
      await this.#o.libvirt.call('libvirt.setMetadata', { uuid: vm.vmId, type: MetadataType.ELEMENT, metadata, key: 'ovirt-vm', uri: OVIRT_VM_NS, flags: Impact.LIVE });
    } catch (err) {
      this.#o.log.error({ vmId: vm.vmId, drive, err: errorMessage(err) }, 'the drive could not be recorded in (or removed from) the VM\'s metadata');
    }
  }

  #liveXml(vm: Vm): Promise<string> {
    return liveDomainXml(this.#o.libvirt, vm);
  }

  /**
   * Detach and wait for the guest to release the device (DEVICE_REMOVED for its alias). A device
   * without an alias (libvirt gives every live device one) is taken as gone when the call returns.
   */
  async #detach(vm: Vm, xml: string): Promise<void> {
    const alias = deviceAlias(xml);
    if (alias === undefined) {
      await this.#call('libvirt.detachDeviceFlags', { uuid: vm.vmId, xml, flags: Impact.LIVE });
      return;
    }
    let waiting = this.#removals.get(vm.vmId);
    if (waiting === undefined) this.#removals.set(vm.vmId, (waiting = new Map()));
    const pending = waiting;
    let timer: unknown;
    const removed = new Promise<boolean>((resolve) => {
      pending.set(alias, () => resolve(true));
      timer = this.#o.timers.setTimeout(() => resolve(false), this.#o.hotunplugTimeoutMs ?? HOTUNPLUG_TIMEOUT_MS);
    });
    try {
      await this.#call('libvirt.detachDeviceFlags', { uuid: vm.vmId, xml, flags: Impact.LIVE });
      if (!(await removed)) {
        // libvirt removes a device whose guest never answered once it does: the event then refreshes the devices.
        throw new Error(`the guest did not release device ${alias} within ${(this.#o.hotunplugTimeoutMs ?? HOTUNPLUG_TIMEOUT_MS) / 1000} s`);
      }
    } finally {
      if (timer !== undefined) this.#o.timers.clearTimeout(timer);
      pending.delete(alias);
      if (pending.size === 0) this.#removals.delete(vm.vmId);
    }
  }

  #libvirtError(vm: Vm, err: unknown, which: ErrorSpec): Error {
    return verbError(this.#o.log, vm, err, which);
  }

  #call<K extends ConnOpName>(op: K, args: CallArgs<K>): Promise<OpResult<K>> {
    return this.#o.libvirt.call(op, args);
  }
}
