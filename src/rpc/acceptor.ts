// The listening socket on the management port: plain TCP or TLS 1.2+ with a required client certificate,
// socket activation, admission (a global connection bound with eviction, see admission.ts) and protocol
// detection on the first bytes of every connection before hand-off. TLS refusals are logged at warn
// with their reason, at most once a second per reason.
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../observability/logging.js';
import { monotonicClock, realTimers, type Clock, type Timers } from '../runtime/clock.js';
import { Admission, MAX_DETECTING, type LimitHit, type Slot } from './admission.js';
import { detectProtocol } from './protocol-detector.js';
import { armQuickAck, loadQuickAck, type QuickAckFn } from './quick-ack.js';

/** vdsm: protocol detection (and, separately, the TLS handshake) must finish within 10 s. */
export const DETECT_TIMEOUT_MS = 10_000;
export { MAX_DETECTING };

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
  /** Undetected sockets held at most; past it the oldest is evicted. */
  maxDetecting?: number;
  /** Global bound on connections (TLS handshakes included); default 16384. */
  maxConnections?: number;
  timers?: Timers;
  clock?: Clock;
  log: Logger;
  onLimit?: (hit: LimitHit) => void;
  /** A socket admitted earlier closed (for memory relief after a crowd leaves). */
  onClosed?: () => void;
  /**
   * `reads` wraps the handler's 'data' listener (the quick-ACK check after each chunk; the identity when
   * quick ACKs are off): attach `reads(listener)`. A handler that attaches its own listeners is served too.
   */
  onStomp(socket: Socket, head: Buffer, slot: Slot, reads: (listener: (chunk: Buffer) => void) => (chunk: Buffer) => void): void;
  onHttp(socket: Socket, head: Buffer, slot: Slot): void;
  /** Immediate ACKs after reads not answered at once (see quick-ack.ts); default: native/sys tcpQuickAck; false turns it off. */
  quickAck?: QuickAckFn | false;
}

/** The fd systemd passed us, if LISTEN_PID names this process (sd_listen_fds semantics). */
export function socketActivationFd(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  if (env['LISTEN_PID'] !== String(pid)) return undefined;
  const n = Number(env['LISTEN_FDS'] ?? '0');
  return Number.isInteger(n) && n >= 1 ? 3 : undefined;
}

/** Why a TLS handshake failed, in words an operator can act on. */
export function tlsRefusalReason(err: Error & { code?: string }): string {
  const m = err.message;
  if (/peer did not return a certificate|PEER_DID_NOT_RETURN_A_CERTIFICATE/i.test(m)) return 'no client certificate';
  if (/certificate has expired|CERTIFICATE_EXPIRED/i.test(m)) return 'client certificate expired';
  if (/not yet valid/i.test(m)) return 'client certificate not yet valid';
  if (/unknown ca|unable to get local issuer|self.signed|certificate verify failed|CERTIFICATE_VERIFY_FAILED/i.test(m)) return 'client certificate not signed by the trusted CA';
  if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' || /handshake timeout/i.test(m)) return 'handshake timed out';
  if (/wrong version number|http request|unsupported protocol|no protocols available/i.test(m)) return 'not a TLS 1.2+ client';
  if (/ECONNRESET|socket hang up/i.test(m) || err.code === 'ECONNRESET') return 'client closed during the handshake';
  return err.code ?? m;
}

/** Why a handshake that completed did not authenticate the client. */
export function clientCertReason(s: tls.TLSSocket): string {
  const peer = s.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) return 'no client certificate';
  const code = String(s.authorizationError ?? '');
  if (code === 'CERT_HAS_EXPIRED') return 'client certificate expired';
  if (code === 'CERT_NOT_YET_VALID') return 'client certificate not yet valid';
  if (/UNABLE_TO_|SELF_SIGNED|CERT_SIGNATURE_FAILURE|CERT_UNTRUSTED|CERT_REJECTED/.test(code)) return 'client certificate not signed by the trusted CA';
  return code || 'client certificate not accepted';
}

