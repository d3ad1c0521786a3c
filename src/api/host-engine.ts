// Host verbs a running engine (and MOM) calls to look at the host's VMs, jobs and block devices:
// getAllVmIoTunePolicies, getJobs, getDeviceList.
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';
import type { ApiResult, VmPort } from './ports.js';

export interface HostEngineDeps {
  vms: Pick<VmPort, 'ioTunePolicies' | 'snapshotJobs'>;
  /** The host's multipath block devices (src/host/multipath-devices.ts). */
  blockDevices: (guids: readonly string[], checkStatus: boolean) => Promise<ApiResult<'Host.getDeviceList'>>;
}

/** vdsm's job types: its schema's enum (storage, v2v) plus `virt`, the type of its VM jobs (VM.snapshot). */
const JOB_TYPES = ['storage', 'v2v', 'virt'] as const;

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
      description: 'Host jobs by type and id: vdsm\'s SDM storage jobs and v2v imports, which this agent never runs (its storage work is HSM tasks: Host.getAllTasks), and virt jobs: the VM.snapshot jobs (running, then done, or failed with error 48 and the reason; forgotten `[jobs] autodelete_delay` seconds after they finish).',
      params: [
        { name: 'job_type', type: s.enumOf(JOB_TYPES), optional: true, description: 'Only jobs of this type (storage, v2v or virt).' },
        { name: 'job_ids', type: s.array(s.string()), default: [], description: 'Only these job ids (all when empty).' },
      ],
      result: s.map(s.any()),
      resultDescription: 'jobId -> `{id, status, description, job_type}` (and `error: {code, message}` for a failed one); `{}` when there is none.',
      handler: ({ job_type, job_ids }) => (job_type === undefined || job_type === 'virt' ? deps.vms.snapshotJobs(job_ids as string[]) : {}),
    },
    {
      name: 'Host.getDeviceList',
      description: "The host's multipath block devices (device-mapper devices with an `mpath-` uuid), read from sysfs: no command runs, no device is opened. A host without multipath (this agent's usual LOCALFS host) answers `[]`.",
      params: [
        { name: 'storageType', type: s.union(s.int(), s.string()), optional: true, description: 'The storage type the engine asks for (its StorageType number, 2 FCP or 3 iSCSI, or a name); accepted, not used to filter (vdsm lists every multipath device too).' },
        { name: 'guids', type: s.array(s.string()), default: [], description: 'Only these device GUIDs (all when empty).' },
        { name: 'checkStatus', type: s.bool(), default: true, description: 'Add `status` to each device (`unknown` here: the device contents are not inspected).' },
        { name: 'refresh', type: s.bool(), default: true, description: 'Accepted; no SCSI rescan is made (that needs root and touches the host\'s buses).' },
      ],
      result: s.array(s.named('BlockDeviceInfo', s.object({
        GUID: s.string(), capacity: s.field(s.string(), 'Bytes.'), devtype: s.field(s.string(), 'iSCSI, FCP, MIXED or empty.'),
        vendorID: s.string(), productID: s.string(), fwrev: s.string(), serial: s.string(),
        pvUUID: s.string(), pvsize: s.string(), vgUUID: s.string(),
        pathstatus: s.array(s.named('DevicePath', s.object({ physdev: s.string(), state: s.string(), capacity: s.string(), lun: s.string(), type: s.string() }))),
        pathlist: s.array(s.map(s.string())),
        logicalblocksize: s.string(), physicalblocksize: s.string(), discard_max_bytes: s.int(), discard_zeroes_data: s.int(),
        status: s.optional(s.string(), 'With checkStatus.'),
      }))),
      resultDescription: 'vdsm `devList`: one object per multipath device; `[]` when there is none.',
      handler: ({ guids, checkStatus }) => deps.blockDevices(guids as string[], checkStatus as boolean),
    },
  ];
  return methods;
};
