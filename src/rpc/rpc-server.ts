// Composition of the engine-facing server: acceptor (admission) -> (STOMP session + broker -> JSON-RPC)
// or HTTP, plus the event publisher, the memory budget shared by every connection and metrics. Every
// request is answered: responses are encoded without blocking the loop and one too large for the
// connection's bound becomes a JSON-RPC error. The vdsmd composition root builds one with createRpcServer().
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { MethodTable } from '../api/method-table.js';
import type { LogManager } from '../observability/logging.js';
import { RpcMetrics, type ExecutorGaugeState } from '../observability/prometheus.js';
import { monotonicClock, realTimers, type Clock, type Timers } from '../runtime/clock.js';
import type { ReplyBufferPool } from '../runtime/reply-buffers.js';
import { Acceptor, type TlsMaterial } from './acceptor.js';
import type { QuickAckFn } from './quick-ack.js';
import type { LimitHit, Slot } from './admission.js';
import { EventPublisher } from './event-publisher.js';
import { HttpEndpoints } from './http-endpoints.js';
import { JsonRpcServer, type Reply } from './jsonrpc-server.js';
import { DEFAULT_MEMORY_BUDGET, MemoryBudget } from './memory-budget.js';
import { ChunkedWriter } from './chunked-writer.js';
import { encodeRawReply, encodeReply, smallReplyBody, type EncodedReply } from './reply-encoder.js';
import { publishReplyTiming, rpcReplyChannel, type ReplyTiming } from './reply-events.js';
import { StompBroker } from './stomp-broker.js';
import type { StompLimits } from './stomp-parser.js';
import { MAX_OUTGOING_BYTES, StompSession, type RequestContext, type StompTransport } from './stomp-session.js';
import { SplicedBody, type ReplyBody } from './stomp-frame.js';

/** Room for the MESSAGE frame's headers next to a response body. */
const FRAME_HEAD_ROOM = 4096;

export interface RpcLimits extends StompLimits {
  /** Unread outgoing bytes per connection before it is dropped. */
  maxOutgoingBytes: number;
  detectTimeoutMs: number;
  maxDetecting: number;
  maxHeldEvents: number;
  preConnectHeartbeatMs: number;
  /** After a graceful close, a peer that does not read is destroyed after this. */
  closeLingerMs: number;
  /** Connections (TLS handshakes included) held at most; derive it with connectionLimit(). */
  maxConnections: number;
  /** Bytes of partial frames and unsent output held across all connections. */
  memoryBudgetBytes: number;
  /** A frame must be complete within this after its first byte (0: off). */
  frameTimeoutMs: number;
  /** A session with no subscription and no frame for this long is closed (0: off). */
  idleTimeoutMs: number;
}

export interface RpcServerOptions {
  host: string;
  port: number;
  tls?: TlsMaterial;
  /** Default true: TLS clients must present a certificate signed by tls.ca. */
  requireClientCert?: boolean;
  /** Socket-activated listening fd (see socketActivationFd). */
  fd?: number;
  methods: MethodTable;
  logManager: LogManager;
  /** False while the host recovers: requests get 99, events are held. */
  isReady?: () => boolean;
  healthProvider?: () => Record<string, unknown>;
  metricsRegistry?: Registry;
  executorState?: () => ExecutorGaugeState | undefined;
  limits?: Partial<RpcLimits>;
  requestQueues?: readonly string[];
  eventQueue?: string;
  clock?: Clock;
  timers?: Timers;
  /** Immediate ACKs after reads not answered at once (quick-ack.ts); false turns them off (bench/first-request.ts compares). */
  quickAck?: QuickAckFn | false;
  /** HTTP PUT handler (the storage's OVF_STORE upload). */
  httpUpload?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Called when connections that held a lot of memory went away (the agent asks V8 to collect). */
  relieveMemory?: () => void;
  /**
   * The pool big results are built in (VmManager's getAllVmStats): a reply in one of its buffers is
   * released after delivery and reused once every connection wrote it (runtime/reply-buffers.ts).
   * Without it (or with another pool) such buffers are never reused.
   */
  replyBuffers?: ReplyBufferPool;
}

/** A closed connection that held at least this much asks for memory relief. */
const RELIEF_BYTES = 16 * 1024 * 1024;
/** So does every this many closed connections (a crowd's TLS sessions and buffers). */
const RELIEF_CLOSES = 1000;

export interface RpcServer {
  start(): Promise<{ address: string; port: number }>;
  /** Send an event (JSON-RPC notification) to every event-queue subscriber. */
  publish(method: string, params?: Record<string, unknown>): void;
  /** Tell the server readiness may have changed (flushes held events). */
  readyChanged(): void;
  state(): Record<string, unknown>;
  /** Bytes held for all connections now (buffered input, unsent output): cheap, for callers that poll. */
  bufferedBytes(): number;
  /**
   * True while some connection has reply bytes queued behind its socket (a big reply leaving in chunks).
   * Unlike bufferedBytes(), it never counts a small reply already handed to the socket (over TLS the
   * socket reports it until its write callback runs, and the memory budget until the next frame).
   */
  outputQueued(): boolean;
  close(): Promise<void>;
}

