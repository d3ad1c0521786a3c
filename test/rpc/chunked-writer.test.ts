// The per-connection output queue on an in-memory socket whose writes complete only when the test says
// so: a big frame leaves in bounded chunks, the next one only after the previous write completed and a
// deferred turn; frames queued meanwhile follow it whole and in order; the bytes are exactly the
// frames'; end() flushes first, destroy() frees the queue at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkedWriter, rpcOutputChannel, rpcOutputWrittenChannel, type OutputEvent, type OutputWrittenEvent } from '../../src/rpc/chunked-writer.js';
import { MemorySink } from './memory-sink.js';
import { encodeMessageText, encodeMessageWith, messageHead } from '../../src/rpc/stomp-frame.js';

/** A writer whose deferred turns run only when the test runs them. */
function setup(chunkBytes = 1024): { sink: MemorySink; writer: ChunkedWriter; turns: (() => void)[]; drained: { n: number } } {
  const sink = new MemorySink();
  const turns: (() => void)[] = [];
  const drained = { n: 0 };
  const writer = new ChunkedWriter(sink, { connectionId: 1, chunkBytes, directMaxBytes: chunkBytes, defer: (fn) => turns.push(fn), onDrained: () => drained.n++ });
  return { sink, writer, turns, drained };
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

void test('a big frame leaves one chunk at a time: the next after the previous write completed and a deferred turn', () => {
  const { sink, writer, turns, drained } = setup(1024);
  const frame = [Buffer.from('MESSAGE\ncontent-length:10000\n\n'), pattern(10_000, 1), Buffer.from([0])];
  const total = frame.reduce((n, b) => n + b.length, 0);
  writer.write(frame);
  assert.equal(sink.writes.length, 1, 'the first chunk goes at once');
  assert.equal(sink.writes[0]!.length, 1024);
  assert.equal(writer.pendingBytes, total, 'queued plus what the socket holds');
  let chunks = 1;
  while (sink.pending.length > 0) {
    assert.equal(sink.pending.length, 1, 'never more than one chunk in flight');
    sink.complete();
    if (turns.length === 0) break;
    assert.equal(sink.writes.length, chunks, 'nothing is written before the deferred turn');
    turns.shift()!();
    chunks++;
    assert.ok(sink.writes.at(-1)!.length <= 1024);
  }
  assert.equal(chunks, Math.ceil(total / 1024));
  assert.deepEqual(sink.bytes, Buffer.concat(frame));
  assert.equal(writer.pendingBytes, 0);
  assert.equal(drained.n, 1, 'the drain is reported once the queue is empty');
});

void test('frames queued behind a big one follow it whole and in order; a small frame alone is written at once', () => {
  const { sink, writer, turns } = setup(1000);
  writer.write(Buffer.from('a\0'));
  assert.equal(sink.writes.length, 1);
  assert.equal(sink.pending.length, 0, 'a small frame with nothing ahead is one plain write');
  const big = pattern(5000, 7);
  writer.write(big);
  const small = [Buffer.from('b\0'), Buffer.from('c\0')];
  for (const s of small) writer.write(s);
  writer.write([Buffer.from('d'), pattern(3000, 9), Buffer.from('\0')]);
  // Run everything to the end, completing writes and turns as they come.
  for (let guard = 0; guard < 100 && (sink.pending.length > 0 || turns.length > 0); guard++) {
    if (sink.pending.length > 0) sink.complete();
    else turns.shift()!();
  }
  const expected = Buffer.concat([Buffer.from('a\0'), big, ...small, Buffer.from('d'), pattern(3000, 9), Buffer.from('\0')]);
  assert.deepEqual(sink.bytes, expected);
  for (const w of sink.writes.slice(1)) assert.ok(w.length <= 1000, `a write of ${w.length} bytes`);
  assert.equal(writer.pendingBytes, 0);
});

void test('end() flushes the queue before ending the socket; writes after it are ignored', () => {
  const { sink, writer, turns } = setup(100);
  writer.write(pattern(250, 3));
  writer.end();
  writer.write(Buffer.from('late'));
  assert.equal(sink.ended, false);
  for (let guard = 0; guard < 20 && (sink.pending.length > 0 || turns.length > 0); guard++) {
    if (sink.pending.length > 0) sink.complete();
    else turns.shift()!();
  }
  assert.equal(sink.ended, true);
  assert.deepEqual(sink.bytes, pattern(250, 3));
});

void test('destroy() mid-frame frees the queue at once and nothing more is written', () => {
  const { sink, writer, turns } = setup(100);
  let written = false;
  writer.write(pattern(10_000, 5));
  writer.whenWritten(() => (written = true));
  assert.equal(writer.queuedBytes, 9900);
  writer.destroy();
  assert.equal(writer.queuedBytes, 0);
  assert.equal(writer.pendingBytes, 100, 'only what the socket itself held');
  assert.equal(sink.destroyed, true);
  sink.complete(new Error('socket destroyed'));
  assert.equal(turns.length, 0);
  assert.equal(sink.writes.length, 1);
  assert.equal(written, false, 'a waiter of a dropped reply is dropped');
});

void test('a failed write stops the queue (the socket close then destroys the writer)', () => {
  const { sink, writer, turns, drained } = setup(100);
  writer.write(pattern(1000, 2));
  sink.complete(new Error('EPIPE'));
  assert.equal(turns.length, 0);
  assert.equal(writer.queuedBytes, 0);
  assert.equal(drained.n, 0);
});

void test('whenWritten fires once every byte appended before it was written', () => {
  const { sink, writer, turns } = setup(100);
  const order: string[] = [];
  writer.whenWritten(() => order.push('idle'));
  writer.write(pattern(150, 1));
  writer.whenWritten(() => order.push('first'));
  writer.write(pattern(50, 2));
  writer.whenWritten(() => order.push('second'));
  assert.deepEqual(order, ['idle']);
  sink.complete();
  assert.deepEqual(order, ['idle']);
  turns.shift()!();
  sink.complete();
  assert.deepEqual(order, ['idle', 'first', 'second'], '150 + 50 bytes: the second chunk carries the end of both');
});

void test('a text frame is handed to the socket as text when nothing is queued, and as its bytes behind a chunked frame', () => {
  const { sink, writer, turns } = setup(1024);
  const head = messageHead('jms.topic.vdsm_responses', 'sub-ü');
  const body = JSON.stringify({ jsonrpc: '2.0', id: 'ü-1', result: { text: 'grüße' } });
  writer.write(encodeMessageText(head, body));
  assert.equal(sink.textWrites, 1);
  assert.deepEqual(sink.bytes, encodeMessageWith(head, body), 'the same bytes as the buffer encoder, non-ASCII included');
  const big = pattern(5000, 2);
  writer.write(big);
  const queuedBefore = writer.queuedBytes;
  writer.write(encodeMessageText(head, body));
  assert.equal(writer.queuedBytes, queuedBefore + encodeMessageWith(head, body).length, 'queued by its byte size');
  while (sink.pending.length > 0) {
    sink.complete();
    turns.shift()?.();
  }
  assert.equal(sink.textWrites, 1, 'the queued text frame went out as bytes, in order');
  assert.deepEqual(sink.bytes, Buffer.concat([encodeMessageWith(head, body), big, encodeMessageWith(head, body)]));
});

void test('observed output (vdsm:rpc:output, vdsm:rpc:output-written): each chunk handed after its write call, what the socket kept, its callback before the next chunk', () => {
  const { sink, writer, turns } = setup(1000);
  const seen: (['handed', OutputEvent, number] | ['written', OutputWrittenEvent])[] = [];
  // At each hand-off, how many writes the socket had already been given: the event follows the write.
  const onOutput = (m: unknown): void => void seen.push(['handed', m as OutputEvent, sink.writes.length]);
  const onWritten = (m: unknown): void => void seen.push(['written', m as OutputWrittenEvent]);
  rpcOutputChannel.subscribe(onOutput);
  rpcOutputWrittenChannel.subscribe(onWritten);
  try {
    writer.write(pattern(2500, 3));
    while (sink.pending.length > 0) {
      sink.complete();
      turns.shift()?.();
    }
  } finally {
    rpcOutputChannel.unsubscribe(onOutput);
    rpcOutputWrittenChannel.unsubscribe(onWritten);
  }
  assert.deepEqual(seen.map((e) => e[0]), ['handed', 'written', 'handed', 'written', 'handed', 'written'], 'a chunk\'s callback comes before the next chunk');
  const handed = seen.filter((e): e is ['handed', OutputEvent, number] => e[0] === 'handed');
  assert.deepEqual(handed.map((e) => e[2]), [1, 2, 3], 'published after the socket was given the chunk');
  assert.deepEqual(handed.map((e) => [e[1].bytes, e[1].queued, e[1].handed]), [[1000, 1500, 1000], [1000, 500, 2000], [500, 0, 2500]]);
  assert.deepEqual(handed.map((e) => e[1].buffered), [1000, 1000, 500], 'the bytes the socket still held after each write (this sink completes writes only when told)');
  for (const [, e] of handed) assert.ok(e.writeMs >= 0 && e.connectionId === 1);
  const written = seen.filter((e): e is ['written', OutputWrittenEvent] => e[0] === 'written');
  assert.deepEqual(written.map((e) => [e[1].bytes, e[1].queued]), [[1000, 1500], [1000, 500], [500, 0]]);
});
