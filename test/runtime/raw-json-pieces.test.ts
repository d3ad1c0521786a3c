// RawJson from JsonPieces (issue 17): the pieces are copied into one buffer as they come, growing past
// the expected size when needed; encode() puts the response head and tail around the text in place the
// first time (no copy of a 1.8 MB reply) and copies afterwards, so a second encode never overwrites bytes
// a first one handed out; short strings are copied by hand only when ASCII.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonPieces, RawJson } from '../../src/runtime/raw-json.js';

function assembled(capacity?: number): { raw: RawJson; text: string } {
  const p = new JsonPieces(capacity);
  const parts: string[] = [];
  p.bytes(Buffer.from('['));
  parts.push('[');
  for (let i = 0; i < 200; i++) {
    const item = `{"i":${i},"s":"${'x'.repeat(i % 50)}","u":"é€\u{1F600}${i}"}`;
    if (i > 0) {
      p.text(',');
      parts.push(',');
    }
    if (i % 2 === 0) p.bytes(Buffer.from(item));
    else p.text(item);
    parts.push(item);
  }
  p.text('"\u00fc"'); // a short non-ASCII string
  parts.push('"\u00fc"');
  p.bytes(Buffer.from(']'));
  parts.push(']');
  return { raw: RawJson.fromPieces(p), text: parts.join('') };
}

void test('pieces past the expected size grow the buffer; the text is every piece in order', () => {
  const { raw, text } = assembled(16);
  assert.equal(raw.text, text);
  assert.equal(raw.sizeHint, Buffer.byteLength(text));
});

void test('the first encode fills the room around the text in place; later ones copy, and the first one\'s bytes stay as handed out', () => {
  const { raw, text } = assembled();
  const first = raw.encode('{"jsonrpc":"2.0","id":"é1","result":', '}');
  const expectFirst = Buffer.from(`{"jsonrpc":"2.0","id":"é1","result":${text}}`);
  assert.deepEqual(first, expectFirst);
  const second = raw.encode('{"id":2,"result":', '}\n');
  assert.deepEqual(second, Buffer.from(`{"id":2,"result":${text}}\n`));
  assert.notEqual(second.buffer, first.buffer, 'the second encode is a copy');
  assert.deepEqual(first, expectFirst, 'the first encode\'s bytes were not overwritten');
  assert.equal(raw.text, text);
});

void test('a head longer than the room kept before the text is copied, not cut', () => {
  const { raw, text } = assembled();
  const head = `{"id":"${'y'.repeat(400)}","result":`;
  assert.deepEqual(raw.encode(head, '}'), Buffer.from(`${head}${text}}`));
});
