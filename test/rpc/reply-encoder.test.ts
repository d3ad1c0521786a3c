// The reply encoder never holds the event loop for long: with a clock that says each fragment costs
// 0.5 ms, a 20,000-item batch reply yields at least every 2 ms of work, and the bytes are exactly
// JSON.stringify's. Items past the bound become "Response too large" errors, in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeReply } from '../../src/rpc/reply-encoder.js';

const vm = (i: number): object => ({ vmId: `vm-${i}`, status: 'Up', cpuUser: '0.50', disks: { vda: { readRate: '0.00' } }, nested: [1, [2, [3]]], note: undefined });

void test('a large batch reply is produced in slices: it yields at least every 2 ms of work', async () => {
  let clock = 0;
  let worked = 0;
  let longest = 0;
  const batch = Array.from({ length: 2000 }, (_, i) => ({ jsonrpc: '2.0', id: i, result: Array.from({ length: 10 }, (_, j) => vm(i * 10 + j)) }));
  const out = await encodeReply(batch, {
    maxBytes: 64 * 1024 * 1024,
    sliceMs: 2,
    now: () => {
      worked++;
      return (clock += 0.5);
    },
    yieldToLoop: async () => {
      longest = Math.max(longest, worked);
      worked = 0;
    },
  });
  // Each clock reading stands for 0.5 ms of work: at most ~2 ms (a handful of readings) between yields.
  assert.ok(longest > 0 && longest <= 6, `clock readings between yields: ${longest}`);
  const text = Buffer.concat(out.chunks).toString('utf8');
  assert.equal(text, JSON.stringify(batch));
  assert.equal(out.bytes, Buffer.byteLength(text));
  assert.equal(out.oversized, 0);
});

void test('long strings are written in slices and still exact (escapes, astral characters)', async () => {
  const s = `${'\u{1F600}"\\\n'.repeat(200_000)}end`;
  const out = await encodeReply({ jsonrpc: '2.0', id: 'e', result: s }, { maxBytes: 64 * 1024 * 1024 });
  assert.equal(Buffer.concat(out.chunks).toString('utf8'), JSON.stringify({ jsonrpc: '2.0', id: 'e', result: s }));
});

void test('items past the bound are answered with "Response too large", in order; the rest stay', async () => {
  const big = 'x'.repeat(400_000);
  const batch = [0, 1, 2, 3].map((i) => ({ jsonrpc: '2.0', id: i, result: i === 1 ? big + big + big + big : big }));
  const out = await encodeReply(batch, { maxBytes: 1_000_000 });
  const parsed = JSON.parse(Buffer.concat(out.chunks).toString('utf8')) as { id: number; result?: string; error?: { code: number; message: string } }[];
  assert.deepEqual(parsed.map((r) => (r.error ? `e${r.id}` : `r${r.id}`)), ['r0', 'e1', 'r2', 'e3']);
  assert.ok(out.bytes <= 1_000_000);
  assert.equal(out.oversized, 2);
  for (const r of parsed.filter((x) => x.error)) {
    assert.equal(r.error!.code, -32603);
    assert.match(r.error!.message, /Response too large: the response needs more than \d+ bytes, above the 1000000-byte bound/);
  }
});
