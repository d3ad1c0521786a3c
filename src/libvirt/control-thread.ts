// Main-thread handle of the libvirt control thread: request/reply with per-request timeouts (injected
// timers), forwarded events, and a way out when the thread is wedged in a native call (terminate it
// and let the owner start a fresh one). A thread waiting in a libvirt call on its native call thread
// (every call but open, see native/offload/offload.h) is let go at once and exits; only its call
// thread waits for libvirt.
import { Worker } from 'node:worker_threads';
import { Errors, vdsmError } from '../errors.js';
import { realTimers, type Timers } from '../runtime/clock.js';
import type { ControlCommand, ControlMessage, ControlResults } from './control-protocol.js';
import type { BindingEvent } from '../contracts/libvirt-types.js';
import { AddonNativeCalls, type NativeCalls } from '../native-calls.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: unknown;
  cmd: string;
}

export interface ControlThreadOptions {
  timers?: Timers;
  /** Where control-worker.js is (defaults to next to this file). */
  workerUrl?: URL;
  onEvent: (e: BindingEvent) => void;
  /** The thread exited or failed on its own (not through terminate()). */
  onExit?: (err: unknown) => void;
  /** The addons' call threads, to let a terminated thread go from its libvirt call (default: the virt addon). */
  nativeCalls?: NativeCalls;
}

export class ControlThread {
  #worker: Worker;
  #timers: Timers;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #terminated = false;
  #tid = -1;
  #requests = 0;
  #timeouts = 0;
  #nativeCalls: NativeCalls;

  constructor(opts: ControlThreadOptions) {
    this.#timers = opts.timers ?? realTimers;
    this.#nativeCalls = opts.nativeCalls ?? new AddonNativeCalls(['virt']);
    this.#worker = new Worker(opts.workerUrl ?? new URL('./control-worker.js', import.meta.url), { name: 'libvirt-control' });
    this.#worker.on('message', (msg: ControlMessage) => {
      if (msg.type === 'event') opts.onEvent(msg.event);
      else if (msg.type === 'ready') this.#tid = msg.tid;
      else this.#settle(msg);
    });
    const fail = (err: unknown): void => {
      if (this.#terminated) return;
      this.#terminated = true;
      this.#rejectAll(err);
      opts.onExit?.(err);
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(vdsmError(Errors.LIBVIRT_CONNECTION, `libvirt control thread exited with code ${code}`)));
  }

  /** Run a command; rejects with LIBVIRT_CONNECTION after timeoutMs (the thread may then be wedged). */
  request<C extends ControlCommand>(command: C, timeoutMs: number): Promise<ControlResults[C['cmd']]> {
    if (this.#terminated) return Promise.reject(vdsmError(Errors.LIBVIRT_CONNECTION, 'libvirt control thread is gone'));
    const id = this.#nextId++;
    this.#requests++;
    return new Promise((resolve, reject) => {
      const timer = this.#timers.setTimeout(() => {
        this.#pending.delete(id);
        this.#timeouts++;
        reject(vdsmError(Errors.LIBVIRT_CONNECTION, `libvirt control call '${command.cmd}' timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, cmd: command.cmd });
      this.#worker.postMessage({ ...command, id });
    });
  }

  /** Stop the thread; returns at once (a thread inside a native call only ends when the call returns). */
  terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#rejectAll(vdsmError(Errors.LIBVIRT_CONNECTION, 'libvirt control thread terminated'));
    void this.#worker.terminate().catch(() => undefined);
    try {
      this.#nativeCalls.abandon(this.#tid, () => undefined);
    } catch {
      // cannot ask the addon: the thread ends when its call returns, as a synchronous call would
    }
  }

  get terminated(): boolean {
    return this.#terminated;
  }

  toJSON(): { tid: number; terminated: boolean; pending: string[]; requests: number; timeouts: number } {
    return { tid: this.#tid, terminated: this.#terminated, pending: [...this.#pending.values()].map((p) => p.cmd), requests: this.#requests, timeouts: this.#timeouts };
  }

  #settle(msg: Extract<ControlMessage, { type: 'reply' }>): void {
    const p = this.#pending.get(msg.id);
    if (!p) return;  // timed out already
    this.#pending.delete(msg.id);
    this.#timers.clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.value);
    else p.reject(Object.assign(new Error(msg.error.message), msg.error));
  }

  #rejectAll(err: unknown): void {
    for (const p of this.#pending.values()) {
      this.#timers.clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }
}
