// The VM verbs that change a running VM's resource limits: VM.setIoTune, VM.setCpuTuneQuota,
// VM.setCpuTunePeriod, VM.updateVmPolicy (src/services/vm-tune.ts; docs/engine-verbs.md).
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';

/** The limit verbs (VmTune). Unknown VMs are NO_VM (1), Down ones VM_DOWN (6). */
export interface VmTunePort {
  setIoTune(vmId: string, tunables: unknown): Promise<true>;
  setCpuTuneQuota(vmId: string, quota: unknown): Promise<true>;
  setCpuTunePeriod(vmId: string, period: unknown): Promise<true>;
  updateVmPolicy(vmId: string, params: unknown): Promise<true>;
}

export interface VmTuneApiDeps {
  tune: VmTunePort;
}

const vmID = { name: 'vmID', type: s.string(), description: 'The VM UUID.' } as const;
const wholeNumber = s.union(s.int(), s.string());

const ioTuneChange = s.named('VmDiskIoTuneChange', s.object({
  name: s.optional(s.string(), 'The disk\'s target (vda).'),
  path: s.optional(s.string(), 'Or its source path.'),
  ioTune: s.field(s.map(s.any()), 'Limits to change: total_bytes_sec, read_bytes_sec, write_bytes_sec, total_iops_sec, read_iops_sec, write_iops_sec (0 is no limit); the others stay.'),
}));

export const apiMethods: ApiMethodsFactory<VmTuneApiDeps> = (deps) => {
  const methods: MethodSpec[] = [
    {
      name: 'VM.setIoTune',
      description: 'Change the I/O limits of disks of the running VM (virDomainSetBlockIoTune, live): each entry\'s limits are merged over the disk\'s current ones. Host.getAllVmIoTunePolicies reports them.',
      params: [vmID, { name: 'tunables', type: s.array(ioTuneChange), description: 'One entry per disk.' }],
      result: s.bool(),
      resultDescription: '`true`. Error 1, 6; 64 an unknown disk, an unknown key, a value that is not a whole number >= 0, a total limit with a read or write limit of the same kind, or libvirt refused (entries before it were applied).',
      handler: ({ vmID: id, tunables }) => deps.tune.setIoTune(id as string, tunables),
    },
    {
      name: 'VM.setCpuTuneQuota',
      description: 'Set the vCPUs\' bandwidth quota in µs per period (-1: none), the cgroup cpu controller\'s vcpu_quota (virDomainSetSchedulerParametersFlags, live); MOM and the engine\'s CPU limit QoS set it.',
      params: [vmID, { name: 'quota', type: wholeNumber, description: 'µs per period, or -1.' }],
      result: s.bool(),
      resultDescription: '`true`. Error 1, 6; 62 not a whole number, or libvirt refused (out of its range, no cgroup cpu controller).',
      handler: ({ vmID: id, quota }) => deps.tune.setCpuTuneQuota(id as string, quota),
    },
    {
      name: 'VM.setCpuTunePeriod',
      description: 'Set the period in µs the vCPU quota applies to (vcpu_period, virDomainSetSchedulerParametersFlags, live).',
      params: [vmID, { name: 'period', type: wholeNumber, description: 'µs (libvirt: 1000-1000000).' }],
      result: s.bool(),
      resultDescription: '`true`. Error 1, 6; 62 not a whole number, negative, or libvirt refused.',
      handler: ({ vmID: id, period }) => deps.tune.setCpuTunePeriod(id as string, period),
    },
    {
      name: 'VM.updateVmPolicy',
      description: 'Keep the VM\'s SLA policy in its domain metadata (`ovirt-tune:qos`, as vdsm; MOM applies it): `vcpuLimit` (percent) and `ioTune` (per disk: `maximum` and `guaranteed` limits). Host.getAllVmIoTunePolicies reports the I/O part as `policy`.',
      params: [vmID, { name: 'params', type: s.named('VmPolicyParams', s.object({
        vmId: s.optional(s.string(), 'The VM UUID (the engine repeats it).'),
        vcpuLimit: s.optional(s.union(s.int(), s.string()), 'Percent of the host\'s CPU the VM may use.'),
        ioTune: s.optional(s.array(s.map(s.any())), 'Per disk: name or path, or domainID/poolID/imageID/volumeID; maximum and guaranteed: {total_bytes_sec, read_bytes_sec, write_bytes_sec, total_iops_sec, read_iops_sec, write_iops_sec}.'),
      })), description: 'The properties to change; those not given stay.' }],
      result: s.bool(),
      resultDescription: '`true`. Error 1, 6; 11 an empty policy; 63 a disk that is not found, a value that is not a limit, or libvirt refused the metadata.',
      handler: ({ vmID: id, params }) => deps.tune.updateVmPolicy(id as string, params),
    },
  ];
  return methods;
};
