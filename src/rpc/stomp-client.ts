// A small JSON-RPC-over-STOMP client (the vdsm-client CLI and the RPC benchmark use it): CONNECT, a private
// reply destination, pipelined calls matched by id, and event notifications from the event queue.
import { isAscii } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { Destinations, encodeFrame, type Frame } from './stomp-frame.js';
import { StompParser } from './stomp-parser.js';
import { peekResult } from './reply-envelope.js';

export interface StompClientOptions {
  host: string;
  port: number;
  /** TLS material; absent = plain TCP. Host names are not checked (vdsm and the engine do not either). */
  tls?: { key?: string | Buffer; cert?: string | Buffer; ca?: string | Buffer };
  /** Time allowed for TCP + TLS + CONNECTED. */
  connectTimeoutMs?: number;
  /** Subscribe to the event queue and report events through onEvent. */
  events?: boolean;
  /** `cx,cy` sent in CONNECT; default "0,0" (no heart-beats). */
  heartBeat?: string;
  /** Where requests go (default jms.topic.vdsm_requests; an agent uses the first of [addresses] request_queues). */
  requestQueue?: string;
}

export class RpcCallError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = 'RpcCallError';
    this.code = code;
  }
}

/** Replies up to this size get their whole body buffer at their first chunk (a 1,000-VM getAllVmStats is ~1.9 MB). */
const EAGER_BODY_BYTES = 4 * 1024 * 1024;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  /** performance.now() past which it fails with -32605 (Infinity: no time limit). */
  deadline: number;
  method: string;
  /** callChecked: resolved with the reply body's size, its result never materialised. */
  checked: boolean;
}

export class StompRpcClient {
  #o: StompClientOptions;
  #socket: Socket | undefined;
  #parser: StompParser;
  #pending = new Map<string, Pending>();
  #replyTo = `vdsm-node.client.${randomUUID()}`;
  #nextId = 1;
  #connected: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #eventListeners: ((method: string, params: unknown) => void)[] = [];
  #closeListeners: ((err?: Error) => void)[] = [];
  #closed = false;
  /**
   * One timer for every call's time limit, armed for the earliest deadline: a call does not set and clear a
   * timer of its own (two timer-list operations per call, a measurable share of a small call's cost).
   */
  #deadlineTimer: NodeJS.Timeout | undefined;
  #deadlineAt = Infinity;
  /** Pending callChecked calls (while none, no reply is peeked at). */
  #checked = 0;
  /** callChecked replies whose envelope was not recognised, so they were parsed in full. */
  #checkedParsed = 0;
  readonly #requestQueue: string;

  constructor(opts: StompClientOptions) {
    this.#o = opts;
    this.#requestQueue = opts.requestQueue ?? Destinations.REQUESTS;
    // The server's replies are trusted with their length (this client connects to an agent it chose).
    this.#parser = new StompParser({ frame: (f) => this.#onFrame(f), error: (e) => this.#fail(e) }, {}, { eagerBodyBytes: EAGER_BODY_BYTES });
  }

  onEvent(fn: (method: string, params: unknown) => void): void {
    this.#eventListeners.push(fn);
  }

  onClose(fn: (err?: Error) => void): void {
    this.#closeListeners.push(fn);
  }

