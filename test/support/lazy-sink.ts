// A socket for tests of pooled reply buffers (issue 17): a write's bytes are taken (copied) only when the
// test completes it, in order, as the kernel takes them later than write() returns, so a buffer written
// to too early shows as changed bytes in what the "kernel" received.
import assert from 'node:assert/strict';
import type { ByteSink } from '../../src/rpc/chunked-writer.js';

/** A socket whose writes are taken (copied) only when completed, in order, as the kernel would. */
export class LazySink implements ByteSink {
  /** Writes not taken yet; a write without a callback is taken with the next one that has one. */
  readonly queue: { chunk: Buffer; cb: ((err?: Error | null) => void) | undefined }[] = [];
  readonly taken: Buffer[] = [];
  destroyed = false;

  write(chunk: Buffer | string, cb?: (err?: Error | null) => void): boolean {
    this.queue.push({ chunk: typeof chunk === 'string' ? Buffer.from(chunk) : chunk, cb });
    return true;
  }

  cork(): void {}
  uncork(): void {}

  get writableLength(): number {
    return this.queue.reduce((n, w) => n + w.chunk.length, 0);
  }

  end(): void {}

  destroy(): void {
    this.destroyed = true;
  }

  /** Whether a write callback is waiting. */
  get waiting(): boolean {
    return this.queue.some((w) => w.cb !== undefined);
  }

  /** Take the writes up to the next one with a callback, then run it (with `err`: nothing is taken). */
  complete(err?: Error): void {
    const i = this.queue.findIndex((w) => w.cb !== undefined);
    assert.ok(i >= 0, 'no write callback waiting');
    const done = this.queue.splice(0, i + 1);
    if (err === undefined) for (const w of done) this.taken.push(Buffer.from(w.chunk));
    done[i]!.cb!(err ?? null);
  }

  get bytes(): Buffer {
    return Buffer.concat(this.taken);
  }
}
