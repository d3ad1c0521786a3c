// The one table of API methods: name, parameter schema, result shape and handler. The JSON-RPC server
// validates against it, and gen-docs renders docs/api.md and the TypeScript types from it.
import { validate, type Schema } from './schema.js';

export interface ParamSpec {
  readonly name: string;
  readonly type: Schema;
  readonly optional?: boolean;
  /** Applied when the parameter is absent (vdsm's schema `defaultvalue`). */
  readonly default?: unknown;
  readonly description?: string;
}

/** Per-call context handed to every handler. */
export interface MethodContext {
  /** The engine's `ovirtCorrelationId` STOMP header, when sent. */
  flowId?: string;
  clientAddress: string;
  connectionId: number;
}

export type MethodHandler = (params: Record<string, any>, ctx: MethodContext) => Promise<unknown> | unknown;

export interface MethodSpec {
  /** `Namespace.verb`, e.g. `Host.ping2`. */
  readonly name: string;
  readonly description: string;
  readonly params: readonly ParamSpec[];
  readonly result: Schema;
  readonly resultDescription?: string;
  /**
   * vdsm's legacy convention: a handler may return `{status: {code, message}, ...}`. A non-zero code
   * becomes a JSON-RPC error; on success the result is the member named here (vdsm's Bridge
   * `command_info`), or `true` when none is named.
   */
  readonly resultKey?: string;
  /** A verb returning nothing answers `true` on the wire (vdsm). */
  readonly handler: MethodHandler;
}

/** `{status: {code: <int>, message: <string>}}`: a legacy vdsm response dict. */
export function isLegacyResponse(v: unknown): v is { status: { code: number; message: string } } & Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const st = (v as { status?: unknown }).status;
  return typeof st === 'object' && st !== null && Number.isInteger((st as { code?: unknown }).code) && typeof (st as { message?: unknown }).message === 'string';
}

/**
 * API modules export `apiMethods(deps)` returning their specs; the composition root passes real
 * dependencies, the docs generator a hollow stand-in (handlers are never called there).
 */
export type ApiMethodsFactory<D = any> = (deps: D) => MethodSpec[];

export type BindResult = { ok: true; params: Record<string, unknown> } | { ok: false; reason: string };

export class MethodTable {
  #methods = new Map<string, MethodSpec>();

  constructor(specs: Iterable<MethodSpec> = []) {
    for (const spec of specs) this.add(spec);
  }

  add(spec: MethodSpec): this {
    if (!/^[A-Za-z][\w]*\.[A-Za-z_][\w]*$/.test(spec.name)) throw new Error(`method name must be Namespace.verb: ${spec.name}`);
    if (this.#methods.has(spec.name)) throw new Error(`duplicate API method ${spec.name}`);
    const seen = new Set<string>();
    for (const p of spec.params) {
      if (seen.has(p.name)) throw new Error(`duplicate parameter ${p.name} in ${spec.name}`);
      seen.add(p.name);
    }
    this.#methods.set(spec.name, spec);
    return this;
  }

  get(name: string): MethodSpec | undefined {
    return this.#methods.get(name);
  }

  has(name: string): boolean {
    return this.#methods.has(name);
  }

  /** All specs, sorted by name. */
  specs(): MethodSpec[] {
    return [...this.#methods.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Instance form of MethodTable.bind, so the JSON-RPC server needs only the injected table. */
  bind(spec: MethodSpec, raw: unknown): BindResult {
    return MethodTable.bind(spec, raw);
  }

  get size(): number {
    return this.#methods.size;
  }

  /**
   * Turn JSON-RPC params (an array = positional in table order, an object = by name, absent = none) into
   * named parameters: defaults applied, types checked. Names the table does not know are passed through
   * untouched, as vdsm's non-strict mode does (the engine sends a few extras).
   */
  static bind(spec: MethodSpec, raw: unknown): BindResult {
    let named: Record<string, unknown>;
    if (raw === undefined || raw === null) named = {};
    else if (Array.isArray(raw)) {
      if (raw.length > spec.params.length) return { ok: false, reason: `takes ${spec.params.length} positional parameters but ${raw.length} were given` };
      named = {};
      raw.forEach((v, i) => (named[spec.params[i]!.name] = v));
    } else if (typeof raw === 'object') named = { ...(raw as Record<string, unknown>) };
    else return { ok: false, reason: 'wrong params type' };
    for (const p of spec.params) {
      const v = named[p.name];
      if (v === undefined) {
        if (p.default !== undefined) named[p.name] = structuredClone(p.default);
        else if (!p.optional) return { ok: false, reason: `missing required parameter '${p.name}'` };
        continue;
      }
      const err = validate(p.type, v, p.name);
      if (err) return { ok: false, reason: err };
    }
    return { ok: true, params: named };
  }
}
