// vdsm's argument rules for API calls, in one place for every verb of the method table.
//
// vdsm (lib/vdsm/rpc/Bridge.py, lib/vdsm/api/vdsmapi.py, lib/yajsonrpc/__init__.py):
// - A missing required parameter reaches the Python call, whose signature binding fails: the caller gets
//   -32603 "Internal JSON-RPC error: {'reason': "Attempt to call function: ... error: missing a required
//   argument: 'message'"}". With [devel] api_strict_mode the schema check answers -32602 first.
// - Type mismatches, unknown parameter names and values outside an enum are only logged (logger
//   schema.inconsistency) unless api_strict_mode is set; then they answer -32602.
//
// vdsm-node keeps that, and makes the non-strict mode useful rather than accidental: values vdsm's own code
// would accept are converted to the schema's type before the handler sees them (the strings vdsm-client
// sends for every name=value, the engine's numbers where the schema says string and strings where it says
// number), and each kind of departure is logged once per method and parameter. A value that cannot be
// converted (an object where a number belongs) is answered with -32602 in both modes: vdsm would pass it
// on and fail somewhere inside, with -32603 or worse.
import type { Logger } from '../observability/logging.js';
import { Errors, pyRepr } from '../errors.js';
import { conform, type Issue } from './conform.js';
import type { MethodSpec } from './method-table.js';

export type BindResult =
  | { ok: true; params: Record<string, unknown> }
  | { ok: false; error: { code: number; message: string } };

export interface ArgumentRulesOptions {
  /** [devel] api_strict_mode: every departure from the schema answers -32602. Default false (vdsm). */
  strict?: boolean;
  /** Where non-strict departures are reported, once per method, parameter and kind. */
  log?: Logger;
  /** Distinct departures remembered for the once-only log (unknown parameter names are caller-chosen). */
  maxRemembered?: number;
}

const DEFAULT_MAX_REMEMBERED = 1024;

/** Keys whose values are never echoed back (vdsm's protect_passwords). */
function masked(name: string): boolean {
  return name === 'password' || name.startsWith('_X_');
}

function shownArguments(named: Record<string, unknown>): string {
  const shown: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(named)) shown[k] = masked(k) ? '********' : v;
  const text = pyRepr(shown);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** Absent params, `[]` or `{}` (own keys only: what JSON.parse produces). */
function noArguments(raw: unknown): boolean {
  if (raw === undefined || raw === null) return true;
  if (Array.isArray(raw)) return raw.length === 0;
  if (typeof raw !== 'object') return false;
  for (const k in raw) if (Object.hasOwn(raw, k)) return false;
  return true;
}

export class ArgumentRules {
  readonly strict: boolean;
  #log: Logger | undefined;
  #remembered = new Set<string>();
  #max: number;
  #counts = { coerced: 0, passedOn: 0, rejected: 0, missing: 0 };

  constructor(opts: ArgumentRulesOptions = {}) {
    this.strict = opts.strict ?? false;
    this.#log = opts.log;
    this.#max = opts.maxRemembered ?? DEFAULT_MAX_REMEMBERED;
  }

  /**
   * JSON-RPC params (an array = positional in table order, an object = by name, absent = none) to named
   * parameters: defaults applied, values conformed to the schema, departures logged or refused.
   */
  bind(spec: MethodSpec, raw: unknown): BindResult {
    // The common call of a verb without parameters (ping2, getStats, getAllVmStats): nothing to check.
    // (Kept apart from the rest so this small function is optimised and its result allocated inline.)
    if (spec.params.length === 0 && noArguments(raw)) return { ok: true, params: {} };
    return this.#bindSome(spec, raw);
  }

  #bindSome(spec: MethodSpec, raw: unknown): BindResult {
    let named: Record<string, unknown>;
    if (raw === undefined || raw === null) named = {};
    else if (Array.isArray(raw)) {
      if (raw.length > spec.params.length) {
        this.#counts.rejected++;
        return this.#callError(spec, Object.fromEntries(raw.map((v, i) => [String(i), v])), 'too many positional arguments');
      }
      named = {};
      raw.forEach((v, i) => (named[spec.params[i]!.name] = v));
    } else if (typeof raw === 'object') named = { ...(raw as Record<string, unknown>) };
    else return this.#invalid(spec, 'wrong params type');

    const known = new Set(spec.params.map((p) => p.name));
    const unknown = Object.keys(named).filter((k) => !known.has(k));
    if (unknown.length > 0) {
      const text = `Following parameters ${pyRepr(unknown)} were not recognized`;
      if (this.strict) return this.#invalid(spec, text);
      for (const name of unknown) this.#note(spec.name, name, `Parameter ${name} is not recognized`, 'unknown');
    }

    const issues: Issue[] = [];
    for (const p of spec.params) {
      const v = named[p.name];
      if (v === undefined || v === null) {
        if (p.default !== undefined) named[p.name] = structuredClone(p.default);
        else if (!p.optional) {
          this.#counts.missing++;
          if (this.strict) return this.#invalid(spec, `Required parameter ${p.name} is not provided when calling ${spec.name}`);
          return this.#callError(spec, named, `missing a required argument: '${p.name}'`);
        } else delete named[p.name];
        continue;
      }
      named[p.name] = conform(p.type, v, p.name, issues);
    }
    const refused = issues.find((i) => i.kind === 'mismatch' || i.kind === 'missing' || this.strict);
    if (refused !== undefined) {
      this.#counts.rejected++;
      return this.#invalid(spec, refused.text);
    }
    for (const i of issues) this.#note(spec.name, i.path, i.text, i.kind);
    return { ok: true, params: named };
  }

  /** Counts since start: values converted, departures passed on, calls refused, required ones missing. */
  state(): { strict: boolean; remembered: number; coerced: number; passedOn: number; rejected: number; missing: number } {
    return { strict: this.strict, remembered: this.#remembered.size, ...this.#counts };
  }

  #note(method: string, path: string, text: string, kind: string): void {
    if (kind === 'coerced') this.#counts.coerced++;
    else this.#counts.passedOn++;
    // Array indices would make every element its own entry: one entry per parameter shape.
    const key = `${method}\u0000${path.replace(/\[\d+\]/g, '[]')}\u0000${kind}`;
    if (this.#remembered.has(key) || this.#log === undefined) return;
    if (this.#remembered.size >= this.#max) {
      if (this.#remembered.size === this.#max) {
        this.#remembered.add('\u0000full');
        this.#log.warn({ remembered: this.#max }, 'too many distinct API argument departures; no further ones are logged');
      }
      return;
    }
    this.#remembered.add(key);
    const what = kind === 'coerced' ? 'converted' : 'passed on unchanged';
    this.#log.warn({ method, parameter: path, departure: kind },
      `${method}: ${text}; ${what}, as vdsm accepts it with api_strict_mode = false (logged once per method and parameter)`);
  }

  #invalid(spec: MethodSpec, reason: string): BindResult {
    return { ok: false, error: { code: Errors.INVALID_PARAMS.vdsmCode, message: `${Errors.INVALID_PARAMS.message}: ${pyRepr({ method: spec.name, reason })}` } };
  }

  /** vdsm: the Python call itself failed (InvalidCall wrapped in JsonRpcInternalError). */
  #callError(spec: MethodSpec, named: Record<string, unknown>, what: string): BindResult {
    const reason = `Attempt to call function: ${spec.name} with arguments: ${shownArguments(named)} error: ${what}`;
    return { ok: false, error: { code: Errors.INTERNAL.vdsmCode, message: `${Errors.INTERNAL.message}: ${pyRepr({ reason })}` } };
  }
}
