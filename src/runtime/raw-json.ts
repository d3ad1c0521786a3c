// JSON text that is already serialised: a handler returns it so the JSON-RPC layer splices it into the
// response as is (a report built once per change is not parsed and stringified again per request).
// Anything else that stringifies it still gets the right value, through toJSON (slowly).
//
// Two forms: one text, or bytes assembled by JsonPieces: the UTF-8 bytes of text kept with a report
// built once per change, and the short strings filled in per read, copied into one buffer as they come.
// That buffer keeps room before and after the text, so encode() puts the response's head and tail
// around it in place: a 1.8 MB getAllVmStats costs one copy of cached bytes, not a 1.8 MB string
// joined, flattened and UTF-8 encoded again, nor a second copy into the reply.
//
// With a ReplyBufferPool (reply-buffers.ts) that buffer is a pooled one, held by the pieces' builder.
// Once encode() put the reply in place, the bytes belong to the reply: the server releases the builder's
// reference after delivering it, and the buffer may be reused once the socket wrote it, so the value
// refuses any later use (text, encode, toJSON) instead of reading bytes that may have been overwritten.
import type { ReplyBufferPool } from './reply-buffers.js';

/** Room kept before the text for encode()'s prefix (a JSON-RPC response head with its id). */
const HEAD_ROOM = 256;
/** Room kept after it for the suffix. */
const TAIL_ROOM = 16;

export class RawJson {
  #text: string | undefined;
  /** The text's UTF-8 bytes are buf[start, end); buf has room around them. */
  readonly #buf: Buffer | undefined;
  readonly #start: number;
  readonly #end: number;
  /** The room around the bytes was used by an encode() (whose buffer may still be being written). */
  #roomUsed = false;
  /** #buf is a pooled buffer: once encoded in place it is the reply's, and this value is spent. */
  readonly #pooled: boolean;

  /** `text`: valid JSON text of one value. */
  constructor(text: string);
  constructor(text: undefined, buf: Buffer, start: number, end: number, pooled?: boolean);
  constructor(text: string | undefined, buf?: Buffer, start = 0, end = 0, pooled = false) {
    this.#text = text;
    this.#buf = buf;
    this.#start = start;
    this.#end = end;
    this.#pooled = pooled;
  }

  /** The value whose JSON text JsonPieces assembled (the pieces are not used afterwards). */
  static fromPieces(pieces: JsonPieces): RawJson {
    const { buf, start, end, pooled } = pieces.take();
    return new RawJson(undefined, buf, start, end, pooled);
  }

  /** Its size without building anything: its UTF-8 byte count when assembled from pieces, else the text's length. */
  get sizeHint(): number {
    return this.#buf !== undefined ? this.#end - this.#start : this.#text!.length;
  }

