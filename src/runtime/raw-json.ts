// JSON text that is already serialised: a handler returns it so the JSON-RPC layer splices it into the
// response as is (a report built once per change is not parsed and stringified again per request).
// Anything else that stringifies it still gets the right value, through toJSON (slowly).
//
// Two forms: one text, or pieces (JsonPieces): the UTF-8 bytes of text kept with a report built once per
// change, and the short strings filled in per read. The pieces are written straight into the reply's
// buffer (encode()): a 1.8 MB getAllVmStats costs one copy of cached bytes, not a 1.8 MB string joined,
// flattened and UTF-8 encoded again on every request.

type Piece = string | Buffer;

export class RawJson {
  #text: string | undefined;
  readonly #pieces: readonly Piece[] | undefined;
  /** Upper bound of the pieces' UTF-8 size (a UTF-16 unit is at most 3 bytes). */
  readonly #maxBytes: number;

  /** `text`: valid JSON text of one value. */
  constructor(text: string);
  constructor(text: undefined, pieces: readonly Piece[], maxBytes: number);
  constructor(text: string | undefined, pieces?: readonly Piece[], maxBytes = 0) {
    this.#text = text;
    this.#pieces = pieces;
    this.#maxBytes = maxBytes;
  }

  /** The value whose JSON text is the concatenation of the pieces. */
  static fromPieces(pieces: JsonPieces): RawJson {
    return new RawJson(undefined, pieces.items, pieces.maxBytes);
  }

  /** Its size without building anything: the text's length, or the pieces' UTF-8 upper bound. */
  get sizeHint(): number {
    return this.#text !== undefined ? this.#text.length : this.#maxBytes;
  }

  /** The JSON text (built from the pieces on first use). */
  get text(): string {
    return (this.#text ??= this.encode('', '').toString('utf8'));
  }

  /** `prefix`, this JSON text and `suffix` as UTF-8 bytes in one buffer. */
  encode(prefix: string, suffix: string): Buffer {
    if (this.#pieces === undefined) return Buffer.from(`${prefix}${this.#text!}${suffix}`, 'utf8');
    const out = Buffer.allocUnsafe(3 * (prefix.length + suffix.length) + this.#maxBytes);
    let at = out.write(prefix, 0, 'utf8');
    for (const p of this.#pieces) {
      // TypedArray set: Buffer#copy's JS argument handling costs more than a small copy itself.
      if (typeof p === 'string') at += out.write(p, at, 'utf8');
      else {
        out.set(p, at);
        at += p.length;
      }
    }
    at += out.write(suffix, at, 'utf8');
    return out.subarray(0, at);
  }

  /** The value, for a JSON.stringify that does not know RawJson (parses the text). */
  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

/** A JSON text assembled from bytes and strings, in order (see RawJson.fromPieces). */
export class JsonPieces {
  readonly items: Piece[] = [];
  maxBytes = 0;

  /** UTF-8 bytes of JSON text (kept by the caller, never modified afterwards). */
  bytes(b: Buffer): void {
    this.items.push(b);
    this.maxBytes += b.length;
  }

  /** JSON text as a string. */
  text(s: string): void {
    this.items.push(s);
    this.maxBytes += 3 * s.length;
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
export function rawJsonArrayOf<T>(elements: readonly T[], put: (element: T, into: JsonPieces) => void): RawJson {
  const pieces = new JsonPieces();
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
  const pieces = new JsonPieces();
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
