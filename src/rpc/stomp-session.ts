// One STOMP 1.2 connection seen from the server: frame handling (CONNECT, SUBSCRIBE, UNSUBSCRIBE, SEND,
// DISCONNECT, receipts), heart-beats both ways and the bounded outgoing queue. Runtime-free: bytes come
// in through receive(), frames leave through an injected transport, time through an injected clock.
import type { Logger } from '../observability/logging.js';
import type { Clock, Timers } from '../runtime/clock.js';
import { Destinations, encodeFrame, HEARTBEAT, type Frame } from './stomp-frame.js';
import { StompParser, type StompLimits, type StompParseError } from './stomp-parser.js';
import type { BrokerPeer, StompBroker, Subscription } from './stomp-broker.js';

/** The socket (or pipe) under a session. */
export interface StompTransport {
  /** Queue one whole frame; it must go out as one write. */
  write(frame: Buffer): void;
  /** Bytes queued and not yet handed to the kernel. */
  readonly pendingBytes: number;
  /** Flush, then close. */
  end(): void;
  /** Close now. */
  destroy(): void;
}

export interface RequestContext {
  flowId?: string;
  clientAddress: string;
  connectionId: number;
  /** Our address on this connection (vdsm's server_address: getCapabilities' lastClientIface). */
  localAddress?: string;
}

/** Receives JSON-RPC bodies from request queues; `reply` routes the response text to reply-to. */
export type RequestHandler = (body: Buffer, ctx: RequestContext, reply: (text: string) => void) => void;

/** Minimum heart-beat period we agree to (vdsm raises any non-zero value to this). */
export const MIN_HEARTBEAT_MS = 1000;
/** A client that promised heart-beats every N ms is dropped after this many N of silence. */
export const IDLE_GRACE_FACTOR = 2;
/** `\n` period before (or without) CONNECT: the engine may lose CONNECT and then times out after 30 s. */
export const PRE_CONNECT_HEARTBEAT_MS = 10_000;
/** Outgoing bytes a peer may leave unread before it is disconnected. */
export const MAX_OUTGOING_BYTES = 32 * 1024 * 1024;

export interface StompSessionOptions {
  connectionId: number;
  clientAddress: string;
  /** Our end of the connection, passed to every request's context. */
  localAddress?: string;
  transport: StompTransport;
  broker: StompBroker;
  onRequest: RequestHandler;
  log: Logger;
  clock: Clock;
  timers: Timers;
  limits?: Partial<StompLimits>;
  maxOutgoingBytes?: number;
  preConnectHeartbeatMs?: number;
  onClose?: (session: StompSession, reason: string) => void;
}

type SessionState = 'open' | 'connected' | 'closed';

export class StompSession implements BrokerPeer {
  readonly connectionId: number;
  readonly clientAddress: string;
  #o: StompSessionOptions;
  #parser: StompParser;
  #state: SessionState = 'open';
  #subs = new Map<string, Subscription>();
  #outMs: number;
  #inMs = 0;
  #lastWrite: number;
  #lastRead: number;
  #outTimer: unknown;
  #inTimer: unknown;
  #maxOutgoing: number;
  #framesIn = 0;
  #framesOut = 0;
  #closeReason = '';

