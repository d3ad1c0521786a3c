// Pooled reply buffers on a connection's way out (issue 17): a buffer is handed out again only after the
// socket's write callback ran for every byte of it. The socket here takes a write's bytes only when the
// test completes it (as the kernel takes them later than write() returns), so a buffer reused too early
// would show as overwritten bytes in what the "kernel" received. Covered: a frame written at once (its
// parts corked), a big frame written in chunks, two frames of one buffer, a failed write, a destroyed
// connection, and a frame that waits in the session's backlog.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkedWriter, type ByteSink } from '../../src/rpc/chunked-writer.js';
import { LazySink } from '../support/lazy-sink.js';
import { StompBroker } from '../../src/rpc/stomp-broker.js';
import { encodeMessageParts, type OutFrame } from '../../src/rpc/stomp-frame.js';
import { StompSession } from '../../src/rpc/stomp-session.js';
import { ReplyBufferPool } from '../../src/runtime/reply-buffers.js';
import { ManualTime } from '../support/manual-time.js';
import { silentLogger } from './silent-log.js';

const KiB = 1024;

/** A MESSAGE frame whose body is a pooled buffer filled with `fill`, as rpc-server delivers one. */
function pooledFrame(pool: ReplyBufferPool, bytes: number, fill: number): { frame: Buffer[]; buf: Buffer; expected: Buffer } {
  const buf = pool.acquire(bytes);
  const body = buf.subarray(0, bytes).fill(fill);
  const frame = encodeMessageParts('jms.topic.vdsm_responses', 'r', [body]);
  return { frame, buf, expected: Buffer.concat(frame.map((b) => Buffer.from(b))) };
}

function writer(sink: ByteSink, pool: ReplyBufferPool, turns: (() => void)[], onDrained?: () => void): ChunkedWriter {
  return new ChunkedWriter(sink, { connectionId: 1, chunkBytes: 16 * KiB, directMaxBytes: 256 * KiB, defer: (fn) => turns.push(fn), leases: pool, ...(onDrained ? { onDrained } : {}) });
}

/** Complete writes and run deferred turns until nothing waits. */
function flush(sink: LazySink, turns: (() => void)[]): void {
  while (sink.waiting || turns.length > 0) {
    if (sink.waiting) sink.complete();
    else turns.shift()!();
  }
}

void test('a frame written at once keeps its buffer until the write callback of its last part; a second reply meanwhile gets another buffer', () => {
  const pool = new ReplyBufferPool();
  const sink = new LazySink();
  const turns: (() => void)[] = [];
  const out = writer(sink, pool, turns);
  const a = pooledFrame(pool, 100 * KiB, 0x61);
  out.write(a.frame);
  pool.release(a.frame); // the builder, after delivery
  assert.ok(pool.held(a.buf), 'the socket has not taken it');
  const b = pooledFrame(pool, 100 * KiB, 0x62);
  assert.notEqual(b.buf.buffer, a.buf.buffer, 'not handed out again while unwritten');
  out.write(b.frame);
  pool.release(b.frame);
  flush(sink, turns);
  assert.ok(sink.bytes.equals(Buffer.concat([a.expected, b.expected])), 'both replies reached the socket intact');
  assert.equal(pool.held(a.buf) || pool.held(b.buf), false, 'released once written');
  assert.equal(pool.acquire(100 * KiB).buffer, b.buf.buffer, 'and reused');
});

void test('a frame written in chunks keeps its buffer until the callback of the chunk that ends it', () => {
  const pool = new ReplyBufferPool();
  const sink = new LazySink();
  const turns: (() => void)[] = [];
  const out = writer(sink, pool, turns);
  const a = pooledFrame(pool, 1024 * KiB, 0x41);
  out.write(a.frame);
  pool.release(a.frame);
  let chunks = 0;
  while (sink.waiting) {
    // Every chunk but the last: still held, and a reply built now never gets its buffer.
    const b = pooledFrame(pool, 1024 * KiB, 0x42);
    assert.notEqual(b.buf.buffer, a.buf.buffer, `chunk ${chunks}: handed out while unwritten`);
    b.buf.fill(0x58); // what a reuse would do to the first reply's bytes
    pool.release(b.frame);
    assert.ok(pool.held(a.buf));
    sink.complete();
    chunks++;
    while (turns.length > 0) turns.shift()!();
  }
  assert.ok(chunks > 60, `${chunks} chunks`);
  assert.ok(sink.bytes.equals(a.expected), 'the first reply reached the socket intact');
  assert.equal(pool.held(a.buf), false);
});

