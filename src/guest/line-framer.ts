// Newline framing of the ovirt-guest-agent channel, as an explicit two-state machine: LINE collects a
// message until its newline; a message that grows past the limit switches to DISCARD, which drops bytes
// up to the next newline and reports the oversized message once. Whatever the guest sends, the framer
// holds at most `maxBytes` of it (copied out of the socket's chunks, so no chunk is kept alive).

/** vdsm's MAX_MESSAGE_SIZE: one guest message, without its newline. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;

export type FramerState = 'line' | 'discard';

export interface FramerSink {
  /** A complete message without its newline. The buffer may be a view of the pushed chunk: use it now. */
  line(bytes: Buffer): void;
  /** A message longer than the limit ended; `droppedBytes` of it (newline excluded) were thrown away. */
  oversize(droppedBytes: number): void;
}

export class LineFramer {
  readonly maxBytes: number;
  #sink: FramerSink;
  #state: FramerState = 'line';
  #parts: Buffer[] = [];
  #held = 0;
  #dropped = 0;

  constructor(sink: FramerSink, maxBytes = MAX_MESSAGE_BYTES) {
    if (!(maxBytes >= 1)) throw new RangeError(`LineFramer: maxBytes must be >= 1, got ${maxBytes}`);
    this.#sink = sink;
    this.maxBytes = maxBytes;
  }

  get state(): FramerState {
    return this.#state;
  }

  /** Bytes of an unfinished message held right now (never more than maxBytes). */
  get held(): number {
    return this.#held;
  }

  /** Forget any partial message (a new connection starts clean, as vdsm's _clearReadBuffer). */
  reset(): void {
    this.#state = 'line';
    this.#parts = [];
    this.#held = 0;
    this.#dropped = 0;
  }

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (this.#state === 'discard') {
        if (nl < 0) {
          this.#dropped += chunk.length - start;
          return;
        }
        this.#dropped += nl - start;
        this.#endOversize();
        start = nl + 1;
        continue;
      }
      const end = nl < 0 ? chunk.length : nl;
      if (this.#held + (end - start) > this.maxBytes) {
        this.#dropped = this.#held + (end - start);
        this.#parts = [];
        this.#held = 0;
        if (nl < 0) {
          this.#state = 'discard';
          return;
        }
        this.#endOversize();
        start = nl + 1;
        continue;
      }
      if (nl < 0) {
        // Copy: a view would pin the whole socket chunk for as long as the message stays incomplete.
        this.#parts.push(Buffer.from(chunk.subarray(start)));
        this.#held += chunk.length - start;
        return;
      }
      const tail = chunk.subarray(start, nl);
      const line = this.#parts.length === 0 ? tail : Buffer.concat([...this.#parts, tail], this.#held + tail.length);
      this.#parts = [];
      this.#held = 0;
      start = nl + 1;
      this.#sink.line(line);
    }
  }

  #endOversize(): void {
    const dropped = this.#dropped;
    this.#dropped = 0;
    this.#state = 'line';
    this.#sink.oversize(dropped);
  }
}
