// Where a hibernated VM lives on storage, as the engine names it. VM.hibernate (and VM.migrate with
// mode "file") and VM.create both carry `hiberVolHandle`: six comma-separated UUIDs, the storage domain,
// the pool, then the image and volume of the memory volume (the domain's saved memory state, written by
// libvirt) and the image and volume of the configuration volume (the VM's parameters). Newer engines
// give VM.create the two volumes as `memoryDumpVolume` / `memoryConfVolume` objects (poolID, domainID,
// imageID, volumeID) instead. This module parses both and encodes the configuration volume's content.
import { pickleDumps, pickleLoads, type PickleValue } from './py-pickle.js';

/** One volume on a storage domain (what Image.prepare takes). */
export interface VolumeRef {
  poolID: string;
  domainID: string;
  imageID: string;
  volumeID: string;
}

export interface HibernationVolumes {
  /** The memory state (virDomainSave's file). */
  memory: VolumeRef;
  /** The VM's parameters at the time of the save. */
  conf: VolumeRef;
}

/** A handle or volume description the agent cannot use: the message says what was expected. */
export class HibernationHandleError extends Error {}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HANDLE_FORM = 'sdUUID,spUUID,memoryImageUUID,memoryVolumeUUID,confImageUUID,confVolumeUUID';

/** `hiberVolHandle` -> the two volumes; a clear HibernationHandleError for anything else. */
export function parseHibernationHandle(handle: unknown): HibernationVolumes {
  if (typeof handle !== 'string' || handle.trim() === '') throw new HibernationHandleError(`the hibernation volume handle is missing: expected "${HANDLE_FORM}"`);
  const parts = handle.split(',').map((p) => p.trim());
  if (parts.length !== 6) throw new HibernationHandleError(`the hibernation volume handle has ${parts.length} fields, expected 6 ("${HANDLE_FORM}")`);
  const bad = parts.findIndex((p) => !UUID_RE.test(p));
  if (bad >= 0) throw new HibernationHandleError(`field ${bad + 1} of the hibernation volume handle is not a UUID: ${JSON.stringify(parts[bad])} ("${HANDLE_FORM}")`);
  const [domainID, poolID, memImg, memVol, confImg, confVol] = parts as [string, string, string, string, string, string];
  return {
    memory: { poolID, domainID, imageID: memImg, volumeID: memVol },
    conf: { poolID, domainID, imageID: confImg, volumeID: confVol },
  };
}

function volumeRef(v: unknown, name: string): VolumeRef {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HibernationHandleError(`${name} must be an object with poolID, domainID, imageID and volumeID`);
  const o = v as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const k of ['poolID', 'domainID', 'imageID', 'volumeID']) {
    const val = o[k];
    if (typeof val !== 'string' || !UUID_RE.test(val)) throw new HibernationHandleError(`${name}.${k} must be a UUID, got ${JSON.stringify(val)}`);
    out[k] = val;
  }
  return out as unknown as VolumeRef;
}

/**
 * The hibernation volumes of VM.create's parameters: `hiberVolHandle`, or `memoryDumpVolume` with
 * `memoryConfVolume`; undefined when the VM is not being resumed from hibernation.
 */
export function hibernationVolumesOf(vmParams: Record<string, unknown>): HibernationVolumes | undefined {
  if (vmParams['hiberVolHandle'] !== undefined) return parseHibernationHandle(vmParams['hiberVolHandle']);
  if (vmParams['memoryDumpVolume'] === undefined && vmParams['memoryConfVolume'] === undefined) return undefined;
  return { memory: volumeRef(vmParams['memoryDumpVolume'], 'memoryDumpVolume'), conf: volumeRef(vmParams['memoryConfVolume'], 'memoryConfVolume') };
}

/** The same handle back (logs, /health). */
export function formatHibernationHandle(v: HibernationVolumes): string {
  return [v.memory.domainID, v.memory.poolID, v.memory.imageID, v.memory.volumeID, v.conf.imageID, v.conf.volumeID].join(',');
}

/**
 * The configuration volume's content: the VM's parameters as vdsm keeps them there, a pickled dict (see
 * py-pickle.ts), so a VM hibernated here resumes on a vdsm host and one hibernated by vdsm resumes here.
 * The volume is preallocated by the engine and written in place, never truncated (as vdsm does): the
 * reader stops at the pickle's STOP, whatever bytes follow.
 */
export function encodeSavedParams(params: Record<string, unknown>): Buffer {
  return pickleDumps(params as PickleValue);
}

export type SavedParams = { ok: true; params: Record<string, unknown> } | { ok: false; why: string };

export function decodeSavedParams(head: Buffer): SavedParams {
  if (head.length === 0) return { ok: false, why: 'the configuration volume is empty' };
  if (head[0] !== 0x80) return { ok: false, why: 'the configuration volume holds no saved parameters (not a pickle)' };
  try {
    const v = pickleLoads(head);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, why: 'the configuration volume does not hold a dict' };
    return { ok: true, params: v };
  } catch (err) {
    return { ok: false, why: `the configuration volume is not readable: ${(err as Error).message}` };
  }
}