const BUSY_TEXT = 'Server busy: connection limit reached, try again later';
const BUSY_FRAME = `ERROR\nmessage:${BUSY_TEXT}\ncontent-type:text/plain\ncontent-length:${BUSY_TEXT.length}\n\n${BUSY_TEXT}\0`;

type AcceptorState = 'new' | 'listening' | 'closed';

export class Acceptor {
  readonly admission: Admission;
  #o: AcceptorOptions;
  #timers: Timers;
  #clock: Clock;
  #server: net.Server | undefined;
  #state: AcceptorState = 'new';
  #sockets = new Set<Socket>();
  /** TLS: the raw socket's slot, found again by remote address and port when the handshake ends. */
  #handshaking = new Map<string, Slot>();
  #counts = { accepted: 0, stomp: 0, http: 0, unknown: 0, timeouts: 0, tlsErrors: 0, refused: 0 };
  #logged = new Map<string, { at: number; suppressed: number }>();
  #address: { address: string; port: number } | undefined;
  #starting: Promise<{ address: string; port: number }> | undefined;
  #quickAck: QuickAckFn | undefined;

  constructor(opts: AcceptorOptions) {
    this.#o = opts;
    this.#quickAck = opts.quickAck === false ? undefined : (opts.quickAck ?? loadQuickAck());
    if (opts.quickAck === undefined && this.#quickAck === undefined) opts.log.warn('native/sys addon unavailable: without TCP_QUICKACK, clients that use Nagle wait up to 40 ms for delayed ACKs');
    this.#timers = opts.timers ?? realTimers;
    this.#clock = opts.clock ?? monotonicClock;
    this.admission = new Admission({
      maxConnections: opts.maxConnections ?? 16_384,
      maxDetecting: opts.maxDetecting ?? MAX_DETECTING,
      clock: this.#clock,
      log: opts.log,
      ...(opts.onLimit ? { onLimit: opts.onLimit } : {}),
    });
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
          // Verified below, in secureConnection: node's own rejection closes the socket without telling
          // why, and an operator needs the reason (expired, unknown CA, none).
          rejectUnauthorized: false,
          minVersion: 'TLSv1.2',
          handshakeTimeout: this.#o.detectTimeoutMs ?? DETECT_TIMEOUT_MS,
        })
      : net.createServer();
    this.#server = server;
    // Every accepted TCP socket (before any TLS handshake) takes a slot or is refused.
    server.on('connection', (s: Socket) => {
      const slot = this.#accept(s);
      if (!slot) return;
      if (t) this.#handshaking.set(endpoint(s), slot);
      else this.#detect(s, slot);
    });
    if (t) {
      server.on('secureConnection', (s: tls.TLSSocket) => {
        const slot = this.#takeHandshake(s);
        if (!slot) {
          s.destroy();
          return;
        }
        if ((this.#o.requireClientCert ?? true) && !s.authorized) {
          this.#counts.tlsErrors++;
          const reason = clientCertReason(s);
          this.#warnThrottled(`tls:${reason}`, { client: slot.client, reason, code: s.authorizationError }, `TLS handshake refused: ${reason}`);
          s.destroy();
          return;
        }
        this.#detect(s, slot);
      });
      server.on('tlsClientError', (err: Error & { code?: string }, s: tls.TLSSocket) => {
        this.#counts.tlsErrors++;
        const slot = this.#takeHandshake(s);
        this.#tlsRefused(err, slot?.client ?? endpoint(s));
        s.destroy();
      });
    }
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
    this.#o.log.info({ ...this.#address, tls: Boolean(t), maxConnections: this.admission.maxConnections }, 'listening for engine connections');
    return this.#address;
  }

