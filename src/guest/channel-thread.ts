// Main-thread handle of the vmchannels thread: registers and removes VM channels, sends commands with a
// reply timeout, delivers the thread's batched updates, and restarts the thread (re-registering every
// channel) if it ever dies, so one crash costs a reconnect, not the guest information of every VM.
import { Worker } from 'node:worker_threads';
import { realTimers, type Timers } from '../runtime/clock.js';
import type { ChannelUpdate, ChannelWorkerConfig, ChannelWorkerState, FromChannelWorker, SendReply, ToChannelWorker } from './channel-protocol.js';
import type { OvirtCommand } from './ovirt-protocol.js';

export interface ChannelThreadOptions {
  config: ChannelWorkerConfig;
  onUpdates: (items: ChannelUpdate[]) => void;
  /** The thread died and was restarted (every channel reconnects). */
  onRestart?: (err: unknown) => void;
  timers?: Timers;
  /** Where channel-worker.js is (defaults to next to this file). */
  workerUrl?: URL;
  /** Nice increment of the thread (as the Executor workers). */
  niceIncrement?: number;
  /** How long a send or describe waits for the thread. */
  replyTimeoutMs?: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  timer: unknown;
}

type State = 'new' | 'running' | 'stopped';

export class ChannelThread {
  #o: ChannelThreadOptions;
  #timers: Timers;
  #worker: Worker | undefined;
  #state: State = 'new';
  #channels = new Map<string, { path: string; apiVersion?: number }>();
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #tid = -1;
  #restarts = 0;

  constructor(opts: ChannelThreadOptions) {
    this.#o = opts;
    this.#timers = opts.timers ?? realTimers;
  }

  get tid(): number {
    return this.#tid;
  }

  get restarts(): number {
    return this.#restarts;
  }

  start(): void {
    if (this.#state !== 'new') return;
    this.#state = 'running';
    this.#spawn();
  }

  /** Stop the thread; its sockets close with it. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    const w = this.#worker;
    this.#worker = undefined;
    for (const [id, p] of this.#pending) {
      this.#timers.clearTimeout(p.timer);
      p.resolve({ ok: false, reason: 'no-channel', message: 'the channel thread stopped' });
      this.#pending.delete(id);
    }
    if (w !== undefined) await w.terminate().catch(() => undefined);
  }

  add(vmId: string, path: string, apiVersion?: number): void {
    this.#channels.set(vmId, { path, ...(apiVersion !== undefined ? { apiVersion } : {}) });
    this.#post({ type: 'add', vmId, path, ...(apiVersion !== undefined ? { apiVersion } : {}) });
  }

  remove(vmId: string): void {
    if (!this.#channels.delete(vmId)) return;
    this.#post({ type: 'remove', vmId });
  }

  has(vmId: string): boolean {
    return this.#channels.has(vmId);
  }

  /** The API version to re-register with after a thread restart. */
  rememberApiVersion(vmId: string, apiVersion: number): void {
    const c = this.#channels.get(vmId);
    if (c !== undefined) c.apiVersion = apiVersion;
  }

  reboot(vmId: string): void {
    if (this.#channels.has(vmId)) this.#post({ type: 'reboot', vmId });
  }

  send(vmId: string, cmd: OvirtCommand): Promise<SendReply> {
    return this.#request<SendReply>((reqId) => ({ type: 'send', reqId, vmId, cmd }), { ok: false, reason: 'no-channel', message: 'the channel thread did not answer' });
  }

  describe(): Promise<ChannelWorkerState | undefined> {
    return this.#request<ChannelWorkerState | undefined>((reqId) => ({ type: 'describe', reqId }), undefined);
  }

  #request<T>(build: (reqId: number) => ToChannelWorker, onTimeout: T): Promise<T> {
    if (this.#worker === undefined) return Promise.resolve(onTimeout);
    const reqId = this.#nextId++;
    return new Promise<T>((resolve) => {
      const timer = this.#timers.setTimeout(() => {
        this.#pending.delete(reqId);
        resolve(onTimeout);
      }, this.#o.replyTimeoutMs ?? 5000);
      this.#pending.set(reqId, { resolve: resolve as (v: unknown) => void, timer });
      this.#post(build(reqId));
    });
  }

  #post(msg: ToChannelWorker): void {
    this.#worker?.postMessage(msg);
  }

  #spawn(): void {
    const w = new Worker(this.#o.workerUrl ?? new URL('./channel-worker.js', import.meta.url), {
      name: 'vmchannels',
      workerData: { config: this.#o.config, niceIncrement: this.#o.niceIncrement ?? 0 },
    });
    this.#worker = w;
    w.on('message', (msg: FromChannelWorker) => {
      if (msg.type === 'updates') this.#o.onUpdates(msg.items);
      else if (msg.type === 'ready') this.#tid = msg.tid;
      else {
        const p = this.#pending.get(msg.reqId);
        if (p === undefined) return;
        this.#pending.delete(msg.reqId);
        this.#timers.clearTimeout(p.timer);
        p.resolve(msg.value);
      }
    });
    const died = (err: unknown): void => {
      if (this.#worker !== w || this.#state !== 'running') return;
      this.#worker = undefined;
      this.#restarts++;
      this.#o.onRestart?.(err);
      this.#spawn();
      for (const [vmId, c] of this.#channels) this.#post({ type: 'add', vmId, path: c.path, ...(c.apiVersion !== undefined ? { apiVersion: c.apiVersion } : {}) });
    };
    w.on('error', died);
    w.on('exit', (code) => died(new Error(`vmchannels thread exited with code ${code}`)));
  }
}
