// The storage jobs a task-pool thread runs, modelled on vdsm's Volume.create / fileVolume._create,
// Image.copyCollapsed, deleteVolume and purgeImage: every side effect is preceded by a recovery that
// undoes it, persisted by the main thread before the job goes on (so a SIGKILL at any point leaves a
// task whose rollback removes exactly what was made). Long steps are child processes (child-command.ts).
import { closeSync, constants, fchmodSync, openSync, rmdirSync, truncateSync } from 'node:fs';
import { Errors, errorMessage, storageError, vdsmError } from '../../src/errors.js';
import { BLANK_UUID, Legality, ROLLBACK_SENTINEL } from '../../src/contracts/storage-constants.js';
import { DomainLayout } from '../../src/contracts/storage-layout.js';
import { clampDescription, type VolumeMetadata } from '../../src/contracts/volume-metadata.js';
import type { CopyImageArgs, CreateVolumeArgs, DeleteVolumeArgs } from '../../src/contracts/storage-job-args.js';
import type { RecoveryRecord } from '../../src/contracts/task-format.js';
import { ChildCommandError, runChild, type ChildCommandOptions } from './child-command.js';
import { ensureDir, exists, isNoSpace, listDir, writeFileDurable } from './durable-files.js';
import { childrenOf, deleteVolumeFiles, imageVolumes, readVolumeMetadata, unlinkIfExists, volumeSizes, writeVolumeMetadata } from './volume-files.js';

export interface JobContext {
  taskId: string;
  /** Aborted by Task.stop. */
  signal: AbortSignal;
  /** Persist a recovery (vdsm Task.pushRecovery); resolves once it is on disk. */
  pushRecovery(rec: RecoveryRecord): Promise<void>;
  /** Pop up to the rollback sentinel and push `rec` (vdsm Task.replaceRecoveries). */
  replaceRecoveries(rec: RecoveryRecord): Promise<void>;
  progress(percent: number, step: string): void;
  /** Options for child commands: the abort signal and pid reporting. */
  child: ChildCommandOptions;
}

export type Job = (args: any, ctx: JobContext) => Promise<unknown>;

const FILE_VOLUME = { moduleName: 'fileVolume', object: 'FileVolume' } as const;

function checkAborted(ctx: JobContext): void {
  if (ctx.signal.aborted) throw vdsmError(Errors.ACTION_STOPPED, `${Errors.ACTION_STOPPED.message}: task ${ctx.taskId}`);
}


const qemuFormat = (f: 'RAW' | 'COW'): string => (f === 'RAW' ? 'raw' : 'qcow2');

function noSpaceOr(err: unknown, sdUUID: string, fallback: () => Error): Error {
  if (isNoSpace(err) || (err instanceof ChildCommandError && err.noSpace)) return storageError(Errors.SD_NO_SPACE_LEFT, [sdUUID], { cause: err });
  return fallback();
}

