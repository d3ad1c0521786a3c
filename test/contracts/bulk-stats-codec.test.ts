// The bulk-stats sample as one buffer (issue 17: sampling.bulkStats transfers it instead of cloning the
// records): every record decodes to what was encoded, values, types and key order alike; a buffer that is
// truncated, foreign or inconsistent is refused whole with a BulkStatsFormatError naming the fault.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BulkStatsFormatError, BulkStatsView, encodeBulkStats } from '../../src/contracts/bulk-stats-codec.js';

const A = '11111111-2222-4333-8444-555555555555';
const B = '66666666-7777-4888-9999-aaaaaaaaaaaa';

const records = {
  [A]: {
    'state.state': 1, 'cpu.time': 2 ** 64, 'cpu.user': 1.5e11, 'balloon.rss': -3, 'dirtyrate.megabytes_per_second': 0.125,
    'net.0.name': 'vnet0', 'block.0.path': '/rhev/data-center/mnt/é€\u{1F600}/disk', 'block.0.name': 'vda', 'block.0.backingIndex': 0,
    'cpu.cache.monitor.0.name': '', 'x.flag': true, 'y.flag': false, 'z.nan': Number.NaN, 'z.inf': Number.POSITIVE_INFINITY,
  },
  [B]: { 'cpu.time': 7, 'state.state': 3, 'net.0.name': 'vnet0' },
  '22222222-2222-4333-8444-555555555555': {},
};

const encode = (r: Record<string, Record<string, unknown>>): ArrayBuffer => encodeBulkStats(Object.entries(r).map(([uuid, stats]) => ({ uuid, stats })));

void test('records decode to what was encoded: values, types, key order; each call a new object; absent VMs undefined', () => {
  const view = new BulkStatsView(encode(records));
  assert.equal(view.size, 3);
  assert.deepEqual([...view.ids()], Object.keys(records));
  for (const [uuid, rec] of Object.entries(records)) {
    const got = view.record(uuid)!;
    assert.deepEqual(got, rec);
    assert.deepEqual(Object.keys(got), Object.keys(rec), 'key order kept');
    assert.notEqual(view.record(uuid), got, 'a new object per call: nothing kept on the heap');
  }
  assert.ok(Object.is(view.record(A)!['z.nan'], Number.NaN));
  assert.equal(view.record('33333333-2222-4333-8444-555555555555'), undefined);
  assert.equal(view.has(B), true);
  assert.equal(view.has('nope'), false);
  assert.deepEqual(view.toObject(), records);
  assert.deepEqual([...new BulkStatsView(encode({})).ids()], [], 'an empty sample');
});

void test('a value the format cannot hold is refused at encoding, naming the VM and key', () => {
  for (const bad of [null, undefined, {}, [1], 1n]) {
    assert.throws(() => encode({ [A]: { 'cpu.time': 1, 'odd.key': bad } }), (e: unknown) => e instanceof BulkStatsFormatError && /11111111-.* odd\.key: a \w+ value/.test(e.message));
  }
});

/** A copy of `buf` with u32 word `word` set to `v`. */
function patched32(buf: ArrayBuffer, word: number, v: number): ArrayBuffer {
  const copy = buf.slice(0);
  new Uint32Array(copy, 0, 8)[word] = v;
  return copy;
}

void test('a bad buffer is refused whole, with the fault named', () => {
  const good = encode(records);
  const header = new Uint32Array(good, 0, 8);
  const [vms, keys, entries, strings, textBytes] = [header[2]!, header[3]!, header[4]!, header[5]!, header[6]!];
  const keyOfAt = 32 + 8 * entries + 12 * vms + 4 * keys + 8 * strings;
  const typeOfAt = keyOfAt + 2 * entries;
  const cases: [string, unknown, RegExp][] = [
    ['not a buffer', 'bytes', /expected an ArrayBuffer, got string/],
    ['empty', new ArrayBuffer(0), /0 bytes, shorter than its 32-byte header/],
    ['truncated by one byte', good.slice(0, good.byteLength - 1), /its header describes \d+ \(truncated or corrupt\)/],
    ['one byte too many', (() => { const b = new Uint8Array(good.byteLength + 1); b.set(new Uint8Array(good)); return b.buffer; })(), /truncated or corrupt/],
    ['foreign', patched32(good, 0, 0x12345678), /bad magic 0x12345678/],
    ['another version', patched32(good, 1, 2), /format version 2, this agent reads 1/],
    ['counts that do not match the size', patched32(good, 4, entries + 1), /truncated or corrupt/],
    ['a key index past the key table', (() => { const c = good.slice(0); new Uint16Array(c, keyOfAt, entries)[0] = keys; return c; })(), /entry 0 names key \d+ of \d+/],
    ['an unknown value type', (() => { const c = good.slice(0); new Uint8Array(c, typeOfAt, entries)[1] = 9; return c; })(), /entry 1 has unknown type 9/],
    ['a text span past the text bytes', (() => { const c = good.slice(0); new Uint32Array(c, 32 + 8 * entries + 12 * vms + 4 * keys, 2 * strings)[1] = textBytes + 1; return c; })(), /text 0 lies outside the text bytes/],
    ['a VM whose entries run past the end', (() => { const c = good.slice(0); new Uint32Array(c, 32 + 8 * entries, 3 * vms)[2] = entries + 1; return c; })(), /entries 0\+\d+ run past the \d+ entries/],
    ['the same VM twice', (() => { const c = good.slice(0); const t = new Uint32Array(c, 32 + 8 * entries, 3 * vms); t[3] = t[0]!; return c; })(), /vm 11111111-2222-4333-8444-555555555555 appears twice/],
  ];
  for (const [what, buf, message] of cases) {
    assert.throws(() => new BulkStatsView(buf as ArrayBuffer), (e: unknown) => e instanceof BulkStatsFormatError && e.code === 'ERR_BULK_STATS_FORMAT' && message.test(e.message), what);
  }
  // A string value whose text index points past the text table.
  const c = good.slice(0);
  const types = new Uint8Array(c, typeOfAt, entries);
  const strAt = types.indexOf(1);
  new Float64Array(c, 32, entries)[strAt] = strings + 5;
  assert.throws(() => new BulkStatsView(c), (e: unknown) => e instanceof BulkStatsFormatError && new RegExp(`entry ${strAt} names text ${strings + 5} of ${strings}`).test(e.message));
});
