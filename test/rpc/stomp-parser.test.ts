// The STOMP state-machine parser: frames fed whole, in two, and one byte at a time; limits; errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { hostileStream, validFrame } from './stomp-arbitraries.js';
import { encodeFrame, type Frame } from '../../src/rpc/stomp-frame.js';
import { ParserState, StompParser, type StompLimits, type StompParseError } from '../../src/rpc/stomp-parser.js';

function collect(limits: Partial<StompLimits> = {}) {
  const frames: Frame[] = [];
  const errors: StompParseError[] = [];
  let heartbeats = 0;
  const parser = new StompParser({ frame: (f) => frames.push(f), error: (e) => errors.push(e), heartbeat: () => heartbeats++ }, limits);
  return { parser, frames, errors, heartbeats: () => heartbeats };
}

function byteByByte(parser: StompParser, data: Buffer, onEach?: (i: number) => void): void {
  for (let i = 0; i < data.length; i++) {
    parser.push(data.subarray(i, i + 1));
    onEach?.(i);
  }
}

void test('a new parser holds nothing and is waiting for a command', () => {
  const { parser, frames } = collect();
  assert.equal(parser.state, ParserState.Command);
  assert.equal(parser.buffered, 0);
  assert.equal(frames.length, 0);
});

void test('encoded frames parse back to command, headers and body', () => {
  for (const command of ['CONNECT', 'SEND', 'DISCONNECT']) {
    const { parser, frames } = collect();
    parser.push(encodeFrame(command, []));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.command, command);
    assert.deepEqual({ ...frames[0]!.headers }, { 'content-length': '0' });
    assert.equal(frames[0]!.body.length, 0);
  }
});

void test('headers, including escaped and non-ASCII ones, survive encode and parse', () => {
  const cases: [string, string][][] = [[], [['abc', 'def']], [['abc', 'def'], ['geh', 'xyz']], [['ąbć', 'def']], [['abc', 'with\nescaped:chars\\']]];
  for (const headers of cases) {
    const { parser, frames } = collect();
    parser.push(encodeFrame('SEND', headers, 'zorro'));
    assert.deepEqual({ ...frames[0]!.headers }, { ...Object.fromEntries(headers), 'content-length': '5' });
    assert.equal(frames[0]!.body.toString(), 'zorro');
  }
});

void test('a frame fed one byte at a time yields nothing until its last byte, then exactly one frame', () => {
  const withLength = encodeFrame('SEND', [['destination', 'a.b'], ['x', 'y']], 'ąbć with \0 inside');
  const withoutLength = Buffer.from('SEND\ndestination:a.b\n\nbody without length\0');
  for (const data of [withLength, withoutLength]) {
    const { parser, frames, errors } = collect();
    byteByByte(parser, data, (i) => assert.equal(frames.length, i === data.length - 1 ? 1 : 0, `after byte ${i}`));
    assert.equal(errors.length, 0);
    assert.equal(frames[0]!.headers['destination'], 'a.b');
  }
  const { parser, frames } = collect();
  byteByByte(parser, withLength);
  assert.equal(frames[0]!.body.toString(), 'ąbć with \0 inside');
});

void test('the parser passes through its named states', () => {
  const { parser } = collect();
  parser.push(Buffer.from('SEND\n'));
  assert.equal(parser.state, ParserState.Headers);
  parser.push(Buffer.from('content-length:3\n\nab'));
  assert.equal(parser.state, ParserState.BodyCounted);
  parser.push(Buffer.from('c'));
  assert.equal(parser.state, ParserState.BodyEnd);
  parser.push(Buffer.from('\0'));
  assert.equal(parser.state, ParserState.Command);
  parser.push(Buffer.from('SEND\n\nxy'));
  assert.equal(parser.state, ParserState.BodyUntilNul);
});

void test('two frames in one chunk give two frames; frames split anywhere give the same', () => {
  const one = encodeFrame('SEND', [['destination', 'q']], '{"a":1}');
  const two = Buffer.concat([one, Buffer.from('\n'), one]);
  for (let split = 0; split <= two.length; split++) {
    const { parser, frames, errors } = collect();
    parser.push(two.subarray(0, split));
    parser.push(two.subarray(split));
    assert.equal(frames.length, 2, `split at ${split}`);
    assert.equal(errors.length, 0);
  }
});

void test('CRLF line endings parse like LF', () => {
  const { parser, frames } = collect();
  parser.push(Buffer.from('CONNECT\r\naccept-version:1.2\r\nheart-beat:0,0\r\n\r\n\0'));
  assert.equal(frames[0]!.command, 'CONNECT');
  assert.deepEqual({ ...frames[0]!.headers }, { 'accept-version': '1.2', 'heart-beat': '0,0' });
});

void test('EOLs between frames are heart-beats and are skipped', () => {
  const { parser, frames, heartbeats } = collect();
  parser.push(Buffer.from('\n\n\n\n\nCONNECT\naccept-version:1.2\n\n\0'));
  assert.equal(frames.length, 1);
  assert.equal(heartbeats(), 5);
});

