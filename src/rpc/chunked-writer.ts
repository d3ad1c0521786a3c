// One connection's outgoing bytes, handed to its socket in bounded chunks so that a big reply does not
// hold the event loop or other connections. A multi-MB MESSAGE frame handed to socket.write() in one
// call is encrypted in that call (TLS: all of it, synchronously) or copied as far as the kernel takes
// it, and the rest waits in libuv where nothing else of this connection can be ordered behind it. Here
// a frame larger than DIRECT_WRITE_MAX_BYTES is queued and written CHUNK bytes at a time: the next chunk only after
// the socket has taken the previous one (its write callback) and after a turn of the event loop, so a
// small reply on another connection goes out between two chunks.
//
// The queue is one ordered byte stream: a frame is appended whole, so frames of one connection are never
// interleaved (a frame may span many writes, nothing of another frame sits between them). A small frame
// (up to 256 KiB) while nothing is queued goes straight to the socket, as before. pendingBytes (queued plus what the
// socket itself still buffers) is what the session's bound, backlog and the memory budget count.
//
// Pooled reply buffers (runtime/reply-buffers.ts): a frame whose parts lie in pooled buffers is retained
// when it is taken and released in the socket's write callback of its last byte (for a frame written at
// once, the callback of its last part; for a queued one, of the chunk that ends it), never earlier and
// never after a failed write or a destroy: whenWritten's "handed to the socket" is not enough for reuse.
//
// Lifecycle: open -> ending (end(): the queue is flushed, then the socket ended) -> closed; destroy()
// from any state drops the queue at once (a connection closed mid-reply frees it).
import { channel } from 'node:diagnostics_channel';
import type { BufferLeases } from '../runtime/reply-buffers.js';
import { outFrameBytes, TextFrame } from './stomp-frame.js';

/** Bytes handed to the socket in one write while a frame is being chunked. */
export const OUTPUT_CHUNK_BYTES = 64 * 1024;
/**
 * A frame up to this size with nothing queued ahead of it is written at once: TLS encrypts 256 KiB in a
 * fraction of a millisecond, and waiting for a write callback between chunks of a reply that small
 * costs its requester more than it saves anyone else.
 */
export const DIRECT_WRITE_MAX_BYTES = 256 * 1024;

/**
 * Published (only when subscribed) each time bytes of a connection are handed to its socket: a small
 * frame written at once, or one chunk of queued output. Tests watch the order of hand-offs across
 * connections; benches see when a reply's last byte went out.
 */
export const rpcOutputChannel = channel('vdsm:rpc:output');

/**
 * Published (only when subscribed) when the socket's write callback for a queued chunk ran: the time
 * from a chunk's hand-off to this event is the socket taking it (the kernel's send buffer full: the peer
 * reads slower than we write); from this event to the next hand-off is the wait for a turn of the loop.
 */
export const rpcOutputWrittenChannel = channel('vdsm:rpc:output-written');

export interface OutputWrittenEvent {
  connectionId: number;
  /** Bytes of the chunk whose write completed. */
  bytes: number;
  /** Bytes still queued here behind it. */
  queued: number;
}

export interface OutputEvent {
  connectionId: number;
  /** Bytes handed in this write. */
  bytes: number;
  /** Bytes still queued behind it. */
  queued: number;
  /** Bytes of this connection handed so far (this write included). */
  handed: number;
  /** Bytes the socket still buffered right after this hand-off (the kernel did not take them at once). */
  buffered: number;
  /** How long the socket's write call took (queued chunks only; 0 for a frame written at once). */
  writeMs: number;
}

