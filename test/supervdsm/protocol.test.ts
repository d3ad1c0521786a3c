// supervdsm messages: the msgpack codec round trip, every rejection reason of a call, plain-data rules
// (no extensions, bounded nesting, no prototype tricks), and fuzzed bodies that never throw past the
// codec's own error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { FRAME_HEADER_BYTES } from '../../src/supervdsm/frame-decoder.js';
import { MAX_DEPTH, MessageCodec, parseCall, parseServerMessage, plainDataProblem, toWireError, type ServerMessage } from '../../src/supervdsm/protocol.js';
import { Errors, vdsmError } from '../../src/errors.js';

const codec = new MessageCodec();
const body = (frame: Buffer): Buffer => frame.subarray(FRAME_HEADER_BYTES);
const raw = new Packr({ useRecords: false, moreTypes: true });

void test('a call round-trips through encode and decode', () => {
  const call = { type: 'call', id: 7, method: 'ksmTune', args: { tuningParams: { pages_to_scan: 100 }, list: [1, 'a', null, true] }, timeoutMs: 5000 } as const;
  const decoded = codec.decode(body(codec.encode(call)));
  const parsed = parseCall(decoded);
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.message, call);
});

void test('results, errors and hello round-trip; undefined object members are dropped as in JSON', () => {
  for (const m of [
    { type: 'result', id: 1, value: { a: 1, b: undefined } },
    { type: 'error', id: 0, error: { code: 'ERR_SVDSM_BAD_FRAME', message: 'x', context: { kind: 'truncated' } } },
    { type: 'hello', version: 1, pid: 42, server: 'supervdsmd', methods: ['ping'] },
  ] as ServerMessage[]) {
    const parsed = parseServerMessage(codec.decode(body(codec.encode(m))));
    assert.ok(parsed.ok, JSON.stringify(parsed));
    assert.deepEqual(parsed.message, JSON.parse(JSON.stringify(m)));
  }
});

void test('each malformed call is rejected with its reason, keeping the id when the id itself was good', () => {
  const good = { type: 'call', id: 3, method: 'ping', args: {}, timeoutMs: 1000 };
  const cases: [unknown, RegExp, number][] = [
    ['ping', /must be a map/, 0],
    [[1, 2], /must be a map/, 0],
    [{ ...good, type: 'result' }, /unknown message type/, 3],
    [{ ...good, id: 0 }, /id must be an integer/, 0],
    [{ ...good, id: 2 ** 32 }, /id must be an integer/, 0],
    [{ ...good, id: 1.5 }, /id must be an integer/, 0],
    [{ ...good, method: '' }, /method must be/, 3],
    [{ ...good, method: 'x'.repeat(65) }, /method must be/, 3],
    [{ ...good, args: [1] }, /args must be a map/, 3],
    [{ ...good, timeoutMs: 0 }, /timeoutMs/, 3],
    [{ ...good, timeoutMs: 3_600_001 }, /timeoutMs/, 3],
    [{ ...good, extra: 1 }, /unknown field "extra"/, 3],
  ];
  for (const [value, re, id] of cases) {
    const r = parseCall(value);
    assert.equal(r.ok, false, JSON.stringify(value));
    if (!r.ok) {
      assert.match(r.rejection.reason, re);
      assert.equal(r.rejection.id, id);
    }
  }
  assert.ok(parseCall({ type: 'call', id: 1, method: 'ping', timeoutMs: 1 }).ok, 'args may be left out');
});

void test('args must be plain data: msgpack extensions, non-finite numbers and deep nesting are refused', () => {
  const call = (args: unknown): unknown => codec.decode(raw.pack({ type: 'call', id: 1, method: 'ping', args, timeoutMs: 10 }));
  let deep: unknown = 1;
  for (let i = 0; i <= MAX_DEPTH; i++) deep = [deep];
  for (const [args, re] of [
    [{ when: new Date(0) }, /Date is not plain data/],
    [{ blob: Buffer.from('x') }, /is not plain data/],
    [{ n: Number.NaN }, /not a finite number/],
    [{ n: Infinity }, /not a finite number/],
    [{ deep }, /nested deeper/],
  ] as const) {
    const r = parseCall(call(args));
    assert.equal(r.ok, false, String(re));
    if (!r.ok) assert.match(r.rejection.reason, re);
  }
  assert.equal(plainDataProblem({ a: [1, { b: 'c' }], d: null, e: false }), undefined);
});

void test('a "__proto__" key cannot reach the prototype', () => {
  // msgpack map {"__proto__": {"polluted": true}}, written byte by byte.
  const bytes = Buffer.concat([Buffer.from([0x81, 0xa9]), Buffer.from('__proto__'), Buffer.from([0x81, 0xa8]), Buffer.from('polluted'), Buffer.from([0xc3])]);
  const v = codec.decode(bytes) as Record<string, unknown>;
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
});

void test('toWireError keeps catalogued codes and plain context; anything else gets the fallback code', () => {
  assert.deepEqual(toWireError(vdsmError(Errors.SVDSM_NO_DMI, { reason: 'none' }), 'ERR_X'), { code: 'ERR_SVDSM_NO_DMI', message: "This host has no DMI (SMBIOS) tables: {'reason': 'none'}", context: { reason: 'none' } });
  assert.equal(toWireError(new TypeError('bug'), 'ERR_SVDSM_INTERNAL').code, 'ERR_SVDSM_INTERNAL');
  assert.equal(toWireError(Object.assign(new Error('e'), { code: 'ENOENT' }), 'ERR_SVDSM_INTERNAL').code, 'ERR_SVDSM_INTERNAL', 'errno codes are not catalogue codes');
  assert.deepEqual(toWireError('str', 'ERR_Y'), { code: 'ERR_Y', message: 'str' });
});

void test('fuzz: any bytes either decode to something parseCall judges, or throw from the codec; never hang or crash', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 512 }), (bytes) => {
    let value: unknown;
    try {
      value = codec.decode(Buffer.from(bytes));
    } catch {
      return; // the server answers ERR_SVDSM_BAD_FRAME
    }
    const r = parseCall(value);
    if (r.ok) assert.equal(plainDataProblem(r.message.args), undefined);
  }), { numRuns: 5000 });
});

void test('fuzz: mutated valid calls are judged without throwing', () => {
  const base = body(codec.encode({ type: 'call', id: 9, method: 'prepareVmChannel', args: { socketFile: '/var/lib/libvirt/qemu/channels/x', group: 'kvm' }, timeoutMs: 100 }));
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (flips) => {
    const b = Buffer.from(base);
    for (const [i, v] of flips) b[i] = v;
    try {
      parseCall(codec.decode(b));
    } catch (err) {
      assert.ok(err instanceof Error);
    }
  }), { numRuns: 5000 });
});
