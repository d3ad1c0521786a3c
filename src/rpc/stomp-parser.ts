// Incremental STOMP 1.2 frame parser: an explicit state machine over bytes, with every size bounded by
// a named limit so a hostile peer cannot make it buffer without end. Runtime-free (Buffers in, frames out).
import { Destinations, newHeaders, unescapeHeaderValue, type Frame, type Headers } from './stomp-frame.js';

/** Longest accepted command line (the longest real command, UNSUBSCRIBE, is 11 bytes). */
export const MAX_COMMAND_BYTES = 64;
/** Longest accepted single header line. */
export const MAX_HEADER_LINE_BYTES = 16 * 1024;
/** Most header lines in one frame. */
export const MAX_HEADER_COUNT = 64;
/** Total bytes of all header lines of one frame. */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Largest body; VM.create with a big domain XML is a few hundred KiB, so this leaves ample room. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface StompLimits {
  maxCommandBytes: number;
  maxHeaderLineBytes: number;
  maxHeaderCount: number;
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

export const DEFAULT_STOMP_LIMITS: Readonly<StompLimits> = Object.freeze({
  maxCommandBytes: MAX_COMMAND_BYTES,
  maxHeaderLineBytes: MAX_HEADER_LINE_BYTES,
  maxHeaderCount: MAX_HEADER_COUNT,
  maxHeaderBytes: MAX_HEADER_BYTES,
  maxBodyBytes: MAX_BODY_BYTES,
});

/** The parser's states, named after what the next byte belongs to. */
export const enum ParserState {
  /** Between frames: heart-beat newlines or the command line. */
  Command,
  /** Header lines until the empty line. */
  Headers,
  /** Body whose length came from content-length. */
  BodyCounted,
  /** The NUL that must follow a counted body. */
  BodyEnd,
  /** Body without content-length: runs to the first NUL. */
  BodyUntilNul,
  /** A protocol error was reported; all further input is ignored. */
  Failed,
}

export type StompParseErrorKind =
  | 'command-too-long'
  | 'header-too-long'
  | 'too-many-headers'
  | 'headers-too-large'
  | 'body-too-large'
  | 'malformed-header'
  | 'bad-content-length'
  | 'missing-nul';

export class StompParseError extends Error {
  readonly kind: StompParseErrorKind;
  constructor(kind: StompParseErrorKind, message: string) {
    super(message);
    this.name = 'StompParseError';
    this.kind = kind;
  }
}

export interface ParserOptions {
  /**
   * A counted body (content-length) of at most this many bytes that spans chunks gets its whole buffer at
   * its first chunk, instead of one that grows by doubling (a client's 82 KB reply: one allocation and
   * one copy of each byte, not two of each). 0, the default, for a server: a peer's announced length
   * is not taken on trust, memory follows the bytes that arrived.
   */
  eagerBodyBytes?: number;
}

export interface ParserSink {
  frame(frame: Frame): void;
  /** A bare EOL between frames. */
  heartbeat?(): void;
  /** Called once; the parser is dead afterwards. */
  error(err: StompParseError): void;
}

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const COLON = 0x3a;

/** Bytes of `chunk` from `pos` on, after any EOLs there (heart-beats between frames). */
function restAfter(chunk: Buffer, pos: number): number {
  while (pos < chunk.length && (chunk[pos] === LF || chunk[pos] === CR)) pos++;
  return chunk.length - pos;
}

export class StompParser {
  #sink: ParserSink;
  #limits: StompLimits;
  readonly #eagerBodyBytes: number;
  #state = ParserState.Command;
  // The line being assembled across chunks (command or header line).
  #lineParts: Buffer[] = [];
  #lineLen = 0;
  // The frame being assembled.
  #command = '';
  #headers = newHeaders();
  #headerCount = 0;
  #headerBytes = 0;
  // The body is copied into one buffer that grows as needed (to content-length at most), so the socket's
  // read chunks are freed at once and a dropped or finished frame gives back one block of memory.
  #body: Buffer | undefined;
  #bodyLen = 0;
  #bodyWanted = 0;
  #paused = false;
  /** chunkRest: bytes after the last emitted frame in its chunk. */
  #rest = 0;
  /** Input received while paused (at most what the socket delivered before it was paused). */
  #held: Buffer | undefined;
  /** The last head #wholeHead decoded (its bytes up to the empty line) and what it gave. */
  #seen: { bytes: Buffer; command: string; headers: Readonly<Headers>; count: number; headerBytes: number } | undefined;

  constructor(sink: ParserSink, limits: Partial<StompLimits> = {}, opts: ParserOptions = {}) {
    this.#sink = sink;
    this.#limits = { ...DEFAULT_STOMP_LIMITS, ...limits };
    this.#eagerBodyBytes = opts.eagerBodyBytes ?? 0;
  }

  get state(): ParserState {
    return this.#state;
  }

  /** Bytes held for an incomplete frame (bounded by the limits), plus input held while paused. */
  get buffered(): number {
    return this.#lineLen + (this.#body?.length ?? 0) + this.#headerBytes + (this.#held?.length ?? 0);
  }

  /**
   * Stop emitting frames (the sink may call this from its frame callback): the rest of the current
   * chunk, and anything pushed meanwhile, waits until resume(). The caller stops reading the socket too.
   */
  pause(): void {
    this.#paused = true;
  }

  /** Emit again, starting with the input held while paused. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#state === ParserState.Failed) return;
    const held = this.#held;
    this.#held = undefined;
    if (held && held.length > 0) this.push(held);
  }

  /**
   * Within a frame callback: bytes of the chunk being pushed that follow the frame and its heart-beat
   * EOLs (the start of more frames: a client that pipelines), not yet parsed.
   */
  get chunkRest(): number {
    return this.#rest;
  }

  /** True while a frame has begun and is not complete (bytes past the last frame's end). */
  get midFrame(): boolean {
    return this.#state !== ParserState.Command || this.#lineLen > 0;
  }

  push(chunk: Buffer): void {
    if (this.#paused) {
      this.#held = this.#held ? Buffer.concat([this.#held, chunk]) : chunk;
      return;
    }
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.#paused) {
        // The sink paused us (flow control) after a frame: keep the rest for resume().
        this.#held = chunk.subarray(pos);
        return;
      }
      switch (this.#state) {
        case ParserState.Command:
        case ParserState.Headers: {
          if (this.#state === ParserState.Command && this.#lineLen === 0) {
            const next = this.#wholeHead(chunk, pos);
            if (next > pos) {
              pos = next;
              break;
            }
            // Else line by line: a head split across chunks, CR line endings, non-ASCII or a limit hit.
          }
          const nl = chunk.indexOf(LF, pos);
          const stop = nl === -1 ? end : nl;
          const limit = this.#state === ParserState.Command ? this.#limits.maxCommandBytes : this.#limits.maxHeaderLineBytes;
          // +1 tolerates the CR of a CRLF line ending; the exact length is checked once the line is complete.
          if (this.#lineLen + (stop - pos) > limit + 1) {
            this.#lineTooLong(limit);
            return;
          }
          if (nl === -1) {
            this.#lineParts.push(chunk.subarray(pos));
            this.#lineLen += end - pos;
            return;
          }
          let line: Buffer;
          if (this.#lineLen === 0) line = chunk.subarray(pos, nl);
          else {
            this.#lineParts.push(chunk.subarray(pos, nl));
            line = Buffer.concat(this.#lineParts, this.#lineLen + nl - pos);
            this.#lineParts = [];
            this.#lineLen = 0;
          }
          pos = nl + 1;
          if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
          if (line.length > limit) {
            this.#lineTooLong(limit);
            return;
          }
          if (this.#state === ParserState.Command) this.#onCommandLine(line);
          else this.#onHeaderLine(line);
          break;
        }
        case ParserState.BodyCounted: {
          if (this.#bodyLen === 0 && end - pos > this.#bodyWanted) {
            // The whole body and its NUL are in this chunk: the frame is emitted now, so a view will do.
            this.#body = chunk.subarray(pos, pos + this.#bodyWanted);
            this.#bodyLen = this.#bodyWanted;
            pos += this.#bodyWanted;
            this.#state = ParserState.BodyEnd;
            break;
          }
          const take = Math.min(this.#bodyWanted - this.#bodyLen, end - pos);
          this.#append(chunk, pos, pos + take, this.#bodyWanted);
          pos += take;
          if (this.#bodyLen === this.#bodyWanted) this.#state = ParserState.BodyEnd;
          break;
        }
        case ParserState.BodyEnd:
          if (chunk[pos] !== NUL) {
            this.#fail('missing-nul', "Frame doesn't end with NULL byte");
            return;
          }
          pos++;
          this.#rest = restAfter(chunk, pos);
          this.#emit();
          break;
        case ParserState.BodyUntilNul: {
          const nul = chunk.indexOf(NUL, pos);
          const stop = nul === -1 ? end : nul;
          if (this.#bodyLen + (stop - pos) > this.#limits.maxBodyBytes) {
            this.#fail('body-too-large', `Body larger than ${this.#limits.maxBodyBytes} bytes`);
            return;
          }
          if (nul !== -1 && this.#bodyLen === 0) {
            // Body and NUL in this chunk: the frame is emitted now, so a view will do.
            this.#body = chunk.subarray(pos, nul);
            this.#bodyLen = nul - pos;
          } else if (stop > pos) this.#append(chunk, pos, stop, this.#limits.maxBodyBytes);
          if (nul === -1) return;
          pos = nul + 1;
          this.#rest = restAfter(chunk, pos);
          this.#emit();
          break;
        }
        case ParserState.Failed:
          return;
      }
    }
  }

  /**
   * The common case, in one pass: a frame's command line and headers wholly in `chunk` from `pos`, LF line
   * endings, ASCII only, within every limit. Decodes the head once and returns the position after its
   * empty line (the body state set as the line-by-line path would); returns `pos` to leave anything else
   * (a split head, CRLF, non-ASCII, escapes to check, a limit or an error to report) to that path.
   */
  #wholeHead(chunk: Buffer, pos: number): number {
    const first = chunk[pos];
    if (first === LF || first === CR) return pos;
    const lim = this.#limits;
    // One pass over the bytes finds the empty line and anything plain text must not hold (CR, NUL,
    // non-ASCII): cheaper for a head of a few hundred bytes than a native indexOf and a regex over it.
    const last = Math.min(chunk.length - 2, pos + lim.maxCommandBytes + lim.maxHeaderBytes + 1);
    // The same pass compares the head with the previous one: a client repeats the same head (the same
    // verb's SENDs differ in their body only), and then its parsed form is reused.
    const seen = this.#seen;
    let same = seen !== undefined;
    let stop = -1;
    for (let i = pos; i <= last; i++) {
      const b = chunk[i]!;
      if (same && seen!.bytes[i - pos] !== b) same = false;
      if (b === LF) {
        if (chunk[i + 1] === LF) {
          stop = i;
          break;
        }
      } else if (b === CR || b === NUL || b >= 0x80) return pos;
    }
    if (stop === -1) return pos;
    if (same && seen!.bytes.length === stop + 1 - pos) {
      this.#command = seen!.command;
      this.#headers = seen!.headers;
      this.#headerCount = seen!.count;
      this.#headerBytes = seen!.headerBytes;
      this.#startBody();
      return stop + 2;
    }
    const head = chunk.toString('latin1', pos, stop + 1);
    let nl = head.indexOf('\n');
    if (nl > lim.maxCommandBytes) return pos;
    const command = head.slice(0, nl);
    // CONNECT/CONNECTED headers are not escaped; a head without a backslash has nothing to unescape.
    const raw = command === 'CONNECT' || command === 'CONNECTED' || !head.includes('\\');
    const headers = newHeaders();
    let count = 0;
    for (let at = nl + 1; at < head.length; at = nl + 1) {
      nl = head.indexOf('\n', at);
      const colon = head.indexOf(':', at);
      if (colon <= at || colon > nl || nl - at > lim.maxHeaderLineBytes || ++count > lim.maxHeaderCount) return pos;
      const key = raw ? knownHeaderName(head, at, colon) : unescapeHeaderValue(head.slice(at, colon));
      const value = raw ? knownHeaderValue(head, colon + 1, nl) : unescapeHeaderValue(head.slice(colon + 1, nl));
      if (key === undefined || value === undefined) return pos;
      // Values are strings: undefined means absent (and a lookup is far cheaper than `in` on this object).
      if (headers[key] === undefined) headers[key] = value;
    }
    const headerBytes = head.length - command.length - 1;
    if (headerBytes > lim.maxHeaderBytes) return pos;
    this.#command = command;
    this.#headers = headers;
    this.#headerCount = count;
    this.#headerBytes = headerBytes;
    // Frames of this head share its headers object from now on: frozen, so no consumer can change another's.
    Object.freeze(headers);
    this.#seen = { bytes: Buffer.from(chunk.subarray(pos, stop + 1)), command, headers, count, headerBytes };
    this.#startBody();
    return stop + 2;
  }

  /** Copy chunk[from, to) after the body so far, growing the body buffer up to `cap` bytes. */
  #append(chunk: Buffer, from: number, to: number, cap: number): void {
    const need = this.#bodyLen + (to - from);
    const have = this.#body?.length ?? 0;
    if (need > have) {
      // A counted body within eagerBodyBytes: all of it at once (cap is its content-length).
      const eager = this.#state === ParserState.BodyCounted && cap <= this.#eagerBodyBytes ? cap : 0;
      const grown = Buffer.allocUnsafeSlow(Math.min(cap, Math.max(need, have * 2, MIN_BODY_ALLOC, eager)));
      if (this.#body && this.#bodyLen > 0) this.#body.copy(grown, 0, 0, this.#bodyLen);
      this.#body = grown;
    }
    chunk.copy(this.#body!, this.#bodyLen, from, to);
    this.#bodyLen = need;
  }

  #lineTooLong(limit: number): void {
    if (this.#state === ParserState.Command) this.#fail('command-too-long', `Command line longer than ${limit} bytes`);
    else this.#fail('header-too-long', `Header line longer than ${limit} bytes`);
  }

  #onCommandLine(line: Buffer): void {
    if (line.length === 0) {
      this.#sink.heartbeat?.();
      return;
    }
    this.#command = line.toString('utf8');
    this.#headers = newHeaders();
    this.#headerCount = 0;
    this.#headerBytes = 0;
    this.#state = ParserState.Headers;
  }

  #onHeaderLine(line: Buffer): void {
    if (line.length === 0) {
      this.#startBody();
      return;
    }
    if (++this.#headerCount > this.#limits.maxHeaderCount) {
      this.#fail('too-many-headers', `More than ${this.#limits.maxHeaderCount} headers`);
      return;
    }
    this.#headerBytes += line.length + 1;
    if (this.#headerBytes > this.#limits.maxHeaderBytes) {
      this.#fail('headers-too-large', `Headers larger than ${this.#limits.maxHeaderBytes} bytes`);
      return;
    }
    const colon = line.indexOf(COLON);
    if (colon <= 0) {
      this.#fail('malformed-header', `Malformed header line: ${JSON.stringify(line.subarray(0, 80).toString('utf8'))}`);
      return;
    }
    const rawKey = line.toString('utf8', 0, colon);
    const rawValue = line.toString('utf8', colon + 1);
    // CONNECT/CONNECTED headers are not escaped (STOMP 1.2 keeps them 1.0-compatible).
    const raw = this.#command === 'CONNECT' || this.#command === 'CONNECTED';
    const key = raw ? rawKey : unescapeHeaderValue(rawKey);
    const value = raw ? rawValue : unescapeHeaderValue(rawValue);
    if (key === undefined || value === undefined) {
      this.#fail('malformed-header', `Invalid escape sequence in header ${JSON.stringify(rawKey)}`);
      return;
    }
    if (this.#headers[key] === undefined) this.#headers[key] = value;
  }

  #startBody(): void {
    this.#body = undefined;
    this.#bodyLen = 0;
    const cl = this.#headers['content-length'];
    if (cl === undefined) {
      this.#state = ParserState.BodyUntilNul;
      return;
    }
    const n = decimal(cl);
    if (n < 0) {
      this.#fail('bad-content-length', `Invalid content-length: ${JSON.stringify(cl.slice(0, 40))}`);
      return;
    }
    if (n > this.#limits.maxBodyBytes) {
      this.#fail('body-too-large', `Body larger than ${this.#limits.maxBodyBytes} bytes`);
      return;
    }
    this.#bodyWanted = n;
    this.#state = n === 0 ? ParserState.BodyEnd : ParserState.BodyCounted;
  }

  #emit(): void {
    const body = this.#body === undefined ? EMPTY : this.#body.subarray(0, this.#bodyLen);
    const frame: Frame = { command: this.#command, headers: this.#headers, body };
    this.#body = undefined;
    this.#bodyLen = 0;
    this.#headerBytes = 0;
    // The next command line gives the next frame its own headers object.
    this.#state = ParserState.Command;
    this.#sink.frame(frame);
  }

  /** Drop any partial frame and ignore all further input (the connection is being closed). */
  discard(): void {
    this.#state = ParserState.Failed;
    this.#held = undefined;
    this.#lineParts = [];
    this.#lineLen = 0;
    this.#body = undefined;
    this.#bodyLen = 0;
    this.#headerBytes = 0;
    this.#headers = newHeaders();
  }

  #fail(kind: StompParseErrorKind, message: string): void {
    this.discard();
    this.#sink.error(new StompParseError(kind, message));
  }
}

/**
 * Header names the agent's peers send, by length: a head's name that is one of them is returned as this
 * constant instead of a fresh slice, so that storing it in the headers object does not look the slice
 * up in V8's string table (a measurable share of a small request's cost).
 */
const KNOWN_HEADER_NAMES: readonly (readonly string[])[] = (() => {
  const names = [
    'destination', 'content-length', 'content-type', 'reply-to', 'receipt', 'id', 'ack', 'subscription',
    'accept-version', 'host', 'heart-beat', 'login', 'passcode', 'message-id', 'transaction', 'receipt-id', 'version',
  ];
  const byLength: string[][] = [];
  for (const n of names) (byLength[n.length] ??= []).push(n);
  return byLength;
})();

/** head.slice(at, colon), as a known constant when it is one. */
function knownHeaderName(head: string, at: number, colon: number): string {
  const candidates = KNOWN_HEADER_NAMES[colon - at];
  if (candidates !== undefined) for (const name of candidates) if (head.startsWith(name, at)) return name;
  return head.slice(at, colon);
}

/** The value of 1 to 15 decimal digits (nothing else), else -1. */
function decimal(text: string): number {
  if (text.length === 0 || text.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * vdsm's destinations as constants: a head's destination or reply-to that is one of them is that very
 * string, so each frame's routing compares and looks it up by identity (no character comparison in the
 * runtime, no hashing of a fresh slice).
 */
const KNOWN_HEADER_VALUES: readonly string[] = Object.values(Destinations);

/** head.slice(from, to), as a known destination constant when it is one. */
function knownHeaderValue(head: string, from: number, to: number): string {
  if (to - from >= 16) for (const v of KNOWN_HEADER_VALUES) if (v.length === to - from && head.startsWith(v, from)) return v;
  return head.slice(from, to);
}

const EMPTY = Buffer.alloc(0);
/** Smallest body buffer allocated (most frames are smaller and get a buffer of exactly their size). */
const MIN_BODY_ALLOC = 4096;