  /** Stop listening and drop every connection (idempotent). */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    const server = this.#server;
    this.admission.closeAll('server closing');
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  state(): Record<string, unknown> {
    return {
      state: this.#state, ...(this.#address ?? {}), tls: Boolean(this.#o.tls), open: this.#sockets.size,
      ...this.#counts, admission: this.admission.state(),
    };
  }

  /** A new TCP socket: Nagle off (a reply must not wait for a delayed ACK), then a slot or refusal. */
  #accept(s: Socket): Slot | undefined {
    if (this.#state === 'closed') {
      s.destroy();
      return undefined;
    }
    this.#counts.accepted++;
    s.setNoDelay(true);
    s.on('error', (err) => this.#o.log.debug({ client: endpoint(s), err: err.message }, 'connection error'));
    const slot = this.admission.admit(endpoint(s), () => s.destroy());
    if (!slot) {
      this.#counts.refused++;
      s.destroy();
      return undefined;
    }
    this.#sockets.add(s);
    s.once('close', () => {
      this.#sockets.delete(s);
      this.admission.release(slot);
      this.#handshaking.delete(endpoint(s));
      this.#o.onClosed?.();
    });
    return slot;
  }

  #takeHandshake(s: Socket): Slot | undefined {
    const key = endpoint(s);
    const slot = this.#handshaking.get(key);
    this.#handshaking.delete(key);
    if (slot) {
      // Closing the slot now closes the TLS socket (which closes the raw one under it).
      slot.close = () => s.destroy();
      s.once('close', () => this.admission.release(slot));
    }
    return slot;
  }

  #tlsRefused(err: Error & { code?: string }, client: string): void {
    const reason = tlsRefusalReason(err);
    this.#warnThrottled(`tls:${reason}`, { client, reason, err: err.message, code: err.code }, `TLS handshake refused: ${reason}`);
  }

  /** A warn line per key at most once a second, carrying the count suppressed meanwhile. */
  #warnThrottled(key: string, obj: Record<string, unknown>, msg: string): void {
    const now = this.#clock.now();
    const last = this.#logged.get(key);
    if (last && now - last.at < 1000) {
      last.suppressed++;
      return;
    }
    this.#logged.set(key, { at: now, suppressed: 0 });
    this.#o.log.warn({ ...obj, ...(last?.suppressed ? { suppressed: last.suppressed } : {}) }, msg);
  }

  #detect(socket: Socket, slot: Slot): void {
    const ack = this.#quickAck !== undefined ? armQuickAck(socket, this.#quickAck) : undefined;
    let head: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      this.#timers.clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', finish);
    };
    const timer = this.#timers.setTimeout(() => {
      if (done) return;
      finish();
      this.#counts.timeouts++;
      this.#o.log.info({ client: slot.client }, 'protocol detection timed out, closing');
      socket.destroy();
    }, this.#o.detectTimeoutMs ?? DETECT_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const what = detectProtocol(head);
      if (what === 'more') return;
      finish();
      if (what === 'stomp' || what === 'http') {
        if (!this.admission.detected(slot, what)) {
          // Say why before closing (STOMP clients log ERROR frames); the linger bounds a peer that does not read.
          socket.end(BUSY_FRAME);
          const h = this.#timers.setTimeout(() => socket.destroy(), 1000);
          (h as { unref?: () => void } | undefined)?.unref?.();
          return;
        }
        this.#counts[what]++;
        if (what === 'stomp') this.#o.onStomp(socket, head, slot, ack !== undefined ? (l) => ack.around(l) : (l) => l);
        else {
          socket.pause();
          this.#o.onHttp(socket, head, slot);
        }
        ack?.handlersAttached();
      } else {
        this.#counts.unknown++;
        this.#warnThrottled('unknown-protocol', { client: slot.client, head: head.subarray(0, 16).toString('latin1') }, 'Unrecognized protocol, closing');
        socket.destroy();
      }
    };
    socket.on('data', onData);
    socket.on('close', finish);
  }
}

function endpoint(s: Socket): string {
  return `${s.remoteAddress}:${s.remotePort}`;
}
