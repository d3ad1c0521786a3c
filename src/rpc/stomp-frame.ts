// STOMP 1.2 frames: the in-memory shape, the encoder (always `\n` line endings, `content-length` on every
// frame, one Buffer per frame so a frame is one socket write) and header value escaping.

/** Commands a client may send (the server understands these). */
export const CLIENT_COMMANDS = ['CONNECT', 'STOMP', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT'] as const;
/** Commands the server sends. */
export const SERVER_COMMANDS = ['CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR'] as const;

/** vdsm's well-known destinations. */
export const Destinations = {
  REQUESTS: 'jms.topic.vdsm_requests',
  IRS_REQUESTS: 'jms.topic.vdsm_irs_requests',
  RESPONSES: 'jms.topic.vdsm_responses',
  EVENTS: 'jms.queue.events',
} as const;

/** `name` as the Destinations constant equal to it, when there is one (the same characters, one string). */
export function knownDestination(name: string): string {
  for (const d of Object.values(Destinations)) if (d === name) return d;
  return name;
}

/** A lone newline: the heart-beat "frame". */
export const HEARTBEAT = Buffer.from('\n');

export type Headers = Record<string, string>;

export interface Frame {
  command: string;
  /** First occurrence wins (STOMP 1.2); nothing inherited, so any header name is safe (newHeaders). */
  headers: Headers;
  body: Buffer;
}

/**
 * Headers objects inherit from one empty null-prototype object: no name is special (`__proto__`,
 * `constructor` and `toString` are plain own keys, nothing is inherited), yet unlike an
 * Object.create(null) object each one starts with V8's fast properties, so the same headers in the same
 * order share hidden classes and a frame's headers are stored without a runtime call per name.
 */
const HEADERS_PROTO: object = Object.freeze(Object.create(null) as object);
function HeadersObject(): void {}
HeadersObject.prototype = HEADERS_PROTO;

export function newHeaders(): Headers {
  return new (HeadersObject as unknown as new () => Headers)();
}

// Header escaping per STOMP 1.2. CONNECT and CONNECTED are not escaped (the spec says so; the engine's
// client never unescapes anything, so values we send are kept free of these characters anyway).
const NEEDS_ESCAPE = /[\\\r\n:]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\r': '\\r', '\n': '\\n', ':': '\\c' };

export function escapeHeaderValue(value: string): string {
  return NEEDS_ESCAPE.test(value) ? value.replace(/[\\\r\n:]/g, (c) => ESCAPES[c] ?? c) : value;
}

// Control characters STOMP has no escape for (NUL ends a frame for many clients): shown as \u00XX text.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;

/** A header value we send, made printable (control characters as \u00XX) and then STOMP-escaped. */
export function headerValue(value: string): string {
  const printable = value.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escapeHeaderValue(printable);
}

/** Reverse of escapeHeaderValue; returns undefined for an invalid escape sequence. */
export function unescapeHeaderValue(value: string): string | undefined {
  if (!value.includes('\\')) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = value[++i];
    if (n === '\\') out += '\\';
    else if (n === 'n') out += '\n';
    else if (n === 'r') out += '\r';
    else if (n === 'c') out += ':';
    else return undefined;
  }
  return out;
}

/**
 * Encode one frame. Headers are written in the given order; `content-length` is always computed from
 * the body (an existing entry in `headers` keeps its position, otherwise it goes last). The engine's
 * Java client mis-parses any frame without it, so every frame carries one, even with an empty body.
 */
export function encodeFrame(command: string, headers: Iterable<readonly [string, string]> | Headers, body?: Buffer | string): Buffer {
  const bodyBuf = body === undefined ? EMPTY : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const escape = command !== 'CONNECT' && command !== 'CONNECTED';
  let head = command + '\n';
  let lengthWritten = false;
  const entries = isIterable(headers) ? headers : Object.entries(headers);
  for (const [k, v] of entries) {
    if (k === 'content-length') {
      if (lengthWritten) continue;
      head += `content-length:${bodyBuf.length}\n`;
      lengthWritten = true;
      continue;
    }
    head += escape ? `${headerValue(k)}:${headerValue(v)}\n` : `${k}:${v}\n`;
  }
  if (!lengthWritten) head += `content-length:${bodyBuf.length}\n`;
  head += '\n';
  const headLen = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLen + bodyBuf.length + 1);
  out.write(head, 0, 'utf8');
  bodyBuf.copy(out, headLen);
  out[out.length - 1] = 0;
  return out;
}

