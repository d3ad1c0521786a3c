// The listening socket on the management port: plain TCP or TLS 1.2+ with a required client certificate,
// socket activation, and protocol detection on the first bytes of every connection before hand-off.
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../observability/logging.js';
import { realTimers, type Timers } from '../runtime/clock.js';
import { detectProtocol } from './protocol-detector.js';
import { armQuickAck, loadQuickAck, type QuickAckFn } from './quick-ack.js';

/** vdsm: protocol detection (and, separately, the TLS handshake) must finish within 10 s. */
export const DETECT_TIMEOUT_MS = 10_000;
/** Connections still being detected beyond this are refused at once (slowloris bound). */
export const MAX_DETECTING = 1024;

export interface TlsMaterial {
  key: string | Buffer;
  cert: string | Buffer;
  ca: string | Buffer;
}

export interface AcceptorOptions {
  /** vdsm [addresses] management_ip; '::' falls back to '0.0.0.0' when IPv6 is unavailable. */
  host: string;
  /** vdsm [addresses] management_port. */
  port: number;
  /** Present = TLS on (vdsm [vars] ssl). */
  tls?: TlsMaterial;
  /** Require a client certificate signed by `tls.ca` (vdsm: always, once a CA is configured). Default true. */
  requireClientCert?: boolean;
  /** A listening fd inherited through socket activation (LISTEN_FDS); host/port are then ignored. */
  fd?: number;
  detectTimeoutMs?: number;
  maxDetecting?: number;
  timers?: Timers;
  log: Logger;
  onStomp(socket: Socket, head: Buffer): void;
  onHttp(socket: Socket, head: Buffer): void;
  /** Immediate ACKs after every read (see quick-ack.ts); default: native/sys tcpQuickAck; false turns it off. */
  quickAck?: QuickAckFn | false;
}

/** The fd systemd passed us, if LISTEN_PID names this process (sd_listen_fds semantics). */
export function socketActivationFd(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  if (env['LISTEN_PID'] !== String(pid)) return undefined;
  const n = Number(env['LISTEN_FDS'] ?? '0');
  return Number.isInteger(n) && n >= 1 ? 3 : undefined;
}

type AcceptorState = 'new' | 'listening' | 'closed';

export class Acceptor {
  #o: AcceptorOptions;
  #timers: Timers;
  #server: net.Server | undefined;
  #state: AcceptorState = 'new';
  #sockets = new Set<Socket>();
  #detecting = 0;
  #counts = { accepted: 0, stomp: 0, http: 0, unknown: 0, timeouts: 0, tlsErrors: 0, refused: 0 };
  #address: { address: string; port: number } | undefined;
  #starting: Promise<{ address: string; port: number }> | undefined;
  #quickAck: QuickAckFn | undefined;

  constructor(opts: AcceptorOptions) {
    this.#o = opts;
    this.#quickAck = opts.quickAck === false ? undefined : (opts.quickAck ?? loadQuickAck());
    if (opts.quickAck === undefined && this.#quickAck === undefined) opts.log.warn('native/sys addon unavailable: without TCP_QUICKACK, clients that use Nagle wait up to 40 ms for delayed ACKs');
    this.#timers = opts.timers ?? realTimers;
  }

  /** Listen; resolves to the bound address. Idempotent. */
  start(): Promise<{ address: string; port: number }> {
    this.#starting ??= this.#listen();
    return this.#starting;
  }

  async #listen(): Promise<{ address: string; port: number }> {
    const t = this.#o.tls;
    const server = t
      ? tls.createServer({
          key: t.key,
          cert: t.cert,
          ca: t.ca,
          requestCert: this.#o.requireClientCert ?? true,
          rejectUnauthorized: this.#o.requireClientCert ?? true,
          minVersion: 'TLSv1.2',
          handshakeTimeout: this.#o.detectTimeoutMs ?? DETECT_TIMEOUT_MS,
        })
      : net.createServer();
    this.#server = server;
    if (t) {
      server.on('secureConnection', (s: Socket) => this.#detect(s));
      server.on('tlsClientError', (err: Error, s: tls.TLSSocket) => {
        this.#counts.tlsErrors++;
        this.#o.log.info({ client: `${s.remoteAddress}:${s.remotePort}`, err: err.message }, 'TLS handshake failed');
        s.destroy();
      });
      // The raw TCP socket, before the handshake, is tracked so close() can end it too.
      server.on('connection', (s: Socket) => this.#track(s));
    } else server.on('connection', (s: Socket) => {
      this.#track(s);
      this.#detect(s);
    });
    server.on('error', (err) => this.#o.log.error({ err }, 'acceptor error'));
    const listen = (opts: net.ListenOptions | { fd: number }) =>
      new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen(opts, () => {
          server.off('error', onError);
          resolve();
        });
      });
    if (this.#o.fd !== undefined) await listen({ fd: this.#o.fd });
    else {
      try {
        await listen({ host: this.#o.host, port: this.#o.port });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (this.#o.host !== '::' || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL' && code !== 'EINVAL')) throw err;
        this.#o.log.warn({ code }, 'IPv6 unavailable, listening on 0.0.0.0');
        await listen({ host: '0.0.0.0', port: this.#o.port });
      }
    }
    this.#state = 'listening';
    const a = server.address() as net.AddressInfo;
    this.#address = { address: a.address, port: a.port };
    this.#o.log.info({ ...this.#address, tls: Boolean(t) }, 'listening for engine connections');
    return this.#address;
  }

  /** Stop listening and drop every connection (idempotent). */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    const server = this.#server;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  state(): Record<string, unknown> {
    return { state: this.#state, ...(this.#address ?? {}), tls: Boolean(this.#o.tls), detecting: this.#detecting, open: this.#sockets.size, ...this.#counts };
  }

  #track(s: Socket): void {
    if (this.#state === 'closed') {
      s.destroy();
      return;
    }
    this.#sockets.add(s);
    s.once('close', () => this.#sockets.delete(s));
  }

  #detect(socket: Socket): void {
    this.#counts.accepted++;
    this.#track(socket);
    const client = `${socket.remoteAddress}:${socket.remotePort}`;
    if (this.#detecting >= (this.#o.maxDetecting ?? MAX_DETECTING)) {
      this.#counts.refused++;
      this.#o.log.warn({ client, detecting: this.#detecting }, 'too many connections in protocol detection, refusing');
      socket.destroy();
      return;
    }
    this.#detecting++;
    socket.setNoDelay(true);
    if (this.#quickAck !== undefined) armQuickAck(socket, this.#quickAck);
    let head: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      this.#detecting--;
      this.#timers.clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', finish);
    };
    const timer = this.#timers.setTimeout(() => {
      if (done) return;
      finish();
      this.#counts.timeouts++;
      this.#o.log.info({ client }, 'protocol detection timed out, closing');
      socket.destroy();
    }, this.#o.detectTimeoutMs ?? DETECT_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const what = detectProtocol(head);
      if (what === 'more') return;
      finish();
      if (what === 'stomp') {
        this.#counts.stomp++;
        this.#o.onStomp(socket, head);
      } else if (what === 'http') {
        this.#counts.http++;
        socket.pause();
        this.#o.onHttp(socket, head);
      } else {
        this.#counts.unknown++;
        this.#o.log.warn({ client, head: head.subarray(0, 16).toString('latin1') }, 'Unrecognized protocol, closing');
        socket.destroy();
      }
    };
    socket.on('data', onData);
    socket.on('close', finish);
    socket.on('error', (err) => this.#o.log.debug({ client, err: err.message }, 'connection error'));
  }
}
