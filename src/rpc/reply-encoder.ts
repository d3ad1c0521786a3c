// Turns JSON-RPC response objects into the bytes of one STOMP body without blocking the event loop:
// the JSON is produced in fragments (batch items, array elements, slices of long strings) and the loop
// is yielded to whenever a slice of work has run for `sliceMs`. Every item is bounded by the bytes the
// connection may hold: an item that does not fit is answered with a JSON-RPC error that says so, so
// every request gets an answer even when its result cannot be sent. Runtime-free except for the
// injected `yieldToLoop`.
import { Errors } from '../errors.js';
import { RawJson } from '../runtime/raw-json.js';
import { RawJsonBytes } from '../runtime/raw-json-bytes.js';
import { SplicedBody } from './stomp-frame.js';

export interface EncodeOptions {
  /** Largest body the connection can take. */
  maxBytes: number;
  /** Work done before yielding to the event loop (default 2 ms). */
  sliceMs?: number;
  now?: () => number;
  yieldToLoop?: () => Promise<void>;
}

export interface EncodedReply {
  /** The body in chunks (write them corked: one frame). */
  chunks: Buffer[];
  bytes: number;
  /** Items replaced by a "response too large" error. */
  oversized: number;
}

/** Strings longer than this are written in slices. */
const STRING_SLICE = 256 * 1024;
const setImmediateYield = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The JSON text as fragments with their UTF-8 sizes; marks let an item's fragments be dropped. */
class Fragments {
  parts: string[] = [];
  bytes = 0;
  #sizes: number[] = [];

  push(text: string, size: number): void {
    this.parts.push(text);
    this.#sizes.push(size);
    this.bytes += size;
  }

  mark(): number {
    return this.parts.length;
  }

  truncate(mark: number): void {
    for (let i = this.parts.length - 1; i >= mark; i--) this.bytes -= this.#sizes[i]!;
    this.parts.length = mark;
    this.#sizes.length = mark;
  }
}

class TooLarge extends Error {}

/** The error answering a request whose response does not fit. */
export function tooLargeError(id: unknown, bytes: number, maxBytes: number): object {
  return {
    jsonrpc: '2.0',
    id: typeof id === 'string' || typeof id === 'number' ? id : null,
    error: {
      code: Errors.RESPONSE_TOO_LARGE.vdsmCode,
      message: `${Errors.RESPONSE_TOO_LARGE.message}: the response needs more than ${bytes} bytes, above the ${maxBytes}-byte bound of this connection; ask for less per call`,
    },
  };
}

/**
 * Encode a response (an object) or a batch response (an array of them). Items are kept in order while
 * they fit; one that does not is replaced by tooLargeError (it always fits).
 */
export async function encodeReply(reply: object | object[], opts: EncodeOptions): Promise<EncodedReply> {
  // Most replies are small: one JSON.stringify is cheapest. Batches, long result lists and long strings
  // take the sliced path.
  if (isSmall(reply)) {
    const body = Buffer.from(JSON.stringify(reply), 'utf8');
    if (body.length <= opts.maxBytes) return { chunks: [body], bytes: body.length, oversized: 0 };
  }
  // A result serialised once per change (RawJson) is spliced in as is: never parsed and stringified again,
  // written straight into the body's buffer.
  const raw = encodeRawReply(reply, opts.maxBytes);
  if (raw !== undefined) return raw;
  return encodeSliced(reply, opts);
}

/**
 * The body of a single response whose result is RawJson, synchronously: its bytes with the envelope put
 * around them (in place when they have room, runtime/raw-json.ts), or, when that does not fit
 * `maxBytes`, the short "too large" error instead. Undefined for any other reply (encodeReply's work).
 * The server answers such a reply within the request's own turn: no microtask between the handler and
 * the write, so the read is acknowledged by the answer itself (no TCP_QUICKACK, quick-ack.ts).
 */
