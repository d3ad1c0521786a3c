// The bulk-stats sample as one buffer (issue 17: sampling.bulkStats transfers it instead of cloning the
// records): every record decodes to what was encoded, values, types and key order alike; a buffer that is
// truncated, foreign or inconsistent is refused whole with a BulkStatsFormatError naming the fault.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BulkStatsFormatError, BulkStatsView, bulkStatsLayout, encodeBulkStats } from '../../src/contracts/bulk-stats-codec.js';

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

/** A copy of `buf` with u32 word `word` of the header set to `v`. */
function patched32(buf: ArrayBuffer, word: number, v: number): ArrayBuffer {
  const copy = buf.slice(0);
  new Uint32Array(copy, 0, 10)[word] = v;
  return copy;
}

/** A copy of `buf` changed by `edit`, which gets the copy and its section offsets. */
function edited(buf: ArrayBuffer, edit: (c: ArrayBuffer, at: ReturnType<typeof bulkStatsLayout>) => void): ArrayBuffer {
  const c = buf.slice(0);
  edit(c, bulkStatsLayout(c));
  return c;
}

void test('a bad buffer is refused whole, with the fault named', () => {
  const good = encode(records);
  const { counts: n } = bulkStatsLayout(good);
  assert.equal(n.shapes, 3, 'three key lists, three shapes');
  const cases: [string, unknown, RegExp][] = [
    ['not a buffer', 'bytes', /expected an ArrayBuffer, got string/],
    ['empty', new ArrayBuffer(0), /0 bytes, shorter than its 40-byte header/],
    ['truncated by one byte', good.slice(0, good.byteLength - 1), /its header describes \d+ \(truncated or corrupt\)/],
    ['one byte too many', (() => { const b = new Uint8Array(good.byteLength + 1); b.set(new Uint8Array(good)); return b.buffer; })(), /truncated or corrupt/],
    ['foreign', patched32(good, 0, 0x12345678), /bad magic 0x12345678/],
    ['another version', patched32(good, 1, 2), /format version 2, this agent reads 1/],
    ['counts that do not match the size', patched32(good, 4, n.entries + 1), /truncated or corrupt/],
    ['a key index past the key table', edited(good, (c, at) => { new Uint16Array(c, at.shapeKeys, n.shapeEntries)[0] = n.keys; }), /shape 0 entry 0 names key \d+ of \d+/],
    ['an unknown value type', edited(good, (c, at) => { new Uint8Array(c, at.shapeTypes, n.shapeEntries)[1] = 9; }), /shape 0 entry 1 has unknown type 9/],
    ['a shape past the shape entries', edited(good, (c, at) => { new Uint32Array(c, at.shapeTable, 2 * n.shapes)[3] = n.shapeEntries; }), /shape 1's keys \d+\+\d+ run past the \d+ shape entries/],
    ['a text span past the text bytes', edited(good, (c, at) => { new Uint32Array(c, at.spans, 2 * n.texts)[1] = n.textBytes + 1; }), /text 0 lies outside the text bytes/],
    ['a VM whose entries run past the end', edited(good, (c, at) => { new Uint32Array(c, at.vmTable, 3 * n.vms)[1] = n.entries; }), /entries \d+\+\d+ run past the \d+ entries/],
    ['a VM naming a missing shape', edited(good, (c, at) => { new Uint32Array(c, at.vmTable, 3 * n.vms)[2] = n.shapes; }), /names shape 3 of 3/],
    ['the same VM twice', edited(good, (c, at) => { const t = new Uint32Array(c, at.vmTable, 3 * n.vms); t[3] = t[0]!; }), /vm 11111111-2222-4333-8444-555555555555 appears twice/],
    ['a string value naming a missing text', edited(good, (c, at) => { new Float64Array(c, at.values, n.entries)[5] = n.texts + 5; }), new RegExp(`vm 11111111-2222-4333-8444-555555555555's net\\.0\\.name names text ${n.texts + 5} of ${n.texts}`)],
  ];
  for (const [what, buf, message] of cases) {
    assert.throws(() => new BulkStatsView(buf as ArrayBuffer), (e: unknown) => e instanceof BulkStatsFormatError && e.code === 'ERR_BULK_STATS_FORMAT' && message.test(e.message), what);
  }
});

void test('a key named __proto__ stays an own property, as a structured clone keeps it', () => {
  const rec = JSON.parse('{"cpu.time": 5, "__proto__": 7}') as Record<string, unknown>;
  const got = new BulkStatsView(encode({ [A]: rec })).record(A)!;
  assert.equal(Object.getPrototypeOf(got), Object.prototype);
  assert.deepEqual(Object.entries(got), [['cpu.time', 5], ['__proto__', 7]]);
});

void test('VMs with the same keys share one shape; a later sample with the same shapes decodes the same', () => {
  const many = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`${String(i).padStart(8, '0')}-2222-4333-8444-555555555555`, { 'cpu.time': i, 'net.0.name': `vnet${i % 3}`, ok: i % 2 === 0 }]));
  const buf = encode(many);
  assert.equal(bulkStatsLayout(buf).counts.shapes, 1);
  assert.equal(bulkStatsLayout(buf).counts.texts, 50 + 3 + 3, 'uuids, keys, and three distinct NIC names');
  for (let round = 0; round < 2; round++) assert.deepEqual(new BulkStatsView(encode(many)).toObject(), many);
});
