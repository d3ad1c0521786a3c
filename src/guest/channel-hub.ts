// The work of the vmchannels thread, independent of the thread: one OvirtSession per VM channel, wired to
// the ChannelListener's sockets, with what changed collected in a ChannelOutbox and posted in batches.
// channel-worker.ts runs it in its own thread; tests run it in-process with a manual clock.
import type { Clock, Timers } from '../runtime/clock.js';
import { ChannelListener, type Connector } from './channel-listener.js';
import { ChannelOutbox } from './channel-outbox.js';
import type { ChannelWorkerConfig, ChannelWorkerState, FromChannelWorker, SendReply, ToChannelWorker } from './channel-protocol.js';
import { OvirtSession } from './ovirt-session.js';

export interface ChannelHubOptions {
  config: ChannelWorkerConfig;
  connect: Connector;
  clock: Clock;
  timers: Timers;
  post: (msg: FromChannelWorker) => void;
  wallS?: () => number;
  heapUsed?: () => number;
}

interface Entry {
  session: OvirtSession;
  throttles: number;
}

export class ChannelHub {
  #o: ChannelHubOptions;
  #listener: ChannelListener;
  #outbox: ChannelOutbox;
  #entries = new Map<string, Entry>();
  #flushTimer: unknown;
  #posts = 0;

  constructor(opts: ChannelHubOptions) {
    this.#o = opts;
    this.#listener = new ChannelListener({
      connect: opts.connect, clock: opts.clock, timers: opts.timers, timeoutMs: opts.config.timeoutMs,
      tickMs: opts.config.tickMs, readBudget: opts.config.readBudget,
    });
    this.#outbox = new ChannelOutbox((vmId, key) => this.#entries.get(vmId)?.session.info[key]);
  }

  start(): void {
    this.#listener.start();
  }

  stop(): void {
    this.#listener.stop();
    if (this.#flushTimer !== undefined) this.#o.timers.clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#entries.clear();
  }

  /** Run the listener's loop body now (tests with a manual clock). */
  tick(): void {
    this.#listener.tick();
  }

  handle(msg: ToChannelWorker): void {
    switch (msg.type) {
      case 'add':
        this.#add(msg.vmId, msg.path, msg.apiVersion);
        break;
      case 'remove':
        this.#listener.remove(msg.vmId);
        this.#entries.delete(msg.vmId);
        this.#outbox.forget(msg.vmId);
        break;
      case 'send':
        this.#o.post({ type: 'reply', reqId: msg.reqId, value: this.#send(msg.vmId, msg) });
        break;
      case 'reboot': {
        const e = this.#entries.get(msg.vmId);
        if (e !== undefined) {
          e.session.reboot();
          this.#schedule();
        }
        break;
      }
      case 'describe':
        this.#o.post({ type: 'reply', reqId: msg.reqId, value: this.describe() });
        break;
      case 'stop':
        this.stop();
        break;
    }
  }

  /** Post what is pending now (the flush timer calls it). */
  flush(): void {
    if (this.#flushTimer !== undefined) this.#o.timers.clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const items = this.#outbox.take(this.#o.config.flushBudgetBytes);
    if (items.length > 0) {
      this.#posts++;
      this.#o.post({ type: 'updates', items });
    }
    if (this.#outbox.size > 0) this.#schedule();
  }

  describe(): ChannelWorkerState {
    const channels = this.#listener.describe().map((c) => {
      const s = this.#entries.get(c.id)?.session.stats();
      return { ...c, apiVersion: s?.apiVersion ?? 0, messages: s?.messages ?? 0, bytes: s?.bytes ?? 0, buffered: s?.buffered ?? 0 };
    });
    return { channels, pendingUpdates: this.#outbox.size, posts: this.#posts, heapUsed: this.#o.heapUsed?.() ?? 0 };
  }

  #add(vmId: string, path: string, apiVersion: number | undefined): void {
    const out = this.#outbox;
    out.forget(vmId);
    const touched = (): void => this.#schedule();
    const session = new OvirtSession({
      now: () => this.#o.clock.now(),
      ...(this.#o.wallS ? { wallS: this.#o.wallS } : {}),
      maxMessageBytes: this.#o.config.maxMessageBytes,
      ...(apiVersion !== undefined ? { apiVersion } : {}),
      listener: {
        changed: (keys) => { out.fields(vmId, keys); out.meta(vmId, { lastMessageAt: session.lastMessageAt }); touched(); },
        guestStatus: (up) => { out.meta(vmId, { guestUp: up, lastMessageAt: session.lastMessageAt }); touched(); },
        apiVersion: (_from, to) => { out.meta(vmId, { apiVersion: to }); touched(); },
        completion: (id) => { out.completion(vmId, id); touched(); },
        problem: (kind, detail) => { out.problem(vmId, kind, detail); touched(); },
        note: (text) => { out.note(vmId, text); touched(); },
      },
    });
    const entry: Entry = { session, throttles: 0 };
    this.#entries.set(vmId, entry);
    this.#listener.add(vmId, path, {
      connected: (write) => {
        session.attach(write);
        out.resend(vmId);
        out.meta(vmId, { connected: true, connectFailures: 0 });
        touched();
      },
      data: (chunk) => {
        const before = session.lastMessageAt;
        session.data(chunk);
        // A heartbeat that changed nothing else still proves the agent alive.
        if (session.lastMessageAt !== before) {
          out.meta(vmId, { lastMessageAt: session.lastMessageAt });
          touched();
        }
      },
      disconnected: (reason) => {
        session.detach();
        out.meta(vmId, { connected: false, reason });
        touched();
      },
      timeout: () => session.timeout(),
      connectFailed: (failures, err) => {
        out.meta(vmId, { connected: false, connectFailures: failures, reason: err.message });
        touched();
      },
      throttled: () => {
        entry.throttles++;
        out.meta(vmId, { throttled: entry.throttles });
        touched();
      },
    });
  }

  #send(vmId: string, msg: Extract<ToChannelWorker, { type: 'send' }>): SendReply {
    const e = this.#entries.get(vmId);
    if (e === undefined) return { ok: false, reason: 'no-channel', message: 'the VM has no ovirt-guest-agent channel' };
    return e.session.send(msg.cmd);
  }

  #schedule(): void {
    if (this.#flushTimer !== undefined) return;
    this.#flushTimer = this.#o.timers.setTimeout(() => {
      this.#flushTimer = undefined;
      this.flush();
    }, this.#o.config.flushMs);
  }
}
