// What vdsmd's services hold to reach the helper: typed calls by function name (argument and result
// types come from the function modules themselves, so the two sides cannot drift), or, when
// [supervdsm] enable is false, the same interface failing every call with a clear error.
import { Errors, vdsmError } from '../errors.js';
import type { CallOptions, SupervdsmClient } from './client.js';
import type { SupervdsmFunctions } from './functions/index.js';
import type { FunctionSpec } from './registry.js';

type ArgsOf<S> = S extends FunctionSpec<infer A, unknown> ? A : never;
type ResultOf<S> = S extends FunctionSpec<any, infer R> ? R : never;
export type SupervdsmMethod = keyof SupervdsmFunctions;
export type SupervdsmArgs<K extends SupervdsmMethod> = ArgsOf<SupervdsmFunctions[K]>;
export type SupervdsmResult<K extends SupervdsmMethod> = ResultOf<SupervdsmFunctions[K]>;

export interface Supervdsm {
  /** False when [supervdsm] enable = false: every call fails with ERR_SVDSM_UNAVAILABLE. */
  readonly enabled: boolean;
  readonly connected: boolean;
  call<K extends SupervdsmMethod>(method: K, args: SupervdsmArgs<K>, opts?: CallOptions): Promise<SupervdsmResult<K>>;
  health(): Record<string, unknown>;
}

export function supervdsmOf(client: SupervdsmClient | undefined): Supervdsm {
  if (client === undefined) {
    return {
      enabled: false,
      connected: false,
      call: () => Promise.reject(vdsmError(Errors.SVDSM_UNAVAILABLE, 'supervdsm is disabled ([supervdsm] enable = false): privileged steps are not available')),
      health: () => ({ state: 'disabled' }),
    };
  }
  return {
    enabled: true,
    get connected() {
      return client.connected;
    },
    call: (method, args, opts) => client.call(method, args as Record<string, unknown>, opts),
    health: () => client.health(),
  };
}
