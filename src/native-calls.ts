// Native calls on call threads (native/offload/offload.h), as the thread running an Executor sees them.
//
// The libvirt binding (virt) and the sleep stand-in (vdsm_sleep) run their blocking calls on a native
// "call thread" of the calling JS thread, which waits for it. When the Executor discards a worker whose
// task timed out, it asks every addon loaded in the process to abandon what that worker's OS thread
// waits for: the worker wakes with ERR_NATIVE_CALL_ABANDONED, its pending terminate() takes effect and
// its isolate is freed, while the call thread lingers in the call (a few KB instead of ~9 MB) and
// reports its return through `onDone`. The Executor counts such a call against max_workers until then.
// Calls made through the asynchronous entry (workers/offloaded-call.ts: the worker does not wait, its
// task is parked) are abandoned by key (abandonCall) when their task times out, and with their
// worker's other calls (abandon) when the worker is terminated.
import { loadNativeAddon, nativeAddonPath } from './native.js';
import { addonLoaded } from './native-sys.js';

/** One call running on a call thread. */
export interface NativeCallRow {
  id: number;
  /** The native function, e.g. virDomainGetXMLDesc or sleepMsOffloaded. */
  what: string;
  /** Kernel thread id of the JS thread that made the call (a worker; gone once abandoned). */
  tid: number;
  /** Kernel thread id of the call thread running it (named virt/call or sleep/call). */
  callTid: number;
  ageMs: number;
  /** The JS thread was let go; the call thread finishes alone. */
  abandoned: boolean;
  /** Made through the asynchronous entry: the JS thread did not wait for it (a parked task's call). */
  async: boolean;
}

export interface NativeCallStats {
  calls: number;
  abandoned: number;
  abandonedReturned: number;
  /** Call threads alive now (idle ones of live workers included). */
  callThreads: number;
  /** Asynchronous calls pending now (not abandoned). */
  asyncPending: number;
}

/** The control face every offloading addon exports. */
interface OffloadControl {
  abandonNativeCall(tid: number, onDone?: (id: number) => void): number;
  abandonAsyncCalls(tid: number, onDone?: (id: number) => void): number[];
  abandonCall(id: number, onDone?: (id: number) => void): boolean;
  nativeCalls(): NativeCallRow[];
  nativeCallStats(): NativeCallStats;
}

/** What the Executor needs from the addons. */
export interface NativeCalls {
  /**
   * Let OS thread `tid` go from the native call it waits for and from its pending asynchronous calls,
   * in every addon; `onDone(key)` is called (on this thread) when such a call returns. Returns the keys
   * of the calls abandoned (none when the thread waited for no offloaded call: stuck in JS, or in a
   * synchronous native call, and had no asynchronous call pending).
   */
  abandon(tid: number, onDone: (key: string) => void): string[];
  /**
   * Let the pending asynchronous call `key` (`<addon>:<id>`) go: its promise rejects in its JS thread
   * at once, `onDone(key)` is called when it returns. False when it is not pending (it returned).
   */
  abandonCall(key: string, onDone: (key: string) => void): boolean;
  /** Every call running on a call thread now, with its addon's name. */
  list(): Array<NativeCallRow & { addon: string }>;
  stats(): Record<string, NativeCallStats>;
}

/** Addons with call threads. */
export const OFFLOADING_ADDONS: readonly string[] = ['virt', 'vdsm_sleep'];

/**
 * NativeCalls over the real addons. An addon is asked only once some thread of the process loaded it
 * (a process that never used libvirt has no libvirt call to abandon and does not load libvirt for it).
 */
export class AddonNativeCalls implements NativeCalls {
  readonly #names: readonly string[];
  #paths = new Map<string, string | null>();
  #controls = new Map<string, OffloadControl>();

  constructor(names: readonly string[] = OFFLOADING_ADDONS) {
    this.#names = names;
  }

  abandon(tid: number, onDone: (key: string) => void): string[] {
    if (!(tid > 0)) return [];
    const keys: string[] = [];
    for (const [name, c] of this.#loaded()) {
      const done = (callId: number): void => onDone(`${name}:${callId}`);
      const id = c.abandonNativeCall(tid, done);
      if (id > 0) keys.push(`${name}:${id}`);
      for (const a of c.abandonAsyncCalls(tid, done)) keys.push(`${name}:${a}`);
    }
    return keys;
  }

  abandonCall(key: string, onDone: (key: string) => void): boolean {
    const colon = key.lastIndexOf(':');
    const c = this.#loaded().find(([name]) => name === key.slice(0, colon))?.[1];
    const id = Number(key.slice(colon + 1));
    if (!c || !(id > 0)) return false;
    return c.abandonCall(id, () => onDone(key));
  }

  list(): Array<NativeCallRow & { addon: string }> {
    return this.#loaded().flatMap(([addon, c]) => c.nativeCalls().map((r) => ({ addon, ...r })));
  }

  stats(): Record<string, NativeCallStats> {
    return Object.fromEntries(this.#loaded().map(([name, c]) => [name, c.nativeCallStats()]));
  }

  #loaded(): Array<[string, OffloadControl]> {
    for (const name of this.#names) {
      if (this.#controls.has(name)) continue;
      let path = this.#paths.get(name);
      if (path === undefined) {
        try {
          path = nativeAddonPath(name);
        } catch {
          path = null;
        }
        this.#paths.set(name, path);
      }
      if (path === null || !addonLoaded(path)) continue;
      const addon = loadNativeAddon<Partial<OffloadControl>>(name);
      if (typeof addon.abandonNativeCall === 'function') this.#controls.set(name, addon as OffloadControl);
    }
    return [...this.#controls];
  }
}