  /** Open the connection and wait for CONNECTED. */
  async connect(): Promise<void> {
    const { host, port } = this.#o;
    const socket = this.#o.tls
      ? tls.connect({ host, port, ...this.#o.tls, checkServerIdentity: () => undefined, minVersion: 'TLSv1.2' })
      : net.connect({ host, port });
    this.#socket = socket;
    socket.setNoDelay(true);
    const ready = new Promise<void>((resolve, reject) => (this.#connected = { resolve, reject }));
    const timer = setTimeout(() => this.#fail(new Error(`timed out connecting to ${host}:${port}`)), this.#o.connectTimeoutMs ?? 10_000);
    socket.on('data', (d: Buffer) => this.#parser.push(d));
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('connection closed')));
    socket.once(this.#o.tls ? 'secureConnect' : 'connect', () => {
      socket.write(encodeFrame('CONNECT', [['accept-version', '1.2'], ['heart-beat', this.#o.heartBeat ?? '0,0'], ['host', host]]));
      socket.write(encodeFrame('SUBSCRIBE', [['destination', this.#replyTo], ['id', 'responses'], ['ack', 'auto']]));
      if (this.#o.events) socket.write(encodeFrame('SUBSCRIBE', [['destination', Destinations.EVENTS], ['id', 'events'], ['ack', 'auto']]));
    });
    try {
      await ready;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Call a method; rejects with RpcCallError for a JSON-RPC error, Error for transport problems. */
  call(method: string, params: unknown = {}, timeoutMs = 60_000): Promise<unknown> {
    return this.#call(method, params, timeoutMs, false);
  }

  /**
   * Call a method and check its answer without materialising the result: resolves with the reply body's
   * size in bytes once a response with this call's id that is a result arrives, rejects as call() does.
   * The envelope is read from the body's first and last bytes (reply-envelope.ts); a body in another
   * form is parsed in full as call() does (counted in checkedParsed). For a load generator that measures
   * the server: the result's bytes between the envelope are not checked.
   */
  callChecked(method: string, params: unknown = {}, timeoutMs = 60_000): Promise<number> {
    return this.#call(method, params, timeoutMs, true) as Promise<number>;
  }

  /** callChecked replies that had to be parsed in full (their envelope was in no recognised form). */
  get checkedParsed(): number {
    return this.#checkedParsed;
  }

  #call(method: string, params: unknown, timeoutMs: number, checked: boolean): Promise<unknown> {
    const id = String(this.#nextId++);
    return new Promise((resolve, reject) => {
      if (this.#closed || !this.#socket) {
        reject(new Error('not connected'));
        return;
      }
      const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : Infinity;
      this.#pending.set(id, { resolve, reject, deadline, method, checked });
      if (deadline < this.#deadlineAt) this.#armDeadline(deadline);
      if (checked) this.#checked++;
      this.sendRaw(JSON.stringify({ jsonrpc: '2.0', method, params, id }));
    });
  }

  /** Send a body to the request queue as is (batches, notifications). Responses arrive via rawResponses. */
  sendRaw(body: string): void {
    this.#socket?.write(encodeFrame('SEND', [['destination', this.#requestQueue], ['content-type', 'application/json'], ['reply-to', this.#replyTo]], body));
  }

  /** Bodies that matched no pending call (batch replies and the like). */
  readonly unmatched: unknown[] = [];

  close(): void {
    if (this.#closed) return;
    this.#socket?.end();
    this.#socket?.destroy();
    this.#fail(new Error('client closed'));
  }

  #onFrame(frame: Frame): void {
    switch (frame.command) {
      case 'CONNECTED':
        this.#connected?.resolve();
        this.#connected = undefined;
        return;
      case 'ERROR':
        this.#fail(new Error(`STOMP ERROR: ${frame.headers['message'] ?? frame.body.toString('utf8')}`));
        return;
      case 'MESSAGE':
        this.#onMessage(frame);
        return;
      default:
        return;
    }
  }

  #onMessage(frame: Frame): void {
    const body = frame.body;
    if (this.#checked > 0) {
      const peeked = peekResult(body);
      const p = peeked === undefined ? undefined : this.#pending.get(peeked.id);
      if (p?.checked) {
        this.#settle(peeked!.id, p);
        p.resolve(body.length);
        return;
      }
    }
    let msg: unknown;
    try {
      // ASCII (a reply without non-ASCII text): latin1 makes the same string without UTF-8 decoding.
      msg = JSON.parse(body.toString(isAscii(body) ? 'latin1' : 'utf8'));
    } catch {
      return;
    }
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      if (typeof m !== 'object' || m === null) continue;
      const r = m as { id?: unknown; result?: unknown; error?: { code: number; message: string }; method?: string; params?: unknown };
      if (r.id === undefined && typeof r.method === 'string') {
        for (const fn of this.#eventListeners) fn(r.method, r.params);
        continue;
      }
      const p = typeof r.id === 'string' ? this.#pending.get(r.id) : undefined;
      if (!p) {
        // Kept for callers that sent raw batches; bounded so a long-lived client cannot grow without end.
        if (this.unmatched.length < 1000) this.unmatched.push(m);
        continue;
      }
      this.#settle(r.id as string, p);
      if (r.error) p.reject(new RpcCallError(r.error.code, r.error.message));
      else if (p.checked) {
        this.#checkedParsed++;
        p.resolve(body.length);
      } else p.resolve(r.result);
    }
  }

  #settle(id: string, p: Pending): void {
    this.#pending.delete(id);
    if (p.checked) this.#checked--;
    // The timer stays armed (it holds the process no longer than the open socket does: #fail clears it).
  }

  #armDeadline(at: number): void {
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    this.#deadlineAt = at;
    this.#deadlineTimer = setTimeout(() => this.#expire(), Math.max(0, at - performance.now()));
  }

  /** The earliest deadline came: fail the calls past theirs, arm for the next one. */
  #expire(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const [id, p] of this.#pending) {
      if (p.deadline <= now) {
        this.#settle(id, p);
        p.reject(new RpcCallError(-32605, `No response for JSON-RPC request: {'method': '${p.method}'}`));
      } else if (p.deadline < next) next = p.deadline;
    }
    if (next < Infinity) this.#armDeadline(next);
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#connected?.reject(err);
    this.#connected = undefined;
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#checked = 0;
    this.#socket?.destroy();
    for (const fn of this.#closeListeners) fn(err);
  }
}
