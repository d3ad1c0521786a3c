// The value types a vdsm.conf key can have: how each parses the raw text of a file (configparser
// rules), how a typed value is written back as text, and the constructors schema.ts is written with.

/** Where a key comes from: vdsm's own table, or added by vdsm-node. */
export type KeyOrigin = 'vdsm' | 'vdsm-node';

interface KeyBase<T> {
  readonly default: T;
  readonly description: string;
  /** 'vdsm-node' marks keys vdsm does not have. */
  readonly origin: KeyOrigin;
  /**
   * True for vdsm keys accepted so that a vdsm.conf copied from a vdsm host loads without warnings,
   * although nothing in vdsm-node acts on them yet (a test fails when a key is read nowhere and not
   * marked, or marked and read).
   */
  readonly compat: boolean;
  /** With compat: who will apply the key, or why it has no equivalent (shown in docs and warnings). */
  readonly compatNote?: string;
}

export interface BoolKey extends KeyBase<boolean> { readonly type: 'bool' }
export interface IntKey extends KeyBase<number> { readonly type: 'int'; readonly min?: number; readonly max?: number }
export interface FloatKey extends KeyBase<number> { readonly type: 'float'; readonly min?: number; readonly max?: number }
/** A string default is raw text: `%(other)s` in it is interpolated like a value read from a file. */
export interface StringKey extends KeyBase<string> { readonly type: 'string'; readonly check?: (value: string) => string | undefined }
export interface EnumKey<V extends string = string> extends KeyBase<V> { readonly type: 'enum'; readonly values: readonly V[] }
export interface ListKey extends KeyBase<readonly string[]> { readonly type: 'list' }

export type KeySpec = BoolKey | IntKey | FloatKey | StringKey | EnumKey | ListKey;

/** The TypeScript type of a key's value. */
export type ValueOf<K> = K extends { readonly default: infer T } ? T : never;

export interface KeyOptions {
  /** Set for keys vdsm does not have. */
  ours?: boolean;
  /**
   * Set for vdsm keys nothing in vdsm-node uses yet; a string also says who will apply the key (an
   * issue or branch) or why vdsm-node has no equivalent.
   */
  compat?: boolean | string;
}

interface RangeOptions extends KeyOptions { min?: number; max?: number }

const base = <T>(def: T, description: string, opts: KeyOptions): KeyBase<T> => ({
  default: def,
  description,
  origin: opts.ours === true ? 'vdsm-node' : 'vdsm',
  compat: opts.compat !== undefined && opts.compat !== false,
  ...(typeof opts.compat === 'string' ? { compatNote: opts.compat } : {}),
});

export const bool = (def: boolean, description: string, opts: KeyOptions = {}): BoolKey => ({ type: 'bool', ...base(def, description, opts) });

export const int = (def: number, description: string, opts: RangeOptions = {}): IntKey => ({
  type: 'int',
  ...base(def, description, opts),
  ...(opts.min === undefined ? {} : { min: opts.min }),
  ...(opts.max === undefined ? {} : { max: opts.max }),
});

export const float = (def: number, description: string, opts: RangeOptions = {}): FloatKey => ({
  type: 'float',
  ...base(def, description, opts),
  ...(opts.min === undefined ? {} : { min: opts.min }),
  ...(opts.max === undefined ? {} : { max: opts.max }),
});

export const str = (def: string, description: string, opts: KeyOptions & { check?: (value: string) => string | undefined } = {}): StringKey => ({
  type: 'string',
  ...base(def, description, opts),
  ...(opts.check ? { check: opts.check } : {}),
});

export const oneOf = <const V extends string>(values: readonly V[], def: NoInfer<V>, description: string, opts: KeyOptions = {}): EnumKey<V> => ({
  type: 'enum',
  values,
  ...base(def, description, opts),
});

export const list = (def: readonly string[], description: string, opts: KeyOptions = {}): ListKey => ({ type: 'list', ...base(def, description, opts) });