export function createRpcServer(opts: RpcServerOptions): RpcServer {
  const log = opts.logManager.get('rpc.server');
  const stompLog = opts.logManager.get('rpc.stomp');
  const clock = opts.clock ?? monotonicClock;
  const timers = opts.timers ?? realTimers;
  const isReady = opts.isReady ?? (() => true);
  const limits = opts.limits ?? {};
  const broker = new StompBroker({
    ...(opts.requestQueues ? { requestQueues: opts.requestQueues } : {}),
    ...(opts.eventQueue ? { eventQueue: opts.eventQueue } : {}),
  });
  const sessions = new Set<StompSession>();
  const leases = opts.replyBuffers;
  /** Each open connection's output (outputQueued() looks at them). */
  const writers = new Set<ChunkedWriter>();
  let nextId = 1;
  let closed = false;
  let closes = 0;

  const metrics = opts.metricsRegistry
    ? new RpcMetrics({
        registry: opts.metricsRegistry,
        connections: () => sessions.size,
        bufferedBytes: () => budget.used,
        ...(opts.executorState ? { executorState: opts.executorState } : {}),
      })
    : undefined;
  const onLimit = (hit: LimitHit): void => metrics?.limitHit(hit.limit, hit.action);
  const budget = new MemoryBudget(limits.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET, (holder, usage, used) => {
    acceptor.admission.report({ limit: 'memory', action: 'dropped', client: holder.client, usage, used, budget: budget.limit });
    opts.relieveMemory?.();
  });
  const jsonrpc = new JsonRpcServer({
    methods: opts.methods,
    isReady,
    log: opts.logManager.get('rpc.jsonrpc'),
    ...(metrics ? { onCall: (r) => metrics.observe(r.method, r.outcome, r.durationMs) } : {}),
  });
  const events = new EventPublisher({
    deliver: (body) => broker.deliverEvent(body),
    isReady,
    clock,
    timers,
    log,
    ...(limits.maxHeldEvents !== undefined ? { maxHeld: limits.maxHeldEvents } : {}),
  });
  const state = (): Record<string, unknown> => ({
    acceptor: acceptor.state(),
    connections: sessions.size,
    memory: budget.state(),
    broker: broker.state(),
    events: events.state(),
    jsonrpc: jsonrpc.state(),
    http: http.state(),
  });
  const http = new HttpEndpoints({
    isReady,
    rpcState: () => ({ connections: sessions.size, memory: budget.state(), admission: acceptor.admission.state(), events: events.state(), jsonrpc: jsonrpc.state() }),
    log: opts.logManager.get('rpc.http'),
    ...(opts.healthProvider ? { healthProvider: opts.healthProvider } : {}),
    ...(opts.metricsRegistry ? { metricsRegistry: opts.metricsRegistry } : {}),
    ...(opts.httpUpload ? { upload: opts.httpUpload } : {}),
  });

  const onStomp = (socket: Socket, head: Buffer, slot: Slot, reads: (listener: (chunk: Buffer) => void) => (chunk: Buffer) => void): void => {
    const lingerMs = limits.closeLingerMs ?? 5000;
    const connectionId = nextId++;
    // Big frames leave in chunks that yield between them (chunked-writer.ts); its drain is the session's.
    const output = new ChunkedWriter(socket, { connectionId, onDrained: () => session.outputDrained(), ...(leases ? { leases } : {}) });
    writers.add(output);
    const transport: StompTransport = {
      write: (b) => output.write(b),
      get pendingBytes() {
        return output.pendingBytes;
      },
      end: () => {
        output.end();
        const h = timers.setTimeout(() => output.destroy(), lingerMs);
        (h as { unref?: () => void } | undefined)?.unref?.();
      },
      destroy: () => {
        output.destroy();
      },
      pauseInput: () => socket.pause(),
      resumeInput: () => socket.resume(),
      cork: () => socket.cork(),
      uncork: () => socket.uncork(),
    };
    const maxOutgoing = limits.maxOutgoingBytes ?? MAX_OUTGOING_BYTES;
    const session = new StompSession({
      connectionId,
      clientAddress: slot.client,
      ...(socket.localAddress !== undefined ? { localAddress: socket.localAddress } : {}),
      transport,
      encrypted: (socket as { encrypted?: boolean }).encrypted === true,
      broker,
      log: stompLog,
      clock,
      timers,
      limits,
      budget,
      maxOutgoingBytes: maxOutgoing,
      ...(limits.preConnectHeartbeatMs !== undefined ? { preConnectHeartbeatMs: limits.preConnectHeartbeatMs } : {}),
      ...(limits.frameTimeoutMs !== undefined ? { frameTimeoutMs: limits.frameTimeoutMs } : {}),
      ...(limits.idleTimeoutMs !== undefined ? { idleTimeoutMs: limits.idleTimeoutMs } : {}),
      ...(leases ? { leases } : {}),
      onActivity: () => acceptor.admission.touch(slot),
      onLimit: (hit) => acceptor.admission.report(hit),
      onRequest: (body, ctx, reply, from) => {
        const receivedAt = rpcReplyChannel.hasSubscribers ? performance.now() : -1;
        answer(body, ctx, reply, from.maxOutgoingBytes - FRAME_HEAD_ROOM, receivedAt < 0 ? undefined : { receivedAt, output, session: from });
      },
      onClose: (s) => {
        sessions.delete(s);
        writers.delete(output);
        if (s.peakUsage >= RELIEF_BYTES) opts.relieveMemory?.();
      },
    });
    slot.close = (reason) => session.close(reason, false);
    sessions.add(session);
    socket.on('data', reads((chunk: Buffer) => session.receive(chunk)));
    socket.on('drain', () => session.outputDrained());
    socket.on('close', () => session.close('peer closed', false));
    socket.on('error', (err) => stompLog.debug({ connectionId: session.connectionId, err: err.message }, 'socket error'));
    session.receive(head);
  };

  /**
   * Dispatch one request body and send its answer. A verb that answers synchronously with a small reply
   * is answered within this call (one JSON.stringify, one frame, one write); a slow verb or a large
   * reply takes the asynchronous path (the reply encoded in slices). `timing` (only while vdsm:rpc:reply
   * has subscribers) reports when the reply was written.
   */
  const answer = (body: Buffer, ctx: RequestContext, reply: (b: ReplyBody | undefined) => void, maxBytes: number, timing?: ReplyTiming): void => {
    let response: Reply | Promise<Reply>;
    try {
      response = jsonrpc.respond(body.toString('utf8'), ctx);
    } catch (err) {
      failed(err, reply);
      return;
    }
    if (response instanceof Promise) response.then((r) => send(r, ctx, reply, maxBytes, timing), (err: unknown) => failed(err, reply));
    else send(response, ctx, reply, maxBytes, timing);
  };
  const send = (response: Reply, ctx: RequestContext, reply: (b: ReplyBody | undefined) => void, maxBytes: number, timing?: ReplyTiming): void => {
    try {
      if (response === undefined) {
        reply(undefined);
        return;
      }
      const small = smallReplyBody(response, maxBytes);
      if (small !== undefined) {
        reply(small);
        if (timing) publishReplyTiming(timing, ctx.connectionId, small instanceof SplicedBody ? small.byteLength : Buffer.byteLength(small));
        return;
      }
      // A result serialised beforehand (RawJson, getAllVmStats): its bytes are the body, so the reply
      // leaves now, in the request's turn, without a microtask (and the read needs no quick ACK).
      const raw = encodeRawReply(response, maxBytes);
      if (raw !== undefined) {
        deliver(raw, ctx, reply, maxBytes, timing);
        return;
      }
    } catch (err) {
      failed(err, reply);
      return;
    }
    encodeReply(response, { maxBytes }).then((encoded) => deliver(encoded, ctx, reply, maxBytes, timing)).catch((err: unknown) => failed(err, reply));
  };
  const deliver = (encoded: EncodedReply, ctx: RequestContext, reply: (b: ReplyBody | undefined) => void, maxBytes: number, timing?: ReplyTiming): void => {
    if (encoded.oversized > 0) {
      log.warn({ client: ctx.clientAddress, oversized: encoded.oversized, maxBytes }, 'response too large for the connection; answered with an error');
      onLimit({ limit: 'response-size', action: 'dropped', client: ctx.clientAddress });
    }
    reply(encoded.chunks);
    // The builder's reference (a pooled RawJson's): the connections that took the reply hold their own.
    leases?.release(encoded.chunks);
    if (timing) publishReplyTiming(timing, ctx.connectionId, encoded.bytes);
  };
  const failed = (err: unknown, reply: (b: undefined) => void): void => {
    log.error({ err }, 'JSON-RPC dispatch failed');
    reply(undefined);
  };

  const acceptor = new Acceptor({
    host: opts.host,
    port: opts.port,
    log,
    timers,
    onStomp,
    onHttp: (socket, head) => http.adopt(socket, head),
    onLimit,
    onClosed: () => {
      if (++closes % RELIEF_CLOSES === 0) opts.relieveMemory?.();
    },
    clock,
    ...(limits.maxConnections !== undefined ? { maxConnections: limits.maxConnections } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.requireClientCert !== undefined ? { requireClientCert: opts.requireClientCert } : {}),
    ...(opts.fd !== undefined ? { fd: opts.fd } : {}),
    ...(opts.quickAck !== undefined ? { quickAck: opts.quickAck } : {}),
    ...(limits.detectTimeoutMs !== undefined ? { detectTimeoutMs: limits.detectTimeoutMs } : {}),
    ...(limits.maxDetecting !== undefined ? { maxDetecting: limits.maxDetecting } : {}),
  });

  return {
    start: () => acceptor.start(),
    publish: (method, params) => events.publish(method, params),
    readyChanged: () => events.flush(),
    state,
    bufferedBytes: () => budget.used,
    outputQueued: () => {
      for (const w of writers) if (w.queuedBytes > 0) return true;
      return false;
    },
    async close() {
      if (closed) return;
      closed = true;
      events.close();
      for (const s of [...sessions]) s.close('server closing', false);
      http.close();
      await acceptor.close();
    },
  };
}
