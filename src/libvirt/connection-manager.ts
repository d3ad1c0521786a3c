// Owns vdsm-node's libvirt connections: the main one (lifecycle, stats) and one for guest-agent calls.
// Opens them and registers domain events from the libvirt control thread, tracks health
// (connecting / connected / lost with outage times), and after a loss (close callback, a call that found
// the connection closed, failed liveness ping, wedged control thread) reconnects with backoff,
// re-registers events and tells subscribers to resync. Losses reach the main thread directly through a
// connection watcher, so a control thread stuck in libvirt cannot hold them back.
// State machine: idle -> connecting -> connected <-> lost; any -> closed.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { errorMessage, Errors, isError, vdsmError } from '../errors.js';
import { monotonicClock, realTimers, type Clock, type Timers } from '../runtime/clock.js';
import { Lifecycle } from '../runtime/lifecycle.js';
import { VDSM_EVENT_IDS } from './constants.js';
import { ControlThread } from './control-thread.js';
import { isConnectionSuspect } from './errors.js';
import { libvirtChannels, type ReconnectEvent, type StateEvent } from './libvirt-channels.js';
import type { BindingEvent, ConnectionClosedEvent, DomainEvent, OpenOptions } from '../contracts/libvirt-types.js';

/** Subscribe to every connection loss; returns the way to unsubscribe. */
export type CloseWatcher = (cb: (e: ConnectionClosedEvent) => void) => () => void;

/**
 * The binding's watcher in a thread of its own (watch-worker.ts), which makes no libvirt call and so is
 * never stuck in one; losses arrive here as messages. The thread does not keep the process alive.
 */
export const bindingCloseWatcher: CloseWatcher = (cb) => {
  const worker = new Worker(new URL('./watch-worker.js', import.meta.url), { name: 'libvirt-watch' });
  worker.on('message', (e: ConnectionClosedEvent | { event: 'ready' }) => {
    if (e.event === 'connection-closed') cb(e);
  });
  worker.on('error', () => undefined);
  worker.unref();
  return () => { void worker.terminate(); };
};

export type LibvirtConnectionState = 'idle' | 'connecting' | 'connected' | 'lost' | 'closed';

export interface ConnectionManagerOptions {
  uri: string;
  /** SASL credentials (vdsm: vdsm@ovirt and /etc/pki/vdsm/keys/libvirt_password) */
  authName?: string;
  passphrase?: string;
  readOnly?: boolean;
  /** libvirt keepalive: interval in s (0 = off) and unanswered probes before libvirt closes */
  keepaliveInterval?: number;
  keepaliveCount?: number;
  /** domain events to register (default: vdsm's list plus METADATA_CHANGE) */
  eventIds?: readonly number[];
  /** open a second connection for guest-agent calls (default true) */
  agentConnection?: boolean;
  /** reconnect backoff: first delay, cap, growth */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  backoffFactor?: number;
  /** start() rejects (and the manager closes) when not connected within this; 0 = wait for ever */
  startTimeoutMs?: number;
  /** bound on each control-thread call (open, subscribe, ping); past it the thread counts as wedged */
  callTimeoutMs?: number;
  /** outages remembered in health() */
  maxOutages?: number;
  clock?: Clock;
  timers?: Timers;
  log?: Logger;
  controlWorkerUrl?: URL;
  /** Where connection losses come from besides the control thread (default: the binding's watcher). */
  closeWatcher?: CloseWatcher | false;
}

type Defaulted = 'keepaliveInterval' | 'keepaliveCount' | 'agentConnection' | 'backoffInitialMs' | 'backoffMaxMs' |
  'backoffFactor' | 'startTimeoutMs' | 'callTimeoutMs' | 'maxOutages';
type ResolvedOptions = ConnectionManagerOptions & Required<Pick<ConnectionManagerOptions, Defaulted>>;

const DEFAULTS: Readonly<Required<Pick<ConnectionManagerOptions, Defaulted>>> = Object.freeze({
  keepaliveInterval: 5, keepaliveCount: 3, agentConnection: true, backoffInitialMs: 200, backoffMaxMs: 10_000,
  backoffFactor: 2, startTimeoutMs: 10_000, callTimeoutMs: 30_000, maxOutages: 10,
});

