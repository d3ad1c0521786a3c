// A head repeated from the previous frame is not decoded again (issue 17): the parser reuses what it gave
// for it. Every frame of a stream mixing repeated heads, heads that differ in one byte or in length, heads
// split across chunks and heads the line path handles parses to exactly what a fresh parser gives for that
// frame alone; the shared headers object cannot be changed by a consumer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Frame } from '../../src/rpc/stomp-frame.js';
import { StompParser } from '../../src/rpc/stomp-parser.js';

const send = (replyTo: string, body: string, extra = ''): string =>
  `SEND\ndestination:jms.topic.vdsm_requests\ncontent-length:${Buffer.byteLength(body)}\nreply-to:${replyTo}\n${extra}\n${body}\0`;

function parseAll(chunks: Buffer[]): Frame[] {
  const frames: Frame[] = [];
  const p = new StompParser({ frame: (f) => frames.push(f), error: (e) => assert.fail(e.message) });
  for (const c of chunks) p.push(c);
  return frames;
}

const shape = (f: Frame): unknown => ({ command: f.command, headers: { ...f.headers }, body: f.body.toString('latin1') });

void test('repeated, one-byte-different, longer, split and escaped heads all parse as a fresh parser parses them', () => {
  const a = send('jms.topic.vdsm_responses', '{"id":"1"}');
  const stream = [
    a, a, send('jms.topic.vdsm_responses', '{"id":"2"}'),
    send('jms.topic.vdsm_responsex', '{"id":"3"}'),   // same length, one byte differs
    send('jms.topic.vdsm_responses', '{"id":"44"}'),  // content-length differs in value, same length
    send('jms.topic.vdsm_responses', '{"id":"4444444444"}'), // a longer head
    send('jms.topic.vdsm_responses', '{"id":"5"}', 'x:1\n'), // the previous head plus a header
    send('jms.topic.vdsm_responses', '{"id":"5"}'),
    send('jms.topic.vdsm_resp\\cs', '{"id":"6"}'),    // an escape: unescaped, not reused blindly
    send('jms.topic.vdsm_resp\\cs', '{"id":"6"}'),
    send('jms.topic.vdsm_responses', '{"id":"ü"}'),
    'SEND\r\ndestination:jms.topic.vdsm_requests\r\nreply-to:r\r\n\r\n{}\0',
    a, a,
  ];
  const expected = stream.map((t) => shape(parseAll([Buffer.from(t)])[0]!));
  // All in one chunk, frame by frame, and split in the middle of every head.
  assert.deepEqual(parseAll([Buffer.from(stream.join(''))]).map(shape), expected);
  assert.deepEqual(parseAll(stream.map((t) => Buffer.from(t))).map(shape), expected);
  const split = stream.flatMap((t) => [Buffer.from(t.slice(0, 20)), Buffer.from(t.slice(20))]);
  assert.deepEqual(parseAll(split).map(shape), expected);
});

void test('frames that share a head share a frozen headers object', () => {
  const a = send('jms.topic.vdsm_responses', '{"id":"1"}');
  const [f1, f2] = parseAll([Buffer.from(a + a)]);
  assert.deepEqual(shape(f1!), shape(f2!));
  assert.throws(() => {
    (f2!.headers as Record<string, string>)['reply-to'] = 'elsewhere';
  }, TypeError);
  assert.equal(f1!.headers['reply-to'], 'jms.topic.vdsm_responses');
});
