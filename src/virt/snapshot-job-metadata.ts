// A live snapshot job's state kept in the VM's domain metadata, as vdsm 4.4 keeps it (the JSON object
// under <ovirt-vm:snapshot_job>): libvirt holds it beyond this agent's life, so an agent that restarts
// mid-job finds the job, lists it in Host.getJobs again and ends it the way the job would have
// (src/services/vm-snapshot.ts recover). Written when the job starts, again once the new volumes are
// prepared (what moves where), when the timeout aborts libvirt's job and when libvirt completes it;
// removed when the job ends. Pure: the caller reads the live XML and writes the fragment.
import { escapeXml } from '../libvirt/xml-tree.js';
import type { HibernationVolumes } from './migration/hibernation-volumes.js';
import { metadataFragment, ovirtVmElement } from './live-snapshot.js';

/** One drive the job moves onto a new volume (vdsm's `newDrives` entry). */
export interface SnapshotJobDrive {
  name: string;
  poolID: string;
  domainID: string;
  imageID: string;
  /** The volume the drive ran on when the job started. */
  baseVolumeID: string;
  /** The new top volume, and its prepared file (the snapshot's target). */
  volumeID: string;
  path: string;
}

/** The persisted job (vdsm's keys, times in seconds of the monotonic clock, which survives agent restarts). */
export interface SnapshotJobRecord {
  jobUUID: string;
  startTime: number;
  /** Seconds from startTime a memory snapshot may take before libvirt's job is aborted. */
  timeout: number;
  /** Seconds from startTime within which a disk-only snapshot must be taken. */
  freezeTimeout: number;
  /** The timeout aborted libvirt's job (set before the abort is sent). */
  abort: boolean;
  /** libvirt completed the snapshot (never set once `abort` is). */
  completed: boolean;
  /** The engine froze the guest itself. */
  frozen: boolean;
  /** This job freezes the guest around the snapshot: a job that ends, even after a restart, thaws it. */
  freeze: boolean;
  /** The memory and configuration volumes of a snapshot with the memory (vdsm's memoryParams), else null. */
  memoryParams: HibernationVolumes | null;
  /** Recorded once the new volumes are prepared: without them a recovered job cannot be judged. */
  newDrives?: SnapshotJobDrive[];
  memoryVolPath?: string | null;
}

/** The element's name under <ovirt-vm:vm> (vdsm's). */
export const SNAPSHOT_JOB_ELEMENT = 'snapshot_job';

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const elementRe = (prefix: string): RegExp => new RegExp(`<${escapeRe(prefix)}${SNAPSHOT_JOB_ELEMENT}\\b[^>]*?(?:\\/>|>([\\s\\S]*?)<\\/${escapeRe(prefix)}${SNAPSHOT_JOB_ELEMENT}>)`);

const unescapeXml = (s: string): string => s.replace(/&(lt|gt|quot|apos|#(\d+)|#x([0-9a-f]+)|amp);/gi, (_m, name: string, dec?: string, hex?: string) => {
  if (dec !== undefined) return String.fromCodePoint(Number(dec));
  if (hex !== undefined) return String.fromCodePoint(parseInt(hex, 16));
  return ({ lt: '<', gt: '>', quot: '"', apos: '\'', amp: '&' } as Record<string, string>)[name.toLowerCase()] ?? '';
});

/**
 * The snapshot job a domain XML's metadata records: undefined when none; `{ error }` when the element
 * is there but does not hold a job this agent can resume (the caller removes it).
 */
export function snapshotJobOf(domainXml: string): { record: SnapshotJobRecord } | { error: string } | undefined {
  const element = ovirtVmElement(domainXml);
  if (element === undefined) return undefined;
  const m = elementRe(element.prefix).exec(element.xml);
  if (m === null) return undefined;
  const raw = unescapeXml(m[1] ?? '').trim();
  if (raw === '' || raw === '{}') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    return { error: `not JSON: ${(err as Error).message}` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { error: 'not an object' };
  const r = v as Record<string, unknown>;
  if (typeof r['jobUUID'] !== 'string' || r['jobUUID'] === '') return { error: 'no jobUUID' };
  for (const k of ['startTime', 'timeout', 'freezeTimeout'] as const) {
    if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) return { error: `${k} is not a number` };
  }
  if (r['newDrives'] !== undefined) {
    if (!Array.isArray(r['newDrives'])) return { error: 'newDrives is not a list' };
    for (const d of r['newDrives'] as unknown[]) {
      const e = d as Record<string, unknown> | null;
      if (typeof e !== 'object' || e === null || !['name', 'domainID', 'imageID', 'volumeID', 'path'].every((k) => typeof e[k] === 'string')) return { error: 'a newDrives entry is malformed' };
    }
  }
  return {
    record: {
      ...(r as unknown as SnapshotJobRecord),
      abort: r['abort'] === true,
      completed: r['completed'] === true,
      frozen: r['frozen'] === true,
      freeze: r['freeze'] === true,
      memoryParams: typeof r['memoryParams'] === 'object' && r['memoryParams'] !== null ? r['memoryParams'] as HibernationVolumes : null,
    },
  };
}

/**
 * The ovirt-vm metadata fragment of `domainXml` with `record` as its snapshot job (replacing one there),
 * or without any with `record` undefined; a domain without ovirt-vm metadata gets an element holding
 * only the job. Undefined when there is nothing to change (no job to remove).
 */
export function withSnapshotJob(domainXml: string, record: SnapshotJobRecord | undefined): string | undefined {
  const element = ovirtVmElement(domainXml);
  const node = (prefix: string): string => `<${prefix}${SNAPSHOT_JOB_ELEMENT}>${escapeXml(JSON.stringify(record))}</${prefix}${SNAPSHOT_JOB_ELEMENT}>`;
  if (element === undefined) return record === undefined ? undefined : `<vm>${node('')}</vm>`;
  const re = elementRe(element.prefix);
  let xml: string;
  if (re.test(element.xml)) {
    xml = element.xml.replace(re, () => (record === undefined ? '' : node(element.prefix)));
  } else {
    if (record === undefined) return undefined;
    const close = `</${element.prefix}vm>`;
    const at = element.xml.lastIndexOf(close);
    if (at < 0) return undefined;
    xml = `${element.xml.slice(0, at)}${node(element.prefix)}${element.xml.slice(at)}`;
  }
  return metadataFragment({ xml, prefix: element.prefix });
}
