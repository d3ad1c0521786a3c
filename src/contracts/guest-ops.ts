// The QEMU guest agent poller's worker operation (workers/ops/guest.ts) and the guest information both
// sides speak of: the queries with the agent command each needs, capabilities, the fields in the engine's
// keys, a VM's task and its result. Types and constants only.

/** One thing the poller asks an agent. */
export type QgaQuery = 'info' | 'vcpus' | 'devices' | 'interfaces' | 'users' | 'os' | 'timezone' | 'hostname' | 'filesystem' | 'disks';
/** The [guest_agent] qga_*_period a query follows. */
export type PeriodName = 'info' | 'sysinfo' | 'users' | 'disk' | 'cpu';

/**
 * Each query: the agent command it needs, its period, and its virDomainGetGuestInfo type bit if it has
 * one (USERS 1, OS 2, TIMEZONE 4, HOSTNAME 8, FILESYSTEM 16, DISKS 32, INTERFACES 64).
 */
export const QGA_QUERIES: Readonly<Record<QgaQuery, { command: string; period: PeriodName; infoType?: number }>> = {
  info: { command: 'guest-info', period: 'info' },
  vcpus: { command: 'guest-get-vcpus', period: 'cpu' },
  devices: { command: 'guest-get-devices', period: 'sysinfo' },
  interfaces: { command: 'guest-network-get-interfaces', period: 'sysinfo', infoType: 64 },
  users: { command: 'guest-get-users', period: 'users', infoType: 1 },
  os: { command: 'guest-get-osinfo', period: 'sysinfo', infoType: 2 },
  timezone: { command: 'guest-get-timezone', period: 'sysinfo', infoType: 4 },
  hostname: { command: 'guest-get-host-name', period: 'sysinfo', infoType: 8 },
  filesystem: { command: 'guest-get-fsinfo', period: 'disk', infoType: 16 },
  disks: { command: 'guest-get-disks', period: 'disk', infoType: 32 },
};

export interface QgaCapabilities {
  /** qemu-ga's version; null when the agent did not answer `guest-info`. */
  version: string | null;
  /** Names of the enabled commands. */
  commands: string[];
}

export const EMPTY_CAPS: QgaCapabilities = Object.freeze({ version: null, commands: Object.freeze([]) as unknown as string[] });

export interface NetIface {
  name: string;
  hw: string;
  inet: string[];
  inet6: string[];
}

export interface DiskUsage {
  path: string;
  fs: string;
  total: string;
  used: string;
}

export interface PciDevice {
  device_id: number;
  vendor_id: number;
  driver_name: string;
  driver_version: string;
  driver_date: string;
}

/** Guest info fields the QEMU agent provides, under the engine's keys. */
export interface QgaFields {
  username?: string;
  guestOs?: string;
  guestOsInfo?: { type: string; arch: string; kernel: string; distribution: string; version: string; codename: string };
  guestTimezone?: { offset: number; zone: string };
  guestName?: string;
  guestFQDN?: string;
  disksUsage?: DiskUsage[];
  diskMapping?: Record<string, { name: string }>;
  netIfaces?: NetIface[];
  guestIPs?: string;
  guestCPUCount?: number;
  pci_devices?: PciDevice[];
  appsList?: string[];
}

/** What one poll asks of one VM's agent. */
export interface QgaPlan {
  vmId: string;
  /** In the order to run them; `info` first when due. */
  queries: QgaQuery[];
  /** Capabilities known before this task (a fresh `info` result replaces them). */
  caps: QgaCapabilities;
  /** The agent failed lately: this task counts against the probe budget. */
  probe: boolean;
}

/** The worker's task: the plan plus how long one agent call may take. */
export interface QgaTask extends QgaPlan {
  /** [guest_agent] qga_command_timeout, seconds (virDomainAgentSetResponseTimeout). */
  commandTimeoutS: number;
  /** The VM already has an appsList; otherwise the capability check makes one. */
  hasApps: boolean;
}

/** What came back for a VM. */
export interface QgaOutcome {
  /** Present when `info` ran: the new capabilities (version null when it failed or was refused). */
  caps?: QgaCapabilities;
  /** Queries that answered. */
  done: QgaQuery[];
  fields: QgaFields;
  /** The agent did not answer (libvirt error, timeout, discarded task): the back-off starts. */
  failure?: { query: QgaQuery | 'task'; message: string; code?: string };
}

export interface QgaTaskResult extends QgaOutcome {
  /** JSON `error` replies and unparsable answers: logged, not failures (the agent did answer). */
  replyErrors: { query: QgaQuery; message: string }[];
  /** Time spent, ms. */
  ms: number;
}

/** One executor task: one VM (a probe of a failing agent), or several answering VMs run one after another. */
export interface QgaPollArgs {
  /** The guest-agent libvirt connection. */
  conn: number;
  /** Each task's vmId is the domain's UUID. */
  tasks: QgaTask[];
}

/** The guest's clock set to a time (virDomainSetTime through the agent): seconds since the epoch and nanoseconds. */
export interface SetTimeArgs {
  /** The guest-agent libvirt connection. */
  conn: number;
  uuid: string;
  seconds: number;
  nseconds: number;
}

/** Operation name -> { args, result } of workers/ops/guest.ts: qgaPoll's one result per task, in order. */
export interface GuestOps {
  'guest.qgaPoll': { args: QgaPollArgs; result: QgaTaskResult[] };
  'guest.setTime': { args: SetTimeArgs; result: null };
}

/** The guest part of a VM's stats (both agents merged, src/guest/guest-info.ts), in the engine's keys and types. */
export interface GuestStats {
  username: string;
  session: string;
  /** Percent of the VM's memory in use per the guest ("%d"), or undefined when no agent reports free memory. */
  memUsage?: string;
  guestCPUCount: number;
  appsList: string[];
  guestIPs: string;
  guestFQDN: string;
  netIfaces?: NetIface[];
  disksUsage?: DiskUsage[];
  guestOs?: string;
  guestOsInfo?: Record<string, string | number | boolean>;
  guestTimezone?: { offset: number; zone: string } | Record<string, string | number | boolean>;
  guestName?: string;
  guestContainers?: Record<string, string | number | boolean>[];
  pci_devices?: PciDevice[];
  memoryStats?: Record<string, string>;
  lastLogin?: number;
  lastUser?: string;
  lastLogout?: number;
}
