// Reuse of big reply buffers (issue 17). A getAllVmStats reply at 1,000 VMs is assembled into one ~2 MB
// buffer (raw-json.ts JsonPieces); a fresh one per read is external memory V8 counts towards its next
// mark-compact (at back-to-back reads ~110 MB/s, a 5-10 ms pause every second or two). Here a few such
// buffers are kept and handed out again, under one lifetime rule:
//
//   a buffer is handed out again only after everyone who may still read its bytes has let go of it.
//
// Holders count references (retain / release), keyed by the buffer's ArrayBuffer so views of it (the
// encoded reply, a chunk of it) count as the buffer:
// - acquire() gives the builder one reference; it releases it when the reply was delivered (rpc-server),
//   or never (an HTTP reply, a batch, a `.text`): then the buffer is simply not reused and GC takes it.
// - a connection's output (chunked-writer.ts) retains a frame's buffers when it takes the frame and
//   releases them only in the socket's write callback for the frame's last byte (TLS included: the
//   callback runs once the clear text was consumed), never on an error; a session's backlog
//   (stomp-session.ts) retains a frame while it waits there.
// - a connection closed or destroyed mid-reply never releases: its buffer is not reused (no leak: the
//   pool forgets it, GC takes it once the socket lets go).
// Every retain is paired with one release by the same holder; a release past zero is ignored.
//
// Memory: buffers waiting to be reused are bounded by maxIdleBytes (default 8 MiB, at most
// IDLE_PER_SIZE per size); sizes below minBytes or above maxBytes are plain allocations, never pooled.
// Buffers in use are the replies being written, which the connections' bounds and the memory budget count.

/** Default: buffers smaller than this are plain allocations (Node's own slab covers the small ones). */
export const REPLY_POOL_MIN_BYTES = 64 * 1024;
/** Default: no buffer above this is kept (a connection's outgoing bound). */
export const REPLY_POOL_MAX_BYTES = 32 * 1024 * 1024;
/** Default bound on the bytes of buffers kept for reuse. */
export const REPLY_POOL_IDLE_BYTES = 8 * 1024 * 1024;
/** Buffers of one size kept for reuse at most. */
export const IDLE_PER_SIZE = 2;

export interface ReplyBufferPoolOptions {
  minBytes?: number;
  maxBytes?: number;
  maxIdleBytes?: number;
}

/** The retain/release side, for the holders that pass buffers on (connection output, session backlog). */
export interface BufferLeases {
  /** Count one more holder of every pooled buffer among `parts`; true when there was one. */
  retain(parts: Buffer | readonly Buffer[]): boolean;
  /** This holder is done with them (pairs with retain, or with acquire for the builder). */
  release(parts: Buffer | readonly Buffer[]): void;
}

export interface ReplyBufferPoolState {
  /** Buffers handed out: new, and of them taken from the idle list. */
  acquired: number;
  reused: number;
  /** Released by their last holder: kept for reuse, or let go (the idle bound was reached). */
  returned: number;
  discarded: number;
  idleBuffers: number;
  idleBytes: number;
  maxIdleBytes: number;
}

/** References to one pooled buffer. */
interface Lease {
  refs: number;
  buf: Buffer;
}

/**
 * Sizes are rounded up to a quarter of their power of two (64, 80, 96, 112, 128 KiB, ...), so a reply
 * that grows by a few per cent still finds a buffer of its size, and a buffer is at most 25 % too big.
 */
export function poolSize(n: number): number {
  const top = 2 ** Math.floor(Math.log2(Math.max(1, n)));
  const step = Math.max(1, top / 4);
  return Math.ceil(n / step) * step;
}

