// An in-memory socket for the connection output's tests: it keeps a copy of every write and completes
// a write only when the test says so (complete()), so the writer's write callbacks run when a test wants.
import assert from 'node:assert/strict';
import type { ByteSink } from '../../src/rpc/chunked-writer.js';

export class MemorySink implements ByteSink {
  writes: Buffer[] = [];
  /** Callbacks of writes not completed yet (the kernel has not taken them). */
  pending: ((err?: Error | null) => void)[] = [];
  buffered = 0;
  corked = 0;
  ended = false;
  destroyed = false;

  /** How many writes were handed text (encoded by the socket) rather than bytes. */
  textWrites = 0;

  write(chunk: Buffer | string, cb?: (err?: Error | null) => void): boolean {
    if (typeof chunk === 'string') {
      this.textWrites++;
      chunk = Buffer.from(chunk, 'utf8');
    }
    // Copy: a chunk may be a view of the caller's buffer. Corked writes are one write (writev).
    if (this.#corked !== undefined) this.#corked.push(Buffer.from(chunk));
    else this.writes.push(Buffer.from(chunk));
    // A corked part without a callback completes with the part that has one (one writev).
    if (cb) {
      const n = chunk.length + this.#groupBytes;
      this.#groupBytes = 0;
      this.buffered += n;
      this.pending.push((err) => {
        this.buffered -= n;
        cb(err);
      });
    } else if (this.#corked !== undefined) this.#groupBytes += chunk.length;
    return true;
  }

  cork(): void {
    this.corked++;
    this.#corked = [];
  }

  uncork(): void {
    if (this.#corked === undefined) return;
    this.writes.push(Buffer.concat(this.#corked));
    this.#corked = undefined;
    this.#groupBytes = 0;
  }

  #corked: Buffer[] | undefined;
  #groupBytes = 0;

  get writableLength(): number {
    return this.buffered;
  }

  end(): void {
    this.ended = true;
  }

  destroy(): void {
    this.destroyed = true;
  }

  /** Complete the oldest write. */
  complete(err?: Error): void {
    const cb = this.pending.shift();
    assert.ok(cb, 'no write in flight');
    cb(err ?? null);
  }

  get bytes(): Buffer {
    return Buffer.concat(this.writes);
  }
}
