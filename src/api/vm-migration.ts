// Live migration verbs: the engine's VM.migrate, VM.hibernate (a migration to storage), VM.migrateCancel,
// VM.migrateChangeParams and VM.getMigrationStatus on the source, and VM.migrationCreate, which only another agent calls on the
// destination. The schemas carry vdsm's JSON types, so the engine's string booleans ("true") and
// numbers-as-strings ("500") are converted by the argument rules before the handlers see them.
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';
import type { MigrationPort } from './ports.js';

export interface VmMigrationApiDeps {
  migrations: MigrationPort;
}

const vmID = { name: 'vmID', type: s.string(), description: 'The VM UUID.' } as const;

const action = s.object({ name: s.field(s.string(), 'setDowntime, abort or postcopy'), params: s.optional(s.array(s.string()), 'setDowntime: [milliseconds]') });

const convergenceSchedule = s.named('ConvergenceSchedule', s.object({
  init: s.optional(s.array(action), 'Actions before the data moves.'),
  stalling: s.optional(s.array(s.object({ limit: s.field(s.int(), 'Stalling iterations after which the action fires (-1: at the next).'), action })), 'Actions as the migration stalls, in order.'),
}));

const migrateParams = s.named('MigrateParams', s.object({
  vmId: s.optional(s.string()),
  src: s.optional(s.string(), 'Source host (ignored, as by vdsm).'),
  dst: s.optional(s.string(), 'Destination agent, host[:port] (port: [addresses] management_port).'),
  dstqemu: s.optional(s.string(), 'Address of the destination on the migration network (the data goes there).'),
  mode: s.optional(s.string(), '"remote" (default); "file": hibernation, as VM.hibernate, to `hiberVolHandle`.'),
  hiberVolHandle: s.optional(s.string(), 'mode "file": "sdUUID,spUUID,memoryImageUUID,memoryVolumeUUID,confImageUUID,confVolumeUUID".'),
  method: s.optional(s.string(), '"online".'),
  tunneled: s.optional(s.bool(), 'Tunnel the data through libvirtd (VIR_MIGRATE_TUNNELLED).'),
  abortOnError: s.optional(s.bool(), 'Abort on an I/O error during the migration.'),
  autoConverge: s.optional(s.bool(), 'Throttle the guest CPUs to converge.'),
  compressed: s.optional(s.bool(), 'XBZRLE compression.'),
  encrypted: s.optional(s.bool(), 'QEMU native TLS for the data.'),
  zerocopy: s.optional(s.bool(), 'Zero-copy sends.'),
  enableGuestEvents: s.optional(s.bool(), 'Tell the oVirt guest agent: before_migration on the source (waited for up to [vars] guest_lifecycle_event_reply_timeout), after_migration on the destination once the VM is Up, after_migration with failure on the source when the migration failed.'),
  consoleAddress: s.optional(s.string(), 'Where graphics clients reconnect (graphics_uri).'),
  downtime: s.optional(s.int(), 'Maximum downtime, ms, of the computed schedule when no convergenceSchedule is sent.'),
  maxBandwidth: s.optional(s.int(), 'MiB/s; absent: [vars] migration_max_bandwidth.'),
  parallel: s.optional(s.int(), 'Parallel connections (0: off).'),
  incomingLimit: s.optional(s.int(), 'Incoming migrations the destination may run at once.'),
  outgoingLimit: s.optional(s.int(), 'Outgoing migrations this host may run at once.'),
  convergenceSchedule: s.optional(convergenceSchedule, 'Absent: vdsm\'s schedule from [vars] migration_downtime and migration_downtime_steps.'),
  cpusets: s.optional(s.array(s.string()), 'CPU pinning on the destination (accepted; not applied: vdsm-node sets no pinning).'),
  numaNodesets: s.optional(s.array(s.string()), 'NUMA node sets on the destination (accepted; not applied).'),
}));

const migrationStats = s.named('MigrationStats', s.object({
  status: s.object({ code: s.int(), message: s.string() }),
  progress: s.int(),
  downtime: s.optional(s.int(), 'ms, once the migration completed.'),
}));

