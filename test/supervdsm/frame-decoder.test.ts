// The supervdsm frame layer: length-prefixed frames fed whole, split at every byte, one byte at a time;
// the size limit, empty and truncated frames; random chunkings of random frames give the same frames.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder, FrameState, type FrameErrorKind } from '../../src/supervdsm/frame-decoder.js';

function collect(max?: number) {
  const frames: Buffer[] = [];
  const errors: { kind: FrameErrorKind; message: string }[] = [];
  const decoder = new FrameDecoder({ frame: (b) => frames.push(b), error: (kind, message) => errors.push({ kind, message }) }, max);
  return { decoder, frames, errors };
}

void test('a new decoder is idle, waiting for a length, holding nothing', () => {
  const { decoder } = collect();
  assert.equal(decoder.state, FrameState.Header);
  assert.equal(decoder.idle, true);
  assert.equal(decoder.buffered, 0);
});

void test('a frame fed one byte at a time yields nothing until its last byte, then exactly its body', () => {
  const body = Buffer.from('ąbć with \0 and \xff inside');
  const data = encodeFrame(body);
  const { decoder, frames, errors } = collect();
  for (let i = 0; i < data.length; i++) {
    decoder.push(data.subarray(i, i + 1));
    assert.equal(frames.length, i === data.length - 1 ? 1 : 0, `after byte ${i}`);
    assert.equal(decoder.state, i === data.length - 1 ? FrameState.Header : i < 3 ? FrameState.Header : FrameState.Body, `state after byte ${i}`);
    // Length bytes count until the length is complete; then the body bytes held so far.
    assert.equal(decoder.buffered, i === data.length - 1 ? 0 : i < 3 ? i + 1 : i - 3);
  }
  assert.deepEqual(frames[0], body);
  assert.equal(errors.length, 0);
});

void test('three frames in one chunk, and split at every position, give the same three bodies', () => {
  const bodies = [Buffer.from('a'), Buffer.alloc(300, 7), Buffer.from('last one')];
  const all = Buffer.concat(bodies.map((b) => encodeFrame(b)));
  for (let cut = 0; cut <= all.length; cut++) {
    const { decoder, frames, errors } = collect();
    decoder.push(all.subarray(0, cut));
    decoder.push(all.subarray(cut));
    assert.deepEqual(frames, bodies, `cut at ${cut}`);
    assert.equal(errors.length, 0);
    assert.equal(decoder.idle, true);
  }
});

void test('a length of 0 is an error (every message has a body) and the decoder stops', () => {
  const { decoder, frames, errors } = collect();
  decoder.push(Buffer.concat([Buffer.from([0, 0, 0, 0]), encodeFrame(Buffer.from('x'))]));
  assert.deepEqual(errors.map((e) => e.kind), ['empty-frame']);
  assert.equal(decoder.state, FrameState.Failed);
  assert.equal(frames.length, 0, 'nothing after the error is trusted');
});

void test('a length above the limit is refused from its 4 header bytes, before any body is buffered', () => {
  const { decoder, errors } = collect(1024);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1025);
  for (const byte of header) decoder.push(Buffer.from([byte]));
  assert.equal(errors[0]?.kind, 'frame-too-large');
  assert.match(errors[0]!.message, /1025 bytes exceeds the limit of 1024/);
  assert.equal(decoder.buffered, 0);
  decoder.push(Buffer.alloc(2048));
  assert.equal(errors.length, 1, 'one error only');
  const ok = collect(1024);
  ok.decoder.push(encodeFrame(Buffer.alloc(1024), 1024));
  assert.equal(ok.frames.length, 1, 'exactly the limit is accepted');
  assert.throws(() => encodeFrame(Buffer.alloc(1025), 1024), RangeError);
  assert.throws(() => encodeFrame(Buffer.alloc(0)), RangeError);
});

void test('end() inside a frame reports it truncated; between frames it is a clean end', () => {
  const data = encodeFrame(Buffer.from('hello'));
  for (let cut = 1; cut < data.length; cut++) {
    const { decoder, errors } = collect();
    decoder.push(data.subarray(0, cut));
    assert.equal(decoder.end(), true, `cut ${cut}`);
    assert.equal(errors[0]?.kind, 'truncated');
  }
  const { decoder, errors, frames } = collect();
  decoder.push(data);
  assert.equal(decoder.end(), false);
  assert.equal(errors.length, 0);
  assert.equal(frames.length, 1);
});

void test('fail() from inside the frame callback stops the rest of the chunk', () => {
  const frames: Buffer[] = [];
  const decoder: FrameDecoder = new FrameDecoder({ frame: (b) => { frames.push(b); decoder.fail(); }, error: () => assert.fail('no error expected') });
  decoder.push(Buffer.concat([encodeFrame(Buffer.from('1')), encodeFrame(Buffer.from('2'))]));
  assert.equal(frames.length, 1);
  assert.equal(decoder.state, FrameState.Failed);
});

void test('property: any frames, any chunking, the same bodies in order; buffered never above 4 + limit', () => {
  fc.assert(fc.property(
    fc.array(fc.uint8Array({ minLength: 1, maxLength: 200 }), { maxLength: 8 }),
    fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
    (bodies, sizes) => {
      const all = Buffer.concat(bodies.map((b) => encodeFrame(b, 200)));
      const { decoder, frames, errors } = collect(200);
      let pos = 0;
      for (let i = 0; pos < all.length; i++) {
        const n = sizes[i % sizes.length]!;
        decoder.push(all.subarray(pos, pos + n));
        pos += n;
        assert.ok(decoder.buffered <= 204);
      }
      assert.equal(errors.length, 0);
      assert.deepEqual(frames.map((f) => [...f]), bodies.map((b) => [...b]));
    },
  ));
});

void test('property: random bytes never throw and never buffer above the limit', () => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
    const { decoder } = collect(256);
    for (const c of chunks) {
      decoder.push(Buffer.from(c));
      assert.ok(decoder.buffered <= 260);
    }
    decoder.end();
  }));
});
