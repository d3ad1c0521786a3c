// JSON-RPC over STOMP on a RawClient, byte-exact: CONNECT + SUBSCRIBE once, then a SEND per request, and
// the MESSAGE frames that come back parsed with the server's own (independently tested) frame parser.
import { StompParser } from '../../src/rpc/stomp-parser.js';
import type { Frame } from '../../src/rpc/stomp-frame.js';
import { RawClient } from '../peers/raw-socket.js';

export class RawRpc {
  readonly client: RawClient;
  readonly frames: Frame[] = [];
  #parser: StompParser;
  #waiters: (() => void)[] = [];

  private constructor(client: RawClient) {
    this.client = client;
    this.#parser = new StompParser({ frame: (f) => { this.frames.push(f); this.#wake(); }, error: () => this.#wake() }, { maxBodyBytes: 256 * 1024 * 1024 });
    client.socket.on('data', (d: Buffer) => this.#parser.push(d));
    client.socket.on('close', () => this.#wake());
  }

  static async open(port: number, opts: Parameters<typeof RawClient.connect>[1] = {}): Promise<RawRpc> {
    const r = new RawRpc(await RawClient.connect(port, opts));
    r.client.write('CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\nreceipt:ready\n\n\0');
    await r.next((f) => f.command === 'RECEIPT');
    return r;
  }

  /** Send a body and resolve with the parsed JSON of the next MESSAGE. */
  async call(body: string | Buffer, timeoutMs = 15_000): Promise<unknown> {
    const len = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    this.client.write(Buffer.concat([Buffer.from(`SEND\ndestination:jms.topic.vdsm_requests\nreply-to:jms.topic.vdsm_responses\ncontent-length:${len}\n\n`), typeof body === 'string' ? Buffer.from(body) : body, Buffer.from([0])]));
    const f = await this.next((x) => x.command === 'MESSAGE', timeoutMs);
    return JSON.parse(f.body.toString('utf8')) as unknown;
  }

  /** The next frame (not yet consumed) matching pred; consumes it. */
  next(pred: (f: Frame) => boolean, timeoutMs = 15_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame in ${timeoutMs} ms; got ${this.frames.map((f) => f.command).join(',')}`)), timeoutMs);
      const check = (): void => {
        const i = this.frames.findIndex(pred);
        if (i >= 0) {
          clearTimeout(timer);
          resolve(this.frames.splice(i, 1)[0]!);
        } else if (this.client.closed) {
          clearTimeout(timer);
          reject(new Error(`connection closed; frames: ${this.frames.map((f) => f.command).join(',')}`));
        } else this.#waiters.push(check);
      };
      check();
    });
  }

  close(): void {
    this.client.close();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
