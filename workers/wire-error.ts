// Flattens a thrown value for the trip across the thread boundary (postMessage keeps plain data only).
import type { WireError } from '../src/contracts/executor-protocol.js';

/** Flatten any thrown value for postMessage; keeps `code` (and vdsm's numeric code and context). */
export function toWireError(err: unknown): WireError {
  if (typeof err === 'object' && err !== null) {
    const e = err as { name?: unknown; message?: unknown; code?: unknown; vdsmCode?: unknown; context?: unknown; stack?: unknown };
    const out: WireError = { name: typeof e.name === 'string' ? e.name : 'Error', message: typeof e.message === 'string' ? e.message : String(err) };
    if (typeof e.code === 'string') out.code = e.code;
    if (typeof e.vdsmCode === 'number') out.vdsmCode = e.vdsmCode;
    if (typeof e.context === 'object' && e.context !== null) out.context = e.context as Record<string, unknown>;
    if (typeof e.stack === 'string') out.stack = e.stack;
    return out;
  }
  return { name: 'Error', message: String(err) };
}
