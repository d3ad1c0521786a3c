// The scan that refuses pathological JSON before JSON.parse pays for it: nesting counted outside
// strings only, a batch counted by its top-level elements only, stopping at the first problem.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_BATCH, MAX_JSON_DEPTH, scanJson } from '../../src/rpc/jsonrpc-server.js';

const batch = (n: number): string => JSON.stringify(Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', method: 'Host.ping2', params: { a: [1, 2], s: 'x,y' }, id: i })));

void test('a batch of MAX_BATCH passes, one more is too large; commas inside requests and strings do not count', () => {
  assert.equal(scanJson(batch(MAX_BATCH), MAX_JSON_DEPTH, MAX_BATCH), undefined);
  assert.equal(scanJson(batch(MAX_BATCH + 1), MAX_JSON_DEPTH, MAX_BATCH), 'batch-too-large');
  assert.equal(scanJson(`  \n${batch(MAX_BATCH + 1)}`, MAX_JSON_DEPTH, MAX_BATCH), 'batch-too-large', 'leading whitespace');
  assert.equal(scanJson(JSON.stringify({ jsonrpc: '2.0', method: 'x', params: { l: Array.from({ length: 5000 }, (_, i) => i) }, id: 1 }), MAX_JSON_DEPTH, MAX_BATCH), undefined, 'a long list inside one request is no batch');
  assert.equal(scanJson(JSON.stringify(['a,'.repeat(5000)]), MAX_JSON_DEPTH, MAX_BATCH), undefined, 'commas in a string');
});

void test('nesting deeper than the limit, outside strings only', () => {
  assert.equal(scanJson('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH), MAX_JSON_DEPTH, MAX_BATCH), undefined);
  assert.equal(scanJson('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH, MAX_BATCH), 'too-deep');
  assert.equal(scanJson(JSON.stringify({ s: '['.repeat(10_000), t: '\\"[[' }), MAX_JSON_DEPTH, MAX_BATCH), undefined);
  assert.equal(scanJson(`[${'['.repeat(100_000)}`, MAX_JSON_DEPTH, MAX_BATCH), 'too-deep', 'stops at the first level too deep, unbalanced or not');
});
