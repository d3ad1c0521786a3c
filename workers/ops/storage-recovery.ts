// Task recoveries (rollbacks), run by name as vdsm persists them: "<moduleName>.<object>.<function>"
// with string parameters (task.py Recovery). The names and parameter lists are vdsm's, so a task
// directory written by vdsm-node reads like vdsm's and rolls back the same way. Every recovery is
// idempotent: after a crash during recovery, vdsm runs the whole list again.
import { readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Errors, storageError } from '../../src/errors.js';
import { BLANK_UUID, VOLUME_TYPE_NAMES, VolRole } from '../../src/contracts/storage-constants.js';
import { DomainLayout } from '../../src/contracts/storage-layout.js';
import { parseSdMetadata } from '../../src/contracts/sd-metadata.js';
import type { RecoveryRecord } from '../../src/contracts/task-format.js';
import { exists } from '../storage/durable-files.js';
import { childrenOf, deleteVolumeFiles, imageVolumes, readVolumeMetadata, unlinkIfExists, writeVolumeMetadata } from '../storage/volume-files.js';
import type { AreaOps } from '../../src/contracts/operations.js';

type RecoveryFn = (params: string[], domains: Record<string, string>) => void;

function domainVersion(dir: string): number {
  return Number(parseSdMetadata(readFileSync(new DomainLayout(dir).metadata, 'utf8'))['VERSION'] ?? 5);
}

/** Set a parent back to LEAF when no volume is based on it any more (Volume.recheckIfLeaf). */
function recheckIfLeaf(dir: string, img: string, vol: string): void {
  const layout = new DomainLayout(dir);
  if (!exists(layout.meta(img, vol))) return;
  const { md } = readVolumeMetadata(layout, img, vol);
  if (md === undefined || md.voltype === VOLUME_TYPE_NAMES[VolRole.SHARED]) return;
  const leaf = VOLUME_TYPE_NAMES[VolRole.LEAF]!;
  const internal = VOLUME_TYPE_NAMES[VolRole.INTERNAL]!;
  const want = childrenOf(layout, img, vol).length === 0 ? leaf : internal;
  if (md.voltype !== want) writeVolumeMetadata(layout, img, vol, { ...md, voltype: want }, domainVersion(dir));
}

const RECOVERIES: Record<string, RecoveryFn> = {
  // The marker vdsm pushes first; replaceRecoveries pops back to it.
  'volume.Volume.startCreateVolumeRollback': () => undefined,
  'fileVolume.FileVolume.startCreateVolumeRollback': () => undefined,
  // A volume file without metadata was never finished: remove it.
  'fileVolume.FileVolume.halfbakedVolumeRollback': (p) => {
    const volPath = p.length === 1 ? p[0]! : p[2]!;
    if (exists(volPath) && !exists(`${volPath}.meta`)) unlinkIfExists(volPath);
  },
  'fileVolume.FileVolume.createVolumeMetadataRollback': (p) => {
    unlinkIfExists(`${p[0]!}.meta`);
  },
  // The whole volume: files, then the image directory when nothing else lives there.
  'fileVolume.FileVolume.createVolumeRollback': (p) => {
    const [, , imgUUID, volUUID, imageDir] = p;
    if (imgUUID === undefined || volUUID === undefined || imageDir === undefined) throw new Error(`createVolumeRollback: bad parameters ${p.join(',')}`);
    const dir = dirname(dirname(imageDir));
    const layout = new DomainLayout(dir);
    let parent: string | undefined;
    try {
      parent = readVolumeMetadata(layout, imgUUID, volUUID).md?.parent;
    } catch {
      parent = undefined;
    }
    deleteVolumeFiles(layout, imgUUID, volUUID);
    if (parent !== undefined && parent !== BLANK_UUID) recheckIfLeaf(dir, imgUUID, parent);
    if (imageVolumes(layout, imgUUID).length === 0 && exists(imageDir)) {
      try {
        rmdirSync(imageDir);
      } catch (err) {
        // Leftovers that are not volumes (e.g. a half-written .meta.new) go too.
        if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY') {
          for (const name of readdirSync(imageDir)) unlinkIfExists(join(imageDir, name));
          rmdirSync(imageDir);
        } else if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  },
  'volume.Volume.parentVolumeRollback': (p, domains) => {
    const [sdUUID, pimgUUID, pvolUUID] = p;
    if (pvolUUID === undefined || pimgUUID === undefined || pvolUUID === BLANK_UUID || pimgUUID === BLANK_UUID) return;
    const dir = domains[sdUUID ?? ''];
    if (dir === undefined) throw storageError(Errors.SD_DOMAIN_DOES_NOT_EXIST, [sdUUID]);
    recheckIfLeaf(dir, pimgUUID, pvolUUID);
  },
  // vdsm-node's own, for task tests and the storage bench: undo a file a test job made.
  'vdsmnode.Test.removeFile': (p) => {
    unlinkIfExists(p[0]!);
  },
  'vdsmnode.Test.fail': (p) => {
    throw new Error(`recovery failed on purpose: ${p.join(',')}`);
  },
};

export function recoveryKey(rec: Pick<RecoveryRecord, 'moduleName' | 'object' | 'function'>): string {
  return `${rec.moduleName}.${rec.object}.${rec.function}`;
}

export const ops: AreaOps<'storage-recovery'> = {
  'storage.recover': (args) => {
    const { rec, domains } = args;
    const fn = RECOVERIES[recoveryKey(rec)];
    if (fn === undefined) throw storageError(Errors.SD_STORAGE, [`unknown recovery ${recoveryKey(rec)} (${rec.name})`]);
    fn(rec.params, domains);
    return true;
  },
  'storage.knownRecoveries': () => Object.keys(RECOVERIES).sort(),
};

