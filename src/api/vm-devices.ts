// The VM verbs that change a running VM's devices: VM.hotplugNic / hotunplugNic, VM.hotplugDisk /
// hotunplugDisk, VM.changeCD, VM.changeFloppy and VM.setBalloonTarget (src/services/vm-devices.ts; docs/engine-verbs.md).
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';
import type { DeviceRequest, VmDefinition } from '../virt/device-xml.js';

/** The device verbs (VmDevices). Unknown VMs are NO_VM (1), Down ones VM_DOWN (6). */
export interface VmDevicesPort {
  hotplugNic(vmId: string, req: DeviceRequest): Promise<VmDefinition>;
  hotunplugNic(vmId: string, req: DeviceRequest): Promise<VmDefinition>;
  hotplugDisk(vmId: string, req: DeviceRequest): Promise<VmDefinition>;
  hotunplugDisk(vmId: string, req: DeviceRequest): Promise<VmDefinition>;
  changeCD(vmId: string, driveSpec: unknown): Promise<VmDefinition>;
  changeFloppy(vmId: string, driveSpec: unknown): Promise<VmDefinition>;
  setBalloonTarget(vmId: string, target: unknown): Promise<true>;
}

export interface VmDevicesApiDeps {
  devices: VmDevicesPort;
}

const vmID = { name: 'vmID', type: s.string(), description: 'The VM UUID.' } as const;

const definition = s.named('VmDeviceDefinition', s.object({
  vmId: s.string(),
  status: s.string(),
  statusTime: s.string(),
  devices: s.array(s.map(s.any())),
}));

const nicParams = s.named('HotplugNicParams', s.object({
  vmId: s.optional(s.string(), 'The VM UUID (the engine repeats it).'),
  xml: s.optional(s.string(), 'The engine\'s device XML: `<hotplug><devices><interface .../></devices><metadata>...</metadata></hotplug>`.'),
  nic: s.optional(s.map(s.any()), 'The older NIC dictionary: macAddr, network (the host bridge), nicModel (virtio, e1000, rtl8139; pv is virtio), linkActive, filter, bootOrder, alias.'),
}));

const diskParams = s.named('HotplugDiskParams', s.object({
  vmId: s.optional(s.string(), 'The VM UUID (the engine repeats it).'),
  xml: s.optional(s.string(), 'The engine\'s device XML: `<hotplug><devices><disk .../></devices><metadata>` with the disk\'s `<ovirt-vm:device>` (poolID, domainID, imageID, volumeID) for a storage volume.'),
  drive: s.optional(s.map(s.any()), 'The older drive dictionary: path, or poolID/domainID/imageID/volumeID; iface (virtio, scsi, sata, ide), name or index, format (cow, raw), device (disk, lun, cdrom), readonly, serial, shared, propagateErrors, diskType, alias.'),
}));

const ONE_OF = (a: string, b: string) => `Either \`${a}\` or \`${b}\` is required.`;

function request(p: unknown, other: 'nic' | 'drive'): DeviceRequest {
  const r = (p ?? {}) as Record<string, unknown>;
  return { ...(r['xml'] !== undefined ? { xml: r['xml'] } : {}), ...(r[other] !== undefined ? { [other]: r[other] } : {}) };
}

