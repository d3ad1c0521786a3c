// Turning one untrusted guest line into a message: UTF-8 decoded with invalid bytes replaced, JSON
// parsed, then every string (keys included) stripped of characters XML forbids, as vdsm does: the
// filter runs after JSON decoding because a \u escape could otherwise smuggle them in.
import { errorMessage } from '../errors.js';

/** U+FFFD, what invalid bytes and forbidden characters become. */
export const REPLACEMENT_CHAR = '\ufffd';

/** Nesting beyond this is refused: no guest message vdsm knows nests deeper than 4. */
export const MAX_JSON_DEPTH = 32;

/**
 * XML 1.1 RestrictedChar plus NUL, lone surrogates and U+FFFE/U+FFFF (vdsm's _FILTERED_CHARS). With the
 * `u` flag a surrogate pair is one code point, so only lone surrogates match the surrogate range.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const FORBIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u0084\u0086-\u009f\ud800-\udfff\ufffe\uffff]/gu;

export function filterXmlChars(text: string): string {
  FORBIDDEN.lastIndex = 0;
  return FORBIDDEN.test(text) ? text.replace(FORBIDDEN, REPLACEMENT_CHAR) : text;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type DecodeFailure = 'json' | 'not-object' | 'no-name' | 'too-deep';

export type DecodedLine =
  | { ok: true; name: string; args: JsonObject }
  | { ok: false; reason: DecodeFailure; detail: string };

/**
 * Sanitize a parsed value: filtered strings (unless `filter` is false), `__proto__` keys dropped;
 * undefined when nested too deep.
 */
export function sanitize(value: unknown, depth = 0, filter = true): JsonValue | undefined {
  if (typeof value === 'string') return filter ? filterXmlChars(value) : value;
  if (value === null || typeof value !== 'object') return value as JsonValue;
  if (depth >= MAX_JSON_DEPTH) return undefined;
  if (Array.isArray(value)) {
    const out: JsonValue[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const v = sanitize(value[i], depth + 1, filter);
      if (v === undefined) return undefined;
      out[i] = v;
    }
    return out;
  }
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) {
    // JSON.parse makes "__proto__" an own key; assigning it to a fresh object would set the prototype.
    if (k === '__proto__') continue;
    const s = sanitize(v, depth + 1, filter);
    if (s === undefined) return undefined;
    out[filter ? filterXmlChars(k) : k] = s;
  }
  return out;
}

/** One line (no newline) -> the message name and its arguments, or why it is not a message. */
export function decodeGuestLine(line: Buffer): DecodedLine {
  // Buffer's UTF-8 decoder replaces every invalid sequence with U+FFFD, like Python's 'replace'.
  const text = line.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: 'json', detail: errorMessage(err) };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, reason: 'not-object', detail: `a JSON ${Array.isArray(parsed) ? 'array' : parsed === null ? 'null' : typeof parsed}` };
  }
  // A forbidden character can only come as itself or as a \u escape: without either in the line, no
  // parsed string holds one, and the per-string filter (a third of a flood's cost) can be skipped.
  FORBIDDEN.lastIndex = 0;
  const mayHoldForbidden = text.includes('\\u') || FORBIDDEN.test(text);
  const clean = sanitize(parsed, 0, mayHoldForbidden);
  if (clean === undefined) return { ok: false, reason: 'too-deep', detail: `nested deeper than ${MAX_JSON_DEPTH} levels` };
  const args = clean as JsonObject;
  const name = args['__name__'];
  if (typeof name !== 'string') return { ok: false, reason: 'no-name', detail: 'no "__name__" string member' };
  delete args['__name__'];
  return { ok: true, name, args };
}

/** A short, printable excerpt of a bad line for a log message. */
export function excerpt(line: Buffer, max = 80): string {
  const text = line.subarray(0, max * 4).toString('utf8');
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  return JSON.stringify(cut);
}
