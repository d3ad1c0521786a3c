// One STOMP 1.2 connection seen from the server: frame handling (CONNECT, SUBSCRIBE, UNSUBSCRIBE, SEND,
// DISCONNECT, receipts), heart-beats both ways and the bounded outgoing queue. Holding a connection
// costs a client something: a frame must be complete within the frame deadline of its first byte (a
// trickle of bytes is dropped), a session without subscriptions that sends no frame is closed after the
// idle deadline, and what the session buffers (partial input, unsent output) counts against the
// server's memory budget. Runtime-free: bytes come in through receive(), frames leave through an
// injected transport, time through an injected clock.
import type { Logger } from '../observability/logging.js';
import type { Clock, Timers } from '../runtime/clock.js';
import type { BufferLeases } from '../runtime/reply-buffers.js';
import type { LimitHit } from './admission.js';
import type { BudgetHolder, MemoryBudget } from './memory-budget.js';
import { Destinations, encodeFrame, HEARTBEAT, outFrameBytes, TextFrame, type Frame, type OutFrame, type ReplyBody } from './stomp-frame.js';
import { StompParser, type StompLimits, type StompParseError } from './stomp-parser.js';
import type { BrokerPeer, StompBroker, Subscription } from './stomp-broker.js';

/** The socket (or pipe) under a session. */
export interface StompTransport {
  /** Queue one whole frame (one buffer, its parts in order, or a small frame as text); nothing else may be written inside it. */
  write(frame: OutFrame): void;
  /** Bytes queued and not yet handed to the kernel. */
  readonly pendingBytes: number;
  /** Flush, then close. */
  end(): void;
  /** Close now. */
  destroy(): void;
  /** Stop / restart reading from the peer (flow control); optional. */
  pauseInput?(): void;
  resumeInput?(): void;
  /** Hold writes until uncork(), then hand them to the kernel together (one system call); optional. */
  cork?(): void;
  uncork?(): void;
}

export interface RequestContext {
  flowId?: string;
  clientAddress: string;
  connectionId: number;
  /** Our address on this connection (vdsm's server_address: getCapabilities' lastClientIface). */
  localAddress?: string;
}

/**
 * Receives JSON-RPC bodies from request queues. The handler calls `reply` exactly once: with the
 * response (text, spliced parts or encoded parts) for reply-to, or with undefined when there is nothing to send.
 */
export type RequestHandler = (body: Buffer, ctx: RequestContext, reply: (body: ReplyBody | undefined) => void, session: StompSession) => void;

/** Minimum heart-beat period we agree to (vdsm raises any non-zero value to this). */
export const MIN_HEARTBEAT_MS = 1000;
/** A client that promised heart-beats every N ms is dropped after this many N of silence. */
export const IDLE_GRACE_FACTOR = 2;
/** `\n` period before (or without) CONNECT: the engine may lose CONNECT and then times out after 30 s. */
export const PRE_CONNECT_HEARTBEAT_MS = 10_000;
/** Outgoing bytes a peer may leave unread before it is disconnected. */
export const MAX_OUTGOING_BYTES = 32 * 1024 * 1024;
/**
 * Unsent output above which the peer is not read from until it catches up: a client that pipelines
 * requests and does not read the replies costs about this much, not a connection's whole bound.
 */
export const FLOW_HIGH_WATER = 1024 * 1024;
/** Unsent output (queued in the socket plus the backlog) a peer may leave, in multiples of the bound. */
export const BACKLOG_FACTOR = 4;
/** Requests of one connection being handled at once; past it the connection is not read from. */
export const MAX_REQUESTS_IN_FLIGHT = 64;
/** A frame must be complete this long after its first byte ([addresses] frame_timeout). */
export const FRAME_TIMEOUT_MS = 30_000;
/** A session with no subscription and no complete frame for this long is closed. */
export const IDLE_TIMEOUT_MS = 60_000;

export interface StompSessionOptions {
  connectionId: number;
  clientAddress: string;
  /** Our end of the connection, passed to every request's context. */
  localAddress?: string;
  transport: StompTransport;
  /** The transport encrypts (TLS): small frames are handed to it as bytes (BrokerPeer.encrypted). */
  encrypted?: boolean;
  broker: StompBroker;
  onRequest: RequestHandler;
  log: Logger;
  clock: Clock;
  timers: Timers;
  limits?: Partial<StompLimits>;
  maxOutgoingBytes?: number;
  preConnectHeartbeatMs?: number;
  /** 0 disables the frame deadline. */
  frameTimeoutMs?: number;
  /** 0 disables the idle deadline. */
  idleTimeoutMs?: number;
  /** The server's memory budget: this session reports what it buffers. */
  budget?: MemoryBudget;
  /** A complete frame arrived (admission keeps the least recently active first). */
  onActivity?: () => void;
  /** A limit closed this session. */
  onLimit?: (hit: LimitHit) => void;
  onClose?: (session: StompSession, reason: string) => void;
  /** Pooled reply buffers (runtime/reply-buffers.ts): a frame waiting in the backlog holds its buffers. */
  leases?: BufferLeases;
}

