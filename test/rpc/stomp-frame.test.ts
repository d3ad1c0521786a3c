// Frame encoding: `\n` only, content-length on every frame computed from the UTF-8 body, escaping.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFrame, encodeMessage, encodeMessageParts, encodeMessagePartsWith, encodeMessageWith, escapeHeaderValue, HEARTBEAT, messageHead, unescapeHeaderValue } from '../../src/rpc/stomp-frame.js';

const str = (b: Buffer): string => b.toString('utf8');

void test('the heart-beat is a single newline', () => {
  assert.equal(str(HEARTBEAT), '\n');
});

void test('every frame carries content-length, even without a body', () => {
  assert.equal(str(encodeFrame('RECEIPT', [['receipt-id', '77']])), 'RECEIPT\nreceipt-id:77\ncontent-length:0\n\n\0');
  assert.equal(str(encodeFrame('SEND', [])), 'SEND\ncontent-length:0\n\n\0');
  assert.equal(str(encodeFrame('SEND', [['abc', 'def']], 'zorro')), 'SEND\nabc:def\ncontent-length:5\n\nzorro\0');
});

void test('content-length counts UTF-8 bytes and keeps NULs inside the body', () => {
  const f = encodeFrame('SEND', [], 'ąbć');
  assert.equal(str(f), 'SEND\ncontent-length:5\n\nąbć\0');
  assert.deepEqual([...f.subarray(f.length - 6, f.length - 1)], [0xc4, 0x85, 0x62, 0xc4, 0x87]);
  assert.equal(str(encodeFrame('SEND', [], 'with\0null')), 'SEND\ncontent-length:9\n\nwith\0null\0');
});

void test('a wrong preset content-length is corrected in place', () => {
  assert.equal(str(encodeFrame('SEND', [['content-length', '3'], ['x', 'y']], '6chars')), 'SEND\ncontent-length:6\nx:y\n\n6chars\0');
});

void test('header values are escaped except on CONNECT/CONNECTED', () => {
  assert.equal(escapeHeaderValue('\r\r\n:\\\n'), '\\r\\r\\n\\c\\\\\\n');
  assert.equal(str(encodeFrame('MESSAGE', [['abc', 'with\nnewline']])), 'MESSAGE\nabc:with\\nnewline\ncontent-length:0\n\n\0');
  assert.equal(str(encodeFrame('CONNECTED', [['version', '1.2'], ['heart-beat', '0,0']])), 'CONNECTED\nversion:1.2\nheart-beat:0,0\ncontent-length:0\n\n\0');
});

void test('unescape reverses escape and rejects unknown escapes', () => {
  for (const v of ['accept-version', '1.2:', 'b2d5a4c6-1b0f-4d5e-9d8c-1f2e3d4c5b6a\n\r', 'with\\backslash']) assert.equal(unescapeHeaderValue(escapeHeaderValue(v)), v);
  assert.equal(unescapeHeaderValue('bad\\m'), undefined);
  assert.equal(unescapeHeaderValue('trailing\\'), undefined);
});

void test('MESSAGE frames carry destination, content-type, subscription, content-length in that order, no CR', () => {
  const m = str(encodeMessage('jms.topic.vdsm_responses', 'sub-r', '{"jsonrpc":"2.0","id":"1","result":true}'));
  assert.equal(m, 'MESSAGE\ndestination:jms.topic.vdsm_responses\ncontent-type:application/json\nsubscription:sub-r\ncontent-length:40\n\n{"jsonrpc":"2.0","id":"1","result":true}\0');
  assert.ok(!m.includes('\r'));
});

void test('a MESSAGE head built once per subscription encodes the same bytes as encodeMessage', () => {
  for (const [destination, subscription] of [['jms.topic.vdsm_responses', 'r'], ['a:b\\c', 'id\nwith\u0001control'], ['réponses', 'ß']]) {
    const head = messageHead(destination!, subscription!);
    for (const body of ['', '{"jsonrpc":"2.0","id":"1","result":true}', 'ünïcödé €', 'x'.repeat(10_000)]) {
      assert.deepEqual(encodeMessageWith(head, body), encodeMessage(destination!, subscription!, body), `${destination} ${body.slice(0, 20)}`);
    }
  }
});

void test('a big body in parts with the head built once per subscription: the same bytes as encodeMessageParts and encodeMessage', () => {
  for (const [destination, subscription] of [['jms.topic.vdsm_responses', 'r'], ['a:b\\c', 'id\nwith\u0001control'], ['réponses', 'ß']]) {
    const head = messageHead(destination!, subscription!);
    for (const size of [0, 100, 64 * 1024, 64 * 1024 + 1, 300_000]) {
      const text = 'é'.repeat(Math.floor(size / 4)) + 'x'.repeat(size - 2 * Math.floor(size / 4));
      const whole = Buffer.from(text, 'utf8');
      const parts = [whole.subarray(0, 7), whole.subarray(7, whole.length - 3), whole.subarray(whole.length - 3)];
      const got = encodeMessagePartsWith(head, parts);
      assert.deepEqual(got, encodeMessageParts(destination!, subscription!, parts), `${destination} ${size}`);
      assert.deepEqual(Buffer.concat(got), encodeMessage(destination!, subscription!, text), `${destination} ${size}`);
    }
  }
});
