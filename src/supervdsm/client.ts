// vdsmd's client of supervdsmd. It connects with retry and reconnects after the helper restarts, for
// as long as it is started; while it is not connected, every call fails at once with
// ERR_SVDSM_UNAVAILABLE saying where it looked and why it failed (vdsm panics here instead). A call in
// flight when the connection drops fails with ERR_SVDSM_CONNECTION_LOST, one whose deadline passes with
// ERR_SVDSM_TIMEOUT. Calls and state changes are published on diagnostics_channel (client-events.ts).
//
// States: idle -(start)-> connecting -(hello)-> connected -(socket closed)-> disconnected
//         -(backoff)-> connecting ...; close() -> closed from any state (idempotent).
import { createConnection, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { Errors, vdsmError, type VdsmError, errorMessage } from '../errors.js';
import { monotonicClock, realTimers, type Clock, type Timers } from '../runtime/clock.js';
import { fromWireError } from '../runtime/executor/remote-error.js';
import { supervdsmChannels as ch, type SupervdsmStateEvent } from './client-events.js';
import { Deadlines } from './deadlines.js';
import { FrameDecoder, MAX_FRAME_BYTES } from './frame-decoder.js';
import { MAX_CALL_ID, MessageCodec, parseServerMessage, PROTOCOL_VERSION, type WireError } from './protocol.js';

export type ClientState = 'idle' | SupervdsmStateEvent['state'];

export interface SupervdsmClientOptions {
  /** The helper's socket (<run_dir>/svdsm.sock). */
  path: string;
  log: Logger;
  /** Deadline of a call that names none ([supervdsm] call_timeout). */
  defaultTimeoutMs: number;
  maxFrameBytes?: number;
  /** Calls in flight at once; beyond it calls fail with RESOURCE_EXHAUSTED. */
  maxInFlight?: number;
  /** Reconnect backoff: first delay and cap (ms). */
  backoffMs?: { initial: number; max: number };
  /** How long a connected socket may take to say hello. */
  helloTimeoutMs?: number;
  clock?: Clock;
  timers?: Timers;
}

interface Pending {
  method: string;
  started: number;
  timeoutMs: number;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

export interface CallOptions {
  /** Deadline in ms; the helper gets the same deadline. */
  timeoutMs?: number;
}

export class SupervdsmClient {
  readonly path: string;
  #o: SupervdsmClientOptions;
  #clock: Clock;
  #timers: Timers;
  #state: ClientState = 'idle';
  #since: number;
  #socket: Socket | undefined;
  #codec: MessageCodec;
  #pending = new Map<number, Pending>();
  #deadlines: Deadlines;
  #nextId = 1;
  #corked = false;
  #backoff: number;
  #retryTimer: unknown;
  #helloTimer: unknown;
  #lastError: string | undefined;
  #server: { pid: number; methods: string[] } | undefined;
  #waiters = new Set<() => void>();
  #stats = { calls: 0, ok: 0, failed: 0, unavailable: 0, timedOut: 0, lost: 0, late: 0, connects: 0, attempts: 0 };

  constructor(opts: SupervdsmClientOptions) {
    this.#o = opts;
    this.path = opts.path;
    this.#clock = opts.clock ?? monotonicClock;
    this.#timers = opts.timers ?? realTimers;
    this.#codec = new MessageCodec(opts.maxFrameBytes ?? MAX_FRAME_BYTES);
    this.#deadlines = new Deadlines(this.#clock, this.#timers);
    this.#backoff = opts.backoffMs?.initial ?? 100;
    this.#since = this.#clock.now();
  }

  get state(): ClientState {
    return this.#state;
  }

  get connected(): boolean {
    return this.#state === 'connected';
  }

  /** Start connecting (and keep reconnecting until close()). Idempotent. */
  start(): void {
    if (this.#state !== 'idle') return;
    this.#connect();
  }

  /** Resolves once connected (tests, start-up waits); rejects after `timeoutMs`. */
  whenConnected(timeoutMs = 10_000): Promise<void> {
    if (this.#state === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        if (this.#state !== 'connected') return;
        this.#timers.clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = this.#timers.setTimeout(() => {
        this.#waiters.delete(done);
        reject(this.#unavailable());
      }, timeoutMs);
      this.#waiters.add(done);
    });
  }

  /** Call a helper function. Fails at once while the helper is not connected. */
  call<T = unknown>(method: string, args: Record<string, unknown> = {}, opts: CallOptions = {}): Promise<T> {
    this.#stats.calls++;
    const started = this.#clock.now();
    if (this.#state !== 'connected' || this.#socket === undefined) {
      this.#stats.unavailable++;
      const err = this.#unavailable();
      this.#publish(method, false, err.code, 0);
      return Promise.reject(err);
    }
    if (this.#pending.size >= (this.#o.maxInFlight ?? 256)) {
      const err = vdsmError(Errors.RESOURCE_EXHAUSTED, { reason: 'Too many supervdsm calls in flight', resource: 'supervdsm client', current_tasks: this.#pending.size });
      this.#publish(method, false, err.code, 0);
      return Promise.reject(err);
    }
    const timeoutMs = Math.max(1, Math.round(opts.timeoutMs ?? this.#o.defaultTimeoutMs));
    const id = this.#takeId();
    let frame: Buffer;
    try {
      frame = this.#codec.encode({ type: 'call', id, method, args, timeoutMs });
    } catch (err) {
      const e = vdsmError(Errors.SVDSM_BAD_REQUEST, { method, reason: errorMessage(err) });
      this.#publish(method, false, e.code, 0);
      return Promise.reject(e);
    }
    return new Promise<T>((resolve, reject) => {
      this.#deadlines.add(id, timeoutMs, () => {
        if (!this.#pending.delete(id)) return;
        this.#stats.timedOut++;
        this.#settle(method, started, reject, vdsmError(Errors.SVDSM_TIMEOUT, { method, timeoutMs, path: this.path }));
      });
      this.#pending.set(id, { method, started, timeoutMs, resolve: resolve as (v: unknown) => void, reject });
      this.#write(this.#socket!, frame);
    });
  }

  /** Calls made in one tick leave in one write. */
  #write(socket: Socket, frame: Buffer): void {
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    socket.write(frame);
  }

  /** Stop reconnecting, fail calls in flight, close the socket. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#timers.clearTimeout(this.#retryTimer);
    this.#timers.clearTimeout(this.#helloTimer);
    this.#failPending(Errors.SVDSM_CONNECTION_LOST, 'the agent is stopping');
    const socket = this.#socket;
    this.#socket = undefined;
    this.#setState('closed');
    if (socket !== undefined && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.destroy();
      });
    }
  }

  /** What /health shows. */
  health(): Record<string, unknown> {
    return {
      state: this.#state,
      socket: this.path,
      sinceS: Math.round((this.#clock.now() - this.#since) / 100) / 10,
      ...(this.#server ? { serverPid: this.#server.pid, functions: this.#server.methods.length } : {}),
      ...(this.#lastError !== undefined && this.#state !== 'connected' ? { lastError: this.#lastError } : {}),
      inFlight: this.#pending.size,
      ...this.#stats,
    };
  }

  #unavailable(): VdsmError {
    const since = Math.round((this.#clock.now() - this.#since) / 1000);
    const why = this.#state === 'closed' ? 'the client is closed'
      : this.#state === 'idle' ? 'the client was not started'
      : `${this.#state} for ${since} s${this.#lastError ? `; last error: ${this.#lastError}` : ''}`;
    return vdsmError(Errors.SVDSM_UNAVAILABLE, `supervdsm is not available at ${this.path} (${why}); is supervdsmd running? (systemctl status supervdsmd)`);
  }

  #takeId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = id >= MAX_CALL_ID ? 1 : id + 1;
      if (!this.#pending.has(id)) return id;
    }
  }

  #publish(method: string, ok: boolean, code: string | undefined, durationMs: number): void {
    if (ch.call.hasSubscribers) ch.call.publish({ method, ok, ...(code !== undefined ? { code } : {}), durationMs });
  }

  #settle(method: string, started: number, fn: (v: unknown) => void, value: unknown, ok = false): void {
    const code = ok ? undefined : (value as { code?: string }).code;
    if (ok) this.#stats.ok++;
    else this.#stats.failed++;
    this.#publish(method, ok, code, this.#clock.now() - started);
    fn(value);
  }

  #setState(state: ClientState, error?: string): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.#since = this.#clock.now();
    if (error !== undefined) this.#lastError = error;
    if (state !== 'idle' && ch.state.hasSubscribers) {
      ch.state.publish({ state, previous, path: this.path, ...(error !== undefined ? { error } : {}), ...(state === 'connected' && this.#server ? { serverPid: this.#server.pid } : {}) });
    }
    if (state === 'connected') for (const w of [...this.#waiters]) w();
  }

  #connect(): void {
    if (this.#state === 'closed') return;
    this.#stats.attempts++;
    this.#setState('connecting');
    const socket = createConnection({ path: this.path });
    this.#socket = socket;
    const decoder = new FrameDecoder({
      frame: (body) => this.#onFrame(socket, body),
      error: (_kind, message) => {
        this.#o.log.error({ reason: message }, 'bad frame from supervdsm; reconnecting');
        socket.destroy(new Error(`bad frame from supervdsm: ${message}`));
      },
    }, this.#o.maxFrameBytes ?? MAX_FRAME_BYTES);
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('connect', () => {
      this.#helloTimer = this.#timers.setTimeout(() => socket.destroy(new Error('supervdsm did not say hello')), this.#o.helloTimeoutMs ?? 5000);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.#lastError = err.code !== undefined ? `${err.code} (${err.message})` : err.message;
    });
    socket.on('close', () => this.#onClose(socket));
  }

  #onFrame(socket: Socket, body: Buffer): void {
    let parsed;
    try {
      parsed = parseServerMessage(this.#codec.decode(body));
    } catch (err) {
      socket.destroy(new Error(`undecodable frame from supervdsm: ${errorMessage(err)}`));
      return;
    }
    if (!parsed.ok) {
      socket.destroy(new Error(`malformed message from supervdsm: ${parsed.rejection.reason}`));
      return;
    }
    const m = parsed.message;
    if (m.type === 'hello') {
      this.#timers.clearTimeout(this.#helloTimer);
      if (m.version !== PROTOCOL_VERSION) {
        const why = `supervdsm speaks protocol ${m.version}, this vdsmd ${PROTOCOL_VERSION} (restart both after an upgrade)`;
        this.#lastError = vdsmError(Errors.SVDSM_PROTOCOL, why).message;
        socket.destroy(new Error(why));
        return;
      }
      this.#server = { pid: m.pid, methods: m.methods };
      this.#backoff = this.#o.backoffMs?.initial ?? 100;
      this.#stats.connects++;
      this.#lastError = undefined;
      this.#setState('connected');
      this.#o.log.info({ path: this.path, serverPid: m.pid, functions: m.methods.length }, 'connected to supervdsm');
      return;
    }
    if (m.type === 'error' && m.id === 0) {
      // About the connection itself (refused peer, a frame the helper could not read).
      this.#lastError = `${m.error.code}: ${m.error.message}`;
      this.#o.log.error({ code: m.error.code, err: m.error.message }, 'supervdsm reported a connection error');
      return;
    }
    const pending = this.#pending.get(m.id);
    if (pending === undefined) {
      this.#stats.late++; // answered after its deadline here
      return;
    }
    this.#pending.delete(m.id);
    this.#deadlines.delete(m.id, pending.timeoutMs);
    if (m.type === 'result') this.#settle(pending.method, pending.started, pending.resolve, m.value, true);
    else this.#settle(pending.method, pending.started, pending.reject, remoteError(m.error));
  }

  #onClose(socket: Socket): void {
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    this.#timers.clearTimeout(this.#helloTimer);
    if (this.#state === 'closed') return;
    const was = this.#state;
    this.#failPending(Errors.SVDSM_CONNECTION_LOST, `the connection to ${this.path} closed`);
    const error = this.#lastError ?? 'connection closed';
    this.#setState('disconnected', error);
    if (was === 'connected') this.#o.log.warn({ path: this.path, err: error }, 'supervdsm connection lost; reconnecting');
    else this.#o.log.debug({ path: this.path, err: error, retryMs: this.#backoff }, 'supervdsm not reachable; retrying');
    const delay = was === 'connected' ? 0 : this.#backoff;
    if (was !== 'connected') this.#backoff = Math.min(this.#backoff * 2, this.#o.backoffMs?.max ?? 5000);
    this.#retryTimer = this.#timers.setTimeout(() => this.#connect(), delay);
  }

  #failPending(spec: typeof Errors.SVDSM_CONNECTION_LOST, why: string): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#deadlines.clear();
    for (const p of pending) {
      this.#stats.lost++;
      this.#settle(p.method, p.started, p.reject, vdsmError(spec, { method: p.method, reason: why }));
    }
  }
}

/** The helper's error as a local one: a catalogued code becomes a VdsmError again, context kept. */
export function remoteError(w: WireError): Error {
  return fromWireError({ name: 'VdsmError', message: w.message, code: w.code, ...(w.context ? { context: w.context } : {}) });
}