export interface Outage {
  /** monotonic ms (the injected clock) */
  start: number;
  end?: number;
  durationMs?: number;
  reason: string;
  attempts: number;
}

export interface ReconnectInfo {
  conn: number;
  agentConn: number | undefined;
  outage: Outage;
}

export interface LibvirtHealth {
  state: LibvirtConnectionState;
  uri: string;
  conn: number | undefined;
  agentConn: number | undefined;
  /** monotonic ms of the last state change */
  since: number;
  lastError: { code: string; message: string; at: number } | undefined;
  currentOutage: Outage | undefined;
  outages: Outage[];
  reconnects: number;
  attempts: number;
  eventsReceived: number;
  control: ReturnType<ControlThread['toJSON']> | undefined;
}

type Listener<T> = (value: T) => void;

export class ConnectionManager {
  #opts: ResolvedOptions;
  #clock: Clock;
  #timers: Timers;
  #log: Logger | undefined;
  #state: LibvirtConnectionState = 'idle';
  #since: number;
  #control: ControlThread | undefined;
  #conn: number | undefined;
  #agentConn: number | undefined;
  #sub: number | undefined;
  #retryTimer: unknown;
  #startTimer: unknown;
  #failures = 0;
  #attempts = 0;
  #reconnects = 0;
  #events = 0;
  #pinging = false;
  /** Connections a dropped (stuck) control thread could not close; closed after the next connect. */
  #orphans: number[] = [];
  #lastError: LibvirtHealth['lastError'];
  #outage: Outage | undefined;
  #outages: Outage[] = [];
  readonly #life = new Lifecycle('libvirt connection manager');
  #startSettle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  /** Connections reported lost (possibly before the attempt that opened them finished). */
  #closedIds = new Set<number>();
  #unwatch: (() => void) | undefined;
  #eventListeners = new Set<Listener<DomainEvent>>();
  #reconnectListeners = new Set<Listener<ReconnectInfo>>();
  #stateListeners = new Set<Listener<LibvirtConnectionState>>();

  constructor(opts: ConnectionManagerOptions) {
    this.#opts = { ...DEFAULTS, ...opts };
    this.#clock = opts.clock ?? monotonicClock;
    this.#timers = opts.timers ?? realTimers;
    this.#log = opts.log;
    this.#since = this.#clock.now();
  }

  /**
   * Connect (retrying with backoff); resolves on the first success. Idempotent: later callers get the
   * first call's promise (src/runtime/lifecycle.ts); after close it is a LIFECYCLE_STATE error.
   */
  start(): Promise<void> {
    return this.#life.start(() => this.#start());
  }

