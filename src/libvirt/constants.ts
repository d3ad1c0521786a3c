// libvirt's enum values that vdsm-node uses (libvirt-domain.h, libvirt 9.0), as named constants.
// Pure data: safe to import from workers.

/** virDomainState */
export const DomainState = {
  NOSTATE: 0, RUNNING: 1, BLOCKED: 2, PAUSED: 3, SHUTDOWN: 4, SHUTOFF: 5, CRASHED: 6, PMSUSPENDED: 7,
} as const;

/** virDomainEventID: the events a subscription can ask for. */
export const EventId = {
  LIFECYCLE: 0, REBOOT: 1, RTC_CHANGE: 2, WATCHDOG: 3, GRAPHICS: 5, IO_ERROR_REASON: 6,
  DEVICE_REMOVED: 15, BLOCK_JOB_2: 16, AGENT_LIFECYCLE: 18, DEVICE_ADDED: 19, JOB_COMPLETED: 21,
  METADATA_CHANGE: 23, BLOCK_THRESHOLD: 24,
} as const;

/** The events vdsm registers (lib/vdsm/common/libvirtconnection.py), plus METADATA_CHANGE. */
export const VDSM_EVENT_IDS: readonly number[] = [
  EventId.LIFECYCLE, EventId.REBOOT, EventId.RTC_CHANGE, EventId.IO_ERROR_REASON, EventId.GRAPHICS,
  EventId.BLOCK_JOB_2, EventId.WATCHDOG, EventId.JOB_COMPLETED, EventId.DEVICE_REMOVED,
  EventId.BLOCK_THRESHOLD, EventId.AGENT_LIFECYCLE, EventId.METADATA_CHANGE,
];

/** virDomainEventType (the `type` of a lifecycle event). */
export const LifecycleEvent = {
  DEFINED: 0, UNDEFINED: 1, STARTED: 2, SUSPENDED: 3, RESUMED: 4, STOPPED: 5, SHUTDOWN: 6,
  PMSUSPENDED: 7, CRASHED: 8,
} as const;

/** virDomainStatsTypes: groups for getAllDomainStats / domainListGetStats. */
export const StatsGroup = {
  STATE: 1 << 0, CPU_TOTAL: 1 << 1, BALLOON: 1 << 2, VCPU: 1 << 3, INTERFACE: 1 << 4, BLOCK: 1 << 5,
  PERF: 1 << 6, IOTHREAD: 1 << 7, MEMORY: 1 << 8, DIRTYRATE: 1 << 9, VM: 1 << 10,
} as const;

/** What vdsm's bulk sampler asks for. */
export const VDSM_STATS_GROUPS =
  StatsGroup.STATE | StatsGroup.CPU_TOTAL | StatsGroup.BALLOON | StatsGroup.VCPU | StatsGroup.INTERFACE | StatsGroup.BLOCK;

/** virConnectGetAllDomainStatsFlags */
export const StatsFlag = {
  ACTIVE: 1 << 0, INACTIVE: 1 << 1, PERSISTENT: 1 << 2, TRANSIENT: 1 << 3, RUNNING: 1 << 4,
  PAUSED: 1 << 5, SHUTOFF: 1 << 6, OTHER: 1 << 7, NOWAIT: 1 << 29, BACKING: 1 << 30,
  ENFORCE_STATS: 2 ** 31,
} as const;

/** virConnectListAllDomainsFlags (subset) */
export const ListFlag = { ACTIVE: 1 << 0, INACTIVE: 1 << 1, PERSISTENT: 1 << 2, TRANSIENT: 1 << 3, RUNNING: 1 << 4, PAUSED: 1 << 5, SHUTOFF: 1 << 6 } as const;

/** virDomainDestroyFlagsValues / virDomainShutdownFlagValues / virDomainUndefineFlagsValues (subsets). */
export const DestroyFlag = { DEFAULT: 0, GRACEFUL: 1 << 0 } as const;
export const ShutdownFlag = { DEFAULT: 0, ACPI_POWER_BTN: 1 << 0, GUEST_AGENT: 1 << 1, INITCTL: 1 << 2, SIGNAL: 1 << 3, PARAVIRT: 1 << 4 } as const;
export const UndefineFlag = { MANAGED_SAVE: 1 << 0, SNAPSHOTS_METADATA: 1 << 1, NVRAM: 1 << 2, KEEP_NVRAM: 1 << 3, CHECKPOINTS_METADATA: 1 << 4 } as const;

/** virDomainXMLFlags */
export const XmlFlag = { SECURE: 1 << 0, INACTIVE: 1 << 1, UPDATE_CPU: 1 << 2, MIGRATABLE: 1 << 3 } as const;

/** virDomainMetadataType and virDomainModificationImpact */
export const MetadataType = { DESCRIPTION: 0, TITLE: 1, ELEMENT: 2 } as const;
export const Impact = { CURRENT: 0, LIVE: 1 << 0, CONFIG: 1 << 1 } as const;

/** virDomainSnapshotCreateFlags */
export const SnapshotFlag = {
  REDEFINE: 1 << 0, CURRENT: 1 << 1, NO_METADATA: 1 << 2, HALT: 1 << 3, DISK_ONLY: 1 << 4, REUSE_EXT: 1 << 5,
  QUIESCE: 1 << 6, ATOMIC: 1 << 7, LIVE: 1 << 8, VALIDATE: 1 << 9,
} as const;

/** virDomainGuestInfoTypes */
export const GuestInfoType = { USERS: 1 << 0, OS: 1 << 1, TIMEZONE: 1 << 2, HOSTNAME: 1 << 3, FILESYSTEM: 1 << 4, DISKS: 1 << 5, INTERFACES: 1 << 6 } as const;

/** virDomainAgentResponseTimeoutValues */
export const AgentTimeout = { BLOCK: -2, DEFAULT: -1, NOWAIT: 0 } as const;

/** virConnectCloseReason (the `reason` of a connection-closed event). */
export const CloseReason = { ERROR: 0, EOF: 1, KEEPALIVE: 2, CLIENT: 3 } as const;

/** virErrorNumber values the facade treats specially. */
export const VirErrorCode = {
  INTERNAL_ERROR: 1, NO_SUPPORT: 3, NO_CONNECT: 5, INVALID_CONN: 6, OPERATION_FAILED: 9,
  SYSTEM_ERROR: 38, RPC: 39, OPERATION_INVALID: 55, NO_DOMAIN: 42, NO_DOMAIN_METADATA: 80,
  OPERATION_UNSUPPORTED: 84, AGENT_UNRESPONSIVE: 86, ARGUMENT_UNSUPPORTED: 74,
} as const;

/** virErrorDomain values used in the connection-loss rule (vdsm: REMOTE or RPC domain). */
export const VirErrorDomain = { RPC: 7, REMOTE: 13 } as const;
