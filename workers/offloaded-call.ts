// The asynchronous entry of the offloading addons (virt, vdsm_sleep; native/offload/offload.h), as a
// promise: the JS thread does not wait for the call, so an Executor worker with a call stuck in a
// frozen libvirtd goes on serving other tasks while only the call's native thread waits.
//
// How: the binding function runs in a *chain pass* (offloadEnter(chain) ... offloadLeave()). If it makes
// an offloaded call, the call goes to a call thread of this JS thread and the function throws
// ERR_NATIVE_CALL_PENDING with `pending` (a promise settled on this thread when the call returns) and
// `callId`; `onPending(key)` is told the call's key (`<addon>:<id>`, the key the Executor's NativeCalls
// use to abandon it). When the promise resolves, the same function runs again in the same chain: the
// finished call is taken from the chain instead of being made again, and the function converts its
// result exactly as the synchronous entry does. A function that makes no offloaded call (a local check,
// libvirt's open) just returns in its first pass. If the call is abandoned (its task timed out), the
// promise rejects with ERR_NATIVE_CALL_ABANDONED at once.
//
// The function given must be one binding call (its JS part is re-run per pass): no other side effects.
// The libvirt binding's connection reference is taken in the first pass and held by the chain until
// the call is over, as a synchronous call holds it (a close() meanwhile does not fail the result).

/** What every offloading addon exports for the asynchronous entry. */
export interface AsyncEntry {
  offloadChain(): object;
  offloadEnter(chain: object): void;
  offloadLeave(): void;
  offloadRelease(chain: object): void;
}

/** Tells the caller which native call its promise now waits for (the Executor worker parks its task). */
export type OnPending = (key: string) => void;

const PENDING = 'ERR_NATIVE_CALL_PENDING';
const ABANDONED = 'ERR_NATIVE_CALL_ABANDONED';

/**
 * Owners (an operation's context) one of whose calls was abandoned: the Executor already answered
 * their task, so they make no further call (each would hold a native thread nobody counts any more).
 */
const abandonedOwners = new WeakSet<object>();

function abandonedError(): Error {
  return Object.assign(new Error('A native call of this task was abandoned (its task timed out); no further call is made for it'), { code: ABANDONED });
}

interface PendingError {
  code: string;
  callId: number;
  pending: Promise<void>;
}

function isPending(err: unknown): err is PendingError {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === PENDING;
}

/**
 * Run `call` (one binding call of `addon`, named `addonName` in keys) through the asynchronous entry.
 * `owner` (the operation's context): once one of its calls is abandoned, its later calls fail at once
 * with ERR_NATIVE_CALL_ABANDONED instead of being made.
 */
export async function offloadedCall<T>(addonName: string, addon: AsyncEntry, call: () => T, onPending?: OnPending, owner?: object): Promise<T> {
  if (owner && abandonedOwners.has(owner)) throw abandonedError();
  const chain = addon.offloadChain();
  try {
    for (;;) {
      let pending: Promise<void>;
      addon.offloadEnter(chain);
      try {
        return call();
      } catch (err) {
        if (!isPending(err)) throw err;
        pending = err.pending;
        onPending?.(`${addonName}:${err.callId}`);
      } finally {
        addon.offloadLeave();
      }
      try {
        await pending;
      } catch (err) {
        if (owner && (err as { code?: unknown }).code === ABANDONED) abandonedOwners.add(owner);
        throw err;
      }
    }
  } finally {
    addon.offloadRelease(chain); // what the passes held (a connection reference) goes now, not at GC
  }
}
