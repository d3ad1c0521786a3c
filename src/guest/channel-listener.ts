// vdsm's vmchannels listener for the ovirt-guest-agent sockets: each channel is connected as a client
// of QEMU's unix socket, reconnected after a hang-up, cooled down after repeated connect failures, and
// told when it has been silent for `timeoutMs` (again every `timeoutMs` while silent). Unlike vdsm's
// thread, a channel also has a read budget: a guest that floods is paused (QEMU then holds its writes),
// so one guest cannot take the thread from the others. Clock, timers and sockets are injected.
import { errorMessage } from '../errors.js';
import type { Clock, Timers } from '../runtime/clock.js';

/** vdsm's COOLDOWN_RECONNECT_THRESHOLD: failures before a channel waits `timeoutMs` between attempts. */
export const COOLDOWN_RECONNECT_THRESHOLD = 5;
/** vdsm's poll timeout: how often timeouts and reconnects are looked at. */
export const LISTENER_TICK_MS = 1000;
/** Bytes a host command may have waiting for a guest that does not read, before commands are refused. */
export const MAX_PENDING_WRITE_BYTES = 256 * 1024;

/** The part of net.Socket the listener uses (a fake in tests is fine). */
export interface ChannelSocket {
  on(event: 'connect', cb: () => void): unknown;
  on(event: 'data', cb: (chunk: Buffer) => void): unknown;
  on(event: 'close', cb: () => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
  write(bytes: Buffer): boolean;
  pause(): unknown;
  resume(): unknown;
  destroy(): unknown;
  readonly writableLength: number;
}

export type Connector = (path: string) => ChannelSocket;

/** vdsm's register(create, connect, read, timeout) callbacks, for one channel. */
export interface ChannelHandler {
  /** Connected; `write` sends to the guest (false when refused because the guest does not read). */
  connected(write: (bytes: Buffer) => boolean): void;
  data(chunk: Buffer): void;
  /** Hung up (EOF, error); a reconnect follows. */
  disconnected(reason: string): void;
  /** Silent for timeoutMs. */
  timeout(): void;
  /** A connect attempt failed (`failures` in a row). */
  connectFailed?(failures: number, err: Error): void;
  /** The read budget ran out: reading paused for `pauseMs`. */
  throttled?(pauseMs: number): void;
}

export interface ReadBudget {
  /** Sustained bytes per second read from one channel. */
  bytesPerSecond: number;
  /** Bytes that may be read at once before the rate applies (at least one maximal message). */
  burstBytes: number;
}

/**
 * A legitimate agent sends a heartbeat every 5 s and its lists when they change (the oVirt agent checks
 * applications every 120 s, disks every 300 s): a few KiB a minute and an occasional list of up to 1 MiB,
 * which the burst takes at once. A flooding guest gets 32 KiB/s, which keeps 100 of them to ~3 MB/s of
 * parsing for the thread.
 */
export const DEFAULT_READ_BUDGET: ReadBudget = { bytesPerSecond: 32 * 1024, burstBytes: 2 * 1024 * 1024 };

export interface ChannelListenerOptions {
  connect: Connector;
  clock: Clock;
  timers: Timers;
  /** [vars] guest_agent_timeout in ms: silence before `timeout`, and the cool-down between failing attempts. */
  timeoutMs: number;
  tickMs?: number;
  readBudget?: ReadBudget;
}

type ChannelState = 'unconnected' | 'connecting' | 'connected';

interface Channel {
  id: string;
  path: string;
  handler: ChannelHandler;
  state: ChannelState;
  socket: ChannelSocket | undefined;
  failures: number;
  lastAttemptAt: number;
  readAt: number;
  tokens: number;
  refilledAt: number;
  resumeTimer: unknown;
  paused: boolean;
  connects: number;
  throttles: number;
}

export interface ChannelDescription {
  id: string;
  path: string;
  state: ChannelState;
  failures: number;
  connects: number;
  throttles: number;
  paused: boolean;
  silentMs: number | null;
}

export class ChannelListener {
  #o: ChannelListenerOptions;
  #budget: ReadBudget;
  #tickMs: number;
  #channels = new Map<string, Channel>();
  #timer: unknown;
  #running = false;

  constructor(opts: ChannelListenerOptions) {
    this.#o = opts;
    this.#budget = opts.readBudget ?? DEFAULT_READ_BUDGET;
    this.#tickMs = opts.tickMs ?? LISTENER_TICK_MS;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#arm();
  }

