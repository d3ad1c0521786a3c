// Rebuilds an error that crossed the worker boundary: a catalogued code becomes a VdsmError again,
// anything else an Error that keeps its code, name and the worker's stack.
import { errorSpec, VdsmError } from '../../errors.js';
import type { WireError } from '../../contracts/executor-protocol.js';

export function fromWireError(w: WireError): Error {
  const spec = errorSpec(w.code);
  const err: Error & { code?: string } = spec ? new VdsmError(spec, w.message) : new Error(w.message);
  if (!spec) {
    err.name = w.name;
    if (w.code !== undefined) err.code = w.code;
  }
  // Context travels for every code: uncatalogued ones (libvirt's ERR_LIBVIRT_*) carry their numbers in it.
  if (w.context) Object.defineProperty(err, 'context', { value: w.context, enumerable: true });
  if (w.stack) err.stack = w.stack;
  return err;
}
