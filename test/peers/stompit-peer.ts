// Drives the npm `stompit` STOMP client (an independent implementation, raw TCP or TLS) against our
// server: promise-returning connect / subscribe / send, with received messages collected per destination.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// stompit ships no types; the few calls used here are typed by hand below.
const stompit = require('stompit') as { connect(opts: Record<string, unknown>, cb: (err: Error | null, client: StompitClient) => void): unknown };

interface StompitMessage {
  headers: Record<string, string>;
  readString(enc: string, cb: (err: Error | null, body?: string) => void): void;
}
interface StompitClient {
  subscribe(headers: Record<string, string>, cb: (err: Error | null, msg: StompitMessage) => void): unknown;
  send(headers: Record<string, string>, opts?: { onReceipt?: () => void }): { write(s: string): void; end(): void };
  disconnect(cb?: (err?: Error) => void): void;
  destroy(err?: Error): void;
  on(ev: string, fn: (...a: unknown[]) => void): void;
}

export interface PeerOptions {
  port: number;
  host?: string;
  /** A unix socket instead of host:port (a relay into a network namespace). */
  path?: string;
  tls?: { key?: Buffer; cert?: Buffer; ca?: Buffer };
  connectHeaders?: Record<string, string>;
}

export interface Received {
  headers: Record<string, string>;
  body: string;
}

export class StompitPeer {
  #client: StompitClient;
  readonly messages = new Map<string, Received[]>();
  readonly errors: Error[] = [];
  #waiters: (() => void)[] = [];

  private constructor(client: StompitClient) {
    this.#client = client;
    client.on('error', (e) => this.errors.push(e as Error));
  }

  static connect(opts: PeerOptions): Promise<StompitPeer> {
    return new Promise((resolve, reject) => {
      stompit.connect(
        {
          ...(opts.path !== undefined ? { path: opts.path } : { host: opts.host ?? '127.0.0.1', port: opts.port }),
          connectHeaders: { host: 'localhost', 'heart-beat': '0,0', ...(opts.connectHeaders ?? {}) },
          ...(opts.tls ? { ssl: true, ...opts.tls, checkServerIdentity: () => undefined } : {}),
        },
        (err, client) => (err ? reject(err) : resolve(new StompitPeer(client))),
      );
    });
  }

  subscribe(destination: string): void {
    this.messages.set(destination, this.messages.get(destination) ?? []);
    this.#client.subscribe({ destination, ack: 'auto' }, (err, msg) => {
      if (err) {
        this.errors.push(err);
        return;
      }
      msg.readString('utf-8', (e, body) => {
        if (e) this.errors.push(e);
        else this.messages.get(destination)!.push({ headers: msg.headers, body: body ?? '' });
        for (const w of this.#waiters.splice(0)) w();
      });
    });
  }

  send(destination: string, body: string, headers: Record<string, string> = {}): void {
    const frame = this.#client.send({ destination, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers });
    frame.write(body);
    frame.end();
  }

  /** Resolve once `destination` holds at least n messages (rejects after timeoutMs). */
  waitFor(destination: string, n: number, timeoutMs = 5000): Promise<Received[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} messages on ${destination}`)), timeoutMs);
      const check = (): void => {
        const got = this.messages.get(destination) ?? [];
        if (got.length >= n) {
          clearTimeout(timer);
          resolve(got);
        } else this.#waiters.push(check);
      };
      check();
    });
  }

  close(): void {
    this.#client.destroy();
  }
}