export const apiMethods: ApiMethodsFactory<VmMigrationApiDeps> = (deps) => {
  const methods: MethodSpec[] = [
    {
      name: 'VM.migrate',
      description: 'Live-migrate the VM to another agent (`params.dst`). Answers at once; the VM is Migration Source until it is Down with exitReason 4 (migrated) or back Up; `|virt|VM_migration_status|<vmId>` events carry the progress and, at the end, the downtime. With `mode: "file"` and `hiberVolHandle`: VM.hibernate.',
      params: [vmID, { name: 'params', type: migrateParams, description: 'The engine\'s migration parameters.' }],
      result: s.bool(),
      resultDescription: '`true`; error 1 for an unknown or not yet started VM, 51 while it migrates or hibernates, 59 with transient disks, 91 for unusable parameters. Failures after the answer land in VM.getMigrationStatus.',
      handler: ({ vmID: id, params }) => deps.migrations.migrate(id as string, params as Record<string, unknown>),
    },
    {
      name: 'VM.hibernate',
      description: 'Suspend the VM to storage: its memory state goes to the memory volume (libvirt\'s save), its parameters to the configuration volume. Answers at once; the VM is Saving State (paused; the oVirt guest agent hears before_hibernation) until it is Down with exitReason 5 (SaveState succeeded), or back Up when the save failed (VM.getMigrationStatus says why). VM.create with `hiberVolHandle` brings it back.',
      params: [vmID, { name: 'hibernationVolHandle', type: s.string(), description: '"sdUUID,spUUID,memoryImageUUID,memoryVolumeUUID,confImageUUID,confVolumeUUID": the two volumes, made by the engine on a storage domain this host is connected to.' }],
      result: s.bool(),
      resultDescription: '`true`; error 1 for an unknown or not yet started VM, 51 while it migrates or hibernates, 59 with transient disks, 91 for a handle that is not six UUIDs, 12 when this agent has no storage, 100 while the VM powers down or reboots.',
      handler: ({ vmID: id, hibernationVolHandle }) => deps.migrations.hibernate(id as string, hibernationVolHandle),
    },
    {
      name: 'VM.migrateCancel',
      description: 'Cancel the outgoing migration (libvirt aborts its job; before that, the migration stops where it is).',
      params: [vmID],
      result: s.bool(),
      resultDescription: '`true`; error 47 when no migration runs.',
      handler: ({ vmID: id }) => deps.migrations.cancel(id as string),
    },
    {
      name: 'VM.migrateChangeParams',
      description: 'Change a running migration: `maxBandwidth` in MiB/s.',
      params: [vmID, { name: 'params', type: s.object({ maxBandwidth: s.optional(s.int(), 'MiB/s') }), description: 'What to change.' }],
      result: s.bool(),
      resultDescription: '`true`; error 81 when no migration runs.',
      handler: ({ vmID: id, params }) => deps.migrations.changeParams(id as string, params as { maxBandwidth?: number }),
    },
    {
      name: 'VM.getMigrationStatus',
      description: 'The status of the VM\'s last outgoing migration (code 0 while it runs or when none ran; the error code and message after a failure; downtime after a success).',
      params: [vmID],
      result: migrationStats,
      resultDescription: '`{status: {code, message}, progress, downtime?}`.',
      // The stats have a `status` member of their own: vdsm's bridge returns the `migrationStats` member.
      resultKey: 'migrationStats',
      handler: ({ vmID: id }) => ({ status: { code: 0, message: 'Done' }, migrationStats: deps.migrations.status(id as string) }),
    },
    {
      name: 'VM.migrationCreate',
      description: 'Agent to agent, on the destination: make the incoming VM\'s record (Migration Destination) from the source\'s parameters; libvirt on the source creates the domain here.',
      params: [
        vmID,
        { name: 'params', type: s.object({ _srcDomXML: s.optional(s.string(), 'The source\'s live domain XML.'), xml: s.optional(s.string()), elapsedTimeOffset: s.optional(s.number()) }), description: 'The source\'s migration parameters (guest information included).' },
        { name: 'incomingLimit', type: s.int(), optional: true, description: 'Incoming migrations allowed at once.' },
      ],
      result: s.named('MigrationCreated', s.object({ migrationPort: s.int(), params: s.object({ vmId: s.string(), status: s.string(), statusTime: s.string(), xml: s.string() }) })),
      resultDescription: '`{migrationPort: 0, params: {vmId, status: "Migration Destination", statusTime, xml}}`; error 4 if the VM exists, 82 when no incoming slot is free (12 when the caller sent no incomingLimit), 9 for unusable XML, 78 when a before_vm_migrate_destination hook script fails (docs/hooks.md).',
      handler: async ({ vmID: id, params, incomingLimit }) => {
        await deps.migrations.beforeIncoming?.(id as string, params as Record<string, unknown>);
        return deps.migrations.migrationCreate(id as string, params as Record<string, unknown>, incomingLimit as number | undefined);
      },
    },
  ];
  return methods;
};
