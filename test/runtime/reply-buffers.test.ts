// The reply buffer pool (issue 17): a buffer is handed out again only after its last holder released it;
// holders count (retain/release by any view of the buffer); what waits for reuse stays within the stated
// bound; sizes outside the pooled range are plain allocations the pool ignores. JsonPieces takes its
// buffer from the pool and gives an outgrown one back at once; a pooled RawJson refuses to be read once
// its bytes were handed to a reply in place.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonPieces, RawJson, rawJsonArrayOf } from '../../src/runtime/raw-json.js';
import { IDLE_PER_SIZE, poolSize, ReplyBufferPool } from '../../src/runtime/reply-buffers.js';

const KiB = 1024;

void test('sizes round up to a quarter of their power of two: a buffer is at most 25 % larger than asked', () => {
  assert.equal(poolSize(64 * KiB), 64 * KiB);
  assert.equal(poolSize(64 * KiB + 1), 80 * KiB);
  assert.equal(poolSize(100 * KiB), 112 * KiB);
  assert.equal(poolSize(1_980_000), 2 * 1024 * KiB);
  for (const n of [65_537, 200_000, 1_000_001, 3_000_000, 31 * 1024 * KiB]) {
    const size = poolSize(n);
    assert.ok(size >= n && size <= n * 1.25, `${n} -> ${size}`);
    assert.equal(poolSize(size), size, 'a class size is its own class');
  }
});

void test('a released buffer is handed out again; one still held by anyone is not', () => {
  const pool = new ReplyBufferPool();
  const a = pool.acquire(100 * KiB);
  assert.equal(a.length, poolSize(100 * KiB));
  assert.ok(pool.held(a));
  // A connection takes a view of it (a reply encoded in place), then the builder lets go.
  const view = a.subarray(300, 90 * KiB);
  assert.equal(pool.retain([Buffer.from('head'), view]), true);
  pool.release(a);
  const b = pool.acquire(100 * KiB);
  assert.notEqual(b.buffer, a.buffer, 'still held by the connection: not handed out');
  pool.release(view);
  assert.equal(pool.held(a), false);
  const c = pool.acquire(100 * KiB);
  assert.equal(c.buffer, a.buffer, 'its last holder released it: reused');
  assert.deepEqual({ acquired: 3, reused: 1 }, { acquired: pool.describe().acquired, reused: pool.describe().reused });
});

void test('every retain needs its release: two connections holding one reply', () => {
  const pool = new ReplyBufferPool();
  const a = pool.acquire(70 * KiB);
  pool.retain(a);
  pool.retain([a.subarray(0, 10)]);
  pool.release(a); // the builder
  pool.release(a.subarray(5, 6)); // one connection
  assert.ok(pool.held(a));
  assert.notEqual(pool.acquire(70 * KiB).buffer, a.buffer);
  pool.release([a]); // the other
  assert.equal(pool.held(a), false);
  assert.equal(pool.acquire(70 * KiB).buffer, a.buffer);
});

void test('a buffer nobody releases (a destroyed connection) is never handed out again', () => {
  const pool = new ReplyBufferPool();
  const a = pool.acquire(80 * KiB);
  pool.retain(a); // the connection, which is destroyed before its write callback
  pool.release(a); // the builder
  const later = Array.from({ length: 4 }, () => pool.acquire(80 * KiB));
  for (const b of later) {
    assert.notEqual(b.buffer, a.buffer);
    pool.release(b);
  }
  assert.ok(pool.held(a));
});

void test('outside the pooled sizes buffers are plain: retain and release ignore them', () => {
  const pool = new ReplyBufferPool({ minBytes: 64 * KiB, maxBytes: 1024 * KiB });
  const small = pool.acquire(1000);
  const huge = pool.acquire(2048 * KiB);
  assert.equal(small.length, 1000);
  assert.equal(huge.length, 2048 * KiB);
  assert.equal(pool.retain([small, huge]), false);
  pool.release([small, huge]);
  assert.equal(pool.held(small) || pool.held(huge), false);
  assert.equal(pool.describe().acquired, 0);
  assert.equal(pool.describe().idleBuffers, 0);
});