void test('without content-length the body runs to the first NUL', () => {
  const { parser, frames } = collect();
  parser.push(Buffer.from('CONNECT\nabc:def\n\nzorro\0'));
  assert.deepEqual({ ...frames[0]!.headers }, { abc: 'def' });
  assert.equal(frames[0]!.body.toString(), 'zorro');
});

void test('a counted body not followed by NUL is an error', () => {
  const { parser, frames, errors } = collect();
  parser.push(Buffer.from('CONNECT\nabc:def\ncontent-length:3\n\n6chars\0'));
  assert.equal(frames.length, 0);
  assert.equal(errors[0]!.kind, 'missing-nul');
  assert.equal(errors[0]!.message, "Frame doesn't end with NULL byte");
  assert.equal(parser.state, ParserState.Failed);
  parser.push(encodeFrame('SEND', []));
  assert.equal(frames.length, 0, 'a failed parser ignores further input');
});

void test('the first occurrence of a repeated header wins', () => {
  const { parser, frames } = collect();
  parser.push(Buffer.from('SEND\nfoo:1\nfoo:2\n\n\0'));
  assert.equal(frames[0]!.headers['foo'], '1');
});

void test('malformed headers, bad escapes and bad content-length are errors', () => {
  const cases: [string, string][] = [
    ['SEND\nno colon here\n\n\0', 'malformed-header'],
    ['SEND\n:empty-key\n\n\0', 'malformed-header'],
    ['SEND\nabc:bad\\mescape\n\n\0', 'malformed-header'],
    ['SEND\ncontent-length:-1\n\n\0', 'bad-content-length'],
    ['SEND\ncontent-length:12abc\n\n\0', 'bad-content-length'],
  ];
  for (const [text, kind] of cases) {
    const { parser, errors } = collect();
    parser.push(Buffer.from(text));
    assert.equal(errors[0]?.kind, kind, text);
  }
});

void test('a header named __proto__ is an ordinary header', () => {
  const { parser, frames } = collect();
  parser.push(Buffer.from('SEND\n__proto__:x\n\n\0'));
  assert.equal(frames[0]!.headers['__proto__'], 'x');
});

void test('size limits: command, header line, header count, header bytes, body (declared and streamed)', () => {
  const limits = { maxCommandBytes: 16, maxHeaderLineBytes: 32, maxHeaderCount: 3, maxHeaderBytes: 60, maxBodyBytes: 100 };
  const cases: [Buffer, string][] = [
    [Buffer.from('X'.repeat(17) + '\n'), 'command-too-long'],
    [Buffer.from('X'.repeat(1000)), 'command-too-long'],
    [Buffer.from(`SEND\nk:${'v'.repeat(40)}\n\n\0`), 'header-too-long'],
    [Buffer.from('SEND\na:1\nb:2\nc:3\nd:4\n\n\0'), 'too-many-headers'],
    [Buffer.from(`SEND\na:${'1'.repeat(28)}\nb:${'2'.repeat(28)}\n\n\0`), 'headers-too-large'],
    [Buffer.from('SEND\ncontent-length:101\n\n'), 'body-too-large'],
    [Buffer.from(`SEND\n\n${'b'.repeat(101)}`), 'body-too-large'],
  ];
  for (const [data, kind] of cases) {
    for (const mode of ['whole', 'bytes'] as const) {
      const { parser, errors } = collect(limits);
      if (mode === 'whole') parser.push(data);
      else byteByByte(parser, data);
      assert.equal(errors.length, 1, `${kind} (${mode})`);
      assert.equal(errors[0]!.kind, kind, `${kind} (${mode})`);
      assert.equal(parser.buffered, 0, 'nothing held after a limit error');
    }
  }
  const { parser, frames, errors } = collect(limits);
  parser.push(Buffer.from(`SEND\ncontent-length:100\n\n${'b'.repeat(100)}\0`));
  assert.equal(errors.length, 0);
  assert.equal(frames[0]!.body.length, 100, 'exactly at the limit is fine');
});

void test('pause() from a frame callback holds the rest of the chunk (and later chunks) until resume(), in order', () => {
  const seen: string[] = [];
  const p: StompParser = new StompParser({
    frame: (f) => {
      seen.push(f.headers['n']!);
      if (seen.length % 2 === 0) p.pause();
    },
    error: (e) => assert.fail(e.message),
  });
  const frames = Array.from({ length: 7 }, (_, i) => `SEND\nn:${i}\n\n\0`).join('');
  p.push(Buffer.from(frames.slice(0, 20)));
  p.push(Buffer.from(frames.slice(20)));
  assert.deepEqual(seen, ['0', '1']);
  assert.ok(p.buffered > 0, 'the held input counts as buffered');
  p.resume();
  assert.deepEqual(seen, ['0', '1', '2', '3']);
  p.resume();
  p.resume();
  p.resume();
  assert.deepEqual(seen, ['0', '1', '2', '3', '4', '5', '6']);
  assert.equal(p.buffered, 0);
});