export function encodeRawReply(reply: object | object[], maxBytes: number): EncodedReply | undefined {
  const body = rawReply(reply);
  if (body === undefined) return undefined;
  if (body.length <= maxBytes) return { chunks: [body], bytes: body.length, oversized: 0 };
  const error = Buffer.from(JSON.stringify(tooLargeError((reply as { id?: unknown }).id, body.length, maxBytes)), 'utf8');
  return { chunks: [error], bytes: error.length, oversized: 1 };
}

/** Replies up to this many UTF-16 units are encoded in one go, whatever their shape. */
const SMALL_REPLY_CHARS = 8 * 1024;

/**
 * The JSON text of a small single response (or one whose result is a small RawJson), when it fits
 * `maxBytes`: encoded at once and synchronously, without the sliced machinery. Undefined for what needs
 * encodeReply.
 */
export function smallReplyText(reply: object | object[], maxBytes: number): string | undefined {
  const r = reply as { jsonrpc?: unknown; id?: unknown; result?: unknown };
  // A verb answered with true (ping2 and every verb without a value): the envelope is constant around the id.
  if (r.result === true && r.jsonrpc === '2.0' && !Array.isArray(reply)) {
    const text = `{"jsonrpc":"2.0","id":${idJson(r.id)},"result":true}`;
    if (text.length * 3 <= maxBytes) return text;
  }
  if (!isSmall(reply)) {
    const raw = rawReplyText(reply);
    // Three UTF-8 bytes at most per UTF-16 unit: most replies need no byte count at all.
    return raw !== undefined && raw.length <= SMALL_REPLY_CHARS && (raw.length * 3 <= maxBytes || Buffer.byteLength(raw, 'utf8') <= maxBytes) ? raw : undefined;
  }
  const text = JSON.stringify(reply);
  // Three UTF-8 bytes at most per UTF-16 unit: most replies need no byte count at all.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  return undefined;
}

/**
 * smallReplyText, or for a single response whose result keeps its bytes (RawJsonBytes) and fits
 * `maxBytes`, the body as those bytes inside the envelope's texts: the same bytes once encoded.
 */
export function smallReplyBody(reply: object | object[], maxBytes: number): string | SplicedBody | undefined {
  const r = reply as { jsonrpc?: unknown; id?: unknown; result?: unknown };
  if (r.result instanceof RawJsonBytes && r.jsonrpc === '2.0' && !Array.isArray(reply)) {
    const body = new SplicedBody(`{"jsonrpc":"2.0","id":${idJson(r.id)},"result":`, r.result.text, r.result.bytes, '}');
    return body.byteLength <= maxBytes ? body : undefined;
  }
  return smallReplyText(reply, maxBytes);
}

/** The text of a single response whose RawJson result is small (a big one is never made a string). */
function rawReplyText(reply: object | object[]): string | undefined {
  if (Array.isArray(reply)) return undefined;
  const r = reply as { id?: unknown; result?: unknown };
  if (!(r.result instanceof RawJson) || r.result.sizeHint > 3 * SMALL_REPLY_CHARS) return undefined;
  return `{"jsonrpc":"2.0","id":${idJson(r.id)},"result":${r.result.text}}`;
}

/** The bytes of a single response whose result is RawJson. */
function rawReply(reply: object | object[]): Buffer | undefined {
  if (Array.isArray(reply)) return undefined;
  const r = reply as { id?: unknown; result?: unknown };
  if (!(r.result instanceof RawJson)) return undefined;
  return r.result.encode(`{"jsonrpc":"2.0","id":${idJson(r.id)},"result":`, '}');
}

/**
 * JSON.stringify(id ?? null) for a response's id, without the call for the usual ones: a string of
 * printable ASCII without quote or backslash (a UUID), or a safe integer. The success responses
 * JsonRpcServer makes have exactly the keys jsonrpc, id and result in this order, so a reply's text can
 * be written around its id.
 */
export function idJson(id: unknown): string {
  if (typeof id === 'string' && id.length <= 128) {
    let plain = true;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
        plain = false;
        break;
      }
    }
    if (plain) return `"${id}"`;
  } else if (typeof id === 'number' && Number.isSafeInteger(id)) return String(id);
  return JSON.stringify(id ?? null) ?? 'null';
}