type SessionState = 'open' | 'connected' | 'closed';

export class StompSession implements BrokerPeer, BudgetHolder {
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
  #frameTimeoutMs: number;
  #idleTimeoutMs: number;
  /** Clock ms when the frame being received began (undefined between frames). */
  #frameStart: number | undefined;
  #lastFrame: number;
  #deadlineTimer: unknown;
  #deadlineDue = Infinity;
  /** Frames waiting for the peer to read what was already sent (kept within the memory budget). */
  #backlog: OutFrame[] = [];
  #backlogBytes = 0;
  #requestsInFlight = 0;
  /** Clock ms since input is paused (flow control), or undefined. */
  #pausedAt: number | undefined;
  #peakUsage = 0;
  /** Clock ms of the chunk being handled by receive() (frames in it arrived then), else undefined. */
  #readAt: number | undefined;
  /** The context of this connection's requests (one with a flowId is a copy of it). */
  #ctx: RequestContext;
  /** The transport is corked until the chunk being handled by receive() is done. */
  #corked = false;

  constructor(opts: StompSessionOptions) {
    this.#o = opts;
    this.connectionId = opts.connectionId;
    this.clientAddress = opts.clientAddress;
    this.#maxOutgoing = opts.maxOutgoingBytes ?? MAX_OUTGOING_BYTES;
    this.#lastWrite = this.#lastRead = this.#lastFrame = opts.clock.now();
    this.#outMs = opts.preConnectHeartbeatMs ?? PRE_CONNECT_HEARTBEAT_MS;
    this.#frameTimeoutMs = opts.frameTimeoutMs ?? FRAME_TIMEOUT_MS;
    this.#idleTimeoutMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.#ctx = Object.freeze({
      clientAddress: this.clientAddress, connectionId: this.connectionId,
      ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
    });
    this.#parser = new StompParser(
      { frame: (f) => this.#onFrame(f), error: (e) => this.#onParseError(e) },
      opts.limits ?? {},
    );
    this.#armOut();
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  get client(): string {
    return this.clientAddress;
  }

  get encrypted(): boolean {
    return this.#o.encrypted === true;
  }

  /** The largest body a frame to this client may carry right now. */
  get maxOutgoingBytes(): number {
    return this.#maxOutgoing;
  }

  /** Bytes from the peer. */
  receive(chunk: Buffer): void {
    if (this.#state === 'closed') return;
    const now = this.#o.clock.now();
    this.#lastRead = now;
    this.#readAt = now;
    try {
      this.#parser.push(chunk);
    } finally {
      this.#readAt = undefined;
      if (this.#corked) {
        this.#corked = false;
        this.#o.transport.uncork!();
      }
    }
    if ((this.#state as SessionState) === 'closed') return;
    if (!this.#parser.midFrame) this.#frameStart = undefined;
    else if (this.#frameStart === undefined) this.#frameStart = now;
    this.#armDeadline();
    this.#reportUsage();
  }

  /**
   * Queue a frame. What the peer has not read yet may reach the outgoing bound; past it frames wait in
   * a backlog (counted against the memory budget, like everything else held for the peer) and the peer
   * is not read from until it catches up: a client that does not read stops being served, and the
   * budget drops it if it holds the most.
   */
  sendFrame(frame: OutFrame): void {
    if (this.#state === 'closed') return;
    const unread = this.#o.transport.pendingBytes + this.#backlogBytes;
    if (unread + frameSize(frame) > this.#maxOutgoing * BACKLOG_FACTOR) {
      this.#o.log.warn({ connectionId: this.connectionId, client: this.clientAddress, unread }, 'client is not reading its messages, disconnecting');
      this.#o.onLimit?.({ limit: 'memory', action: 'dropped', client: this.clientAddress, unread, max: this.#maxOutgoing * BACKLOG_FACTOR });
      this.close('outgoing buffer full', false);
      return;
    }
    if (this.#backlog.length > 0 || this.#o.transport.pendingBytes + frameSize(frame) > this.#maxOutgoing) {
      // Held while it waits (its sender lets go once this returns); a closed session never lets go.
      if (!(frame instanceof TextFrame)) this.#o.leases?.retain(frame);
      this.#backlog.push(frame);
      this.#backlogBytes += frameSize(frame);
      this.#flowControl();
      this.#reportUsage();
      return;
    }
    this.#write(frame);
  }

  #write(frame: OutFrame): void {
    this.#framesOut++;
    this.#lastWrite = this.#o.clock.now();
    this.#o.transport.write(frame);
    this.#flowControl();
    this.#reportUsage();
  }

  /** The transport flushed what it had queued (socket 'drain'): send the backlog that fits. */
  outputDrained(): void {
    while (this.#backlog.length > 0 && this.#state !== 'closed') {
      const next = this.#backlog[0]!;
      if (this.#o.transport.pendingBytes > 0 && this.#o.transport.pendingBytes + frameSize(next) > this.#maxOutgoing) break;
      this.#backlog.shift();
      this.#backlogBytes -= frameSize(next);
      this.#write(next);
      // The transport holds it now (or refused it, closing: then nobody reads it).
      if (!(next instanceof TextFrame)) this.#o.leases?.release(next);
    }
    this.#flowControl();
    this.#reportUsage();
  }

  /** Pause reading while the peer is behind on output or too many of its requests are in flight. */
  #flowControl(): void {
    if (this.#state === 'closed') return;
    const unread = this.#o.transport.pendingBytes + this.#backlogBytes;
    const behind = unread > Math.min(FLOW_HIGH_WATER, this.#maxOutgoing) || this.#requestsInFlight >= MAX_REQUESTS_IN_FLIGHT;
    if (behind && this.#pausedAt === undefined) {
      this.#pausedAt = this.#o.clock.now();
      // Frames already read but not handled wait too: a chunk can hold hundreds of requests.
      this.#parser.pause();
      this.#o.transport.pauseInput?.();
    } else if (!behind && this.#pausedAt !== undefined) {
      // Time spent paused is ours, not the peer's: it counts for neither its frame nor its heart-beats.
      const paused = this.#o.clock.now() - this.#pausedAt;
      if (this.#frameStart !== undefined) this.#frameStart += paused;
      this.#lastRead = this.#o.clock.now();
      this.#pausedAt = undefined;
      this.#o.transport.resumeInput?.();
      this.#parser.resume();
      this.#armDeadline();
    }
  }

  /** Memory budget: this session is the greediest; answer with an ERROR frame and free everything. */
  drop(reason: string): void {
    if (this.#state === 'closed') return;
    this.#o.log.warn({ connectionId: this.connectionId, client: this.clientAddress, buffered: this.#parser.buffered, pending: this.#o.transport.pendingBytes }, `dropping the connection: ${reason}`);
    this.#o.onLimit?.({ limit: 'memory', action: 'dropped', client: this.clientAddress, reason });
    // A peer that does not read gets the ERROR frame only if it reads; its output is discarded now.
    const unread = this.#o.transport.pendingBytes + this.#backlogBytes > this.#parser.buffered;
    this.#parser.discard();
    if (!unread) this.#error(`Connection dropped: ${reason}`);
    this.close('memory budget', !unread);
  }

  /** Close the session (idempotent). Graceful flushes queued frames first. */
  close(reason: string, graceful = true): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeReason = reason;
    this.#clearTimers();
    this.#parser.discard();
    this.#backlog = [];
    this.#backlogBytes = 0;
    this.#o.budget?.remove(this);
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
      buffered: this.#parser.buffered,
      subscriptions: [...this.#subs.values()].map((s) => ({ id: s.id, destination: s.destination })),
      framesIn: this.#framesIn,
      framesOut: this.#framesOut,
      pendingBytes: this.#o.transport.pendingBytes,
      backlogBytes: this.#backlogBytes,
      requestsInFlight: this.#requestsInFlight,
      inputPaused: this.#pausedAt !== undefined,
      ...(this.#closeReason ? { closeReason: this.#closeReason } : {}),
    };
  }

  #onFrame(frame: Frame): void {
    if (this.#state === 'closed') return;
    this.#framesIn++;
    this.#lastFrame = this.#readAt ?? this.#o.clock.now();
    this.#o.onActivity?.();
    switch (frame.command) {
      case 'CONNECT':
      case 'STOMP':
        this.#connect(frame);
        return;
      case 'SEND':
        // More frames follow in this chunk (a client that pipelines): the replies answered while it is
        // handled leave together once it is done, in one write (over TLS one record), as they would
        // from a server that reads a chunk, then answers it.
        if (this.#readAt !== undefined && !this.#corked && this.#parser.chunkRest > 0 && this.#o.transport.cork !== undefined) {
          this.#corked = true;
          this.#o.transport.cork();
        }
        // Answers the receipt itself (before a response it may send at once).
        this.#send(frame);
        // Within receive() the deadline is armed once the whole chunk is handled.
        if (this.#readAt === undefined) this.#armDeadline();
        return;
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
    if (this.#readAt === undefined) this.#armDeadline();
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
    if (!this.#o.broker.isRequestDestination(destination)) {
      if (forwarded === 0) this.#error('Subscription not available');
      this.#receipt(frame);
      return;
    }
    // The receipt goes before the response, which a synchronous verb sends from within onRequest.
    this.#receipt(frame);
    const replyTo = frame.headers['reply-to'] || Destinations.RESPONSES;
    const flowId = frame.headers['ovirtCorrelationId'];
    const ctx: RequestContext = flowId === undefined ? this.#ctx : { ...this.#ctx, flowId };
    this.#requestsInFlight++;
    this.#flowControl();
    let replied = false;
    this.#o.onRequest(frame.body, ctx, (body) => {
      if (replied) return;
      replied = true;
      this.#requestsInFlight--;
      if (body !== undefined) {
        const n = this.#o.broker.deliverResponse(replyTo, body, this);
        if (n === 0) this.#o.log.debug({ connectionId: this.connectionId, replyTo }, 'response dropped: nobody subscribed to reply-to');
      }
      this.#flowControl();
    }, this);
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
      // While we are not reading (flow control) the peer's heart-beats wait in the socket: not its fault.
      if (this.#pausedAt !== undefined) this.#lastRead = this.#o.clock.now();
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
    if (this.#deadlineTimer !== undefined) this.#o.timers.clearTimeout(this.#deadlineTimer);
    this.#outTimer = this.#inTimer = this.#deadlineTimer = undefined;
    this.#deadlineDue = Infinity;
  }

  #reportUsage(): void {
    const usage = this.#parser.buffered + this.#o.transport.pendingBytes + this.#backlogBytes;
    if (usage > this.#peakUsage) this.#peakUsage = usage;
    this.#o.budget?.update(this, usage);
  }

  /** The most this session ever held (partial input plus unsent output). */
  get peakUsage(): number {
    return this.#peakUsage;
  }

  // The frame and idle deadlines: one timer, armed for whichever is due first, re-checked on firing.
  #deadlines(): { frame: number; idle: number } {
    const frame = this.#frameTimeoutMs > 0 && this.#frameStart !== undefined ? this.#frameStart + this.#frameTimeoutMs : Infinity;
    const idle = this.#idleTimeoutMs > 0 && this.#subs.size === 0 ? this.#lastFrame + this.#idleTimeoutMs : Infinity;
    return { frame, idle };
  }

  #armDeadline(): void {
    if (this.#state === 'closed') return;
    const { frame, idle } = this.#deadlines();
    const due = Math.min(frame, idle);
    // A timer due earlier re-checks when it fires: re-arming only for an earlier due keeps the hot path
    // (every frame moves the idle deadline later) free of timer churn.
    if (due >= this.#deadlineDue) return;
    if (this.#deadlineTimer !== undefined) this.#o.timers.clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    this.#deadlineDue = due;
    if (due === Infinity) return;
    this.#deadlineTimer = this.#o.timers.setTimeout(() => {
      this.#deadlineTimer = undefined;
      this.#deadlineDue = Infinity;
      if (this.#state === 'closed') return;
      const now = this.#o.clock.now();
      const d = this.#deadlines();
      if (now >= d.frame) {
        const s = Math.round(this.#frameTimeoutMs / 1000);
        this.#o.log.warn({ connectionId: this.connectionId, client: this.clientAddress, buffered: this.#parser.buffered }, `frame not completed within ${s} s, closing`);
        this.#o.onLimit?.({ limit: 'frame-deadline', action: 'dropped', client: this.clientAddress, buffered: this.#parser.buffered });
        this.#parser.discard();
        this.#error(`Frame not completed within ${s} s`);
        this.close('frame deadline', true);
        return;
      }
      if (now >= d.idle) {
        this.#o.log.info({ connectionId: this.connectionId, client: this.clientAddress }, 'no frame and no subscription for a while, closing');
        this.#o.onLimit?.({ limit: 'idle', action: 'dropped', client: this.clientAddress });
        this.close('idle', true);
        return;
      }
      this.#armDeadline();
    }, Math.max(0, due - this.#o.clock.now()));
  }
}

const frameSize = outFrameBytes;

/** Client `heart-beat: cx,cy`; missing or unparsable parts are 0, non-zero values raised to 1000. */
export function parseHeartBeat(value: string | undefined): [number, number] {
  const parts = (value ?? '0,0').split(',');
  const one = (s: string | undefined): number => {
    const n = s !== undefined && /^\s*\d{1,9}\s*$/.test(s) ? Number(s) : 0;
    return n === 0 ? 0 : Math.max(n, MIN_HEARTBEAT_MS);
  };
  return [one(parts[0]), one(parts[1])];
}
