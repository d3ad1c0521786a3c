// Host verbs a running engine (and MOM) polls that report on work in progress: getAllVmIoTunePolicies
// and getJobs.
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';
import type { VmPort } from './ports.js';

export interface HostEngineDeps {
  vms: Pick<VmPort, 'ioTunePolicies'>;
}

/** vdsm's JobType enum. */
const JOB_TYPES = ['storage', 'v2v'] as const;

const ioTuneValues = s.named('IoTuneValues', s.object({
  total_bytes_sec: s.int(), read_bytes_sec: s.int(), write_bytes_sec: s.int(),
  total_iops_sec: s.int(), read_iops_sec: s.int(), write_iops_sec: s.int(),
}));

export const apiMethods: ApiMethodsFactory<HostEngineDeps> = (deps) => {
  const methods: MethodSpec[] = [
    {
      name: 'Host.getAllVmIoTunePolicies',
      description: "Per running VM, its disk I/O tune policy and each hard disk's current limits, read from libvirt's live domain XML (`<iotune>`) through the executor.",
      params: [],
      result: s.map(s.named('VmIoTunePolicy', s.object({
        policy: s.field(s.array(s.any()), 'The policy VM.setIoTunePolicy would set; always empty here (that verb is not served).'),
        current_values: s.array(s.named('DiskIoTune', s.object({
          name: s.field(s.string(), 'Disk target device, e.g. vda.'),
          path: s.field(s.string(), "The disk's source ('' when none)."),
          ioTune: ioTuneValues,
        }))),
      }))),
      resultDescription: 'vmId -> `{policy, current_values: [{name, path, ioTune: {total_bytes_sec, read_bytes_sec, write_bytes_sec, total_iops_sec, read_iops_sec, write_iops_sec}}]}`; a limit that is not set is 0. VMs libvirt cannot describe are left out.',
      handler: () => deps.vms.ioTunePolicies(),
    },
    {
      name: 'Host.getJobs',
      description: 'Host jobs (vdsm\'s SDM storage jobs and v2v imports) by type and id. This agent runs neither kind (its storage work is HSM tasks: Host.getAllTasks), so the answer is always empty.',
      params: [
        { name: 'job_type', type: s.enumOf(JOB_TYPES), optional: true, description: 'Only jobs of this type (storage or v2v).' },
        { name: 'job_ids', type: s.array(s.string()), default: [], description: 'Only these job ids (all when empty).' },
      ],
      result: s.map(s.any()),
      resultDescription: 'jobId -> job info; `{}`.',
      handler: () => ({}),
    },
  ];
  return methods;
};
