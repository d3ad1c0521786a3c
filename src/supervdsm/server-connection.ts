// One accepted, authenticated connection to supervdsmd: frames in, calls run concurrently, answers
// out in completion order. Every call has a deadline (the caller's, capped by the function's) after
// which it is answered with ERR_SVDSM_TIMEOUT and aborted (its children killed, its worker step
// discarded); a bad frame is answered with ERR_SVDSM_BAD_FRAME; the connection outlives both unless
// the stream itself cannot be trusted any more (a length that cannot be right, a truncated frame).
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Errors, vdsmError, errorMessage } from '../errors.js';
import type { PeerCredentials } from '../native-sys.js';
import { monotonicClock, realTimers } from '../runtime/clock.js';
import { Deadlines } from './deadlines.js';
import { FrameDecoder, type FrameErrorKind } from './frame-decoder.js';
import { MessageCodec, parseCall, toWireError, type CallMessage, type ServerMessage } from './protocol.js';
import type { CallContext, FunctionRegistry } from './registry.js';

/** What the connection needs from the server: admission, per-call context parts, bookkeeping. */
export interface ConnectionHost {
  readonly registry: FunctionRegistry;
  readonly log: Logger;
  /** Reserve a slot for one call across all connections; false when the helper is full. */
  admit(): boolean;
  release(): void;
  /** The parts of a CallContext that do not depend on the connection. */
  context(call: { method: string; callId: number; peer: PeerCredentials; signal: () => AbortSignal; remainingMs: () => number; connectionLog: Logger; onPeerGone: (fn: () => void) => void }): CallContext;
  /** One call finished (ok or with an error code), for the status counters. */
  record(method: string, ok: boolean, code: string | undefined, ms: number): void;
}

export interface ConnectionLimits {
  maxFrameBytes: number;
  /** Calls in flight on this connection. */
  maxCalls: number;
  /** Bytes queued for a peer that does not read before the connection is dropped. */
  maxOutgoingBytes: number;
}

/**
 * A call's abort: the AbortController is made only if the function asks for the signal (a ping never
 * does, and making one costs more than the rest of its round trip); aborting before that hands out an
 * already-aborted signal.
 */
class LazyAbort {
  #controller: AbortController | undefined;
  #aborted = false;

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  abort(): void {
    this.#aborted = true;
    this.#controller?.abort();
  }
}

interface Running {
  method: string;
  started: number;
  abort: LazyAbort;
  timeoutMs: number;
}

export class HelperConnection {
  readonly id: number;
  readonly peer: PeerCredentials;
  #socket: Socket;
  #host: ConnectionHost;
  #limits: ConnectionLimits;
  #codec: MessageCodec;
  #decoder: FrameDecoder;
  #log: Logger;
  #calls = new Map<number, Running>();
  #deadlines = new Deadlines(monotonicClock, realTimers);
  #ended = false;
  #closed = false;
  #frames = 0;
  #corked = false;
  #badFrames = 0;
  #onClose: () => void;
  /** Run when the peer goes away (not when the helper itself closes the connection). */
  #peerGone: (() => void)[] = [];
  #destroyed = false;

