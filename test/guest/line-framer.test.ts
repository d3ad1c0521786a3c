// The ovirt-guest-agent framer: newline framing fed one byte at a time and in odd chunks, the size limit
// with discard to the next newline (one oversize report per message), and bounded holding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineFramer, MAX_MESSAGE_BYTES } from '../../src/guest/line-framer.js';

function collect(max?: number): { f: LineFramer; lines: string[]; oversize: number[] } {
  const lines: string[] = [];
  const oversize: number[] = [];
  const f = new LineFramer({ line: (b) => lines.push(b.toString('latin1')), oversize: (n) => oversize.push(n) }, max);
  return { f, lines, oversize };
}

void test('lines fed one byte at a time come out whole, in order', () => {
  const { f, lines } = collect();
  for (const byte of Buffer.from('{"a":1}\n{"b":2}\n\n{"c":')) f.push(Buffer.from([byte]));
  assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '']);
  assert.equal(f.held, 5, 'the unfinished message is held');
  f.push(Buffer.from('3}\n'));
  assert.equal(lines.at(-1), '{"c":3}');
  assert.equal(f.held, 0);
});

void test('several lines in one chunk, a line split across chunks', () => {
  const { f, lines } = collect();
  f.push(Buffer.from('one\ntwo\nthr'));
  f.push(Buffer.from('ee\nfo'));
  f.push(Buffer.from('ur\n'));
  assert.deepEqual(lines, ['one', 'two', 'three', 'four']);
});

void test('vdsm framing case: limit 100, chunks of 51 bytes: small messages pass, the oversized one is dropped once', () => {
  const { f, lines, oversize } = collect(100);
  const small = `{"__name__":"host-name","name":"x"}`;
  const big = `{"__name__":"applications","applications":["${'a'.repeat(150)}"]}`;
  const stream = Buffer.from(`${small}\n${big}\n${small}\n`);
  const states: string[] = [];
  for (let i = 0; i < stream.length; i += 51) {
    f.push(stream.subarray(i, i + 51));
    states.push(f.state);
  }
  assert.deepEqual(lines, [small, small]);
  assert.deepEqual(oversize, [big.length]);
  assert.ok(states.includes('discard'), 'discarding while the oversized message is pending');
  assert.equal(f.state, 'line', 'back to normal after its newline');
});

void test('a message of exactly the limit passes; one byte more is discarded', () => {
  const { f, lines, oversize } = collect(10);
  f.push(Buffer.from('0123456789\n01234567890\nok\n'));
  assert.deepEqual(lines, ['0123456789', 'ok']);
  assert.deepEqual(oversize, [11]);
});

void test('a never-ending line is held at most up to the limit, then dropped without holding', () => {
  const { f, oversize } = collect(1000);
  const chunk = Buffer.alloc(300, 0x41);
  for (let i = 0; i < 10_000; i++) {
    f.push(chunk);
    assert.ok(f.held <= 1000);
  }
  assert.equal(f.state, 'discard');
  assert.equal(f.held, 0);
  assert.deepEqual(oversize, [], 'reported when it ends, not while it goes on');
  f.push(Buffer.from('AAA\nnext\n'));
  assert.deepEqual(oversize, [3_000_003]);
});

void test('the default limit is vdsm\'s 1 MiB', () => {
  assert.equal(MAX_MESSAGE_BYTES, 1024 * 1024);
  const { f, lines, oversize } = collect();
  const exact = Buffer.alloc(MAX_MESSAGE_BYTES, 0x61);
  f.push(exact);
  f.push(Buffer.from('\n'));
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.length, MAX_MESSAGE_BYTES);
  f.push(Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x62));
  f.push(Buffer.from('\n'));
  assert.deepEqual(oversize, [MAX_MESSAGE_BYTES + 1]);
});

void test('reset() forgets a partial message (a new connection starts clean)', () => {
  const { f, lines } = collect(5);
  f.push(Buffer.from('abc'));
  f.reset();
  f.push(Buffer.from('de\n'));
  assert.deepEqual(lines, ['de']);
  f.push(Buffer.from('toolong'));
  assert.equal(f.state, 'discard');
  f.reset();
  assert.equal(f.state, 'line');
});

void test('held partial data is a copy: the pushed chunk can be reused by the socket', () => {
  const { f, lines } = collect();
  const chunk = Buffer.from('hello');
  f.push(chunk);
  chunk.fill(0x78);
  f.push(Buffer.from('\n'));
  assert.deepEqual(lines, ['hello']);
});