  /** The JSON text (decoded from the bytes on first use). */
  get text(): string {
    this.#checkNotHanded();
    return (this.#text ??= this.#buf!.toString('utf8', this.#start, this.#end));
  }

  /** Where its bytes are when assembled from pieces (whole-reply reuse keeps them): buf[start, end). */
  get region(): { buf: Buffer; start: number; end: number } | undefined {
    return this.#buf === undefined ? undefined : { buf: this.#buf, start: this.#start, end: this.#end };
  }

  /** Its bytes live in a pooled buffer (reply-buffers.ts): encode() hands them over to the reply. */
  get pooled(): boolean {
    return this.#pooled;
  }

  /** `prefix`, this JSON text and `suffix` as UTF-8 bytes in one buffer (the first time, in place). */
  encode(prefix: string, suffix: string): Buffer {
    const buf = this.#buf;
    if (buf === undefined) return Buffer.from(`${prefix}${this.#text!}${suffix}`, 'utf8');
    this.#checkNotHanded();
    const pre = Buffer.byteLength(prefix, 'utf8');
    const post = Buffer.byteLength(suffix, 'utf8');
    if (!this.#roomUsed && pre <= this.#start && this.#end + post <= buf.length) {
      this.#roomUsed = true;
      buf.write(prefix, this.#start - pre, 'utf8');
      buf.write(suffix, this.#end, 'utf8');
      return buf.subarray(this.#start - pre, this.#end + post);
    }
    const out = Buffer.allocUnsafe(pre + (this.#end - this.#start) + post);
    out.write(prefix, 0, 'utf8');
    out.set(buf.subarray(this.#start, this.#end), pre);
    out.write(suffix, pre + this.#end - this.#start, 'utf8');
    return out;
  }

  /** The value, for a JSON.stringify that does not know RawJson (parses the text). */
  toJSON(): unknown {
    return JSON.parse(this.text);
  }

  #checkNotHanded(): void {
    if (this.#pooled && this.#roomUsed && this.#text === undefined) {
      throw new Error('RawJson: its bytes were handed to a reply in a pooled buffer (reply-buffers.ts) and may be reused; read .text before encode()');
    }
  }
}

/** Strings up to this length are copied by hand when ASCII (the per-read fields: a native write costs more). */
const SHORT_STRING = 32;

/** Write `s` as UTF-8 at `at` (room for 3 bytes per UTF-16 unit); returns the end. */
function writeString(out: Buffer, s: string, at: number): number {
  const n = s.length;
  if (n <= SHORT_STRING) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      out[at + i] = c;
    }
    if (i === n) return at + n;
  }
  return at + out.write(s, at, 'utf8');
}

/** Parts up to this many bytes are copied by hand: TypedArray#set costs more than a short loop. */
const SHORT_COPY = 48;

function copyInto(out: Buffer, b: Buffer, at: number): number {
  const n = b.length;
  if (n > SHORT_COPY) out.set(b, at);
  else for (let i = 0; i < n; i++) out[at + i] = b[i]!;
  return at + n;
}

/**
 * Where the holes of templates filled into one JsonPieces landed (runtime/json-template.ts): per hole in
 * order, its byte offset from the start of the text, its slot, its width in bytes and the value written. A value whose bytes
 * are not one per character (not ASCII) makes the record unusable (`exact` false): offsets of later holes
 * could still be computed, but a same-width check by characters could not.
 */
export class HoleRecord {
  readonly offsets: number[] = [];
  readonly slots: number[] = [];
  readonly widths: number[] = [];
  /** The values written (the JSON texts). */
  readonly values: string[] = [];
  exact = true;

  get count(): number {
    return this.offsets.length;
  }
}

/** A JSON text assembled from bytes and strings, in order, into one growing buffer (see RawJson.fromPieces). */
export class JsonPieces {
  #buf: Buffer;
  #at = HEAD_ROOM;
  readonly #pool: ReplyBufferPool | undefined;
  readonly #holes: HoleRecord | undefined;

  /**
   * `capacity`: the expected size in bytes (a previous reply's); the buffer grows when it is exceeded.
   * `pool`: buffers come from it (and a buffer outgrown goes back to it at once: nobody else saw it).
   * `holes`: where template() writes its values is recorded there.
   */
  constructor(capacity = 4096, pool?: ReplyBufferPool, holes?: HoleRecord) {
    this.#pool = pool;
    this.#holes = holes;
    const n = HEAD_ROOM + capacity + TAIL_ROOM;
    this.#buf = pool !== undefined ? pool.acquire(n) : Buffer.allocUnsafe(n);
  }

  /** UTF-8 bytes of JSON text (copied now). */
  bytes(b: Buffer): void {
    if (this.#at + b.length + TAIL_ROOM > this.#buf.length) this.#grow(b.length);
    this.#buf.set(b, this.#at);
    this.#at += b.length;
  }

  /** JSON text as a string. */
  text(s: string): void {
    if (this.#at + 3 * s.length + TAIL_ROOM > this.#buf.length) this.#grow(3 * s.length);
    this.#at = writeString(this.#buf, s, this.#at);
  }

  /**
   * A template's fixed parts with its holes filled in between (json-template.ts): parts[0], then per
   * hole i the JSON text values[slots[i]] and parts[i + 1]. `fixedBytes` is the parts' total length.
   */
  template(parts: readonly Buffer[], slots: readonly number[], values: readonly string[], fixedBytes: number): void {
    let need = fixedBytes;
    for (let i = 0; i < slots.length; i++) need += 3 * values[slots[i]!]!.length;
    if (this.#at + need + TAIL_ROOM > this.#buf.length) this.#grow(need);
    const buf = this.#buf;
    const holes = this.#holes;
    let at = copyInto(buf, parts[0]!, this.#at);
    for (let i = 0; i < slots.length; i++) {
      const value = values[slots[i]!]!;
      const from = at;
      at = writeString(buf, value, at);
      if (holes !== undefined) {
        holes.offsets.push(from - HEAD_ROOM);
        holes.slots.push(slots[i]!);
        holes.widths.push(at - from);
        holes.values.push(value);
        if (at - from !== value.length) holes.exact = false;
      }
      at = copyInto(buf, parts[i + 1]!, at);
    }
    this.#at = at;
  }

  /** Bytes so far. */
  get byteLength(): number {
    return this.#at - HEAD_ROOM;
  }

  /** The buffer and where the text is in it; the pieces must not be added to afterwards. */
  take(): { buf: Buffer; start: number; end: number; pooled: boolean } {
    return { buf: this.#buf, start: HEAD_ROOM, end: this.#at, pooled: this.#pool?.held(this.#buf) ?? false };
  }

  #grow(need: number): void {
    const n = Math.max(2 * this.#buf.length, this.#at + need + TAIL_ROOM);
    const next = this.#pool !== undefined ? this.#pool.acquire(n) : Buffer.allocUnsafe(n);
    this.#buf.copy(next, 0, 0, this.#at);
    this.#pool?.release(this.#buf);
    this.#buf = next;
  }
}

const COMMA = Buffer.from(',');
const OPEN = Buffer.from('[');
const CLOSE = Buffer.from(']');

/** Join already serialised values into a JSON array text. */
export function rawJsonArray(items: readonly string[]): RawJson {
  return new RawJson(`[${items.join(',')}]`);
}

/** A JSON array whose elements each add their pieces through `put` (called once per element, in order). */
export function rawJsonArrayOf<T>(elements: readonly T[], put: (element: T, into: JsonPieces) => void, capacity?: number, pool?: ReplyBufferPool, holes?: HoleRecord): RawJson {
  const pieces = new JsonPieces(capacity, pool, holes);
  pieces.bytes(OPEN);
  for (let i = 0; i < elements.length; i++) {
    if (i > 0) pieces.bytes(COMMA);
    put(elements[i]!, pieces);
  }
  pieces.bytes(CLOSE);
  return RawJson.fromPieces(pieces);
}

export interface SliceOptions {
  /** Work done before yielding to the event loop (default 2 ms). */
  sliceMs?: number;
  now?: () => number;
  yieldToLoop?: () => Promise<void>;
  /** Expected size in bytes (e.g. the previous reply's), so the buffer rarely grows. */
  capacity?: number;
  /** Take the buffer from this pool (reply-buffers.ts). */
  pool?: ReplyBufferPool;
  /** Record where template values land (HoleRecord). */
  holes?: HoleRecord;
}

/** Elements between two clock readings: a read is cheap, but not per element of a 1,000-VM list. */
const CHECK_EVERY = 16;
const setImmediateYield = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * rawJsonArrayOf for long lists whose elements may cost something (a VM whose report must be rebuilt
 * first): the loop is yielded to whenever a slice of work has run for `sliceMs`, so other connections'
 * requests are served in between. Elements are put in order; each sees the moment it is put.
 */
export async function rawJsonArrayOfSliced<T>(elements: readonly T[], put: (element: T, into: JsonPieces) => void, opts: SliceOptions = {}): Promise<RawJson> {
  const now = opts.now ?? (() => performance.now());
  const sliceMs = opts.sliceMs ?? 2;
  const yieldToLoop = opts.yieldToLoop ?? setImmediateYield;
  const pieces = new JsonPieces(opts.capacity, opts.pool, opts.holes);
  pieces.bytes(OPEN);
  let sliceStart = now();
  for (let i = 0; i < elements.length; i++) {
    if (i > 0) pieces.bytes(COMMA);
    put(elements[i]!, pieces);
    if (i % CHECK_EVERY === CHECK_EVERY - 1 && now() - sliceStart >= sliceMs) {
      await yieldToLoop();
      sliceStart = now();
    }
  }
  pieces.bytes(CLOSE);
  return RawJson.fromPieces(pieces);
}

/**
 * rawJsonArrayOf as steps for a caller that slices its own work (report-refresher.ts runs them in its
 * walk's slices): yields after every `every` elements and returns the value. A generator left before
 * its end (return()) gives its pooled buffer back. Elements are put in order; each sees the moment it
 * is put.
 */
export function* rawJsonArraySteps<T>(
  elements: readonly T[], put: (element: T, into: JsonPieces) => void,
  opts: Pick<SliceOptions, 'capacity' | 'pool' | 'holes'> & { every?: number } = {},
): Generator<void, RawJson, void> {
  const every = opts.every ?? CHECK_EVERY;
  const pieces = new JsonPieces(opts.capacity, opts.pool, opts.holes);
  let finished = false;
  try {
    pieces.bytes(OPEN);
    for (let i = 0; i < elements.length; i++) {
      if (i > 0) pieces.bytes(COMMA);
      put(elements[i]!, pieces);
      if (i % every === every - 1) yield;
    }
    pieces.bytes(CLOSE);
    finished = true;
    return RawJson.fromPieces(pieces);
  } finally {
    if (!finished) {
      const { buf, pooled } = pieces.take();
      if (pooled) opts.pool?.release(buf);
    }
  }
}
