// The VM namespace: create, destroy, shutdown, pause, cont, setTicket, updateDevice (graphics), reset,
// freeze, thaw, snapshot, getStats, getInfo. Handlers delegate to the
// VmManager; none calls libvirt on the request path except the lifecycle calls themselves (in workers).
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';
import type { VmPort } from './ports.js';
import { Errors, vdsmError } from '../errors.js';
import { CONNECTION_ACTIONS, type ConnectionAction, type ConsoleOptions } from '../virt/graphics-ticket.js';

export interface VmApiDeps {
  vms: VmPort;
  /** [vars] sys_shutdown_timeout (s): VM.shutdown's default time per method. */
  sysShutdownTimeoutS: number;
}

const vmID = { name: 'vmID', type: s.string(), description: 'The VM UUID.' } as const;
const numberish = s.union(s.int(), s.number(), s.string());
const hibernationVolume = s.named('HibernationVolume', s.object({ poolID: s.string(), domainID: s.string(), imageID: s.string(), volumeID: s.string() }));

/** "30", 30 or 30.0 -> 30; absent -> undefined; anything else is a parameter error. */
function seconds(value: unknown, name: string, negativeOk = false): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n) || (n < 0 && !negativeOk)) throw vdsmError(Errors.INVALID_PARAMETER, { [name]: value });
  return n;
}

/** The engine's console options as hook-script environment: identifier names, string or scalar values. */
function hookEnv(params: unknown): Record<string, string> {
  const env: Record<string, string> = {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return env;
  for (const [k, v] of Object.entries(params)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || !['string', 'number', 'boolean'].includes(typeof v)) continue;
    const text = String(v);
    if (!text.includes('\0')) env[k] = text;
  }
  return env;
}

/** The console options that act on the host: VNC's fips / vncUsername from the params map, the disconnect action. */
function consoleOptions(params: unknown, disconnectAction: string | undefined): ConsoleOptions {
  const p = typeof params === 'object' && params !== null && !Array.isArray(params) ? params as Record<string, unknown> : {};
  return { disconnectAction, vncUsername: typeof p['vncUsername'] === 'string' ? p['vncUsername'] : undefined, fips: p['fips'] };
}

const vmStats = s.named('VmStats', s.object({
  vmId: s.string(),
  status: s.string(),
  statusTime: s.string(),
}));

