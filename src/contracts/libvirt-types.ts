// Plain data shapes of the libvirt facade: what the binding returns, what worker operations take and
// give back, and the typed domain events. Types only: workers and the main thread both import this.

/** A domain as listed or looked up; id is -1 when the domain is not running. */
export interface DomainSummary {
  uuid: string;
  name: string;
  id: number;
}

/** listAllDomains entry; state/reason are virDomainState / its reason (-1 if it vanished meanwhile). */
export interface DomainListEntry extends DomainSummary {
  state?: number;
  reason?: number;
}

export interface DomainStateInfo {
  state: number;
  reason: number;
}

export interface DomainControlInfo {
  /** virDomainControlState: 0 OK, 1 JOB, 2 OCCUPIED, 3 ERROR */
  state: number;
  details: number;
  /** ms spent in the current state (0 for OK) */
  stateTime: number;
}

/** Flat libvirt stats keys ("state.state", "block.0.rd.bytes", ...) as libvirt reports them. */
export type FlatStats = Record<string, number | string | boolean | null>;

export interface DomainStatsRecord extends DomainSummary {
  stats: FlatStats;
}

export interface BlockInfo {
  capacity: number;
  allocation: number;
  physical: number;
}

/** virDomainMemoryStats by libvirt-python's names (KiB): actual, rss, unused, available, usable, ... */
export type MemoryStats = Partial<Record<
  'swap_in' | 'swap_out' | 'major_fault' | 'minor_fault' | 'unused' | 'available' | 'actual' | 'rss' |
  'usable' | 'last_update' | 'disk_caches' | 'hugetlb_pgalloc' | 'hugetlb_pgfail', number>>;

/** -1 means the hypervisor does not provide the counter. */
export interface BlockStats {
  rdReq: number;
  rdBytes: number;
  wrReq: number;
  wrBytes: number;
  errs: number;
}

export interface InterfaceStats {
  rxBytes: number;
  rxPackets: number;
  rxErrs: number;
  rxDrop: number;
  txBytes: number;
  txPackets: number;
  txErrs: number;
  txDrop: number;
}

export interface VcpuInfo {
  number: number;
  /** virVcpuState: 0 offline, 1 running, 2 blocked */
  state: number;
  /** ns */
  cpuTime: number;
  /** host CPU it runs on */
  cpu: number;
}

export interface NodeInfo {
  model: string;
  memoryKiB: number;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

export interface OpenOptions {
  readOnly?: boolean;
  /** SASL user name (vdsm: vdsm@ovirt) */
  authName?: string;
  /** SASL password */
  passphrase?: string;
  /** seconds between keepalive probes; 0 or absent = no keepalive */
  keepaliveInterval?: number;
  /** unanswered probes before the connection is closed */
  keepaliveCount?: number;
}

export interface ConnectionInfo {
  id: number;
  uri: string;
  readOnly: boolean;
  keepalive: 'off' | 'on' | 'unsupported';
  closed: boolean;
  closeReason: number;
  alive: boolean;
  cachedDomains: number;
  /** calls holding the connection right now (connectionInfo itself counts as one) */
  inFlight: number;
  /** threads inside a libvirt call on this connection right now */
  active: number;
  /** calls that found the connection dead and waited for the other threads to leave libvirt */
  drains: number;
  drainTimeouts: number;
}

// ---- events ------------------------------------------------------------------------------------

interface DomainEventBase {
  /** libvirt connection id the event came from */
  conn: number;
  eventId: number;
  domain: DomainSummary;
}

export interface GraphicsAddress {
  family: number;
  node: string | null;
  service: string | null;
}

export type DomainEvent = DomainEventBase & (
  | { event: 'lifecycle'; type: number; detail: number }
  | { event: 'reboot' }
  | { event: 'rtc-change'; utcOffset: number }
  | { event: 'watchdog'; action: number }
  | { event: 'io-error-reason'; srcPath: string | null; devAlias: string | null; action: number; reason: string | null }
  | {
      event: 'graphics'; phase: number; local: GraphicsAddress | null; remote: GraphicsAddress | null;
      authScheme: string | null; subject: { type: string | null; name: string | null }[];
    }
  | { event: 'block-job-2'; disk: string | null; type: number; status: number }
  | { event: 'job-completed'; stats: FlatStats }
  | { event: 'device-removed'; devAlias: string | null }
  | { event: 'device-added'; devAlias: string | null }
  | { event: 'block-threshold'; dev: string | null; path: string | null; threshold: number; excess: number }
  | { event: 'agent-lifecycle'; state: number; reason: number }
  | { event: 'metadata-change'; type: number; nsuri: string | null }
);

/**
 * The connection is lost: libvirt's close callback fired (reason: virConnectCloseReason) or a call found
 * the connection closed first (reason -1); message says why.
 */
export interface ConnectionClosedEvent {
  event: 'connection-closed';
  eventId: -1;
  conn: number;
  reason: number;
  message?: string;
}

/** What a binding subscription callback receives. */
export type BindingEvent = DomainEvent | ConnectionClosedEvent;

export type DomainEventName = DomainEvent['event'];

/** A libvirt secret as listAllSecrets reports it; usageType is virSecretUsageType (0 none, 1 volume, 2 ceph, 3 iscsi, 4 tls, 5 vtpm). */
export interface SecretEntry { uuid: string; usageType: number; usageID: string }