/**
 * Fast path for the hot MESSAGE frame: the four headers in vdsm's order and a string body, encoded with
 * one allocation. Values must not need escaping (destinations and subscription ids we route by were
 * unescaped on the way in; re-escape them here only when needed).
 */
export function encodeMessage(destination: string, subscription: string, body: string): Buffer {
  const bodyLen = Buffer.byteLength(body, 'utf8');
  const head =
    `MESSAGE\ndestination:${headerValue(destination)}\ncontent-type:application/json\n` +
    `subscription:${headerValue(subscription)}\ncontent-length:${bodyLen}\n\n`;
  const headLen = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLen + bodyLen + 1);
  out.write(head, 0, 'utf8');
  out.write(body, headLen, 'utf8');
  out[out.length - 1] = 0;
  return out;
}

/** A MESSAGE frame's head up to the content-length value, for one subscription: built once, reused per frame. */
export interface MessageHead {
  text: string;
  bytes: number;
  /** The text's UTF-8 bytes (encodeMessageSpliced copies them). */
  buffer: Buffer;
}

export function messageHead(destination: string, subscription: string): MessageHead {
  const text = `MESSAGE\ndestination:${headerValue(destination)}\ncontent-type:application/json\nsubscription:${headerValue(subscription)}\ncontent-length:`;
  const buffer = Buffer.from(text, 'utf8');
  return { text, bytes: buffer.length, buffer };
}

/**
 * A small outgoing frame kept as text, with its size in bytes: the socket encodes it once, straight into
 * its write (no Buffer of its own is made: for a reply of a few hundred bytes the allocation and the
 * second UTF-8 pass cost more than the encoding). A frame that has to wait is made a Buffer then
 * (chunked-writer.ts).
 */
export class TextFrame {
  constructor(
    readonly text: string,
    readonly bytes: number,
  ) {}
}

/** What a session sends: one buffer, a frame's parts in order, or a small frame as text. */
export type OutFrame = Buffer | Buffer[] | TextFrame;

/** Bytes of an outgoing frame. */
export function outFrameBytes(frame: Buffer | readonly Buffer[] | TextFrame): number {
  if (frame instanceof TextFrame) return frame.bytes;
  if (!Array.isArray(frame)) return (frame as Buffer).length;
  let n = 0;
  for (const b of frame as readonly Buffer[]) n += b.length;
  return n;
}

/** The frame as bytes (a text frame encoded now). */
export function outFrameBuffers(frame: OutFrame): Buffer | Buffer[] {
  return frame instanceof TextFrame ? Buffer.from(frame.text, 'utf8') : frame;
}

/**
 * A response body as a result kept with its UTF-8 bytes (RawJsonBytes: `text`, `bytes`) between two
 * texts of the response's own: `head` (the envelope up to the result, with the id) and `tail`. Sizes are
 * counted once, here.
 */
export class SplicedBody {
  readonly headBytes: number;
  readonly tailBytes: number;
  /** The whole body's size in bytes. */
  readonly byteLength: number;

  constructor(
    readonly head: string,
    readonly text: string,
    readonly bytes: Uint8Array,
    readonly tail: string,
  ) {
    this.headBytes = utf8Length(head);
    this.tailBytes = utf8Length(tail);
    this.byteLength = this.headBytes + bytes.length + this.tailBytes;
  }
}

/** What a session is given to send in reply: text, a body in spliced parts, or a body already encoded in parts. */
export type ReplyBody = string | SplicedBody | Buffer[];

/**
 * The MESSAGE frame of a spliced body as a text frame, its size known without counting: for a plain
 * socket, which encodes a text straight into its write (no buffer of the frame's own is made).
 */
export function encodeMessageSplicedText(head: MessageHead, body: SplicedBody): TextFrame {
  const length = String(body.byteLength);
  return new TextFrame(`${head.text}${length}\n\n${body.head}${body.text}${body.tail}\0`, head.bytes + length.length + 2 + body.byteLength + 1);
}

/**
 * The MESSAGE frame of a spliced body in one buffer: the bytes of encodeMessageWith(head, the body's
 * text) without making that text (the head's and the result's bytes copied, the short texts written in).
 * For an encrypted socket, which would otherwise copy a text frame into a buffer of its own before
 * encrypting it.
 */
export function encodeMessageSpliced(head: MessageHead, body: SplicedBody): Buffer {
  const length = String(body.byteLength);
  const out = Buffer.allocUnsafe(head.bytes + length.length + 2 + body.byteLength + 1);
  out.set(head.buffer, 0);
  let at = writeText(out, length, length.length, head.bytes);
  out[at++] = 0x0a;
  out[at++] = 0x0a;
  at = writeText(out, body.head, body.headBytes, at);
  out.set(body.bytes, at);
  at = writeText(out, body.tail, body.tailBytes, at + body.bytes.length);
  out[at] = 0;
  return out;
}