  /** Close every channel and stop ticking. Idempotent. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const id of [...this.#channels.keys()]) this.remove(id);
  }

  get size(): number {
    return this.#channels.size;
  }

  has(id: string): boolean {
    return this.#channels.has(id);
  }

  /** Register a channel; it is connected at once and then kept connected. Re-adding replaces it. */
  add(id: string, path: string, handler: ChannelHandler): void {
    if (this.#channels.has(id)) this.remove(id);
    const now = this.#o.clock.now();
    const ch: Channel = {
      id, path, handler, state: 'unconnected', socket: undefined, failures: 0, lastAttemptAt: -Infinity, readAt: now,
      tokens: this.#budget.burstBytes, refilledAt: now, resumeTimer: undefined, paused: false, connects: 0, throttles: 0,
    };
    this.#channels.set(id, ch);
    this.#attempt(ch);
  }

  remove(id: string): boolean {
    const ch = this.#channels.get(id);
    if (ch === undefined) return false;
    this.#channels.delete(id);
    this.#drop(ch);
    return true;
  }

  /** One pass of the loop: timeouts of silent channels, reconnects of unconnected ones (tests call it). */
  tick(): void {
    const now = this.#o.clock.now();
    for (const ch of this.#channels.values()) {
      if (ch.state === 'connected') {
        if (now - ch.readAt >= this.#o.timeoutMs) {
          ch.readAt = now;
          ch.handler.timeout();
        }
      } else if (ch.state === 'unconnected') {
        if (ch.failures < COOLDOWN_RECONNECT_THRESHOLD || now - ch.lastAttemptAt >= this.#o.timeoutMs) this.#attempt(ch);
      } else if (now - ch.lastAttemptAt >= this.#o.timeoutMs) {
        // A connect that neither succeeds nor fails (never seen on a unix socket, but cheap to bound).
        const s = ch.socket;
        this.#failed(ch, new Error(`connect did not complete within ${this.#o.timeoutMs} ms`));
        s?.destroy();
      }
    }
  }

  describe(): ChannelDescription[] {
    const now = this.#o.clock.now();
    return [...this.#channels.values()].map((ch) => ({
      id: ch.id, path: ch.path, state: ch.state, failures: ch.failures, connects: ch.connects, throttles: ch.throttles, paused: ch.paused,
      silentMs: ch.state === 'connected' ? Math.round(now - ch.readAt) : null,
    }));
  }

  #arm(): void {
    if (!this.#running) return;
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#timer = undefined;
      try {
        this.tick();
      } finally {
        this.#arm();
      }
    }, this.#tickMs);
  }

  #attempt(ch: Channel): void {
    ch.state = 'connecting';
    ch.lastAttemptAt = this.#o.clock.now();
    let socket: ChannelSocket;
    try {
      socket = this.#o.connect(ch.path);
    } catch (err) {
      this.#failed(ch, err instanceof Error ? err : new Error(errorMessage(err)));
      return;
    }
    ch.socket = socket;
    const current = (): boolean => this.#channels.get(ch.id) === ch && ch.socket === socket;
    let wasConnected = false;
    socket.on('connect', () => {
      if (!current()) return;
      wasConnected = true;
      ch.state = 'connected';
      ch.failures = 0;
      ch.connects++;
      ch.readAt = this.#o.clock.now();
      ch.handler.connected((bytes) => {
        if (!current() || ch.state !== 'connected') return false;
        if (socket.writableLength > MAX_PENDING_WRITE_BYTES) return false;
        socket.write(bytes);
        return true;
      });
    });
    socket.on('data', (chunk) => {
      if (!current()) return;
      ch.readAt = this.#o.clock.now();
      this.#spend(ch, socket, chunk.length);
      ch.handler.data(chunk);
    });
    let lastError: Error | undefined;
    socket.on('error', (err) => {
      lastError = err;
    });
    socket.on('close', () => {
      if (!current()) return;
      ch.socket = undefined;
      this.#clearPause(ch);
      if (wasConnected) {
        ch.state = 'unconnected';
        ch.handler.disconnected(lastError?.message ?? 'closed by the peer');
      } else {
        this.#failed(ch, lastError ?? new Error('connection closed before it was established'));
      }
    });
  }

  #failed(ch: Channel, err: Error): void {
    ch.state = 'unconnected';
    ch.socket = undefined;
    ch.failures++;
    ch.handler.connectFailed?.(ch.failures, err);
  }

  /** Token bucket: the chunk is already read; when the budget goes negative, stop reading until it refills. */
  #spend(ch: Channel, socket: ChannelSocket, bytes: number): void {
    const now = this.#o.clock.now();
    const b = this.#budget;
    ch.tokens = Math.min(b.burstBytes, ch.tokens + ((now - ch.refilledAt) / 1000) * b.bytesPerSecond);
    ch.refilledAt = now;
    ch.tokens -= bytes;
    if (ch.tokens >= 0 || ch.paused) return;
    const pauseMs = Math.ceil((-ch.tokens / b.bytesPerSecond) * 1000);
    ch.paused = true;
    ch.throttles++;
    socket.pause();
    ch.handler.throttled?.(pauseMs);
    ch.resumeTimer = this.#o.timers.setTimeout(() => {
      ch.resumeTimer = undefined;
      ch.paused = false;
      if (ch.socket === socket) socket.resume();
    }, pauseMs);
  }

  #clearPause(ch: Channel): void {
    if (ch.resumeTimer !== undefined) this.#o.timers.clearTimeout(ch.resumeTimer);
    ch.resumeTimer = undefined;
    ch.paused = false;
  }

  #drop(ch: Channel): void {
    this.#clearPause(ch);
    const s = ch.socket;
    ch.socket = undefined;
    ch.state = 'unconnected';
    s?.destroy();
  }
}
