// Composition of the engine-facing server: acceptor -> (STOMP session + broker -> JSON-RPC) or HTTP, plus
// the event publisher and metrics. The vdsmd composition root builds one with createRpcServer().
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { MethodTable } from '../api/method-table.js';
import type { LogManager } from '../observability/logging.js';
import { RpcMetrics, type ExecutorGaugeState } from '../observability/prometheus.js';
import { monotonicClock, realTimers, type Clock, type Timers } from '../runtime/clock.js';
import { Acceptor, type TlsMaterial } from './acceptor.js';
import type { QuickAckFn } from './quick-ack.js';
import { EventPublisher } from './event-publisher.js';
import { HttpEndpoints } from './http-endpoints.js';
import { JsonRpcServer } from './jsonrpc-server.js';
import { StompBroker } from './stomp-broker.js';
import type { StompLimits } from './stomp-parser.js';
import { StompSession, type StompTransport } from './stomp-session.js';

export interface RpcLimits extends StompLimits {
  /** Unread outgoing bytes per connection before it is dropped. */
  maxOutgoingBytes: number;
  detectTimeoutMs: number;
  maxDetecting: number;
  maxHeldEvents: number;
  preConnectHeartbeatMs: number;
  /** After a graceful close, a peer that does not read is destroyed after this. */
  closeLingerMs: number;
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
  /** Immediate ACKs after every read (quick-ack.ts); false turns them off (bench/first-request.ts compares). */
  quickAck?: QuickAckFn | false;
  /** HTTP PUT handler (the storage's OVF_STORE upload). */
  httpUpload?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

export interface RpcServer {
  start(): Promise<{ address: string; port: number }>;
  /** Send an event (JSON-RPC notification) to every event-queue subscriber. */
  publish(method: string, params?: Record<string, unknown>): void;
  /** Tell the server readiness may have changed (flushes held events). */
  readyChanged(): void;
  state(): Record<string, unknown>;
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
  let nextId = 1;
  let closed = false;

  const metrics = opts.metricsRegistry
    ? new RpcMetrics({
        registry: opts.metricsRegistry,
        connections: () => sessions.size,
        ...(opts.executorState ? { executorState: opts.executorState } : {}),
      })
    : undefined;
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
    broker: broker.state(),
    events: events.state(),
    jsonrpc: jsonrpc.state(),
    http: http.state(),
  });
  const http = new HttpEndpoints({
    isReady,
    rpcState: () => ({ connections: sessions.size, events: events.state(), jsonrpc: jsonrpc.state() }),
    log: opts.logManager.get('rpc.http'),
    ...(opts.healthProvider ? { healthProvider: opts.healthProvider } : {}),
    ...(opts.metricsRegistry ? { metricsRegistry: opts.metricsRegistry } : {}),
    ...(opts.httpUpload ? { upload: opts.httpUpload } : {}),
  });

  const onStomp = (socket: Socket, head: Buffer): void => {
    const lingerMs = limits.closeLingerMs ?? 5000;
    const transport: StompTransport = {
      write: (b) => {
        socket.write(b);
      },
      get pendingBytes() {
        return socket.writableLength;
      },
      end: () => {
        socket.end();
        const h = timers.setTimeout(() => socket.destroy(), lingerMs);
        (h as { unref?: () => void } | undefined)?.unref?.();
      },
      destroy: () => {
        socket.destroy();
      },
    };
    const session = new StompSession({
      connectionId: nextId++,
      clientAddress: socket.remoteAddress ?? 'unknown',
      ...(socket.localAddress !== undefined ? { localAddress: socket.localAddress } : {}),
      transport,
      broker,
      log: stompLog,
      clock,
      timers,
      limits,
      ...(limits.maxOutgoingBytes !== undefined ? { maxOutgoingBytes: limits.maxOutgoingBytes } : {}),
      ...(limits.preConnectHeartbeatMs !== undefined ? { preConnectHeartbeatMs: limits.preConnectHeartbeatMs } : {}),
      onRequest: (body, ctx, reply) => {
        jsonrpc.handle(body.toString('utf8'), ctx).then(
          (text) => {
            if (text !== undefined) reply(text);
          },
          (err: unknown) => log.error({ err }, 'JSON-RPC dispatch failed'),
        );
      },
      onClose: (s) => sessions.delete(s),
    });
    sessions.add(session);
    socket.on('data', (chunk: Buffer) => session.receive(chunk));
    socket.on('close', () => session.close('peer closed', false));
    socket.on('error', (err) => stompLog.debug({ connectionId: session.connectionId, err: err.message }, 'socket error'));
    session.receive(head);
  };

  const acceptor = new Acceptor({
    host: opts.host,
    port: opts.port,
    log,
    timers,
    onStomp,
    onHttp: (socket, head) => http.adopt(socket, head),
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