/** Not a batch, and no result a single stringify could spend long on. */
function isSmall(reply: object | object[]): boolean {
  if (Array.isArray(reply)) return false;
  const result = (reply as { result?: unknown }).result;
  if (result instanceof RawJson) return false;
  if (Array.isArray(result)) return result.length <= 64;
  if (typeof result === 'string') return result.length <= STRING_SLICE;
  return true;
}

async function encodeSliced(reply: object | object[], opts: EncodeOptions): Promise<EncodedReply> {
  const now = opts.now ?? (() => performance.now());
  const sliceMs = opts.sliceMs ?? 2;
  const yieldToLoop = opts.yieldToLoop ?? setImmediateYield;
  const out = new Fragments();
  let sliceStart = now();
  let oversized = 0;
  let limit = opts.maxBytes;

  const pause = async (): Promise<void> => {
    if (now() - sliceStart < sliceMs) return;
    await yieldToLoop();
    sliceStart = now();
  };
  const emit = async (text: string): Promise<void> => {
    const size = Buffer.byteLength(text);
    if (out.bytes + size > limit) throw new TooLarge();
    out.push(text, size);
    await pause();
  };
  const put = (text: string): void => out.push(text, Buffer.byteLength(text));

  const value = async (v: unknown, depth: number): Promise<void> => {
    if (v instanceof RawJson) {
      await emit(v.text);
      return;
    }
    if (typeof v === 'string' && v.length > STRING_SLICE) {
      await emit('"');
      for (let i = 0; i < v.length; i += STRING_SLICE) await emit(JSON.stringify(v.slice(i, i + STRING_SLICE)).slice(1, -1));
      await emit('"');
      return;
    }
    if (depth < 3 && Array.isArray(v)) {
      await emit('[');
      for (let i = 0; i < v.length; i++) {
        if (i > 0) await emit(',');
        const el: unknown = v[i];
        if (el === undefined || typeof el === 'function' || typeof el === 'symbol') await emit('null');
        else await value(el, depth + 1);
      }
      await emit(']');
      return;
    }
    if (depth < 2 && v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON !== 'function') {
      await emit('{');
      let first = true;
      for (const [k, el] of Object.entries(v)) {
        if (el === undefined || typeof el === 'function' || typeof el === 'symbol') continue;
        await emit(`${first ? '' : ','}${JSON.stringify(k)}:`);
        first = false;
        await value(el, depth + 1);
      }
      await emit('}');
      return;
    }
    const text = JSON.stringify(v);
    await emit(text === undefined ? 'null' : text);
  };

  const item = async (resp: object, depth: number, reserveAfter: number): Promise<void> => {
    const mark = out.mark();
    const before = out.bytes;
    limit = opts.maxBytes - reserveAfter;
    try {
      await value(resp, depth);
    } catch (err) {
      if (!(err instanceof TooLarge)) throw err;
      // What was written of this item so far: the response needs more than that.
      const written = out.bytes - before;
      out.truncate(mark);
      oversized++;
      put(JSON.stringify(tooLargeError((resp as { id?: unknown }).id, written, opts.maxBytes)));
    } finally {
      limit = opts.maxBytes;
    }
  };

  if (Array.isArray(reply)) {
    put('[');
    for (let i = 0; i < reply.length; i++) {
      if (i > 0) put(',');
      // Keep room for an error answer to each remaining item and the closing bracket.
      await item(reply[i] as object, 1, (reply.length - i - 1) * 512 + 1);
    }
    put(']');
  } else {
    await item(reply, 0, 0);
  }
  // One buffer, written fragment by fragment with the same yielding.
  const body = Buffer.allocUnsafe(out.bytes);
  let at = 0;
  for (const part of out.parts) {
    at += body.write(part, at, 'utf8');
    await pause();
  }
  return { chunks: [body], bytes: out.bytes, oversized };
}