/** Volume.create for a file domain; returns vdsm's job result {uuid}. */
export async function createVolume(a: CreateVolumeArgs, ctx: JobContext): Promise<{ uuid: string }> {
  const layout = new DomainLayout(a.dir);
  const imgPath = layout.imageDir(a.imgUUID);
  const volPath = layout.volume(a.imgUUID, a.volUUID);
  checkAborted(ctx);

  await ctx.pushRecovery({ name: ROLLBACK_SENTINEL, ...FILE_VOLUME, function: 'startCreateVolumeRollback', params: [a.sdUUID, a.imgUUID, a.volUUID] });
  // vdsm leaves the image directory of a failed create behind; its whole-volume rollback (run last,
  // and removing the directory once no volume is left in it) goes in first so nothing stays.
  await ctx.pushRecovery({ name: 'Create volume rollback', ...FILE_VOLUME, function: 'createVolumeRollback', params: [a.repoPath, a.sdUUID, a.imgUUID, a.volUUID, imgPath] });
  await ctx.pushRecovery({ name: 'Halfbaked volume rollback', ...FILE_VOLUME, function: 'halfbakedVolumeRollback', params: [a.sdUUID, a.volUUID, volPath] });
  ensureDir(imgPath, 0o755);

  let fd: number;
  try {
    fd = openSync(volPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o660);
    fchmodSync(fd, 0o660);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw storageError(Errors.SD_VOLUME_ALREADY_EXISTS, [a.volUUID]);
    throw noSpaceOr(err, a.sdUUID, () => storageError(Errors.SD_VOLUME_CREATION, [`${volPath}: ${errorMessage(err)}`], { cause: err }));
  }
  closeSync(fd);

  try {
    if (a.format === 'RAW') {
      truncateSync(volPath, a.capacity);
      if (a.type === 'PREALLOCATED') {
        ctx.progress(0, 'preallocate');
        await runChild(['fallocate', '--length', String(a.capacity), volPath], ctx.child).catch((err: unknown) => {
          throw isAbort(err) ? err : noSpaceOr(err, a.sdUUID, () => storageError(Errors.SD_VOLUMES_ZEROING, [volPath], { cause: err }));
        });
        ctx.progress(100, 'preallocate');
      }
      if (volumeSizes(volPath).apparentsize < a.capacity) throw storageError(Errors.SD_VOLUME_CREATION, [`${a.volUUID}: apparent size below ${a.capacity}`]);
    } else {
      const argv = ['qemu-img', 'create', '-f', 'qcow2', '-o', `compat=${a.qcow2Compat}${a.type === 'PREALLOCATED' ? ',preallocation=falloc' : ''}`];
      if (a.parent) {
        // vdsm pushes the parent rollback before turning the parent into an internal volume.
        await ctx.pushRecovery({ name: `parent volume rollback: ${a.parent.volUUID}`, moduleName: 'volume', object: 'Volume', function: 'parentVolumeRollback', params: [a.sdUUID, a.imgUUID, a.parent.volUUID] });
        const pmd = readVolumeMetadata(layout, a.imgUUID, a.parent.volUUID).md;
        if (pmd && pmd.voltype === 'LEAF') writeVolumeMetadata(layout, a.imgUUID, a.parent.volUUID, { ...pmd, voltype: 'INTERNAL' }, a.domainVersion);
        // The backing file is named relative to the image directory, as vdsm does (getBackingVolumePath).
        argv.push('-b', a.parent.volUUID, '-F', qemuFormat(a.parent.format), '-u');
      }
      argv.push(volPath, String(a.capacity));
      await runChild(argv, ctx.child).catch((err: unknown) => {
        throw isAbort(err) ? err : noSpaceOr(err, a.sdUUID, () => storageError(Errors.SD_VOLUME_CREATION, [`${a.volUUID}: ${errorMessage(err)}`], { cause: err }));
      });
    }
  } catch (err) {
    throw isAbort(err) || isCatalogued(err) ? err : noSpaceOr(err, a.sdUUID, () => storageError(Errors.SD_VOLUME_CREATION, [`${a.volUUID}: ${errorMessage(err)}`], { cause: err }));
  }
  checkAborted(ctx);

  await ctx.pushRecovery({ name: 'Create volume metadata rollback', ...FILE_VOLUME, function: 'createVolumeMetadataRollback', params: [volPath] });
  const md: VolumeMetadata = {
    domain: a.sdUUID,
    image: a.imgUUID,
    parent: a.parent?.volUUID ?? BLANK_UUID,
    capacity: a.capacity,
    format: a.format,
    type: a.type,
    voltype: 'LEAF',
    disktype: a.disktype,
    description: clampDescription(a.description),
    legality: a.legal ? Legality.LEGAL : Legality.ILLEGAL,
    ctime: Math.floor(Date.now() / 1000),
    generation: 0,
    sequence: a.sequence,
  };
  writeVolumeMetadata(layout, a.imgUUID, a.volUUID, md, a.domainVersion);
  // Done: the small rollbacks give way to the one that removes the whole volume (Task.revert uses it).
  await ctx.replaceRecoveries({ name: 'Create volume rollback', ...FILE_VOLUME, function: 'createVolumeRollback', params: [a.repoPath, a.sdUUID, a.imgUUID, a.volUUID, imgPath] });
  return { uuid: a.volUUID };
}

function isAbort(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === Errors.ACTION_STOPPED.code;
}

function isCatalogued(err: unknown): boolean {
  return typeof (err as { vdsmCode?: unknown } | undefined)?.vdsmCode === 'number';
}


/** Volume.copy (hsm.copyImage, Image.copyCollapsed): a new volume, filled by qemu-img convert, legal at the end. */
export async function copyImage(a: CopyImageArgs, ctx: JobContext): Promise<{ uuid: string }> {
  const srcPath = new DomainLayout(a.src.dir).volume(a.src.imgUUID, a.src.volUUID);
  if (!exists(srcPath)) throw storageError(Errors.SD_VOLUME_DOES_NOT_EXIST, [a.src.volUUID]);
  await createVolume({ ...a.dst, legal: false }, ctx);
  const layout = new DomainLayout(a.dst.dir);
  const dstPath = layout.volume(a.dst.imgUUID, a.dst.volUUID);
  const argv = ['qemu-img', 'convert', '-p', '-t', 'none', '-T', 'none', '-f', qemuFormat(a.src.format), '-O', qemuFormat(a.dst.format)];
  if (a.dst.format === 'COW') argv.push('-o', `compat=${a.dst.qcow2Compat}`);
  argv.push(srcPath, dstPath);
  ctx.progress(0, 'qemu-img convert');
  await runChild(argv, { ...ctx.child, onProgress: (p) => ctx.progress(p, 'qemu-img convert') }).catch((err: unknown) => {
    throw isAbort(err) ? err : noSpaceOr(err, a.dst.sdUUID, () => storageError(Errors.SD_COPY_IMAGE, [`${errorMessage(err)}`], { cause: err }));
  });
  checkAborted(ctx);
  const md = readVolumeMetadata(layout, a.dst.imgUUID, a.dst.volUUID).md;
  if (md === undefined) throw storageError(Errors.SD_VOLUME_METADATA_READ, [a.dst.volUUID]);
  writeVolumeMetadata(layout, a.dst.imgUUID, a.dst.volUUID, { ...md, legality: Legality.LEGAL }, a.dst.domainVersion);
  ctx.progress(100, 'qemu-img convert');
  return { uuid: a.dst.volUUID };
}