void test('buffers kept for reuse stay within the byte bound and IDLE_PER_SIZE per size; the rest go to GC', () => {
  const maxIdleBytes = 1024 * KiB;
  const pool = new ReplyBufferPool({ maxIdleBytes });
  const sizes = [64, 64, 64, 64, 96, 96, 96, 256, 256, 512, 512, 128, 160, 192].map((k) => k * KiB);
  const bufs = sizes.map((n) => pool.acquire(n));
  for (const b of bufs) pool.release(b);
  const st = pool.describe();
  assert.ok(st.idleBytes <= maxIdleBytes, JSON.stringify(st));
  assert.equal(st.returned + st.discarded, sizes.length);
  assert.ok(st.discarded > 0);
  // Per size at most IDLE_PER_SIZE: taking more than that of one size allocates anew.
  const again = Array.from({ length: IDLE_PER_SIZE + 1 }, () => pool.acquire(64 * KiB));
  const reusedOf64 = again.filter((b) => bufs.some((o) => o.buffer === b.buffer)).length;
  assert.ok(reusedOf64 <= IDLE_PER_SIZE, `${reusedOf64}`);
  assert.equal(new Set(again.map((b) => b.buffer)).size, again.length, 'never the same buffer twice');
});

void test('JsonPieces: the text is the same with and without a pool; an outgrown pooled buffer goes back at once', () => {
  const pool = new ReplyBufferPool();
  const items = Array.from({ length: 3000 }, (_, i) => `{"i":${i},"s":"é€\u{1F600}${'x'.repeat(i % 40)}"}`);
  const put = (s: string, into: JsonPieces): void => (s.length % 2 === 0 ? into.bytes(Buffer.from(s)) : into.text(s));
  const plain = rawJsonArrayOf(items, put, 70 * KiB);
  const pooled = rawJsonArrayOf(items, put, 70 * KiB, pool);
  assert.equal(pooled.pooled, true);
  assert.equal(plain.pooled, false);
  assert.equal(pooled.text, plain.text);
  assert.equal(pooled.text, `[${items.join(',')}]`);
  const st = pool.describe();
  assert.ok(st.acquired >= 2, 'it grew past the expected size');
  assert.equal(st.returned, st.acquired - 1, 'every outgrown buffer went back; the last one is the value\'s');
});

void test('a pooled RawJson encoded in place is the reply\'s: reading it afterwards is refused, before it is fine', () => {
  const pool = new ReplyBufferPool();
  const items = Array.from({ length: 1000 }, (_, i) => `"${'v'.repeat(i % 90)}"`);
  const put = (s: string, into: JsonPieces): void => into.text(s);
  const early = rawJsonArrayOf(items, put, 80 * KiB, pool);
  const text = early.text;
  const encoded = early.encode('{"id":1,"result":', '}');
  assert.equal(encoded.toString('utf8'), `{"id":1,"result":${text}}`);
  assert.equal(early.text, text, 'read before: kept as text');

  const late = rawJsonArrayOf(items, put, 80 * KiB, pool);
  assert.equal(late.encode('{"id":2,"result":', '}').toString('utf8'), `{"id":2,"result":${text}}`);
  assert.throws(() => late.text, /handed to a reply/);
  assert.throws(() => late.encode('[', ']'), /handed to a reply/);
  assert.throws(() => JSON.stringify({ r: late }), /handed to a reply/);
});

void test('a RawJson without a pool is unchanged: later encodes copy', () => {
  const p = new JsonPieces(16);
  p.text('[1,2,3]');
  const raw = RawJson.fromPieces(p);
  raw.encode('{', '}');
  assert.equal(raw.text, '[1,2,3]');
  assert.equal(raw.encode('(', ')').toString(), '([1,2,3])');
});