export class ReplyBufferPool implements BufferLeases {
  readonly #min: number;
  readonly #max: number;
  readonly #maxIdle: number;
  /** Idle buffers by size. */
  readonly #idle = new Map<number, Buffer[]>();
  #idleBytes = 0;
  #idleBuffers = 0;
  /** Buffers handed out and not yet back: weak, a buffer nobody releases is GC's. */
  readonly #leases = new WeakMap<ArrayBuffer, Lease>();
  #acquired = 0;
  #reused = 0;
  #returned = 0;
  #discarded = 0;

  constructor(opts: ReplyBufferPoolOptions = {}) {
    this.#min = opts.minBytes ?? REPLY_POOL_MIN_BYTES;
    this.#max = opts.maxBytes ?? REPLY_POOL_MAX_BYTES;
    this.#maxIdle = opts.maxIdleBytes ?? REPLY_POOL_IDLE_BYTES;
  }

  /**
   * A buffer of at least `n` bytes (all of its length is usable; its contents are whatever was there),
   * held once by the caller. Outside the pooled sizes it is a plain allocation that retain/release ignore.
   */
  acquire(n: number): Buffer {
    if (n < this.#min || n > this.#max) return Buffer.allocUnsafe(n);
    const size = poolSize(n);
    this.#acquired++;
    let buf = this.#idle.get(size)?.pop();
    if (buf !== undefined) {
      this.#reused++;
      this.#idleBytes -= size;
      this.#idleBuffers--;
    } else {
      // Its own ArrayBuffer (never Node's shared slab), so the ArrayBuffer names the buffer.
      buf = Buffer.allocUnsafeSlow(size);
    }
    this.#leases.set(buf.buffer as ArrayBuffer, { refs: 1, buf });
    return buf;
  }

  retain(parts: Buffer | readonly Buffer[]): boolean {
    if (!Array.isArray(parts)) return this.#retainOne(parts as Buffer);
    let any = false;
    for (const p of parts as readonly Buffer[]) if (this.#retainOne(p)) any = true;
    return any;
  }

  release(parts: Buffer | readonly Buffer[]): void {
    if (!Array.isArray(parts)) this.#releaseOne(parts as Buffer);
    else for (const p of parts as readonly Buffer[]) this.#releaseOne(p);
  }

  /** Whether `buf` (or a view of it) is a pooled buffer some holder still has. */
  held(buf: Buffer): boolean {
    return this.#leases.has(buf.buffer as ArrayBuffer);
  }

  /**
   * How many holders `buf` (or a view of it) has now: 0 when it is not a pooled buffer handed out. A holder
   * that keeps a buffer to write into again (a whole reply patched in place, services/whole-reply.ts) may
   * do so only while it is the one holder: no connection still has any of it to write, no reply refers to it.
   */
  holders(buf: Buffer): number {
    return this.#leases.get(buf.buffer as ArrayBuffer)?.refs ?? 0;
  }

  describe(): ReplyBufferPoolState {
    return {
      acquired: this.#acquired, reused: this.#reused, returned: this.#returned, discarded: this.#discarded,
      idleBuffers: this.#idleBuffers, idleBytes: this.#idleBytes, maxIdleBytes: this.#maxIdle,
    };
  }

  #retainOne(part: Buffer): boolean {
    const lease = this.#leases.get(part.buffer as ArrayBuffer);
    if (lease === undefined) return false;
    lease.refs++;
    return true;
  }

  #releaseOne(part: Buffer): void {
    const ab = part.buffer as ArrayBuffer;
    const lease = this.#leases.get(ab);
    if (lease === undefined || --lease.refs > 0) return;
    this.#leases.delete(ab);
    const buf = lease.buf;
    let list = this.#idle.get(buf.length);
    if (this.#idleBytes + buf.length > this.#maxIdle || (list !== undefined && list.length >= IDLE_PER_SIZE)) {
      this.#discarded++;
      return;
    }
    if (list === undefined) this.#idle.set(buf.length, (list = []));
    list.push(buf);
    this.#idleBytes += buf.length;
    this.#idleBuffers++;
    this.#returned++;
  }
}