export const apiMethods: ApiMethodsFactory<VmDevicesApiDeps> = (deps) => {
  const methods: MethodSpec[] = [
    {
      name: 'VM.hotplugNic',
      description: `Add a network interface to the running VM (virDomainAttachDeviceFlags, live), on the host bridge its network names. ${ONE_OF('params.xml', 'params.nic')} Hook points before_nic_hotplug (its scripts' XML is what is attached; a failure refuses the plug: 78), after_nic_hotplug, after_nic_hotplug_fail.`,
      params: [vmID, { name: 'params', type: nicParams, description: 'The device: the engine\'s XML or the NIC dictionary.' }],
      result: definition,
      resultDescription: 'vdsm\'s `vmList`: the VM\'s status and devices (NICs and disks) after the plug. Error 1 unknown VM, 6 down, 51 migrating, -32602 a device spec that cannot be used, 49 libvirt refused (its reason in the message).',
      handler: ({ vmID: id, params: p }) => deps.devices.hotplugNic(id as string, request(p, 'nic')),
    },
    {
      name: 'VM.hotunplugNic',
      description: `Remove the VM's network interface with the request's MAC address (virDomainDetachDeviceFlags, live); answers once the guest released it (libvirt's DEVICE_REMOVED), at most 30 s. ${ONE_OF('params.xml', 'params.nic')} Hook points before_nic_hotunplug (a failure refuses: 78), after_nic_hotunplug, after_nic_hotunplug_fail.`,
      params: [vmID, { name: 'params', type: nicParams, description: 'The device: the engine\'s XML or `{nic: {macAddr}}`.' }],
      result: definition,
      resultDescription: 'vdsm\'s `vmList` after the unplug. Error 1, 6, 51, -32602 as VM.hotplugNic; 50 no NIC with that MAC, libvirt refused, or the guest did not release it in time.',
      handler: ({ vmID: id, params: p }) => deps.devices.hotunplugNic(id as string, request(p, 'nic')),
    },
    {
      name: 'VM.hotplugDisk',
      description: `Add a disk to the running VM (virDomainAttachDeviceFlags, live). A disk on a storage volume is prepared first (Image.prepare, as VM.create's disks) and torn down again if the plug fails. ${ONE_OF('params.xml', 'params.drive')} Hook points before_disk_hotplug (its scripts' XML is what is attached; a failure refuses: 78) and after_disk_hotplug.`,
      params: [vmID, { name: 'params', type: diskParams, description: 'The device: the engine\'s XML or the drive dictionary.' }],
      result: definition,
      resultDescription: 'vdsm\'s `vmList` after the plug. Error 1, 6, 51; -32602 a device spec that cannot be used (no path, a target the VM has already, an unknown bus); 45 the volume could not be prepared or libvirt refused.',
      handler: ({ vmID: id, params: p }) => deps.devices.hotplugDisk(id as string, request(p, 'drive')),
    },
    {
      name: 'VM.hotunplugDisk',
      description: `Remove a disk from the running VM (virDomainDetachDeviceFlags, live): the one the XML names by alias, target, path or serial, or the dictionary by its storage volume, path, name or serial. Answers once the guest released it (at most 30 s), then a prepared volume is torn down. ${ONE_OF('params.xml', 'params.drive')} Hook points before_disk_hotunplug (a failure refuses: 78) and after_disk_hotunplug.`,
      params: [vmID, { name: 'params', type: diskParams, description: 'The device: the engine\'s XML or the drive dictionary.' }],
      result: definition,
      resultDescription: 'vdsm\'s `vmList` after the unplug. Error 1, 6, 51, -32602; 46 no such disk, libvirt refused, or the guest did not release it in time.',
      handler: ({ vmID: id, params: p }) => deps.devices.hotunplugDisk(id as string, request(p, 'drive')),
    },
    {
      name: 'VM.changeCD',
      description: 'Put a medium in the VM\'s CD-ROM drive (its first, or the one `driveSpec.name` names), or eject it with an empty path (virDomainUpdateDeviceFlags, live).',
      params: [vmID, { name: 'driveSpec', type: s.union(s.string(), s.map(s.any())), description: 'The medium: a path, or `{path, name?}`; `""` ejects.' }],
      result: definition,
      resultDescription: 'vdsm\'s `vmList` after the change. Error 1, 6; -32602 a driveSpec that is neither; 41 no CD-ROM drive, a medium on a storage volume (not served), or libvirt refused.',
      handler: ({ vmID: id, driveSpec }) => deps.devices.changeCD(id as string, driveSpec),
    },
    {
      name: 'VM.changeFloppy',
      description: 'Put a medium in the VM\'s floppy drive (its first, or the one `driveSpec.name` names), or eject it with an empty path (virDomainUpdateDeviceFlags, live): VM.changeCD\'s twin.',
      params: [vmID, { name: 'driveSpec', type: s.union(s.string(), s.map(s.any())), description: 'The medium: a path, or `{path, name?}`; `""` ejects.' }],
      result: definition,
      resultDescription: 'vdsm\'s `vmList` after the change. Error 1, 6; -32602 a driveSpec that is neither; 41 no floppy drive, a medium on a storage volume (not served), or libvirt refused.',
      handler: ({ vmID: id, driveSpec }) => deps.devices.changeFloppy(id as string, driveSpec),
    },
    {
      name: 'VM.setBalloonTarget',
      description: 'Set the memory the guest\'s balloon driver should leave it, in KiB (virDomainSetMemoryFlags, live).',
      params: [vmID, { name: 'target', type: s.union(s.int(), s.string()), description: 'KiB, at most the VM\'s memory.' }],
      result: s.bool(),
      resultDescription: '`true`. Error 1, 6; 53 a VM without a balloon device, a target that is not a whole number or above the VM\'s memory, or libvirt refused.',
      handler: ({ vmID: id, target }) => deps.devices.setBalloonTarget(id as string, target),
    },
  ];
  return methods;
};
