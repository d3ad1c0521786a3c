// Length-prefixed frames of the supervdsm socket: a 4-byte big-endian body length, then the body (one
// msgpack message). An explicit state machine over bytes, runtime-free, with the size limit as a named
// constant so a peer can never make it buffer more than one frame's worth.

/** Bytes of the length prefix. */
export const FRAME_HEADER_BYTES = 4;
/** Default largest body (1 MiB): the biggest real message, a hardware report or a rule file, is a few KiB. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** What the length field can say at most; a limit above it is meaningless. */
export const FRAME_LENGTH_CEILING = 0xffff_ffff;

/** The decoder's states, named after what the next byte belongs to. */
export const enum FrameState {
  /** The 4-byte length of the next frame (possibly split across chunks). */
  Header,
  /** The body whose length the header gave. */
  Body,
  /** A framing error was reported; further input is ignored (the stream cannot be re-synchronised). */
  Failed,
}

export type FrameErrorKind = 'empty-frame' | 'frame-too-large' | 'truncated';

export interface FrameSink {
  /** One complete body. The buffer is the decoder's own copy; the sink may keep it. */
  frame(body: Buffer): void;
  /** Called once; the decoder is Failed afterwards. */
  error(kind: FrameErrorKind, message: string): void;
}

export class FrameDecoder {
  #sink: FrameSink;
  #max: number;
  #state = FrameState.Header;
  #header = Buffer.alloc(FRAME_HEADER_BYTES);
  #headerLen = 0;
  #parts: Buffer[] = [];
  #bodyLen = 0;
  #wanted = 0;

  constructor(sink: FrameSink, maxFrameBytes = MAX_FRAME_BYTES) {
    if (!(Number.isInteger(maxFrameBytes) && maxFrameBytes >= 1 && maxFrameBytes <= FRAME_LENGTH_CEILING)) {
      throw new RangeError(`maxFrameBytes must be an integer in 1..${FRAME_LENGTH_CEILING}`);
    }
    this.#sink = sink;
    this.#max = maxFrameBytes;
  }

  get state(): FrameState {
    return this.#state;
  }

  /** Bytes held for the frame in progress (at most 4 + maxFrameBytes). */
  get buffered(): number {
    return this.#headerLen + this.#bodyLen;
  }

  /** True between frames: nothing of a next frame has arrived yet. */
  get idle(): boolean {
    return this.#state === FrameState.Header && this.#headerLen === 0;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      switch (this.#state) {
        case FrameState.Header: {
          const take = Math.min(FRAME_HEADER_BYTES - this.#headerLen, chunk.length - pos);
          chunk.copy(this.#header, this.#headerLen, pos, pos + take);
          this.#headerLen += take;
          pos += take;
          if (this.#headerLen < FRAME_HEADER_BYTES) break;
          const length = this.#header.readUInt32BE(0);
          this.#headerLen = 0;
          if (length === 0) {
            this.#fail('empty-frame', 'frame of length 0 (every message has a body)');
            return;
          }
          if (length > this.#max) {
            this.#fail('frame-too-large', `frame of ${length} bytes exceeds the limit of ${this.#max} bytes`);
            return;
          }
          this.#wanted = length;
          this.#state = FrameState.Body;
          break;
        }
        case FrameState.Body: {
          const take = Math.min(this.#wanted - this.#bodyLen, chunk.length - pos);
          // Copy: the caller's chunk may be reused, and a frame must not pin a large socket buffer.
          this.#parts.push(Buffer.from(chunk.subarray(pos, pos + take)));
          this.#bodyLen += take;
          pos += take;
          if (this.#bodyLen < this.#wanted) break;
          const body = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#bodyLen);
          this.#parts = [];
          this.#bodyLen = 0;
          this.#wanted = 0;
          this.#state = FrameState.Header;
          this.#sink.frame(body);
          // The sink may have failed the decoder (fail()) while handling the frame.
          if ((this.#state as FrameState) === FrameState.Failed) return;
          break;
        }
        case FrameState.Failed:
          return;
      }
    }
  }

  /**
   * The peer finished sending. Reports 'truncated' when a frame was cut short (and returns true);
   * nothing when the stream ended between frames.
   */
  end(): boolean {
    if (this.#state === FrameState.Failed || this.idle) return false;
    const have = this.#state === FrameState.Header ? `${this.#headerLen} of ${FRAME_HEADER_BYTES} length bytes` : `${this.#bodyLen} of ${this.#wanted} body bytes`;
    this.#fail('truncated', `stream ended inside a frame (${have})`);
    return true;
  }

  /** Stop decoding (the owner found a fatal problem in a frame). Drops what is buffered. */
  fail(): void {
    this.#state = FrameState.Failed;
    this.#parts = [];
    this.#bodyLen = 0;
    this.#headerLen = 0;
  }

  #fail(kind: FrameErrorKind, message: string): void {
    this.fail();
    this.#sink.error(kind, message);
  }
}

/** Prefix `body` with its length. Throws RangeError when it is empty or above `maxFrameBytes`. */
export function encodeFrame(body: Buffer | Uint8Array, maxFrameBytes = MAX_FRAME_BYTES): Buffer {
  if (body.length === 0 || body.length > maxFrameBytes) {
    throw new RangeError(`frame body of ${body.length} bytes is outside 1..${maxFrameBytes}`);
  }
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}
