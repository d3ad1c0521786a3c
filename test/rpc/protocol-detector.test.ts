// Protocol detection from the first bytes: decided as early as possible, never waiting for 11 bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectProtocol } from '../../src/rpc/protocol-detector.js';

const d = (s: string) => detectProtocol(Buffer.from(s, 'latin1'));

void test('every STOMP command line is STOMP, including the 10-byte minimal CONNECT vdsm never detects', () => {
  for (const c of ['CONNECT', 'CONNECTED', 'DISCONNECT', 'ERROR', 'MESSAGE', 'RECEIPT', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'STOMP']) {
    assert.equal(d(`${c}\n`), 'stomp', c);
    assert.equal(d(`${c}\r\n`), 'stomp', c);
  }
  assert.equal(d('CONNECT\n\n\0'), 'stomp');
  assert.equal(d('SEND\n'), 'stomp', 'decided on 5 bytes');
});

void test('HTTP GET, HEAD, PUT and POST are HTTP as soon as the path starts', () => {
  for (const s of ['GET /', 'PUT /', 'HEAD /health HTTP/1.1\r\n', 'POST /x']) assert.equal(d(s), 'http', s);
});

void test('prefixes of a token ask for more bytes', () => {
  for (const s of ['', 'C', 'CONN', 'CONNECT', 'CONNECT\r', 'G', 'GET', 'GET ', 'SUBSCRIB', '\n', '\r']) assert.equal(d(s), 'more', JSON.stringify(s));
});

void test('garbage is rejected at the first byte that fits no token', () => {
  for (const s of ['smth', '\x23\x54', 'connect\n', 'GARBAGE_PRO', 'GET\n', 'CONNECTX', 'SENDING\n', 'GET http://x/', '\0']) assert.equal(d(s), 'unknown', JSON.stringify(s));
  assert.equal(d('X'), 'unknown', 'one byte is enough');
});

void test('a few leading heart-beat EOLs before a command are tolerated, endless ones are not', () => {
  assert.equal(d('\nCONNECT\n'), 'stomp');
  assert.equal(d('\r\n\r\nSEND\n'), 'stomp');
  assert.equal(d('\n'.repeat(40)), 'unknown');
});