/** configparser's BOOLEAN_STATES, which vdsm's getboolean uses. */
const BOOLEANS: Readonly<Record<string, boolean>> = { '1': true, yes: true, true: true, on: true, '0': false, no: false, false: false, off: false };

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export type Parsed = { ok: true; value: unknown } | { ok: false; problem: string };

/** Parse the (interpolated) text of a value; `problem` says what is wrong in words an admin reads. */
export function parseValue(spec: KeySpec, raw: string): Parsed {
  const text = raw.trim();
  const hint = /\s[#;]/.test(text) ? ' (comments must be on their own line; inline comments are not supported)' : '';
  switch (spec.type) {
    case 'bool': {
      const value = BOOLEANS[text.toLowerCase()];
      return value === undefined ? { ok: false, problem: `${show(raw)} is not a boolean (use true/false, yes/no, on/off or 1/0)${hint}` } : { ok: true, value };
    }
    case 'int': {
      if (!INT_RE.test(text)) return { ok: false, problem: `${show(raw)} is not an integer${hint}` };
      const value = Number(text);
      if (!Number.isSafeInteger(value)) return { ok: false, problem: `${show(raw)} is out of range` };
      return checkRange(spec, raw, value);
    }
    case 'float': {
      if (!FLOAT_RE.test(text)) return { ok: false, problem: `${show(raw)} is not a number${hint}` };
      const value = Number(text);
      if (!Number.isFinite(value)) return { ok: false, problem: `${show(raw)} is out of range` };
      return checkRange(spec, raw, value);
    }
    case 'enum':
      return (spec.values as readonly string[]).includes(text.toLowerCase())
        ? { ok: true, value: text.toLowerCase() }
        : { ok: false, problem: `${show(raw)} is not one of ${spec.values.join(', ')}${hint}` };
    case 'list':
      return { ok: true, value: Object.freeze(text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) };
    case 'string': {
      const problem = spec.check?.(raw);
      return problem === undefined ? { ok: true, value: raw } : { ok: false, problem: `${show(raw)}: ${problem}` };
    }
  }
}

function checkRange(spec: IntKey | FloatKey, raw: string, value: number): Parsed {
  if (spec.min !== undefined && value < spec.min) return { ok: false, problem: `${show(raw)} is below the minimum ${spec.min}` };
  if (spec.max !== undefined && value > spec.max) return { ok: false, problem: `${show(raw)} is above the maximum ${spec.max}` };
  return { ok: true, value };
}

/** Write a typed value as vdsm.conf text that parses back to the same value. */
export function formatValue(spec: KeySpec, value: unknown): string {
  switch (spec.type) {
    case 'bool':
      return value === true ? 'true' : 'false';
    case 'list':
      return (value as readonly string[]).join(',');
    default:
      return String(value);
  }
}

/** The default as written in vdsm.conf: string defaults are raw text (e.g. '%(repository)s/hsm-tasks'). */
export function defaultText(spec: KeySpec): string {
  return spec.type === 'string' ? spec.default : formatValue(spec, spec.default);
}

/** A short type name for docs and the sample file. */
export function describeType(spec: KeySpec): string {
  switch (spec.type) {
    case 'bool':
      return 'boolean (true/false, yes/no, on/off, 1/0)';
    case 'int':
    case 'float': {
      const name = spec.type === 'int' ? 'integer' : 'number';
      if (spec.min !== undefined && spec.max !== undefined) return `${name}, ${spec.min}..${spec.max}`;
      if (spec.min !== undefined) return `${name}, >= ${spec.min}`;
      if (spec.max !== undefined) return `${name}, <= ${spec.max}`;
      return name;
    }
    case 'enum':
      return `one of ${spec.values.join(', ')}`;
    case 'list':
      return 'comma-separated list';
    case 'string':
      return 'string';
  }
}

/** Quote a raw value in a message; JSON quoting shows blanks and control characters plainly. */
function show(raw: string): string {
  return JSON.stringify(raw);
}
