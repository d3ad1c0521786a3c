// The bulk-stats sampling operation of workers/ops/sampling.ts (vdsm's VMBulkstatsMonitor call), with
// its slow path for VMs whose monitor does not answer. Types only.

export interface BulkStatsArgs {
  conn: number;
  stats: number;
  flags: number;
  /** Absent: every domain (fast path). Present: only these, after a control-state check. */
  uuids?: string[];
}

export interface BulkStatsResult {
  /**
   * uuid -> flat libvirt stats, encoded by bulk-stats-codec.ts into one buffer that is transferred to the
   * main thread, not cloned (open it with BulkStatsView).
   */
  records: ArrayBuffer;
  /** uuids whose monitor is busy or in error (slow path only) */
  unresponsive: string[];
}

/** Operation name -> { args, result } of workers/ops/sampling.ts. */
export interface SamplingOps {
  'sampling.bulkStats': { args: BulkStatsArgs; result: BulkStatsResult };
}
