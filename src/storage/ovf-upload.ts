// The HTTP side of OVF_STORE uploads (vdsm's rpc/http.py ImageRequestHandler.do_PUT): the engine PUTs
// the OVF archive to the management port with Storage-Pool-Id, Storage-Domain-Id, Image-Id and
// optionally Volume-Id; the body (Content-Length bytes) goes into the volume through an SPM task and
// the answer, once written, is 200 with a Task-Id header. Errors: 411 without Content-Length, 400 for
// missing headers, 500 with vdsm's {"status": {"code", "message"}} JSON when the task fails.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { HsmImages } from './hsm-images.js';

export const HEADER_POOL = 'storage-pool-id';
export const HEADER_DOMAIN = 'storage-domain-id';
export const HEADER_IMAGE = 'image-id';
export const HEADER_VOLUME = 'volume-id';

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
  res.end(`${text}\n`);
}

export function ovfUploadHandler(images: HsmImages, log: Logger): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const lengthText = header(req, 'content-length');
    if (lengthText === undefined) {
      plain(res, 411, 'missing header content-length');
      req.resume();
      return;
    }
    const length = Number(lengthText);
    if (!Number.isSafeInteger(length) || length < 0) {
      plain(res, 400, `not int value '${lengthText}'`);
      req.resume();
      return;
    }
    const spUUID = header(req, HEADER_POOL);
    const sdUUID = header(req, HEADER_DOMAIN);
    const imgUUID = header(req, HEADER_IMAGE);
    if (spUUID === undefined || sdUUID === undefined || imgUUID === undefined) {
      plain(res, 400, `missing or empty required header(s): spUUID=${String(spUUID)} sdUUID=${String(sdUUID)} imgUUID=${String(imgUUID)}`);
      req.resume();
      return;
    }
    try {
      const { taskId, done } = await images.uploadToVolume({ spUUID, sdUUID, imgUUID, volUUID: header(req, HEADER_VOLUME), length, body: req });
      await done;
      res.writeHead(200, { 'Task-Id': taskId, 'content-length': '0' });
      res.end();
      log.info({ taskId, sdUUID, imgUUID, bytes: length }, 'OVF data uploaded');
    } catch (err) {
      const e = err as { vdsmCode?: number; message?: string };
      const body = JSON.stringify({ status: { code: e.vdsmCode ?? 100, message: e.message ?? String(err) } });
      log.warn({ err: e.message, sdUUID, imgUUID }, 'OVF upload failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), connection: 'close' });
      res.end(body);
      req.resume();
    }
  };
}