void test('two frames of one buffer (one reply to two subscribers): reused only after both were written', () => {
  const pool = new ReplyBufferPool();
  const sinks = [new LazySink(), new LazySink()];
  const turns: (() => void)[] = [];
  const outs = sinks.map((s) => writer(s, pool, turns));
  const a = pooledFrame(pool, 300 * KiB, 0x31);
  for (const o of outs) o.write(a.frame);
  pool.release(a.frame);
  flush(sinks[0]!, turns);
  assert.ok(pool.held(a.buf), 'the second connection has not written it');
  assert.notEqual(pool.acquire(300 * KiB).buffer, a.buf.buffer);
  flush(sinks[1]!, turns);
  assert.equal(pool.held(a.buf), false);
  for (const s of sinks) assert.ok(s.bytes.equals(a.expected));
});

void test('a failed write or a destroyed connection never gives its buffer back', () => {
  const pool = new ReplyBufferPool();
  // Failed: the socket reports an error for a chunk.
  const sink = new LazySink();
  const turns: (() => void)[] = [];
  const out = writer(sink, pool, turns);
  const a = pooledFrame(pool, 512 * KiB, 0x21);
  out.write(a.frame);
  pool.release(a.frame);
  sink.complete();
  turns.shift()!();
  sink.complete(new Error('EPIPE'));
  // Destroyed mid-reply: the chunk in flight still completes afterwards (it was in the kernel).
  const sink2 = new LazySink();
  const out2 = writer(sink2, pool, turns);
  const b = pooledFrame(pool, 512 * KiB, 0x22);
  out2.write(b.frame);
  pool.release(b.frame);
  out2.destroy();
  sink2.complete();
  // Destroyed before the callback of a frame written at once.
  const sink3 = new LazySink();
  const out3 = writer(sink3, pool, turns);
  const c = pooledFrame(pool, 100 * KiB, 0x23);
  out3.write(c.frame);
  pool.release(c.frame);
  out3.destroy();
  sink3.complete(new Error('ERR_STREAM_DESTROYED'));
  const later = [pool.acquire(512 * KiB), pool.acquire(512 * KiB), pool.acquire(100 * KiB)];
  for (const buf of [a.buf, b.buf, c.buf]) {
    assert.ok(pool.held(buf), 'never released');
    assert.ok(later.every((l) => l.buffer !== buf.buffer), 'never handed out again');
  }
});

void test('a frame waiting in the session\'s backlog holds its buffer until the socket wrote it', () => {
  const pool = new ReplyBufferPool();
  const sink = new LazySink();
  const turns: (() => void)[] = [];
  const time = new ManualTime();
  const out = writer(sink, pool, turns, () => session.outputDrained());
  const session = new StompSession({
    connectionId: 1, clientAddress: '127.0.0.1', broker: new StompBroker(), log: silentLogger(), clock: time, timers: time,
    onRequest: () => undefined, maxOutgoingBytes: 200 * KiB, leases: pool,
    transport: { write: (f: OutFrame) => out.write(f), get pendingBytes() { return out.pendingBytes; }, end: () => out.end(), destroy: () => out.destroy() },
  });
  const a = pooledFrame(pool, 150 * KiB, 0x71);
  const b = pooledFrame(pool, 150 * KiB, 0x72);
  session.sendFrame(a.frame);
  session.sendFrame(b.frame); // above the connection's bound with a unwritten: into the backlog
  assert.equal(session.state()['backlogBytes'], b.expected.length);
  pool.release(a.frame);
  pool.release(b.frame);
  assert.ok(pool.held(b.buf), 'held by the backlog');
  assert.notEqual(pool.acquire(150 * KiB).buffer, b.buf.buffer);
  flush(sink, turns);
  assert.ok(pool.held(b.buf), 'still in the backlog');
  session.outputDrained(); // the socket's 'drain'
  flush(sink, turns);
  assert.ok(sink.bytes.equals(Buffer.concat([a.expected, b.expected])));
  assert.equal(pool.held(a.buf) || pool.held(b.buf), false, 'both released once written');
  // A session closed with a frame in its backlog never releases it.
  const c = pooledFrame(pool, 150 * KiB, 0x73);
  const d = pooledFrame(pool, 150 * KiB, 0x74);
  session.sendFrame(c.frame);
  session.sendFrame(d.frame);
  pool.release(c.frame);
  pool.release(d.frame);
  session.close('test', false);
  assert.ok(pool.held(d.buf));
});
