// The function registry of supervdsm: each privileged function is one small module that declares its
// name, its parameters (a schema checked before it runs, unknown names refused) and a run function
// given a CallContext (deadline, abort signal, the policy, child processes and filesystem steps). Adding
// a function is adding a module to functions/index.ts; nothing else in the helper changes.
import type { Logger } from 'pino';
import { s, validate, type Field, type Schema } from '../api/schema.js';
import { Errors, vdsmError } from '../errors.js';
import type { PeerCredentials } from '../native-sys.js';
import type { NetworkPrivileged } from '../network/network-service.js';
import type { CommandName, CommandResult } from './command-runner.js';
import type { HelperFs } from './helper-fs.js';
import type { HelperPolicy } from './policy.js';

export interface CallContext {
  readonly method: string;
  readonly callId: number;
  /** Who called (SO_PEERCRED of the connection). */
  readonly peer: PeerCredentials;
  /** Aborts at the call's deadline or when its connection closes; pass it to anything long. */
  readonly signal: AbortSignal;
  /** Milliseconds left before the deadline (at least 1 while the call runs). */
  remainingMs(): number;
  readonly log: Logger;
  readonly policy: HelperPolicy;
  /** Run a program of the fixed table (command-runner.ts) within the call's deadline. */
  run(command: CommandName, args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<CommandResult>;
  /** Absolute path of a program of the table (for setpriv, which execs its argument). */
  commandPath(command: CommandName): string;
  /** Filesystem steps in the helper's worker threads (helper-fs.ts), within the call's deadline. */
  readonly fs: HelperFs;
  /** Run `fn` while holding the named lock (read-modify-write of a global knob). */
  exclusive<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** The helper's own state, for `status`. */
  serverState(): Record<string, unknown>;
  /**
   * Run `fn` once the peer that made this call goes away (its process died or closed the socket),
   * even after the call has been answered: for state a call leaves for its caller to settle. Not run
   * when the helper itself stops or drops the connection.
   */
  onPeerGone(fn: () => void): void;
  /**
   * Host networking's applier: one per helper process, so a change pending its connectivity check
   * outlives the call that made it. Throws ERR_SVDSM_UNAVAILABLE where the server was given none.
   */
  network(): NetworkPrivileged;
}

export interface FunctionSpec<A = any, R = unknown> {
  /** The method name on the wire. */
  readonly name: string;
  /** One line: what it does (the docs table and `vdsm-tool supervdsm` list these). */
  readonly summary: string;
  /** vdsm's supervdsm function this corresponds to, if any. */
  readonly vdsmName?: string;
  /** Named parameters; every other name is refused. */
  readonly params: Readonly<Record<string, Field>>;
  /** Upper bound on the call's deadline for this function (ms), whatever the caller asked. */
  readonly maxTimeoutMs?: number;
  run(args: A, ctx: CallContext): Promise<R>;
}

/** Identity, for type inference in function modules. */
export function defineFunction<A, R>(spec: FunctionSpec<A, R>): FunctionSpec<A, R> {
  return spec;
}

/** Shorthands for parameter declarations. */
export const p = {
  required: (type: Schema, description: string): Field => ({ type, description }),
  optional: (type: Schema, description: string): Field => ({ type, optional: true, description }),
};
export { s };

export type Bound = { ok: true; fn: FunctionSpec; args: Record<string, unknown> } | { ok: false; error: Error };

export class FunctionRegistry {
  #fns = new Map<string, FunctionSpec>();
  #schemas = new Map<string, Schema>();

  constructor(specs: Iterable<FunctionSpec>) {
    for (const spec of specs) {
      if (this.#fns.has(spec.name)) throw new Error(`supervdsm function ${spec.name} registered twice`);
      this.#fns.set(spec.name, spec);
      this.#schemas.set(spec.name, s.object({ ...spec.params }));
    }
  }

  names(): string[] {
    return [...this.#fns.keys()].sort();
  }

  get(name: string): FunctionSpec | undefined {
    return this.#fns.get(name);
  }

  list(): FunctionSpec[] {
    return this.names().map((n) => this.#fns.get(n)!);
  }

  /** The function and its checked arguments, or the error to answer with. */
  bind(name: string, args: Record<string, unknown>): Bound {
    const fn = this.#fns.get(name);
    if (fn === undefined) {
      return { ok: false, error: vdsmError(Errors.SVDSM_UNKNOWN_METHOD, { method: name, known: this.names() }) };
    }
    for (const key of Object.keys(args)) {
      if (!Object.hasOwn(fn.params, key)) {
        return { ok: false, error: vdsmError(Errors.SVDSM_INVALID_ARGUMENT, { method: name, reason: `unknown argument ${JSON.stringify(key)}`, accepted: Object.keys(fn.params) }) };
      }
    }
    const problem = validate(this.#schemas.get(name)!, args, 'args');
    if (problem !== undefined) return { ok: false, error: vdsmError(Errors.SVDSM_INVALID_ARGUMENT, { method: name, reason: problem }) };
    return { ok: true, fn, args };
  }
}

/** INVALID_ARGUMENT naming the function, the argument and why. */
export function invalidArgument(method: string, argument: string, reason: string): Error {
  return vdsmError(Errors.SVDSM_INVALID_ARGUMENT, { method, argument, reason });
}

/** NOT_ALLOWED: a value that is not on the function's list (a unit, a user, a file system type). */
export function notAllowed(method: string, argument: string, value: unknown, allowed: readonly (string | number)[]): Error {
  return vdsmError(Errors.SVDSM_NOT_ALLOWED, { method, argument, value: String(value), allowed: [...allowed].map(String) });
}
