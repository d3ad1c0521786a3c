// The one table of API methods: name, parameter schema, result shape and handler. The JSON-RPC server
// validates against it, and gen-docs renders docs/api.md and the TypeScript types from it.
import { ArgumentRules, type BindResult } from './argument-rules.js';
import type { Schema } from './schema.js';

export type { BindResult } from './argument-rules.js';

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
  /** Our address on the caller's connection (Host.getCapabilities reports the device holding it). */
  localAddress?: string;
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

export interface MethodTableOptions {
  /** vdsm's argument rules ([devel] api_strict_mode); default: non-strict, nothing logged. */
  rules?: ArgumentRules;
}

/** The rules MethodTable.bind applies when no table is at hand (tests, tools). */
const LENIENT = new ArgumentRules();

export class MethodTable {
  #methods = new Map<string, MethodSpec>();
  readonly rules: ArgumentRules;

  constructor(specs: Iterable<MethodSpec> = [], opts: MethodTableOptions = {}) {
    this.rules = opts.rules ?? new ArgumentRules();
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

  /** Bind a call's params under this table's argument rules (see argument-rules.ts). */
  bind(spec: MethodSpec, raw: unknown): BindResult {
    return this.rules.bind(spec, raw);
  }

  get size(): number {
    return this.#methods.size;
  }

  /** Non-strict binding without logging (vdsm's defaults), for callers without a table. */
  static bind(spec: MethodSpec, raw: unknown): BindResult {
    return LENIENT.bind(spec, raw);
  }
}
