// A raw TCP/TLS client for byte-exact wire tests: write bytes, collect everything the server sends.
import net, { type Socket } from 'node:net';
import tls from 'node:tls';

export class RawClient {
  readonly socket: Socket;
  #data = Buffer.alloc(0);
  #closed = false;
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#data = Buffer.concat([this.#data, d]);
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  static connect(port: number, opts: { tls?: tls.ConnectionOptions; host?: string } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const host = opts.host ?? '127.0.0.1';
      const s = opts.tls ? tls.connect({ host, port, checkServerIdentity: () => undefined, ...opts.tls }) : net.connect({ host, port });
      s.once(opts.tls ? 'secureConnect' : 'connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  get text(): string {
    return this.#data.toString('utf8');
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Wait until the received text satisfies `pred` (or the socket closed, when `orClose`). */
  until(pred: (text: string) => boolean, timeoutMs = 5000, what = 'data'): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.text.slice(0, 300))}`)), timeoutMs);
      const check = (): void => {
        if (pred(this.text)) {
          clearTimeout(timer);
          resolve(this.text);
        } else if (this.#closed) {
          clearTimeout(timer);
          reject(new Error(`closed while waiting for ${what}; got ${JSON.stringify(this.text.slice(0, 300))}`));
        } else this.#waiters.push(check);
      };
      check();
    });
  }

  /** Resolve when the server closed the connection. */
  waitClosed(timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connection still open')), timeoutMs);
      const check = (): void => {
        if (this.#closed) {
          clearTimeout(timer);
          resolve();
        } else this.#waiters.push(check);
      };
      check();
    });
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