/** The socket as the writer uses it (net.Socket and tls.TLSSocket are such sinks). */
export interface ByteSink {
  /** A string is written as UTF-8 (a small text frame, only when nothing is queued). */
  write(chunk: Buffer | string, cb?: (err?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
  end(): void;
  destroy(): void;
}

export interface ChunkedWriterOptions {
  connectionId: number;
  chunkBytes?: number;
  /** Largest frame written at once when nothing is queued (default DIRECT_WRITE_MAX_BYTES, at least chunkBytes). */
  directMaxBytes?: number;
  /** Run fn on a later turn of the event loop (default setImmediate). */
  defer?: (fn: () => void) => void;
  /** The queue emptied: everything was taken by the socket (the session sends its backlog, resumes input). */
  onDrained?: () => void;
  /** Pooled buffers: frames in them are held until the socket's write callback for their last byte. */
  leases?: BufferLeases;
}

type WriterState = 'open' | 'ending' | 'closed';

export class ChunkedWriter {
  readonly #sink: ByteSink;
  readonly #connectionId: number;
  readonly #chunkBytes: number;
  readonly #directMax: number;
  readonly #defer: (fn: () => void) => void;
  readonly #onDrained: (() => void) | undefined;
  readonly #leases: BufferLeases | undefined;
  /** Queued frames in pooled buffers, with the stream offset of their last byte (in order). */
  #held: { end: number; parts: Buffer | readonly Buffer[] }[] = [];
  #state: WriterState = 'open';
  /** Queued buffers; #queue[#head] is partly written up to #offset. */
  #queue: Buffer[] = [];
  #head = 0;
  #offset = 0;
  #queued = 0;
  /** A chunk was handed and its write callback has not run yet. */
  #inFlight = false;
  #scheduled = false;
  /** Bytes appended and bytes whose write completed, since the start (for whenWritten). */
  #appended = 0;
  #written = 0;
  #handed = 0;
  #waiters: { at: number; fn: () => void }[] = [];
  readonly #pump = (): void => this.#next();

  constructor(sink: ByteSink, opts: ChunkedWriterOptions) {
    this.#sink = sink;
    this.#connectionId = opts.connectionId;
    this.#chunkBytes = Math.max(1, opts.chunkBytes ?? OUTPUT_CHUNK_BYTES);
    this.#directMax = Math.max(this.#chunkBytes, opts.directMaxBytes ?? DIRECT_WRITE_MAX_BYTES);
    this.#defer = opts.defer ?? ((fn) => setImmediate(fn));
    this.#onDrained = opts.onDrained;
    this.#leases = opts.leases;
  }

  /** Bytes not yet taken by the kernel: queued here plus buffered by the socket. */
  get pendingBytes(): number {
    return this.#queued + this.#sink.writableLength;
  }

  /** Bytes waiting here for their turn (not yet handed to the socket). */
  get queuedBytes(): number {
    return this.#queued;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Append one whole frame (one buffer, its parts in order, or a small frame as text). */
  write(frame: Buffer | readonly Buffer[] | TextFrame): void {
    if (this.#state !== 'open') return;
    const size = outFrameBytes(frame);
    if (size === 0) return;
    this.#appended += size;
    const held = !(frame instanceof TextFrame) && this.#leases !== undefined && this.#leases.retain(frame);
    if (!this.#inFlight && this.#queued === 0 && size <= this.#directMax) {
      // Nothing ahead of it: the common small reply goes out in one write, as it always did. Text is
      // encoded by the socket straight into that write (what the socket itself may buffer of it is
      // counted by writableLength in characters: the same as bytes for the ASCII of JSON-RPC replies).
      // A frame in pooled buffers is released by the callback of its last write (callbacks run in order).
      const done = held ? this.#releaser(frame as Buffer | readonly Buffer[]) : undefined;
      if (frame instanceof TextFrame) this.#sink.write(frame.text);
      else if (Array.isArray(frame)) {
        const parts = frame as readonly Buffer[];
        this.#sink.cork();
        for (let i = 0; i < parts.length; i++) this.#sink.write(parts[i]!, i === parts.length - 1 ? done : undefined);
        this.#sink.uncork();
      } else this.#sink.write(frame as Buffer, done);
      this.#written += size;
      this.#handed += size;
      if (rpcOutputChannel.hasSubscribers) this.#publish(size);
      this.#settleWaiters();
      return;
    }
    if (frame instanceof TextFrame) this.#queue.push(Buffer.from(frame.text, 'utf8'));
    else if (Array.isArray(frame)) {
      for (const part of frame as readonly Buffer[]) if (part.length > 0) this.#queue.push(part);
    } else this.#queue.push(frame as Buffer);
    this.#queued += size;
    if (held) this.#held.push({ end: this.#appended, parts: frame as Buffer | readonly Buffer[] });
    if (!this.#inFlight && !this.#scheduled) this.#next();
  }

  /**
   * Call fn once every byte appended so far has been written to the socket (a chunk's write callback
   * ran, or it was written at once); at once when nothing is queued. Dropped if the writer is destroyed.
   */
  whenWritten(fn: () => void): void {
    if (this.#written >= this.#appended) {
      fn();
      return;
    }
    this.#waiters.push({ at: this.#appended, fn });
  }

  /** Flush what is queued, then end the socket. */
  end(): void {
    if (this.#state !== 'open') return;
    this.#state = 'ending';
    if (!this.#inFlight && this.#queued === 0) this.#finish();
  }

  /** Drop everything queued and close the socket now. */
  destroy(): void {
    if (this.#state === 'closed') {
      this.#sink.destroy();
      return;
    }
    this.#state = 'closed';
    this.#drop();
    this.#sink.destroy();
  }

  describe(): Record<string, unknown> {
    return { state: this.#state, queuedBytes: this.#queued, buffers: this.#queue.length - this.#head, inFlight: this.#inFlight, handed: this.#handed };
  }

  /** Hand the next chunk to the socket (at most one in flight). */
  #next(): void {
    this.#scheduled = false;
    if (this.#state === 'closed' || this.#inFlight) return;
    if (this.#queued === 0) {
      if (this.#state === 'ending') this.#finish();
      return;
    }
    const n = Math.min(this.#chunkBytes, this.#queued);
    const chunk = this.#take(n);
    this.#inFlight = true;
    this.#handed += n;
    const done = (err?: Error | null): void => this.#afterWrite(n, err);
    const t0 = rpcOutputChannel.hasSubscribers ? performance.now() : 0;
    if (!Array.isArray(chunk)) this.#sink.write(chunk, done);
    else {
      // Views of several queued buffers (a frame's head and the start of its body, the end of one frame
      // and the next): one corked write, no copy.
      this.#sink.cork();
      for (let i = 0; i < chunk.length - 1; i++) this.#sink.write(chunk[i]!);
      this.#sink.write(chunk[chunk.length - 1]!, done);
      this.#sink.uncork();
    }
    if (rpcOutputChannel.hasSubscribers) this.#publish(n, performance.now() - t0);
  }

  #afterWrite(bytes: number, err: Error | null | undefined): void {
    this.#inFlight = false;
    if (this.#state === 'closed') return;
    if (err) {
      // The socket failed: its 'close' closes the session, which destroys this writer.
      this.#drop();
      return;
    }
    this.#written += bytes;
    if (rpcOutputWrittenChannel.hasSubscribers) rpcOutputWrittenChannel.publish({ connectionId: this.#connectionId, bytes, queued: this.#queued } satisfies OutputWrittenEvent);
    this.#settleWaiters();
    // Every byte up to #written had its write callback (queued chunks: this one and the ones before;
    // direct writes come only when nothing is queued, after them).
    if (this.#held.length > 0) this.#releaseWritten();
    if (this.#queued > 0) {
      // Yield: other connections' I/O and replies run before this connection's next chunk.
      this.#scheduled = true;
      this.#defer(this.#pump);
      return;
    }
    if (this.#state === 'ending') {
      this.#finish();
      return;
    }
    this.#onDrained?.();
  }

  /** The next `n` queued bytes: a view of one buffer when they lie in one, else views of each in order. */
  #take(n: number): Buffer | Buffer[] {
    const first = this.#queue[this.#head]!;
    if (first.length - this.#offset >= n) {
      const view = first.subarray(this.#offset, this.#offset + n);
      this.#advance(n);
      return view;
    }
    const out: Buffer[] = [];
    let at = 0;
    while (at < n) {
      const buf = this.#queue[this.#head]!;
      const take = Math.min(n - at, buf.length - this.#offset);
      out.push(buf.subarray(this.#offset, this.#offset + take));
      at += take;
      this.#advance(take);
    }
    return out;
  }

  #advance(n: number): void {
    this.#queued -= n;
    this.#offset += n;
    if (this.#offset < this.#queue[this.#head]!.length) return;
    this.#queue[this.#head] = EMPTY;
    this.#head++;
    this.#offset = 0;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** The write callback that releases a directly written frame's pooled buffers (not after an error). */
  #releaser(parts: Buffer | readonly Buffer[]): (err?: Error | null) => void {
    const leases = this.#leases!;
    return (err) => {
      if (!err) leases.release(parts);
    };
  }

  #releaseWritten(): void {
    let i = 0;
    while (i < this.#held.length && this.#held[i]!.end <= this.#written) this.#leases!.release(this.#held[i++]!.parts);
    if (i > 0) this.#held.splice(0, i);
  }

  #settleWaiters(): void {
    while (this.#waiters.length > 0 && this.#waiters[0]!.at <= this.#written) this.#waiters.shift()!.fn();
  }

  #drop(): void {
    this.#queue = [];
    this.#head = 0;
    this.#offset = 0;
    this.#queued = 0;
    this.#waiters = [];
    // Never released: a write may have failed midway, or the socket still holds a part (GC takes them).
    this.#held = [];
  }

  #finish(): void {
    this.#state = 'closed';
    this.#sink.end();
  }

  #publish(bytes: number, writeMs = 0): void {
    rpcOutputChannel.publish({ connectionId: this.#connectionId, bytes, queued: this.#queued, handed: this.#handed, buffered: this.#sink.writableLength, writeMs } satisfies OutputEvent);
  }
}

const EMPTY = Buffer.alloc(0);

