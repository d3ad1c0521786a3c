// Worker operations on volumes and images that answer at once (Volume.getInfo / getSize, the checks of
// Volume.create and Image.delete, Image.prepare / teardown). Volume creation, copy and deletion are
// task jobs (workers/storage-task-worker.ts).
import { accessSync, closeSync, constants, fsyncSync, mkdirSync, openSync, readSync, renameSync, symlinkSync, readlinkSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { Errors, errorMessage, storageError } from '../../src/errors.js';
import { Legality } from '../../src/contracts/storage-constants.js';
import { DomainLayout } from '../../src/contracts/storage-layout.js';
import type { VolumeMetadata } from '../../src/contracts/volume-metadata.js';
import { exists } from '../storage/durable-files.js';
import { imageVolumes, readVolumeMetadata, volumeSizes } from '../storage/volume-files.js';
import type { AreaOps } from '../../src/contracts/operations.js';
import type { ImageVolume, PrepareImageArgs, PreparedImage, VolumeInfo, VolumeRef } from '../../src/contracts/storage-ops.js';

/** vdsm's VolumeManifest.validate: the image directory, then the volume and its .meta must exist. */
function validate(a: VolumeRef): DomainLayout {
  const layout = new DomainLayout(a.dir);
  const imageDir = layout.imageDir(a.imgUUID);
  try {
    accessSync(imageDir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch {
    throw storageError(Errors.SD_IMAGE_PATH, [imageDir]);
  }
  if (!exists(layout.volume(a.imgUUID, a.volUUID)) || !exists(layout.meta(a.imgUUID, a.volUUID))) {
    throw storageError(Errors.SD_VOLUME_DOES_NOT_EXIST, [a.volUUID]);
  }
  return layout;
}

/**
 * Volume.getInfo in vdsm's shape. Unreadable metadata gives status ILLEGAL with sizes "0": vdsm says
 * INVALID there, which the engine cannot map (it knows OK, LOCKED and ILLEGAL).
 */
function volumeInfo(a: VolumeRef & { sdUUID: string }): VolumeInfo {
  const layout = validate(a);
  let md: VolumeMetadata | undefined;
  try {
    md = readVolumeMetadata(layout, a.imgUUID, a.volUUID).md;
  } catch {
    md = undefined;
  }
  const info: VolumeInfo = {
    uuid: a.volUUID,
    type: md?.type ?? '',
    format: md?.format ?? '',
    disktype: md?.disktype ?? '',
    voltype: md?.voltype ?? '',
    capacity: String(md?.capacity ?? 0),
    parent: md?.parent ?? '',
    description: md?.description ?? '',
    pool: '',
    domain: md?.domain ?? a.sdUUID,
    image: md?.image ?? a.imgUUID,
    ctime: String(md?.ctime ?? ''),
    mtime: '0',
    legality: md?.legality ?? '',
    generation: md?.generation ?? 0,
    apparentsize: '0',
    truesize: '0',
    status: 'ILLEGAL',
    children: [],
  };
  if (md !== undefined) {
    const sizes = volumeSizes(layout.volume(a.imgUUID, a.volUUID));
    info.apparentsize = String(sizes.apparentsize);
    info.truesize = String(sizes.truesize);
    info.status = md.legality === Legality.ILLEGAL ? 'ILLEGAL' : 'OK';
  }
  return info;
}

/** Metadata of every volume of an image (prepare, delete and snapshot checks). */
function imageVolumeList(a: { dir: string; imgUUID: string }): ImageVolume[] {
  const layout = new DomainLayout(a.dir);
  return imageVolumes(layout, a.imgUUID).map((volUUID) => {
    try {
      return { volUUID, ...readVolumeMetadata(layout, a.imgUUID, volUUID) };
    } catch (err) {
      return { volUUID, md: undefined, errors: [errorMessage(err)] };
    }
  });
}

/** hsm.prepareImage for file domains: every volume legal (unless allowed), the run link made. */
function prepareImage(a: PrepareImageArgs): PreparedImage {
  const layout = new DomainLayout(a.dir);
  const vols = imageVolumeList(a);
  if (!vols.some((v) => v.volUUID === a.volUUID)) throw storageError(Errors.SD_VOLUME_DOES_NOT_EXIST, [a.volUUID]);
  for (const v of vols) {
    if (v.md?.legality === Legality.ILLEGAL && !a.allowIllegal) throw storageError(Errors.SD_PREPARE_ILLEGAL_VOLUME, [v.volUUID]);
  }
  const imageDir = layout.imageDir(a.imgUUID);
  mkdirSync(dirname(a.runLink), { recursive: true });
  try {
    if (readlinkSync(a.runLink) !== imageDir) {
      unlinkSync(a.runLink);
      symlinkSync(imageDir, a.runLink);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    symlinkSync(imageDir, a.runLink);
  }
  const path = layout.volume(a.imgUUID, a.volUUID);
  return {
    path,
    info: { type: 'file', path },
    imgVolumesInfo: vols.map((v) => ({ domainID: a.sdUUID, imageID: a.imgUUID, volumeID: v.volUUID, path: layout.volume(a.imgUUID, v.volUUID) })),
  };
}

/** Image.delete's synchronous part (fileSD.deleteImage): rename the image to _remove_me_<img>. */
function markImageRemoved(a: { dir: string; imgUUID: string; sdUUID: string }): string[] {
  const layout = new DomainLayout(a.dir);
  const vols = imageVolumes(layout, a.imgUUID);
  if (vols.length === 0) throw storageError(Errors.SD_IMAGE_NOT_IN_DOMAIN, { value: `image=${a.imgUUID}, domain=${a.sdUUID}` });
  try {
    renameSync(layout.imageDir(a.imgUUID), layout.removedImageDir(a.imgUUID));
  } catch (err) {
    throw storageError(Errors.SD_IMAGE_DELETE, [`${a.imgUUID} ${errorMessage(err)}`], { cause: err });
  }
  return vols;
}

export const ops: AreaOps<'storage-volume'> = {
  'storage.volumeInfo': (args) => volumeInfo(args),
  'storage.volumeSize': (args) => {
    const a = args;
    const s = volumeSizes(validate(a).volume(a.imgUUID, a.volUUID));
    return { apparentsize: String(s.apparentsize), truesize: String(s.truesize) };
  },
  /** Sizes of volume files by path (VM disk sampling). Missing files are left out. */
  'storage.pathSizes': (args) => {
    const out: Record<string, { apparentsize: number; truesize: number }> = {};
    for (const p of args.paths) {
      try {
        out[p] = volumeSizes(p);
      } catch {
        // gone or unreachable: reported as unknown by the caller
      }
    }
    return out;
  },
  'storage.imageVolumes': (args) => imageVolumeList(args),
  'storage.prepareImage': (args) => prepareImage(args),
  'storage.teardownImage': (args) => {
    try {
      unlinkSync(args.runLink);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return true;
  },
  'storage.markImageRemoved': (args) => markImageRemoved(args),
  // Hibernation's configuration volume: written in place ("r+": the engine preallocated it), read back.
  'storage.writeVolumeHead': (args) => {
    const fd = openSync(args.path, 'r+');
    try {
      const data = Buffer.from(args.data.buffer, args.data.byteOffset, args.data.byteLength);
      for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return true;
  },
  'storage.readVolumeHead': (args) => {
    const fd = openSync(args.path, 'r');
    try {
      const buf = Buffer.alloc(Math.max(0, Math.min(args.maxBytes, 64 * 2 ** 20)));
      let n = 0;
      while (n < buf.length) {
        const r = readSync(fd, buf, n, buf.length - n, n);
        if (r === 0) break;
        n += r;
      }
      return new Uint8Array(buf.buffer, buf.byteOffset, n);
    } finally {
      closeSync(fd);
    }
  },
};