/** Write `text` (`bytes` long in UTF-8) at `at`, an ASCII one by hand (a native write costs more); returns the end. */
function writeText(out: Buffer, text: string, bytes: number, at: number): number {
  if (bytes !== text.length) return at + out.write(text, at, 'utf8');
  for (let i = 0; i < bytes; i++) out[at + i] = text.charCodeAt(i);
  return at + bytes;
}

/** encodeMessageWith as a text frame: the same bytes once encoded. */
export function encodeMessageText(head: MessageHead, body: string): TextFrame {
  const bodyLen = utf8Length(body);
  const length = String(bodyLen);
  return new TextFrame(`${head.text}${length}\n\n${body}\0`, head.bytes + length.length + 2 + bodyLen + 1);
}

/** Strings up to this long are measured in JS when they are ASCII (a native call costs more). */
const SHORT_TEXT = 1024;

/** Buffer.byteLength(text, 'utf8'), counted in JS for a short ASCII text. */
export function utf8Length(text: string): number {
  if (text.length > SHORT_TEXT) return Buffer.byteLength(text, 'utf8');
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return Buffer.byteLength(text, 'utf8');
  return text.length;
}

/** encodeMessage with the head built beforehand (messageHead): the same bytes. */
export function encodeMessageWith(head: MessageHead, body: string): Buffer {
  const bodyLen = Buffer.byteLength(body, 'utf8');
  const length = String(bodyLen);
  const headLen = head.bytes + length.length + 2;
  const out = Buffer.allocUnsafe(headLen + bodyLen + 1);
  out.write(head.text, 0, 'utf8');
  out.write(length, head.bytes, 'latin1');
  out[headLen - 2] = 0x0a;
  out[headLen - 1] = 0x0a;
  out.write(body, headLen, 'utf8');
  out[out.length - 1] = 0;
  return out;
}

/**
 * The MESSAGE frame of encodeMessage for a body already encoded in parts (a large response): the head,
 * the parts and the NUL, queued as one frame (rpc/chunked-writer.ts hands a big one out in chunks).
 */
export function encodeMessageParts(destination: string, subscription: string, body: readonly Buffer[]): Buffer[] {
  const bodyLen = body.reduce((n, b) => n + b.length, 0);
  const head =
    `MESSAGE\ndestination:${headerValue(destination)}\ncontent-type:application/json\n` +
    `subscription:${headerValue(subscription)}\ncontent-length:${bodyLen}\n\n`;
  const parts = [Buffer.from(head, 'utf8'), ...body, NUL_BYTE];
  // A small frame is cheaper as one buffer than as a corked write of parts.
  return bodyLen <= 64 * 1024 ? [Buffer.concat(parts)] : parts;
}

/**
 * encodeMessageParts with the head built beforehand (messageHead, kept per subscription): the same bytes,
 * without escaping the header values and encoding the head's text again per frame.
 */
export function encodeMessagePartsWith(head: MessageHead, body: readonly Buffer[]): Buffer[] {
  let bodyLen = 0;
  for (const b of body) bodyLen += b.length;
  const length = String(bodyLen);
  const headLen = head.bytes + length.length + 2;
  if (bodyLen <= 64 * 1024) {
    // A small frame is cheaper as one buffer than as a corked write of parts.
    const out = Buffer.allocUnsafe(headLen + bodyLen + 1);
    head.buffer.copy(out, 0);
    out.write(length, head.bytes, 'latin1');
    out[headLen - 2] = 0x0a;
    out[headLen - 1] = 0x0a;
    let at = headLen;
    for (const b of body) at += b.copy(out, at);
    out[at] = 0;
    return [out];
  }
  const top = Buffer.allocUnsafe(headLen);
  head.buffer.copy(top, 0);
  top.write(length, head.bytes, 'latin1');
  top[headLen - 2] = 0x0a;
  top[headLen - 1] = 0x0a;
  return [top, ...body, NUL_BYTE];
}

/** Decode a body as UTF-8 text. */
export function bodyText(frame: Frame): string {
  return frame.body.toString('utf8');
}

const EMPTY = Buffer.alloc(0);
const NUL_BYTE = Buffer.from([0]);

function isIterable(h: unknown): h is Iterable<readonly [string, string]> {
  return typeof h === 'object' && h !== null && Symbol.iterator in h;
}