  constructor(opts: StompSessionOptions) {
    this.#o = opts;
    this.connectionId = opts.connectionId;
    this.clientAddress = opts.clientAddress;
    this.#maxOutgoing = opts.maxOutgoingBytes ?? MAX_OUTGOING_BYTES;
    this.#lastWrite = this.#lastRead = opts.clock.now();
    this.#outMs = opts.preConnectHeartbeatMs ?? PRE_CONNECT_HEARTBEAT_MS;
    this.#parser = new StompParser(
      { frame: (f) => this.#onFrame(f), error: (e) => this.#onParseError(e) },
      opts.limits ?? {},
    );
    this.#armOut();
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Bytes from the peer. */
  receive(chunk: Buffer): void {
    if (this.#state === 'closed') return;
    this.#lastRead = this.#o.clock.now();
    this.#parser.push(chunk);
  }

  /** Queue a frame; a peer that leaves too much unread is disconnected so memory stays bounded. */
  sendFrame(frame: Buffer): void {
    if (this.#state === 'closed') return;
    if (this.#o.transport.pendingBytes + frame.length > this.#maxOutgoing) {
      this.#o.log.warn({ connectionId: this.connectionId, client: this.clientAddress, pending: this.#o.transport.pendingBytes }, 'client is not reading its messages, disconnecting');
      this.close('outgoing buffer full', false);
      return;
    }
    this.#framesOut++;
    this.#lastWrite = this.#o.clock.now();
    this.#o.transport.write(frame);
  }

  /** Close the session (idempotent). Graceful flushes queued frames first. */
  close(reason: string, graceful = true): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeReason = reason;
    this.#clearTimers();
    for (const sub of this.#subs.values()) this.#o.broker.remove(sub);
    this.#subs.clear();
    if (graceful) this.#o.transport.end();
    else this.#o.transport.destroy();
    this.#o.log.debug({ connectionId: this.connectionId, client: this.clientAddress, reason }, 'STOMP connection closed');
    this.#o.onClose?.(this, reason);
  }

  state(): Record<string, unknown> {
    return {
      connectionId: this.connectionId,
      client: this.clientAddress,
      state: this.#state,
      heartbeat: { outgoingMs: this.#outMs, incomingMs: this.#inMs },
      subscriptions: [...this.#subs.values()].map((s) => ({ id: s.id, destination: s.destination })),
      framesIn: this.#framesIn,
      framesOut: this.#framesOut,
      pendingBytes: this.#o.transport.pendingBytes,
      ...(this.#closeReason ? { closeReason: this.#closeReason } : {}),
    };
  }

  #onFrame(frame: Frame): void {
    if (this.#state === 'closed') return;
    this.#framesIn++;
    switch (frame.command) {
      case 'CONNECT':
      case 'STOMP':
        this.#connect(frame);
        return;
      case 'SEND':
        this.#send(frame);
        break;
      case 'SUBSCRIBE':
        if (!this.#subscribe(frame)) return;
        break;
      case 'UNSUBSCRIBE':
        if (!this.#unsubscribe(frame)) return;
        break;
      case 'ACK':
      case 'NACK':
        // Every subscription is ack:auto in practice; acknowledgements have nothing to settle.
        break;
      case 'DISCONNECT':
        this.#receipt(frame);
        this.close('DISCONNECT', true);
        return;
      default:
        this.#o.log.warn({ connectionId: this.connectionId, client: this.clientAddress, command: frame.command.slice(0, 40) }, 'Unknown STOMP command, closing');
        this.#error(`Unknown command: ${frame.command.slice(0, 40)}`);
        this.close('unknown command', true);
        return;
    }
    // A handler above may have closed the session.
    if ((this.#state as SessionState) !== 'closed') this.#receipt(frame);
  }

  #connect(frame: Frame): void {
    const versions = (frame.headers['accept-version'] ?? '').split(',').map((v) => v.trim());
    if (!versions.includes('1.2')) {
      // vdsm answers exactly this and keeps the connection open.
      this.#error('Version unsupported');
      return;
    }
    const [cx, cy] = parseHeartBeat(frame.headers['heart-beat']);
    // Mirror the client: we send every cy ms and expect something every cx ms.
    this.sendFrame(encodeFrame('CONNECTED', [['version', '1.2'], ['heart-beat', `${cy},${cx}`]]));
    this.#state = 'connected';
    this.#outMs = cy;
    this.#inMs = cx;
    this.#clearTimers();
    this.#armOut();
    this.#armIn();
  }

  #send(frame: Frame): void {
    const destination = frame.headers['destination'];
    if (destination === undefined || destination === '') {
      this.#error('Missing destination header');
      this.close('SEND without destination', true);
      return;
    }
    const forwarded = this.#o.broker.forward(frame, destination);
    if (this.#o.broker.isRequestDestination(destination)) {
      const replyTo = frame.headers['reply-to'] || Destinations.RESPONSES;
      const flowId = frame.headers['ovirtCorrelationId'];
      const ctx: RequestContext = {
        clientAddress: this.clientAddress, connectionId: this.connectionId,
        ...(flowId !== undefined ? { flowId } : {}), ...(this.#o.localAddress !== undefined ? { localAddress: this.#o.localAddress } : {}),
      };
      this.#o.onRequest(frame.body, ctx, (text) => {
        const n = this.#o.broker.deliverResponse(replyTo, text, this);
        if (n === 0) this.#o.log.debug({ connectionId: this.connectionId, replyTo }, 'response dropped: nobody subscribed to reply-to');
      });
      return;
    }
    if (forwarded === 0) this.#error('Subscription not available');
  }

  #subscribe(frame: Frame): boolean {
    const destination = frame.headers['destination'];
    const id = frame.headers['id'];
    if (!destination || id === undefined) {
      this.#error('Missing destination or subscription id header');
      return false;
    }
    if (this.#subs.has(id)) {
      this.#error('Subscription id already exists');
      return false;
    }
    const sub: Subscription = { id, destination, ack: frame.headers['ack'] ?? 'auto', peer: this };
    this.#subs.set(id, sub);
    this.#o.broker.add(sub);
    return true;
  }

  #unsubscribe(frame: Frame): boolean {
    const id = frame.headers['id'];
    if (id === undefined) {
      this.#error('Missing id header');
      return false;
    }
    const sub = this.#subs.get(id);
    if (sub) {
      this.#subs.delete(id);
      this.#o.broker.remove(sub);
    }
    return true;
  }

  /** Honour `receipt` on any frame (vdsm only does it for DISCONNECT). */
  #receipt(frame: Frame): void {
    const r = frame.headers['receipt'];
    if (r !== undefined) this.sendFrame(encodeFrame('RECEIPT', [['receipt-id', r]]));
  }

  #error(text: string): void {
    this.sendFrame(encodeFrame('ERROR', [['message', text], ['content-type', 'text/plain']], text));
  }

  #onParseError(err: StompParseError): void {
    this.#o.log.warn({ connectionId: this.connectionId, client: this.clientAddress, kind: err.kind }, `STOMP protocol error: ${err.message}`);
    this.#error(err.message);
    this.close(`protocol error: ${err.kind}`, true);
  }

  // Heart-beats: one timer per direction, re-armed from its own callback rather than on every frame.
  #armOut(): void {
    if (this.#outMs <= 0 || this.#state === 'closed') return;
    const due = Math.max(0, this.#lastWrite + this.#outMs - this.#o.clock.now());
    this.#outTimer = this.#o.timers.setTimeout(() => {
      this.#outTimer = undefined;
      if (this.#state === 'closed') return;
      if (this.#o.clock.now() - this.#lastWrite >= this.#outMs) this.sendFrame(HEARTBEAT);
      this.#armOut();
    }, due);
  }

  #armIn(): void {
    if (this.#inMs <= 0 || this.#state === 'closed') return;
    const limit = this.#inMs * IDLE_GRACE_FACTOR;
    const due = Math.max(0, this.#lastRead + limit - this.#o.clock.now());
    this.#inTimer = this.#o.timers.setTimeout(() => {
      this.#inTimer = undefined;
      if (this.#state === 'closed') return;
      if (this.#o.clock.now() - this.#lastRead >= limit) {
        this.#o.log.warn({ connectionId: this.connectionId, client: this.clientAddress, incomingMs: this.#inMs }, 'no heart-beat from client, closing');
        this.close('heart-beat timeout', false);
        return;
      }
      this.#armIn();
    }, due);
  }

  #clearTimers(): void {
    if (this.#outTimer !== undefined) this.#o.timers.clearTimeout(this.#outTimer);
    if (this.#inTimer !== undefined) this.#o.timers.clearTimeout(this.#inTimer);
    this.#outTimer = this.#inTimer = undefined;
  }
}

/** Client `heart-beat: cx,cy`; missing or unparsable parts are 0, non-zero values raised to 1000. */
export function parseHeartBeat(value: string | undefined): [number, number] {
  const parts = (value ?? '0,0').split(',');
  const one = (s: string | undefined): number => {
    const n = s !== undefined && /^\s*\d{1,9}\s*$/.test(s) ? Number(s) : 0;
    return n === 0 ? 0 : Math.max(n, MIN_HEARTBEAT_MS);
  };
  return [one(parts[0]), one(parts[1])];
}
