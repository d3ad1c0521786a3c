// Conform a request value to an API schema the way vdsm's non-strict mode lets its callers get away with:
// the strings vdsm-client sends for every name=value ("true", "30", "a,b"), the engine's numbers where
// the schema says string (domainType 1) and strings where it says number (version "5"). Each conversion
// and each departure is reported as an issue; the caller decides (api_strict_mode) whether issues are
// logged or answered with -32602. Pure: no logging, no state.
import type { Schema } from './schema.js';
import { describe } from './schema.js';

export type IssueKind =
  /** Converted to the schema's type (vdsm-client strings, engine numbers-as-strings ...). */
  | 'coerced'
  /** Cannot be used as the schema's type: rejected in both modes. */
  | 'mismatch'
  /** A string outside the schema's enum: passed on to the handler in non-strict mode, as vdsm does. */
  | 'enum'
  /** A nested required field is absent: rejected in both modes. */
  | 'missing';

export interface Issue {
  kind: IssueKind;
  /** Where, e.g. "onlyUUID" or "vmParams.xml". */
  path: string;
  /** vdsm-style sentence, used in logs and error messages. */
  text: string;
}

/** What a value is, in JSON terms. */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const INTEGER_TEXT = /^\s*[+-]?\d+\s*$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** "30" -> 30, " -2 " -> -2; undefined when the text is not a safe integer. */
function integerFromText(s: string): number | undefined {
  if (!INTEGER_TEXT.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** "1.5" -> 1.5; undefined for '', 'NaN', 'Infinity' and anything Number() would stretch. */
function numberFromText(s: string): number | undefined {
  const t = s.trim();
  if (t === '' || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** What vdsm's conv.tobool and Python truthiness accept from vdsm-client: true/false in any case, 1/0. */
function booleanFrom(v: unknown): boolean | undefined {
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'true' || t === '1') return true;
    if (t === 'false' || t === '0') return false;
    return undefined;
  }
  if (v === 1 || v === 0) return v === 1;
  return undefined;
}

/** A list given as text: JSON ("[\"a\",\"b\"]") or comma separated ("a,b"); "" is the empty list. */
function arrayFromText(s: string): unknown[] | undefined {
  const t = s.trim();
  if (t.startsWith('[')) {
    try {
      const v: unknown = JSON.parse(t);
      return Array.isArray(v) ? v : undefined;
    } catch {
      return undefined;
    }
  }
  return t === '' ? [] : t.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

function objectFromText(s: string): Record<string, unknown> | undefined {
  const t = s.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    return isPlainObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** A parameter whose value is never shown (vdsm's protect_passwords: password, passwd, _X_...). */
function secretPath(path: string): boolean {
  const last = path.slice(path.lastIndexOf('.') + 1).replace(/\[\d+\]$/, '');
  return /^(password|passwd)$/i.test(last) || last.startsWith('_X_');
}

function shown(v: unknown, path = ''): string {
  if (secretPath(path)) return '********';
  const s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function coerced(path: string, from: unknown, to: string, issues: Issue[]): void {
  issues.push({ kind: 'coerced', path, text: `Parameter ${path} is not ${to} type: ${jsonType(from)} ${shown(from, path)} converted` });
}

function mismatch(path: string, expected: string, value: unknown, issues: Issue[]): void {
  const plain = expected.replace(/\\\|/g, '|');
  issues.push({ kind: 'mismatch', path, text: `Parameter ${path} is not ${plain} type (got ${jsonType(value)} ${shown(value, path)})` });
}

/** An integer or number parameter: kept when `fits`, read from numeric text (coerced), else a mismatch. */
function numeric(value: unknown, path: string, type: 'integer' | 'number', fits: (v: unknown) => boolean,
  fromText: (s: string) => number | undefined, issues: Issue[]): unknown {
  if (typeof value === 'number' && fits(value)) return value;
  const n = typeof value === 'string' ? fromText(value) : undefined;
  if (n === undefined) {
    mismatch(path, type, value, issues);
    return value;
  }
  coerced(path, value, type, issues);
  return n;
}

/**
 * The value to hand to the handler: `value` itself when it matches `schema`, a converted copy when it can
 * be converted (a 'coerced' issue), else `value` unchanged with a 'mismatch' / 'enum' / 'missing' issue.
 */
export function conform(schema: Schema, value: unknown, path: string, issues: Issue[]): unknown {
  switch (schema.kind) {
    case 'any':
      return value;
    case 'named':
      return conform(schema.type, value, path, issues);
    case 'string': {
      let v = value;
      if (typeof v === 'number' && Number.isFinite(v)) {
        coerced(path, v, 'string', issues);
        v = String(v);
      } else if (typeof v === 'boolean') {
        coerced(path, v, 'string', issues);
        v = v ? 'true' : 'false';
      }
      if (typeof v !== 'string') {
        mismatch(path, describe(schema), value, issues);
        return value;
      }
      if (schema.enum && !schema.enum.includes(v)) {
        issues.push({ kind: 'enum', path, text: `Provided value ${shown(v, path)} not defined in the ${path} enum (${schema.enum.join(', ')})` });
      }
      return v;
    }
    case 'integer':
      return numeric(value, path, 'integer', Number.isInteger, integerFromText, issues);
    case 'number':
      return numeric(value, path, 'number', Number.isFinite, numberFromText, issues);
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      const b = booleanFrom(value);
      if (b === undefined) {
        mismatch(path, 'boolean', value, issues);
        return value;
      }
      coerced(path, value, 'boolean', issues);
      return b;
    }
    case 'null':
      if (value !== null) mismatch(path, 'null', value, issues);
      return value;
    case 'array': {
      let list: unknown[] | undefined = Array.isArray(value) ? value : undefined;
      if (list === undefined && typeof value === 'string') {
        list = arrayFromText(value);
        if (list !== undefined) coerced(path, value, 'list', issues);
      }
      if (list === undefined) {
        mismatch(path, describe(schema), value, issues);
        return value;
      }
      let changed = list !== value;
      const out = list.map((item, i) => {
        const c = conform(schema.items, item, `${path}[${i}]`, issues);
        if (c !== item) changed = true;
        return c;
      });
      return changed ? out : value;
    }
    case 'object':
    case 'map': {
      let obj: Record<string, unknown> | undefined = isPlainObject(value) ? value : undefined;
      if (obj === undefined && typeof value === 'string') {
        obj = objectFromText(value);
        if (obj !== undefined) coerced(path, value, 'object', issues);
      }
      if (obj === undefined) {
        mismatch(path, 'object', value, issues);
        return value;
      }
      let out: Record<string, unknown> | undefined = obj === value ? undefined : { ...obj };
      const set = (k: string, v: unknown): void => {
        if (v === obj[k]) return;
        out ??= { ...obj };
        out[k] = v;
      };
      if (schema.kind === 'map') {
        for (const [k, v] of Object.entries(obj)) set(k, conform(schema.values, v, `${path}.${k}`, issues));
      } else {
        // Keys the schema does not name are allowed: API object schemas describe what handlers read.
        for (const [k, f] of Object.entries(schema.fields)) {
          const v = obj[k];
          if (v === undefined || v === null) {
            if (!f.optional) issues.push({ kind: 'missing', path: `${path}.${k}`, text: `Required property ${k} is not provided in ${path}` });
            continue;
          }
          set(k, conform(f.type, v, `${path}.${k}`, issues));
        }
      }
      return out ?? value;
    }
    case 'union': {
      // An exact match wins; otherwise the first alternative the value converts to without a mismatch.
      for (const alt of schema.of) {
        const trial: Issue[] = [];
        conform(alt, value, path, trial);
        if (trial.length === 0) return value;
      }
      for (const alt of schema.of) {
        const trial: Issue[] = [];
        const v = conform(alt, value, path, trial);
        if (trial.every((i) => i.kind === 'coerced')) {
          issues.push(...trial);
          return v;
        }
      }
      mismatch(path, describe(schema), value, issues);
      return value;
    }
  }
}