/** Volume.delete (FileVolume.delete): refuses shared volumes and volumes with children unless forced. */
export async function deleteVolume(a: DeleteVolumeArgs, ctx: JobContext): Promise<void> {
  const layout = new DomainLayout(a.dir);
  for (const vol of a.volumes) {
    checkAborted(ctx);
    if (!exists(layout.meta(a.imgUUID, vol)) && !exists(layout.volume(a.imgUUID, vol))) throw storageError(Errors.SD_VOLUME_DOES_NOT_EXIST, [vol]);
    let parent: string | undefined;
    try {
      const md = readVolumeMetadata(layout, a.imgUUID, vol).md;
      parent = md?.parent;
      if (!a.force && md?.voltype === 'SHARED') throw storageError(Errors.SD_CANNOT_DELETE_SHARED_VOLUME, [`img ${a.imgUUID} vol ${vol}`]);
    } catch (err) {
      if (isCatalogued(err) && (err as { vdsmCode: number }).vdsmCode === Errors.SD_CANNOT_DELETE_SHARED_VOLUME.vdsmCode) throw err;
      // Broken metadata is no reason to keep a volume (vdsm validateDelete).
    }
    if (!a.force && childrenOf(layout, a.imgUUID, vol).length > 0) {
      throw storageError(Errors.SD_VOLUME_HAS_CHILDREN, [`sdUUID: ${a.sdUUID}`, `imgUUID: ${a.imgUUID}`, `volUUID: ${vol}`]);
    }
    try {
      deleteVolumeFiles(layout, a.imgUUID, vol);
    } catch (err) {
      throw storageError(Errors.SD_CANNOT_DELETE_VOLUME, [`${vol}: ${errorMessage(err)}`], { cause: err });
    }
    if (parent !== undefined && parent !== BLANK_UUID && exists(layout.meta(a.imgUUID, parent)) && childrenOf(layout, a.imgUUID, parent).length === 0) {
      const pmd = readVolumeMetadata(layout, a.imgUUID, parent).md;
      if (pmd && pmd.voltype === 'INTERNAL') writeVolumeMetadata(layout, a.imgUUID, parent, { ...pmd, voltype: 'LEAF' }, a.domainVersion);
    }
  }
  if (imageVolumes(layout, a.imgUUID).length === 0) {
    try {
      rmdirSync(layout.imageDir(a.imgUUID));
    } catch {
      // not empty (foreign files) or gone: leave it
    }
  }
}

/** The asynchronous half of Image.delete (fileSD.purgeImage): empty _remove_me_<img> and remove it. */
export async function purgeImage(a: { dir: string; imgUUID: string }, ctx: JobContext): Promise<void> {
  const layout = new DomainLayout(a.dir);
  const removed = layout.removedImageDir(a.imgUUID);
  for (const name of listDir(removed)) {
    checkAborted(ctx);
    unlinkIfExists(`${removed}/${name}`);
  }
  try {
    rmdirSync(removed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storageError(Errors.SD_IMAGE_DELETE, [`${a.imgUUID} ${errorMessage(err)}`], { cause: err });
  }
}

/**
 * vdsm-node's test job (task tests and bench:storage): with `recovery`, push a rollback that removes
 * `path`; write `path`; with `recoveryFails`, push a rollback that fails; wait `holdMs` (Task.stop ends
 * the wait); fail with `fail` when set.
 */
export async function testTouch(a: { path?: string; holdMs?: number; fail?: string; recovery?: boolean; recoveryFails?: boolean }, ctx: JobContext): Promise<unknown> {
  if (a.path !== undefined) {
    if (a.recovery !== false) await ctx.pushRecovery({ name: `remove ${a.path}`, moduleName: 'vdsmnode', object: 'Test', function: 'removeFile', params: [a.path] });
    writeFileDurable(a.path, ctx.taskId);
  }
  if (a.recoveryFails) await ctx.pushRecovery({ name: 'failing recovery', moduleName: 'vdsmnode', object: 'Test', function: 'fail', params: ['on purpose'] });
  if (a.holdMs !== undefined && a.holdMs > 0) {
    checkAborted(ctx);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, a.holdMs);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(vdsmError(Errors.ACTION_STOPPED, `${Errors.ACTION_STOPPED.message}: task ${ctx.taskId}`));
      }, { once: true });
    });
  }
  if (a.fail !== undefined) throw storageError(Errors.SD_STORAGE, [a.fail]);
  return a.path ?? '';
}

export const JOBS: Record<string, Job> = {
  createVolume,
  copyImage,
  deleteVolume,
  purgeImage,
  'test.touch': testTouch,
};

