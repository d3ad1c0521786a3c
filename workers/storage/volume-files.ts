// A file volume's files as vdsm lays them out (fileVolume.py): images/<img>/<vol> (the data),
// <vol>.meta (metadata, replaced through <vol>.meta.new), <vol>.lease. Synchronous helpers for the
// storage worker operations and the task-pool jobs.
import { readFileSync, statSync, unlinkSync } from 'node:fs';
import { Errors, errorMessage, storageError } from '../../src/errors.js';
import { META_EXT, isUuid } from '../../src/contracts/storage-constants.js';
import type { DomainLayout } from '../../src/contracts/storage-layout.js';
import { formatVolumeMetadata, parseVolumeMetadata, VolumeMetadataError, type VolumeMetadata } from '../../src/contracts/volume-metadata.js';
import { isNoSpace, listDir, replaceFileAtomic } from './durable-files.js';

export function volumeSizes(path: string): { apparentsize: number; truesize: number } {
  const st = statSync(path);
  return { apparentsize: st.size, truesize: st.blocks * 512 };
}

/** Read and parse <vol>.meta; VOLUME_METADATA_READ (207) when it cannot be read at all. */
export function readVolumeMetadata(layout: DomainLayout, img: string, vol: string): { md: VolumeMetadata | undefined; errors: string[] } {
  let text: string;
  try {
    text = readFileSync(layout.meta(img, vol), 'utf8');
  } catch (err) {
    throw storageError(Errors.SD_VOLUME_METADATA_READ, [`(${layout.volume(img, vol)},): ${errorMessage(err)}`], { cause: err });
  }
  return parseVolumeMetadata(text);
}

export function requireVolumeMetadata(layout: DomainLayout, img: string, vol: string): VolumeMetadata {
  const { md, errors } = readVolumeMetadata(layout, img, vol);
  if (md === undefined) throw storageError(Errors.SD_VOLUME_METADATA_READ, [`${vol}: ${errors.join('; ')}`]);
  return md;
}

export function writeVolumeMetadata(layout: DomainLayout, img: string, vol: string, md: VolumeMetadata, domainVersion: number): void {
  try {
    replaceFileAtomic(layout.meta(img, vol), formatVolumeMetadata(md, domainVersion), 0o660);
  } catch (err) {
    if (err instanceof VolumeMetadataError) throw storageError(Errors.SD_VOLUME_METADATA_WRITE, [err.message]);
    if (isNoSpace(err)) throw storageError(Errors.SD_NO_SPACE_LEFT, [md.domain], { cause: err });
    throw storageError(Errors.SD_VOLUME_METADATA_WRITE, [`${layout.volume(img, vol)}: ${errorMessage(err)}`], { cause: err });
  }
}

/** Volumes of an image: every <uuid>.meta in its directory. */
export function imageVolumes(layout: DomainLayout, img: string): string[] {
  return listDir(layout.imageDir(img))
    .filter((n) => n.endsWith(META_EXT) && isUuid(n.slice(0, -META_EXT.length)))
    .map((n) => n.slice(0, -META_EXT.length));
}

/** Volumes of the image whose parent is `vol` (fileVolume.getChildren greps PUUID in the .meta files). */
export function childrenOf(layout: DomainLayout, img: string, vol: string): string[] {
  return imageVolumes(layout, img).filter((v) => {
    if (v === vol) return false;
    try {
      return readFileSync(layout.meta(img, v), 'utf8').includes(`PUUID=${vol}`);
    } catch {
      return false;
    }
  });
}

export function unlinkIfExists(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Remove a volume's data, metadata and lease files; missing ones are fine (rollbacks repeat). */
export function deleteVolumeFiles(layout: DomainLayout, img: string, vol: string): void {
  unlinkIfExists(layout.volume(img, vol));
  unlinkIfExists(layout.meta(img, vol));
  unlinkIfExists(layout.lease(img, vol));
  unlinkIfExists(layout.meta(img, vol) + '.new');
}
