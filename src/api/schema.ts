// A tiny schema language for API parameters and results: enough to validate what the engine sends, and to
// render the same description as Markdown (docs/api.md) and as TypeScript types (src/contracts/api-types.ts).

export type Schema =
  | { readonly kind: 'string'; readonly enum?: readonly string[] }
  | { readonly kind: 'integer' }
  | { readonly kind: 'number' }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'null' }
  | { readonly kind: 'any' }
  | { readonly kind: 'array'; readonly items: Schema }
  /** A struct: known fields, optional ones marked; other keys are allowed and ignored. */
  | { readonly kind: 'object'; readonly fields: Readonly<Record<string, Field>> }
  /** A map with arbitrary keys, e.g. vmId -> stats. */
  | { readonly kind: 'map'; readonly values: Schema }
  | { readonly kind: 'union'; readonly of: readonly Schema[] }
  /** A named type, rendered by name in docs and types; validated as its definition. */
  | { readonly kind: 'named'; readonly name: string; readonly type: Schema };

export interface Field {
  readonly type: Schema;
  readonly optional?: boolean;
  readonly description?: string;
}

/** Builders, so method tables read like declarations. */
export const s = {
  string: (): Schema => ({ kind: 'string' }),
  enumOf: (values: readonly string[]): Schema => ({ kind: 'string', enum: values }),
  int: (): Schema => ({ kind: 'integer' }),
  number: (): Schema => ({ kind: 'number' }),
  bool: (): Schema => ({ kind: 'boolean' }),
  null: (): Schema => ({ kind: 'null' }),
  any: (): Schema => ({ kind: 'any' }),
  array: (items: Schema): Schema => ({ kind: 'array', items }),
  object: (fields: Record<string, Field | Schema>): Schema => ({
    kind: 'object',
    fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, 'kind' in v ? { type: v } : v])),
  }),
  map: (values: Schema): Schema => ({ kind: 'map', values }),
  union: (...of: Schema[]): Schema => ({ kind: 'union', of }),
  named: (name: string, type: Schema): Schema => ({ kind: 'named', name, type }),
  optional: (type: Schema, description?: string): Field => ({ type, optional: true, ...(description !== undefined ? { description } : {}) }),
  field: (type: Schema, description: string): Field => ({ type, description }),
};

/**
 * Check `value` against `schema`. Returns undefined when it matches, else a short vdsm-style reason
 * naming the path, e.g. "params.vmID: expected string, got integer".
 */
export function validate(schema: Schema, value: unknown, path: string): string | undefined {
  switch (schema.kind) {
    case 'any':
      return undefined;
    case 'string':
      if (typeof value !== 'string') return mismatch(path, 'string', value);
      if (schema.enum && !schema.enum.includes(value)) return `${path}: ${JSON.stringify(value)} is not one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`;
      return undefined;
    case 'integer':
      return Number.isInteger(value) ? undefined : mismatch(path, 'integer', value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : mismatch(path, 'number', value);
    case 'boolean':
      return typeof value === 'boolean' ? undefined : mismatch(path, 'boolean', value);
    case 'null':
      return value === null ? undefined : mismatch(path, 'null', value);
    case 'array': {
      if (!Array.isArray(value)) return mismatch(path, 'array', value);
      for (let i = 0; i < value.length; i++) {
        const r = validate(schema.items, value[i], `${path}[${i}]`);
        if (r) return r;
      }
      return undefined;
    }
    case 'object': {
      if (!isPlainObject(value)) return mismatch(path, 'object', value);
      for (const [k, f] of Object.entries(schema.fields)) {
        const v = value[k];
        if (v === undefined) {
          if (!f.optional) return `${path}.${k}: missing`;
          continue;
        }
        const r = validate(f.type, v, `${path}.${k}`);
        if (r) return r;
      }
      return undefined;
    }
    case 'map': {
      if (!isPlainObject(value)) return mismatch(path, 'object', value);
      for (const [k, v] of Object.entries(value)) {
        const r = validate(schema.values, v, `${path}.${k}`);
        if (r) return r;
      }
      return undefined;
    }
    case 'union': {
      for (const alt of schema.of) if (validate(alt, value, path) === undefined) return undefined;
      return mismatch(path, schema.of.map(describe).join(' | '), value);
    }
    case 'named':
      return validate(schema.type, value, path);
  }
}

/** A short name of a schema, for messages and docs. */
export function describe(schema: Schema): string {
  switch (schema.kind) {
    case 'string':
      return schema.enum ? schema.enum.map((e) => JSON.stringify(e)).join(' \\| ') : 'string';
    case 'array':
      return `${describe(schema.items)}[]`;
    case 'object':
      return 'object';
    case 'map':
      return `map of ${describe(schema.values)}`;
    case 'union':
      return schema.of.map(describe).join(' \\| ');
    case 'named':
      return schema.name;
    default:
      return schema.kind;
  }
}

/** The TypeScript type for a schema. */
export function toTypeScript(schema: Schema, indent = ''): string {
  switch (schema.kind) {
    case 'string':
      return schema.enum ? schema.enum.map((e) => JSON.stringify(e)).join(' | ') : 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'any':
      return 'unknown';
    case 'array': {
      const inner = toTypeScript(schema.items, indent);
      return /[ |]/.test(inner) ? `Array<${inner}>` : `${inner}[]`;
    }
    case 'map':
      return `Record<string, ${toTypeScript(schema.values, indent)}>`;
    case 'union':
      return schema.of.map((x) => toTypeScript(x, indent)).join(' | ');
    case 'named':
      return schema.name;
    case 'object': {
      const entries = Object.entries(schema.fields);
      if (entries.length === 0) return 'Record<string, unknown>';
      const inner = indent + '  ';
      const lines = entries.map(([k, f]) => {
        const doc = f.description ? `${inner}/** ${f.description} */\n` : '';
        return `${doc}${inner}${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}${f.optional ? '?' : ''}: ${toTypeScript(f.type, inner)};`;
      });
      return `{\n${lines.join('\n')}\n${indent}}`;
    }
  }
}

/** Every named type reachable from a schema (for emitting their declarations once). */
export function collectNamed(schema: Schema, into: Map<string, Schema>): void {
  switch (schema.kind) {
    case 'named':
      if (!into.has(schema.name)) {
        into.set(schema.name, schema.type);
        collectNamed(schema.type, into);
      }
      return;
    case 'array':
      collectNamed(schema.items, into);
      return;
    case 'map':
      collectNamed(schema.values, into);
      return;
    case 'union':
      for (const x of schema.of) collectNamed(x, into);
      return;
    case 'object':
      for (const f of Object.values(schema.fields)) collectNamed(f.type, into);
      return;
    default:
      return;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mismatch(path: string, expected: string, value: unknown): string {
  return `${path}: expected ${expected}, got ${jsonType(value)}`;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}
