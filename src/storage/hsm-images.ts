// Volume and image verbs of the HSM (vdsm's hsm.createVolume, deleteVolume, copyImage, deleteImage,
// prepareImage, teardownImage, getVolumeInfo, getVolumeSize, and the OVF_STORE upload of
// downloadImageFromStream). The checks vdsm makes before scheduling happen here, in the verb, so the
// engine gets vdsm's error at once; the work itself is an SPM job (workers/storage/jobs.ts).
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { Errors, storageError, vdsmError } from '../errors.js';
import { BLANK_UUID, BLOCK_SIZE_4K, Legality } from '../contracts/storage-constants.js';
import { imageRunLink } from '../contracts/storage-layout.js';
import type { VolumeMetadata } from '../contracts/volume-metadata.js';
import type { HsmContext } from './hsm.js';
import { boolParam, preallocParam, sizeParam, stringParam, uuidParam, volFormatParam } from './params.js';
import type { PreparedImage, VolumeInfo } from '../contracts/storage-ops.js';
import type { CreateVolumeArgs } from '../contracts/storage-job-args.js';

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

export class HsmImages {
  #h: HsmContext;

  constructor(h: HsmContext) {
    this.#h = h;
  }

  async #domain(sdUUID: unknown): Promise<{ sd: string; dir: string; version: number }> {
    const sd = uuidParam('sdUUID', sdUUID);
    const dir = await this.#h.domains.produce(sd);
    const version = Number((await this.#h.io.readDomain(dir))['VERSION'] ?? 5);
    return { sd, dir, version };
  }

  async #volumeMd(dir: string, img: string, vol: string): Promise<VolumeMetadata> {
    const v = (await this.#h.io.imageVolumes(dir, img)).find((x) => x.volUUID === vol);
    if (v === undefined) throw storageError(Errors.SD_VOLUME_DOES_NOT_EXIST, [vol]);
    if (v.md === undefined) throw storageError(Errors.SD_VOLUME_METADATA_READ, [`${vol}: ${v.errors.join('; ')}`]);
    return v.md;
  }

  /** Volume.create: the task id; size in bytes as a string or number, volFormat 4/5, preallocate 1/2. */
  createVolume(a: Record<string, unknown>): Promise<string> {
    return this.#h.tasks.schedule('createVolume', async (task) => {
      const pool = this.#h.getPool(a['storagepoolID']);
      const { sd, dir, version } = await this.#domain(a['storagedomainID']);
      const img = uuidParam('imgUUID', a['imageID']);
      const vol = uuidParam('volUUID', a['volumeID']);
      const size = sizeParam('size', a['size']);
      if (size === 0) throw storageError(Errors.SD_VOLUME_SIZE, [String(a['size'])]);
      const capacity = roundUp(size, BLOCK_SIZE_4K);
      const format = volFormatParam(a['volFormat']) as 'RAW' | 'COW';
      const type = preallocParam(a['preallocate']) as 'PREALLOCATED' | 'SPARSE';
      const srcVol = a['srcVolUUID'] === undefined || a['srcVolUUID'] === null || a['srcVolUUID'] === '' ? BLANK_UUID : uuidParam('srcVolUUID', a['srcVolUUID']);
      let srcImg = a['srcImgUUID'] === undefined || a['srcImgUUID'] === null || a['srcImgUUID'] === '' ? BLANK_UUID : uuidParam('srcImgUUID', a['srcImgUUID']);
      let parent: CreateVolumeArgs['parent'];
      if (srcVol !== BLANK_UUID) {
        if (srcImg === BLANK_UUID) srcImg = img;
        if (srcImg !== img) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `srcImgUUID=${srcImg} (a volume based on another image's template is not supported by vdsm-node)` });
        if (format !== 'COW') throw storageError(Errors.SD_INCORRECT_FORMAT, [`a snapshot of ${srcVol} must be COW`]);
        const pmd = await this.#volumeMd(dir, img, srcVol);
        if (pmd.legality === Legality.ILLEGAL) throw storageError(Errors.SD_ILLEGAL_SNAPSHOT_PARENT, [srcVol]);
        if (capacity < pmd.capacity) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `capacity=${capacity}` });
        parent = { volUUID: srcVol, format: pmd.format === 'RAW' ? 'RAW' : 'COW' };
      }
      if (type === 'PREALLOCATED') {
        const st = await this.#h.io.domainStats(dir);
        if (capacity > Number(st.diskfree)) throw storageError(Errors.SD_NO_SPACE_LEFT, { value: `No space left on domain ${sd}: ${capacity} bytes requested, ${st.diskfree} free` });
      }
      pool.validateSPM();
      const args: CreateVolumeArgs = {
        dir, repoPath: this.#h.layout.poolDir(pool.spUUID), sdUUID: sd, imgUUID: img, volUUID: vol, capacity, format, type,
        disktype: stringParam('diskType', a['diskType'], 'DATA'), description: stringParam('desc', a['desc'], ''),
        ...(parent ? { parent } : {}), domainVersion: version,
        legal: a['legal'] === undefined ? true : boolParam(a['legal']),
        sequence: a['sequence'] === undefined ? 0 : sizeParam('sequence', a['sequence']),
        qcow2Compat: version >= 4 ? '1.1' : '0.10',
      };
      await this.#h.tasks.scheduleJob(task, 'spm', this.#h.layout.poolTasksDir(pool.spUUID), {
        name: 'createVolume', runcmd: `createVolume (args: ${sd} ${img} ${vol} ${capacity} ${format} ${type})`, call: { job: 'createVolume', args },
      });
    });
  }

  /** Volume.delete: an SPM task removing the volume (refused for shared volumes and parents unless forced). */
  deleteVolume(a: Record<string, unknown>): Promise<string> {
    return this.#h.tasks.schedule('deleteVolume', async (task) => {
      const pool = this.#h.getPool(a['storagepoolID']);
      const { sd, dir, version } = await this.#domain(a['storagedomainID']);
      const img = uuidParam('imgUUID', a['imageID']);
      const volumes = (Array.isArray(a['volumeID']) ? a['volumeID'] : [a['volumeID']]).map((v) => uuidParam('volUUID', v));
      pool.validateSPM();
      await this.#h.tasks.scheduleJob(task, 'spm', this.#h.layout.poolTasksDir(pool.spUUID), {
        name: 'deleteVolume', runcmd: `deleteVolume (args: ${sd} ${img} ${volumes.join(',')})`,
        call: { job: 'deleteVolume', args: { dir, sdUUID: sd, imgUUID: img, volumes, force: boolParam(a['force']), domainVersion: version } },
      });
    });
  }

  /** Image.delete: rename to _remove_me_<img> now (vdsm's pool.deleteImage), purge in an SPM task. */
  deleteImage(a: Record<string, unknown>): Promise<string> {
    return this.#h.tasks.schedule('deleteImage', async (task) => {
      const pool = this.#h.getPool(a['storagepoolID']);
      const { sd, dir } = await this.#domain(a['storagedomainID']);
      const img = uuidParam('imgUUID', a['imageID']);
      // postZero and force are accepted as vdsm does ("false" strings included); file domains never zero.
      boolParam(a['postZero']);
      pool.validateSPM();
      await this.#h.locks.with([`${img}_${sd}`], async () => {
        const volumes = await this.#h.io.markImageRemoved(dir, sd, img);
        await this.#h.tasks.scheduleJob(task, 'spm', this.#h.layout.poolTasksDir(pool.spUUID), {
          name: `purgeImage_${img}`, runcmd: `purgeImage (args: ${sd} ${img} ${volumes.join(',')})`, call: { job: 'purgeImage', args: { dir, imgUUID: img } },
        });
      });
    });
  }

  /** Volume.copy (hsm.copyImage): a new image with the source collapsed into one volume, with progress. */
  copyImage(a: Record<string, unknown>): Promise<string> {
    return this.#h.tasks.schedule('copyImage', async (task) => {
      const srcSd = uuidParam('sdUUID', a['storagedomainID']);
      const srcImg = uuidParam('srcImgUUID', a['imageID']);
      const srcVol = uuidParam('srcVolUUID', a['volumeID']);
      const dstSdRaw = a['dstSdUUID'] === undefined || a['dstSdUUID'] === null || a['dstSdUUID'] === '' ? BLANK_UUID : uuidParam('dstSdUUID', a['dstSdUUID']);
      const dstImg = uuidParam('dstImgUUID', a['dstImgUUID']);
      const dstVol = uuidParam('dstVolUUID', a['dstVolUUID']);
      if ((dstSdRaw === srcSd || dstSdRaw === BLANK_UUID) && srcImg === dstImg) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `dstImgUUID=${dstImg}` });
      const pool = this.#h.getPool(a['storagepoolID']);
      const src = await this.#domain(srcSd);
      const dst = await this.#domain(dstSdRaw === BLANK_UUID ? srcSd : dstSdRaw);
      const smd = await this.#volumeMd(src.dir, srcImg, srcVol);
      if (smd.legality === Legality.ILLEGAL) throw storageError(Errors.SD_PREPARE_ILLEGAL_VOLUME, [srcVol]);
      const f = volFormatParam(a['volFormat'] ?? 3, true);
      const p = preallocParam(a['preallocate'] ?? 0, true);
      const format = (f === 'UNKNOWN' ? smd.format : f) === 'RAW' ? 'RAW' : 'COW';
      const type = (p === 'UNKNOWN' ? smd.type : p) === 'PREALLOCATED' ? 'PREALLOCATED' : 'SPARSE';
      pool.validateSPM();
      const args = {
        src: { dir: src.dir, imgUUID: srcImg, volUUID: srcVol, format: smd.format === 'RAW' ? 'RAW' : 'COW' },
        dst: {
          dir: dst.dir, repoPath: this.#h.layout.poolDir(pool.spUUID), sdUUID: dst.sd, imgUUID: dstImg, volUUID: dstVol,
          capacity: smd.capacity, format, type, disktype: smd.disktype, description: stringParam('desc', a['desc'], ''),
          domainVersion: dst.version, legal: true, sequence: 0, qcow2Compat: dst.version >= 4 ? '1.1' : '0.10',
        } satisfies CreateVolumeArgs,
      };
      await this.#h.tasks.scheduleJob(task, 'spm', this.#h.layout.poolTasksDir(pool.spUUID), {
        name: `copyImage_${dstImg}`, runcmd: `copyImage (args: ${srcSd} ${srcImg} ${srcVol} -> ${dst.sd} ${dstImg} ${dstVol})`, call: { job: 'copyImage', args },
      });
    });
  }

  /** Image.prepare: {path, info, imgVolumesInfo}; every volume legal unless allowIllegal. */
  prepareImage(a: Record<string, unknown>): Promise<PreparedImage> {
    return this.#h.tasks.run('prepareImage', async () => {
      const sp = a['storagepoolID'];
      if (typeof sp === 'string' && sp !== BLANK_UUID) this.#h.getPool(sp);
      const { sd, dir } = await this.#domain(a['storagedomainID']);
      const img = uuidParam('imgUUID', a['imageID']);
      const vol = uuidParam('leafUUID', a['volumeID']);
      return this.#h.io.prepareImage({ dir, sdUUID: sd, imgUUID: img, volUUID: vol, allowIllegal: boolParam(a['allowIllegal']), runLink: imageRunLink(this.#h.runDir, sd, img) });
    });
  }

  teardownImage(a: Record<string, unknown>): Promise<boolean> {
    return this.#h.tasks.run('teardownImage', async () => {
      const sd = uuidParam('sdUUID', a['storagedomainID']);
      await this.#h.domains.produce(sd);
      const img = uuidParam('imgUUID', a['imageID']);
      return this.#h.io.teardownImage(imageRunLink(this.#h.runDir, sd, img));
    });
  }

  getVolumeInfo(a: Record<string, unknown>): Promise<VolumeInfo> {
    return this.#h.tasks.run('getVolumeInfo', async () => {
      const { sd, dir } = await this.#domain(a['storagedomainID']);
      return this.#h.io.volumeInfo(dir, sd, uuidParam('imgUUID', a['imageID']), uuidParam('volUUID', a['volumeID']));
    });
  }

  getVolumeSize(a: Record<string, unknown>): Promise<{ apparentsize: string; truesize: string }> {
    return this.#h.tasks.run('getVolumeSize', async () => {
      const sd = uuidParam('sdUUID', a['storagedomainID']);
      const dir = await this.#h.domains.produce(sd);
      return this.#h.io.volumeSize(dir, uuidParam('imgUUID', a['imageID']), uuidParam('volUUID', a['volumeID']));
    });
  }

  /**
   * The HTTP PUT of OVF data (vdsm's ImageRequestHandler.do_PUT -> downloadImageFromStream): an SPM
   * task writes `length` bytes of `body` into the volume (the image's leaf when no volume is named)
   * through a dd child. Resolves with the task id once the data is written (vdsm answers then).
   */
  async uploadToVolume(a: { spUUID: string; sdUUID: string; imgUUID: string; volUUID?: string | undefined; length: number; body: Readable }): Promise<{ taskId: string; done: Promise<void> }> {
    let volPath = '';
    const taskId = await this.#h.tasks.schedule('downloadImageFromStream', async (task) => {
      const pool = this.#h.getPool(a.spUUID);
      const { dir } = await this.#domain(a.sdUUID);
      const img = uuidParam('imgUUID', a.imgUUID);
      const vols = await this.#h.io.imageVolumes(dir, img);
      if (vols.length === 0) throw storageError(Errors.SD_IMAGE_NOT_IN_DOMAIN, { value: `image=${img}, domain=${a.sdUUID}` });
      const parents = new Set(vols.map((v) => v.md?.parent));
      const vol = a.volUUID !== undefined ? uuidParam('volUUID', a.volUUID) : vols.find((v) => !parents.has(v.volUUID))?.volUUID ?? vols[0]!.volUUID;
      const md = await this.#volumeMd(dir, img, vol);
      if (md.format !== 'RAW') throw storageError(Errors.SD_INCORRECT_FORMAT, [`${vol}: uploads write raw data`]);
      if (a.length > md.capacity) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `length=${a.length} (volume capacity ${md.capacity})` });
      pool.validateSPM();
      volPath = `${dir}/images/${img}/${vol}`;
      await this.#h.tasks.scheduleJob(task, 'spm', this.#h.layout.poolTasksDir(pool.spUUID), {
        name: 'downloadImageFromStream', runcmd: `downloadImageFromStream (args: ${a.sdUUID} ${img} ${vol} ${a.length})`,
        main: async (ctx) => writeStream(a.body, volPath, a.length, ctx.task.addAbortCallback.bind(ctx.task)),
      });
    });
    const task = this.#h.tasks.get(taskId);
    const done = task.whenDone().then(() => {
      if (task.state !== 'finished') throw storageError(Errors.SD_COPY_IMAGE, [task.result.message]);
    });
    return { taskId, done };
  }

  /** VM disks given as {poolID, domainID, imageID, volumeID}: prepare and return the volume path. */
  async prepareVmDrive(d: { poolID?: unknown; domainID: unknown; imageID: unknown; volumeID: unknown }): Promise<string> {
    const r = await this.prepareImage({ storagepoolID: d.poolID ?? BLANK_UUID, storagedomainID: d.domainID, imageID: d.imageID, volumeID: d.volumeID, allowIllegal: false });
    return r.path;
  }

  /** Apparent and allocated sizes of volume files (VM disk stats), by path. */
  volumeSizes(paths: string[]): Promise<Record<string, { apparentsize: number; truesize: number }>> {
    return this.#h.io.pathSizes(paths);
  }
}

/** Copy exactly `length` bytes of `body` into `path` with dd (a child: a hung storage blocks only it). */
function writeStream(body: Readable, path: string, length: number, onAbort: (cb: () => void) => () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'dd', `of=${path}`, 'bs=1M', 'iflag=fullblock,count_bytes', `count=${length}`, 'conv=notrunc,fsync', 'status=none'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    let received = 0;
    let aborted = false;
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const remove = onAbort(() => {
      aborted = true;
      child.kill('SIGKILL');
      body.destroy();
    });
    body.on('data', (chunk: Buffer) => (received += chunk.length));
    body.on('error', (err) => child.kill('SIGKILL') && reject(err));
    child.stdin.on('error', () => undefined);
    body.pipe(child.stdin);
    child.on('close', (code) => {
      remove();
      if (aborted) reject(vdsmError(Errors.ACTION_STOPPED, `${Errors.ACTION_STOPPED.message}: upload to ${path}`));
      else if (code !== 0) reject(storageError(Errors.SD_COPY_IMAGE, [`dd exited ${String(code)}: ${stderr.trim()}`]));
      else if (received < length) reject(storageError(Errors.SD_COPY_IMAGE, [`upload ended after ${received} of ${length} bytes`]));
      else resolve();
    });
  });
}