/** Everything a parser reports for `chunks`, as comparable values (bodies copied: a body may be a view). */
function transcript(chunks: Buffer[], limits: Partial<StompLimits>): unknown[] {
  const out: unknown[] = [];
  const parser = new StompParser({
    frame: (f) => out.push({ command: f.command, headers: { ...f.headers }, body: Buffer.from(f.body).toString('latin1') }),
    error: (e) => out.push({ error: e.kind, message: e.message }),
    heartbeat: () => out.push('heartbeat'),
  }, limits);
  for (const c of chunks) parser.push(c);
  out.push({ buffered: parser.buffered, midFrame: parser.midFrame });
  return out;
}

void test('a head wholly in one chunk (the one-pass path) parses exactly as byte by byte (the line-by-line path), errors and limits included', () => {
  const limits = [{}, { maxHeaderLineBytes: 24, maxHeaderCount: 3, maxHeaderBytes: 60, maxCommandBytes: 8, maxBodyBytes: 64 }];
  const crlf = (b: Buffer): Buffer => Buffer.from(b.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
  fc.assert(
    fc.property(fc.oneof(hostileStream, fc.array(validFrame, { maxLength: 6 }), fc.array(validFrame.map(crlf), { maxLength: 3 })), fc.constantFrom(...limits), (parts, lim) => {
      const data = Buffer.concat(parts);
      const bytes = Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
      assert.deepEqual(transcript([data], lim), transcript(bytes, lim));
    }),
    { numRuns: 500 },
  );
  // The one-pass path's own cases: escapes, a repeated header, CONNECT's raw values, non-ASCII, limits.
  for (const frame of [
    'SEND\ndestination:a\\cb\nx:1\nx:2\n\nbody\0',
    'CONNECT\naccept-version:1.2\nlogin:a\\cb\n\n\0',
    'SEND\ndestination:\u00e9t\u00e9\ncontent-length:2\n\n\u00e9\0',
    'SEND\nbad\\q:1\n\n\0',
    'SEND\n:empty\n\n\0',
    'SEND\ndestination:a\ncontent-length:x\n\n\0',
    'SEND\ndestination:a\ncontent-length:3\n\nabcd\0',
    `SEND\n${'h:1\n'.repeat(5)}\n\0`,
    `SEND\nlong:${'x'.repeat(40)}\n\n\0`,
    'TOOLONGCOMMAND\n\n\0',
  ]) {
    const data = Buffer.from(frame, 'utf8');
    for (const lim of limits) assert.deepEqual(transcript([data], lim), transcript(Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1)), lim), frame);
  }
});

void test('eagerBodyBytes: the same frames, errors and heart-beats however the input is chunked; a counted body is allocated once', () => {
  const run = (chunks: Buffer[], eager: number): unknown[] => {
    const out: unknown[] = [];
    const parser = new StompParser({
      frame: (f) => out.push({ command: f.command, headers: { ...f.headers }, body: Buffer.from(f.body).toString('latin1') }),
      error: (e) => out.push({ error: e.kind }),
      heartbeat: () => out.push('heartbeat'),
    }, { maxBodyBytes: 4096 }, { eagerBodyBytes: eager });
    for (const c of chunks) parser.push(c);
    out.push({ midFrame: parser.midFrame });
    return out;
  };
  fc.assert(fc.property(fc.oneof(hostileStream, fc.array(validFrame, { maxLength: 6 })), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }), (parts, sizes) => {
    const data = Buffer.concat(parts);
    const chunks: Buffer[] = [];
    for (let pos = 0, i = 0; pos < data.length; i++) {
      const n = sizes[i % sizes.length]!;
      chunks.push(data.subarray(pos, pos + n));
      pos += n;
    }
    assert.deepEqual(run(chunks, 1 << 20), run(chunks, 0));
    assert.deepEqual(run(chunks, 1 << 20), run([data], 0));
  }), { numRuns: 500 });
  // A 10,000-byte counted body in 100-byte chunks: held in one buffer of exactly its size from its first chunk.
  const body = 'x'.repeat(10_000);
  const frame = encodeFrame('MESSAGE', [['destination', 'd']], body);
  const frames: Frame[] = [];
  const parser = new StompParser({ frame: (f) => frames.push(f), error: (e) => assert.fail(e.message) }, {}, { eagerBodyBytes: 1 << 20 });
  const headEnd = frame.indexOf('\n\n') + 2;
  parser.push(frame.subarray(0, headEnd + 100));
  const held = parser.buffered;
  for (let pos = headEnd + 100; pos < frame.length; pos += 100) parser.push(frame.subarray(pos, pos + 100));
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.body.toString('latin1'), body);
  assert.ok(held >= 10_000 && held < 10_000 + 200, `held ${held} bytes after the first chunk`);
  // Without it (a server), memory follows the bytes that arrived.
  const server = new StompParser({ frame: () => {}, error: (e) => assert.fail(e.message) });
  server.push(frame.subarray(0, headEnd + 100));
  assert.ok(server.buffered < 5000, `a server held ${server.buffered} bytes after 100 of a 10,000-byte body`);
});