  constructor(id: number, socket: Socket, peer: PeerCredentials, host: ConnectionHost, limits: ConnectionLimits, onClose: () => void) {
    this.id = id;
    this.peer = peer;
    this.#socket = socket;
    this.#host = host;
    this.#limits = limits;
    this.#onClose = onClose;
    this.#log = host.log.child({ conn: id, peerPid: peer.pid, peerUid: peer.uid });
    this.#codec = new MessageCodec(limits.maxFrameBytes);
    this.#decoder = new FrameDecoder({
      frame: (body) => this.#onFrame(body),
      error: (kind, message) => this.#onFrameError(kind, message),
    }, limits.maxFrameBytes);
    socket.on('data', (chunk: Buffer) => this.#decoder.push(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('error', (err) => this.#log.debug({ err: err.message }, 'connection error'));
    socket.on('close', () => this.#onSocketClose());
  }

  /** Say hello: protocol version, pid and the functions served. */
  hello(version: number, server: string): void {
    this.#send({ type: 'hello', version, pid: process.pid, server, methods: this.#host.registry.names() });
  }

  get inFlight(): number {
    return this.#calls.size;
  }

  state(): Record<string, unknown> {
    const now = performance.now();
    return {
      id: this.id, peer: this.peer, frames: this.#frames, badFrames: this.#badFrames,
      calls: [...this.#calls.entries()].map(([id, c]) => ({ id, method: c.method, runningMs: Math.round(now - c.started) })),
    };
  }

  /** Close at once: calls in flight are aborted (the server is stopping or the peer misbehaved). */
  destroy(): void {
    this.#destroyed = true;
    for (const c of this.#calls.values()) c.abort.abort();
    this.#socket.destroy();
  }

  #send(message: ServerMessage): void {
    if (this.#closed || this.#socket.destroyed || !this.#socket.writable) return;
    // Answers made in one tick leave in one write (calls in flight finish together under load).
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    let frame: Buffer;
    try {
      frame = this.#codec.encode(message);
    } catch (err) {
      if (message.type !== 'result') throw err;
      frame = this.#codec.encode({ type: 'error', id: message.id, error: toWireError(vdsmError(Errors.SVDSM_RESULT_TOO_LARGE, { limit: this.#limits.maxFrameBytes, reason: errorMessage(err) }), Errors.SVDSM_INTERNAL.code) });
    }
    this.#socket.write(frame);
    if (this.#socket.writableLength > this.#limits.maxOutgoingBytes) {
      this.#log.warn({ queued: this.#socket.writableLength }, 'peer does not read its answers; dropping the connection');
      this.destroy();
    }
  }

  #sendError(id: number, err: unknown): void {
    this.#send({ type: 'error', id, error: toWireError(err, Errors.SVDSM_INTERNAL.code) });
  }

  #onFrame(body: Buffer): void {
    this.#frames++;
    let value: unknown;
    try {
      value = this.#codec.decode(body);
    } catch (err) {
      // The frame boundaries are intact, so the stream goes on after an undecodable body.
      this.#badFrames++;
      this.#log.warn({ bytes: body.length, err: errorMessage(err) }, 'undecodable frame');
      this.#sendError(0, vdsmError(Errors.SVDSM_BAD_FRAME, { reason: `not one msgpack value: ${errorMessage(err)}` }));
      return;
    }
    const parsed = parseCall(value);
    if (!parsed.ok) {
      this.#badFrames++;
      this.#log.warn({ reason: parsed.rejection.reason, id: parsed.rejection.id }, 'malformed request');
      this.#sendError(parsed.rejection.id, vdsmError(Errors.SVDSM_BAD_REQUEST, { reason: parsed.rejection.reason }));
      return;
    }
    this.#startCall(parsed.message);
  }

  #onFrameError(kind: FrameErrorKind, message: string): void {
    // A length we refuse (or a cut stream) leaves no frame boundary to resynchronise on: answer, then close.
    this.#badFrames++;
    this.#log.warn({ kind, reason: message }, 'bad frame; closing the connection');
    this.#sendError(0, vdsmError(Errors.SVDSM_BAD_FRAME, { kind, reason: message }));
    for (const c of this.#calls.values()) c.abort.abort();
    this.#ended = true;
    this.#endSoon();
  }

  /** Send FIN; a peer that keeps its side open anyway is cut off after a second. */
  #endSoon(): void {
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), 1000).unref();
  }

  /**
   * The peer stopped sending. A frame cut short is answered first (the peer may still read); calls in
   * flight are aborted: a client that dies (kill -9) shows up exactly like this, and its work would
   * otherwise run on to its deadline for nobody.
   */
  #onEnd(): void {
    this.#ended = true;
    if (this.#decoder.end()) return; // truncated: #onFrameError answered and ends the socket
    for (const c of this.#calls.values()) c.abort.abort();
    this.#endSoon();
  }

  #onSocketClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#deadlines.clear();
    for (const c of this.#calls.values()) {
      c.abort.abort();
      this.#host.release();
    }
    this.#calls.clear();
    this.#onClose();
    const hooks = this.#destroyed ? [] : this.#peerGone.splice(0);
    for (const fn of hooks) {
      try {
        fn();
      } catch (err) {
        this.#log.error({ err }, 'a peer-gone hook failed');
      }
    }
  }

  #startCall(call: CallMessage): void {
    if (this.#calls.has(call.id)) {
      this.#sendError(call.id, vdsmError(Errors.SVDSM_BAD_REQUEST, { reason: `call id ${call.id} is already in flight on this connection` }));
      return;
    }
    const bound = this.#host.registry.bind(call.method, call.args);
    if (!bound.ok) {
      this.#log.info({ method: call.method, id: call.id, code: (bound.error as { code?: string }).code, err: bound.error.message }, 'call refused');
      this.#host.record(call.method, false, (bound.error as { code?: string }).code, 0);
      this.#sendError(call.id, bound.error);
      return;
    }
    if (this.#calls.size >= this.#limits.maxCalls || !this.#host.admit()) {
      const err = vdsmError(Errors.RESOURCE_EXHAUSTED, { reason: 'Too many supervdsm calls in flight', resource: 'supervdsm', per_connection: this.#limits.maxCalls });
      this.#host.record(call.method, false, err.code, 0);
      this.#sendError(call.id, err);
      return;
    }
    const fn = bound.fn;
    const timeoutMs = Math.min(call.timeoutMs, fn.maxTimeoutMs ?? call.timeoutMs);
    const started = performance.now();
    const deadline = started + timeoutMs;
    const abort = new LazyAbort();
    const finish = (ok: boolean, value: unknown): void => {
      const running = this.#calls.get(call.id);
      if (running === undefined || running.abort !== abort) return; // answered already (deadline) or connection gone
      this.#deadlines.delete(call.id, timeoutMs);
      this.#calls.delete(call.id);
      this.#host.release();
      const ms = performance.now() - started;
      const code = ok ? undefined : toWireError(value, Errors.SVDSM_INTERNAL.code).code;
      this.#host.record(call.method, ok, code, ms);
      if (ok) {
        this.#log.debug({ method: call.method, id: call.id, ms: Math.round(ms) }, 'call done');
        this.#send({ type: 'result', id: call.id, value: value ?? null });
      } else {
        const unexpected = code === Errors.SVDSM_INTERNAL.code;
        this.#log[unexpected ? 'error' : 'info']({ method: call.method, id: call.id, ms: Math.round(ms), code, err: unexpected ? value : errorMessage(value) }, 'call failed');
        this.#sendError(call.id, value);
      }
      if (this.#ended && this.#calls.size === 0) this.#socket.end();
    };
    this.#calls.set(call.id, { method: call.method, started, abort, timeoutMs });
    this.#deadlines.add(call.id, timeoutMs, () => {
      abort.abort();
      finish(false, vdsmError(Errors.SVDSM_TIMEOUT, { method: call.method, timeoutMs }));
    });
    const ctx = this.#host.context({
      method: call.method, callId: call.id, peer: this.peer, signal: () => abort.signal,
      remainingMs: () => Math.max(1, Math.round(deadline - performance.now())),
      connectionLog: this.#log,
      onPeerGone: (fn) => {
        if (!this.#closed) this.#peerGone.push(fn);
        else if (!this.#destroyed) fn();
      },
    });
    this.#log.debug({ method: call.method, id: call.id, timeoutMs }, 'call');
    let result: Promise<unknown>;
    try {
      result = fn.run(bound.args, ctx);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then((v) => finish(true, v), (err: unknown) => finish(false, err));
  }
}