  #start(): Promise<void> {
    const started = new Promise<void>((resolve, reject) => {
      this.#startSettle = { resolve, reject };
    });
    this.#setState('connecting');
    const watcher = this.#opts.closeWatcher ?? bindingCloseWatcher;
    if (watcher) this.#unwatch = watcher((e) => this.#onClosed(e));
    if (this.#opts.startTimeoutMs > 0) {
      this.#startTimer = this.#timers.setTimeout(() => {
        this.#startTimer = undefined;
        if (this.#state === 'connected' || this.#state === 'closed') return;
        const err = vdsmError(Errors.LIBVIRT_CONNECTION, `could not connect to ${this.#opts.uri} within ${this.#opts.startTimeoutMs} ms: ${this.#lastError?.message ?? 'no answer'}`);
        this.#settleStart(err);
        void this.close();
      }, this.#opts.startTimeoutMs);
    }
    void this.#attempt();
    return started;
  }

  /**
   * Release both connections and the control thread (each release step bounded by 2 s). Idempotent:
   * later callers wait for the first close.
   */
  close(): Promise<void> {
    return this.#life.close(() => this.#close(), () => this.#setState('closed'));
  }

  /** Close without releasing anything: the control thread is terminated at once. */
  destroy(): Promise<void> {
    return this.#life.destroy(() => this.#control?.terminate(), () => this.#close(), () => this.#setState('closed'));
  }

  async #close(): Promise<void> {
    this.#setState('closed');
    this.#clearTimer('retry');
    this.#clearTimer('start');
    this.#settleStart(vdsmError(Errors.NOT_RUNNING, 'libvirt connection manager closed'));
    this.#unwatch?.();
    this.#unwatch = undefined;
    const control = this.#control;
    this.#control = undefined;
    if (control && !control.terminated) {
      await this.#release(control, this.#sub, this.#conn, this.#agentConn, 2000);
      control.terminate();
    }
    this.#conn = this.#agentConn = this.#sub = undefined;
  }

  /** The main connection's id, for `{ conn }` in worker operations; throws LIBVIRT_CONNECTION when down. */
  conn(): number {
    if (this.#state !== 'connected' || this.#conn === undefined) throw vdsmError(Errors.LIBVIRT_CONNECTION, `libvirt connection is ${this.#state}`);
    return this.#conn;
  }

  /** The guest-agent connection's id (the main one when agentConnection is false). */
  agentConn(): number {
    const main = this.conn();
    return this.#agentConn ?? main;
  }

  get state(): LibvirtConnectionState {
    return this.#state;
  }

  onEvent(cb: Listener<DomainEvent>): () => void {
    this.#eventListeners.add(cb);
    return () => this.#eventListeners.delete(cb);
  }

  /** Called after every reconnect: events may have been missed, so subscribers resync their state. */
  onReconnect(cb: Listener<ReconnectInfo>): () => void {
    this.#reconnectListeners.add(cb);
    return () => this.#reconnectListeners.delete(cb);
  }

  onStateChange(cb: Listener<LibvirtConnectionState>): () => void {
    this.#stateListeners.add(cb);
    return () => this.#stateListeners.delete(cb);
  }

  /**
   * Callers report libvirt failures here. A connection-type failure (vdsm's rule) triggers a liveness
   * ping; if that fails too, the connection counts as lost and reconnection starts.
   */
  reportError(err: unknown): void {
    if (!isConnectionSuspect(err) || this.#state !== 'connected' || this.#pinging) return;
    const control = this.#control;
    const conn = this.#conn;
    if (!control || conn === undefined) return;
    this.#pinging = true;
    control.request({ cmd: 'ping', conn }, this.#opts.callTimeoutMs).then(
      () => { this.#pinging = false; },
      (pingErr: unknown) => {
        this.#pinging = false;
        this.#noteError(pingErr);
        // A ping that timed out left the control thread stuck in libvirt: start over with a fresh one.
        if (isError(pingErr, Errors.LIBVIRT_CONNECTION)) this.#dropControl(control);
        if (this.#conn === conn) this.#lost(`liveness ping failed: ${errorMessage(pingErr)}`);
      },
    );
  }

  health(): LibvirtHealth {
    return {
      state: this.#state, uri: this.#opts.uri, conn: this.#conn, agentConn: this.#agentConn, since: this.#since,
      lastError: this.#lastError, currentOutage: this.#outage ? { ...this.#outage } : undefined,
      outages: this.#outages.map((o) => ({ ...o })), reconnects: this.#reconnects, attempts: this.#attempts,
      eventsReceived: this.#events, control: this.#control?.toJSON(),
    };
  }

  toJSON(): LibvirtHealth {
    return this.health();
  }

  // ---- connecting ------------------------------------------------------------------------------

  async #attempt(): Promise<void> {
    this.#retryTimer = undefined;
    if (this.#state === 'closed') return;
    this.#attempts++;
    if (this.#outage) this.#outage.attempts++;
    const control = this.#ensureControl();
    const options: OpenOptions = { keepaliveInterval: this.#opts.keepaliveInterval, keepaliveCount: this.#opts.keepaliveCount };
    if (this.#opts.readOnly) options.readOnly = true;
    if (this.#opts.authName !== undefined) options.authName = this.#opts.authName;
    if (this.#opts.passphrase !== undefined) options.passphrase = this.#opts.passphrase;
    const t = this.#opts.callTimeoutMs;
    let conn: number | undefined;
    let agent: number | undefined;
    let sub: number | undefined;
    try {
      conn = await control.request({ cmd: 'open', uri: this.#opts.uri, options }, t);
      if (this.#opts.agentConnection) agent = await control.request({ cmd: 'open', uri: this.#opts.uri, options }, t);
      sub = await control.request({ cmd: 'subscribe', conn, eventIds: this.#opts.eventIds ?? VDSM_EVENT_IDS }, t);
    } catch (err) {
      this.#noteError(err);
      if (!control.terminated) void this.#release(control, sub, conn, agent, t);
      if (isError(err, Errors.LIBVIRT_CONNECTION)) this.#dropControl(control);  // wedged or gone
      this.#scheduleRetry();
      return;
    }
    if (this.#isClosed() || control.terminated) {
      if (!control.terminated) void this.#release(control, sub, conn, agent, t);
      if (!this.#isClosed()) this.#scheduleRetry();
      return;
    }
    this.#connected(conn, agent, sub);
    // Lost while the attempt was still registering events: the report came before we knew the id.
    const early = [conn, agent].find((c) => c !== undefined && this.#closedIds.has(c));
    if (early !== undefined) this.#lost(`libvirt closed connection ${early} while it was being set up`);
  }

  #connected(conn: number, agent: number | undefined, sub: number): void {
    this.#conn = conn;
    this.#agentConn = agent;
    this.#sub = sub;
    this.#failures = 0;
    this.#clearTimer('start');
    const outage = this.#outage;
    this.#outage = undefined;
    this.#setState('connected');
    this.#log?.info({ uri: this.#opts.uri, conn, agentConn: agent }, 'libvirt connected');
    this.#settleStart();
    const orphans = this.#orphans.splice(0);
    if (orphans.length > 0 && this.#control) {
      for (const id of orphans) void this.#release(this.#control, undefined, id, undefined, this.#opts.callTimeoutMs);
    }
    if (!outage) return;
    outage.end = this.#clock.now();
    outage.durationMs = outage.end - outage.start;
    this.#outages.push(outage);
    if (this.#outages.length > this.#opts.maxOutages) this.#outages.shift();
    this.#reconnects++;
    this.#log?.warn({ outage }, 'libvirt connection restored');
    const info: ReconnectInfo = { conn, agentConn: agent, outage: { ...outage } };
    for (const cb of [...this.#reconnectListeners]) this.#safely(() => cb(info));
    if (libvirtChannels.reconnect.hasSubscribers) {
      libvirtChannels.reconnect.publish({ uri: this.#opts.uri, conn, outage: { ...outage } } satisfies ReconnectEvent);
    }
  }

  #lost(reason: string): void {
    if (this.#state !== 'connected') return;
    this.#outage = { start: this.#clock.now(), reason, attempts: 0 };
    this.#log?.error({ uri: this.#opts.uri, reason }, 'libvirt connection lost');
    const control = this.#control;
    const [sub, conn, agent] = [this.#sub, this.#conn, this.#agentConn];
    this.#conn = this.#agentConn = this.#sub = undefined;
    this.#setState('lost', reason);
    if (control && !control.terminated) void this.#release(control, sub, conn, agent, this.#opts.callTimeoutMs);
    else this.#orphans.push(...[conn, agent].filter((c): c is number => c !== undefined));  // its subscription died with its thread
    this.#scheduleRetry(0);
  }

  #scheduleRetry(delayMs?: number): void {
    if (this.#state === 'closed' || this.#retryTimer !== undefined) return;
    const delay = delayMs ?? Math.min(this.#opts.backoffMaxMs, this.#opts.backoffInitialMs * this.#opts.backoffFactor ** this.#failures++);
    this.#retryTimer = this.#timers.setTimeout(() => void this.#attempt(), delay);
  }

  // ---- control thread --------------------------------------------------------------------------

  #ensureControl(): ControlThread {
    if (this.#control && !this.#control.terminated) return this.#control;
    const control: ControlThread = new ControlThread({
      timers: this.#timers,
      ...(this.#opts.controlWorkerUrl ? { workerUrl: this.#opts.controlWorkerUrl } : {}),
      onEvent: (e) => this.#onBindingEvent(e),
      onExit: (err) => {
        this.#noteError(err);
        if (this.#control === control) {
          this.#control = undefined;
          this.#lost(`libvirt control thread exited: ${errorMessage(err)}`);
        }
      },
    });
    this.#control = control;
    return control;
  }

  #dropControl(control: ControlThread): void {
    if (this.#control === control) this.#control = undefined;
    control.terminate();
  }

  /** Unsubscribe then close (the subscription holds its own reference to the connection). */
  async #release(control: ControlThread, sub: number | undefined, conn: number | undefined, agent: number | undefined, timeoutMs: number): Promise<void> {
    const quietly = (p: Promise<unknown>): Promise<unknown> => p.catch((err: unknown) => this.#log?.debug({ err }, 'libvirt release step failed'));
    // The thread runs one call at a time: once a step timed out it is stuck in that call, and every
    // later step would only wait out its own timeout behind it (a bounded stop would not stay bounded).
    const wedged = ((t0) => () => control.toJSON().timeouts > t0)(control.toJSON().timeouts);
    if (sub !== undefined) await quietly(control.request({ cmd: 'unsubscribe', sub }, timeoutMs));
    if (conn !== undefined && !wedged()) await quietly(control.request({ cmd: 'close', conn }, timeoutMs));
    if (agent !== undefined && !wedged()) await quietly(control.request({ cmd: 'close', conn: agent }, timeoutMs));
  }

  /** A loss from the watcher or the control thread (both may report the same one). */
  #onClosed(e: ConnectionClosedEvent): void {
    this.#closedIds.add(e.conn);
    if (this.#closedIds.size > 64) this.#closedIds.delete(this.#closedIds.values().next().value as number);
    if (e.conn !== this.#conn && e.conn !== this.#agentConn) return;
    const why = e.reason < 0 ? 'found by a call' : `reason ${e.reason}`;
    this.#lost(`libvirt closed connection ${e.conn} (${why})${e.message ? `: ${e.message}` : ''}`);
  }

  #onBindingEvent(e: BindingEvent): void {
    if (e.event === 'connection-closed') {
      this.#onClosed(e);
      return;
    }
    if (e.conn !== this.#conn) return;  // late events of a connection already given up
    this.#events++;
    for (const cb of [...this.#eventListeners]) this.#safely(() => cb(e));
  }

  // ---- bookkeeping -----------------------------------------------------------------------------

  /** A method, not a field read, so TypeScript does not narrow it across awaits. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #setState(s: LibvirtConnectionState, reason?: string): void {
    if (this.#state === s) return;
    const previous = this.#state;
    this.#state = s;
    this.#since = this.#clock.now();
    if (libvirtChannels.state.hasSubscribers) {
      libvirtChannels.state.publish({ uri: this.#opts.uri, state: s, previous, ...(reason !== undefined ? { reason } : {}) } satisfies StateEvent);
    }
    for (const cb of [...this.#stateListeners]) this.#safely(() => cb(s));
  }

  #noteError(err: unknown): void {
    const code = (err as { code?: unknown } | null)?.code;
    this.#lastError = { code: typeof code === 'string' ? code : 'ERR_UNEXPECTED', message: errorMessage(err), at: this.#clock.now() };
  }

  #settleStart(err?: unknown): void {
    const s = this.#startSettle;
    if (!s) return;
    this.#startSettle = undefined;
    if (err === undefined) s.resolve();
    else s.reject(err);
  }

  #clearTimer(which: 'retry' | 'start'): void {
    const h = which === 'retry' ? this.#retryTimer : this.#startTimer;
    if (h !== undefined) this.#timers.clearTimeout(h);
    if (which === 'retry') this.#retryTimer = undefined;
    else this.#startTimer = undefined;
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log?.error({ err }, 'libvirt listener failed');
    }
  }
}