export const apiMethods: ApiMethodsFactory<VmApiDeps> = (deps) => {
  const methods: MethodSpec[] = [
    {
      name: 'VM.create',
      description: 'Create and start a VM from the libvirt domain XML in `vmParams.xml`. The VM id is taken from the XML. Answers at once; `|virt|VM_status|<vmId>` events follow (WaitForLaunch -> Powering up -> Up).',
      params: [
        { ...vmID, description: 'The VM UUID (the id in the domain XML wins, as in vdsm).' },
        { name: 'vmParams', type: s.object({
          xml: s.field(s.string(), 'libvirt domain XML'),
          vmId: s.optional(s.string()),
          hiberVolHandle: s.optional(s.string(), 'Resume from hibernation: VM.hibernate\'s handle. The VM is Restoring state, then Up.'),
          memoryDumpVolume: s.optional(hibernationVolume, 'Resume from hibernation (newer engines): the memory volume.'),
          memoryConfVolume: s.optional(hibernationVolume, 'With memoryDumpVolume: the configuration volume.'),
        }), description: 'VM parameters; `xml` is required.' },
      ],
      result: s.named('VmCreated', s.object({ vmId: s.string(), status: s.string(), statusTime: s.string(), xml: s.string() })),
      resultDescription: '`{vmId, status: "WaitForLaunch", statusTime, xml}` (status "Restoring state" when resuming from hibernation). Error 4 if the VM exists, 9 if the XML is unusable, 91 for hibernation volumes that are not UUIDs. A restore that fails leaves the VM Down with exitMessage "Wake up from hibernation failed:...".',
      handler: ({ vmParams }) => deps.vms.create(vmParams as { xml: string }),
    },
    {
      name: 'VM.destroy',
      description: 'Power the VM off (gracefully first), undefine it and forget it. A Down VM is just forgotten.',
      params: [vmID, { name: 'gracefulAttempts', type: s.int(), default: 1, description: 'Accepted for compatibility.' }],
      result: s.bool(),
      resultDescription: '`true`; error 1 for an unknown VM, 42 when libvirt cannot destroy it.',
      handler: ({ vmID: id }) => deps.vms.destroy(id as string),
    },
    {
      name: 'VM.shutdown',
      description: 'Ask the guest to shut down (or reboot): the oVirt guest agent when it is responsive (given `delay` + `timeout` seconds), then the QEMU guest agent, then ACPI, each given `timeout` seconds; with `force`, power off at the end.',
      params: [
        vmID,
        { name: 'delay', type: numberish, optional: true, description: 'Seconds the oVirt guest agent gives logged-in users before shutting down (string or number; [vars] user_shutdown_timeout).' },
        { name: 'message', type: s.string(), default: 'System going down', description: 'Shown to logged-in users.' },
        { name: 'reboot', type: s.bool(), default: false, description: 'Reboot instead of power off.' },
        { name: 'timeout', type: numberish, optional: true, description: 'Seconds each method gets ([vars] sys_shutdown_timeout).' },
        { name: 'force', type: s.bool(), default: false, description: 'Power off when every method timed out.' },
      ],
      result: s.bool(),
      resultDescription: '`true` once the request was accepted; error 4 when the VM has no ACPI and no guest agent and `force` is false.',
      handler: ({ vmID: id, delay, message, reboot, timeout, force }) => {
        const delayS = seconds(delay, 'delay');
        return deps.vms.shutdown(id as string, {
          ...(delayS !== undefined ? { delayS } : {}),
          message: message as string,
          reboot: reboot as boolean,
          timeoutS: seconds(timeout, 'timeout') ?? deps.sysShutdownTimeoutS,
          force: force as boolean,
        });
      },
    },
    {
      name: 'VM.pause',
      description: 'Pause the VM.',
      params: [vmID],
      result: s.object({ vmList: s.map(s.any()) }),
      resultDescription: '`{"vmList": {}}` (vdsm).',
      handler: ({ vmID: id }) => deps.vms.pause(id as string),
    },
    {
      name: 'VM.cont',
      description: 'Resume a paused VM.',
      params: [vmID],
      result: s.object({ vmList: s.map(s.any()) }),
      resultDescription: '`{"vmList": {}}` (vdsm); error 16 when libvirt cannot resume it.',
      handler: ({ vmID: id }) => deps.vms.cont(id as string),
    },
    {
      name: 'VM.setTicket',
      description: "Set the console password on the VM's first graphics device (VNC or SPICE) of the running domain, as the engine does each time a user opens a console. The password is never logged.",
      params: [
        vmID,
        { name: 'password', type: s.string(), description: 'The one-time console password (never logged).' },
        { name: 'ttl', type: numberish, description: 'Seconds the password is valid; 0 or less: no expiry.' },
        { name: 'existingConnAction', type: s.enumOf(CONNECTION_ACTIONS), description: 'SPICE only: what happens to a client already connected (libvirt `connected`).' },
        { name: 'params', type: s.map(s.any()), description: 'The engine\'s console options, handed to the set_ticket hook scripts as environment variables. For VNC: `fips` ("true" / "false") with `vncUsername`: with fips the password is also set for vncUsername in QEMU\'s SASL database (saslpasswd2 through supervdsm), otherwise that user is removed from it. As in vdsm, `disconnectAction` is read by VM.updateDevice only: after VM.setTicket the guest\'s screen is locked when the console client disconnects (see docs/engine-verbs.md).' },
      ],
      result: s.bool(),
      resultDescription: '`true`; error 1 for an unknown VM, 6 when it is down, 18 when it has no graphics device or libvirt refuses the update, 11 for a fips other than "true" / "false", 100 for fips without vncUsername or when the SASL password cannot be set.',
      handler: ({ vmID: id, password, ttl, existingConnAction, params }) => deps.vms.setTicket(id as string, {
        password: password as string,
        ttlS: seconds(ttl, 'ttl', true) ?? 0,
        existingConnAction: existingConnAction as ConnectionAction,
      }, undefined, hookEnv(params), consoleOptions(params, undefined)),
    },
    {
      name: 'VM.updateDevice',
      description: "Update a device of the running VM. Served for `deviceType: graphics` (what the engine sends to set a console ticket on the graphics device of `graphicsType`, as VM.setTicket does for the first one); other device types answer error 44.",
      params: [
        vmID,
        { name: 'params', type: s.named('UpdateDeviceParams', s.object({
          deviceType: s.field(s.string(), 'graphics (interface and the others are not served here).'),
          graphicsType: s.optional(s.enumOf(['vnc', 'spice']), 'Which graphics device.'),
          password: s.optional(s.string(), 'The console password (never logged).'),
          ttl: s.optional(numberish, 'Seconds it is valid; 0 or less: no expiry.'),
          existingConnAction: s.optional(s.enumOf(CONNECTION_ACTIONS), 'SPICE: what happens to a connected client.'),
          disconnectAction: s.optional(s.string(), 'What happens in the guest when the console client disconnects (2 s later, unless it reconnected): LOCK_SCREEN (the default) or LOGOUT through the oVirt guest agent, REBOOT or SHUTDOWN (VM.shutdown, forced at the end), NONE.'),
          params: s.optional(s.map(s.any()), 'Console options as VM.setTicket\'s (hook environment; fips and vncUsername for VNC).'),
        })), description: 'The device update; for graphics: graphicsType, password, ttl, existingConnAction, params.' },
      ],
      result: s.named('VmShortStatus', s.object({ vmId: s.string(), status: s.string(), statusTime: s.string() })),
      resultDescription: 'vdsm `vmList`: the VM\'s short status. Error 1 unknown VM, 6 down, 44 a device type other than graphics, 56 no graphics device of that type, 18 when libvirt refuses the update.',
      handler: async ({ vmID: id, params: p }) => {
        const u = p as Record<string, unknown>;
        if (u['deviceType'] !== 'graphics') throw vdsmError(Errors.NOT_IMPLEMENTED, `Not implemented: VM.updateDevice for deviceType ${JSON.stringify(u['deviceType'])}`);
        for (const k of ['graphicsType', 'password', 'ttl', 'params']) if (u[k] === undefined) throw vdsmError(Errors.MISSING_PARAM, `Missing required parameter: params.${k}`);
        await deps.vms.setTicket(id as string, {
          password: u['password'] as string,
          ttlS: seconds(u['ttl'], 'ttl', true) ?? 0,
          existingConnAction: u['existingConnAction'] as ConnectionAction | undefined,
        }, u['graphicsType'] as string, hookEnv(u['params']), consoleOptions(u['params'], u['disconnectAction'] as string | undefined));
        return deps.vms.info(id as string);
      },
    },
    {
      name: 'VM.reset',
      description: 'Hardware reset of the running guest (virDomainReset): no shutdown, the VM stays Up.',
      params: [vmID],
      result: s.bool(),
      resultDescription: '`true`; error 1 for an unknown VM, 6 when it is down, 90 when libvirt cannot reset it.',
      handler: ({ vmID: id }) => deps.vms.reset(id as string),
    },
    {
      name: 'VM.freeze',
      description: "Freeze the guest's mounted file systems through its QEMU guest agent (virDomainFSFreeze), e.g. before the engine snapshots disks of several VMs. libvirt gives up on an agent that does not answer (error 19), and the call is in any case bounded by the verbs' 60 s libvirt call limit: it never stalls the daemon.",
      params: [vmID],
      result: s.bool(),
      resultDescription: '`true`; error 1 unknown VM, 6 down, 19 when the guest agent does not respond, 75 when libvirt cannot freeze this guest, 76 for any other failure (libvirt\'s reason in the message).',
      handler: ({ vmID: id }) => deps.vms.freeze(id as string),
    },
    {
      name: 'VM.thaw',
      description: "Thaw the guest's file systems frozen by VM.freeze (virDomainFSThaw).",
      params: [vmID],
      result: s.bool(),
      resultDescription: '`true`; error 1 unknown VM, 6 down, 19 guest agent not responding, 75 not supported, 77 for any other failure.',
      handler: ({ vmID: id }) => deps.vms.thaw(id as string),
    },
    {
      name: 'VM.snapshot',
      description: "Live snapshot, run as vdsm 4.4+ runs it: a virt job (`snapshot_vm`) the engine follows with Host.getJobs. Each disk in `snapDrives` moves from `baseVolumeID` onto `volumeID`, a qcow2 volume the engine created over it (Volume.create with srcVolUUID); the guest is frozen through its agent around it unless `frozen` (or the memory is saved too: libvirt pauses the guest). The call answers once the request is checked and the job started; the job ends `done`, or `failed` with error 48 and the reason (docs/engine-verbs.md).",
      params: [
        vmID,
        { name: 'snapDrives', type: s.array(s.named('SnapshotDriveInfo', s.object({
          domainID: s.field(s.string(), 'The storage domain UUID.'),
          imageID: s.field(s.string(), 'The image (disk) UUID.'),
          volumeID: s.field(s.string(), 'The new top volume.'),
          baseVolumeID: s.field(s.string(), 'The volume the VM runs on now.'),
        }))), description: 'One entry per disk to snapshot.' },
        { name: 'snapMemory', type: s.union(s.string(), s.null()), default: null, description: 'A snapshot with the memory: `sdUUID,spUUID,memImgUUID,memVolUUID,confImgUUID,confVolUUID` (the memory and configuration volumes, as hibernation\'s handle). libvirt pauses the guest while the memory is written; no freeze.' },
        { name: 'frozen', type: s.bool(), default: false, description: 'True when the engine froze the guest (VM.freeze): no freeze here.' },
        { name: 'jobUUID', type: s.union(s.string(), s.null()), default: null, description: 'The job\'s id in Host.getJobs (job_type virt); without it the agent makes one (as vdsm, the engine then cannot follow the job). An id still listed is refused (100).' },
        { name: 'timeout', type: s.union(s.int(), s.null()), default: 30, description: 'Minutes, from the job\'s start, a snapshot with the memory may take: past it libvirt\'s job is aborted (virDomainAbortJob), the guest runs on on its old volumes and the job fails.' },
        { name: 'freeze_timeout', type: s.union(s.int(), s.null()), default: 8, description: 'Minutes, from the job\'s start, within which a disk-only snapshot must reach libvirt\'s snapshot call (after the freeze); later, the guest is thawed and the job fails.' },
      ],
      result: s.bool(),
      resultDescription: '`true` once the snapshot job is started (vdsm\'s answer); error 1 unknown VM, 6 down, 48 when the request names no drive the VM runs on, has a malformed snapMemory, or another snapshot of the VM is under way, 100 when `jobUUID` is a job still listed. The snapshot\'s own outcome is the job\'s (Host.getJobs).',
      handler: ({ vmID: id, snapDrives, snapMemory, frozen, jobUUID, timeout, freeze_timeout }) => deps.vms.snapshot(id as string, { snapDrives, snapMemory, frozen, jobUUID, timeout, freeze_timeout }),
    },
    {
      name: 'VM.getStats',
      description: 'The VM statistics object, from the stats cache (never calls libvirt).',
      params: [vmID],
      result: s.array(vmStats),
      resultDescription: 'An array with exactly one stats object.',
      handler: ({ vmID: id }) => [deps.vms.reportOf(id as string)],
    },
    {
      name: 'VM.getInfo',
      description: 'The short status of the VM.',
      params: [vmID],
      result: s.named('VmShortStatus', s.object({ vmId: s.string(), status: s.string(), statusTime: s.string() })),
      resultDescription: '`{vmId, status, statusTime}`; error 1 for an unknown VM.',
      handler: ({ vmID: id }) => deps.vms.info(id as string),
    },
  ];
  return methods;
};
