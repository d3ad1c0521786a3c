// Parsing of each value type (vdsm's boolean spellings, integers, floats, enums, lists) and the
// schema's own consistency: every default parses as its own type.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bool, float, int, list, oneOf, parseValue, formatValue, str, defaultText } from '../../src/config/key-types.js';
import { schemaEntries } from '../../src/config/schema.js';

const ok = (p: ReturnType<typeof parseValue>): unknown => {
  assert.ok(p.ok, p.ok ? '' : p.problem);
  return p.ok ? p.value : undefined;
};
const bad = (p: ReturnType<typeof parseValue>): string => {
  assert.equal(p.ok, false);
  return p.ok ? '' : p.problem;
};

void describe('value types', () => {
  void it('bool accepts true/false, yes/no, on/off, 1/0 in any case, and nothing else', () => {
    const b = bool(false, 'x');
    for (const t of ['true', 'TRUE', 'Yes', 'on', '1', ' yes ']) assert.equal(ok(parseValue(b, t)), true, t);
    for (const f of ['false', 'No', 'OFF', '0']) assert.equal(ok(parseValue(b, f)), false, f);
    for (const x of ['', 'y', 'n', '2', 'enabled', 'truee']) assert.match(bad(parseValue(b, x)), /is not a boolean/, x);
  });

  void it('int accepts signed decimal integers within range', () => {
    const i = int(0, 'x', { min: -5, max: 10 });
    assert.equal(ok(parseValue(i, ' -5 ')), -5);
    assert.equal(ok(parseValue(i, '+7')), 7);
    for (const x of ['1.5', '0x10', '1e3', '', 'ten', '5 5']) assert.match(bad(parseValue(i, x)), /not an integer/, x);
    assert.match(bad(parseValue(i, '11')), /above the maximum 10/);
    assert.match(bad(parseValue(i, '-6')), /below the minimum -5/);
    assert.match(bad(parseValue(int(0, 'x'), '99999999999999999999')), /out of range/);
  });

  void it('float accepts decimals and exponents, refuses the rest', () => {
    const f = float(0, 'x', { min: 0 });
    assert.equal(ok(parseValue(f, '0.5')), 0.5);
    assert.equal(ok(parseValue(f, '.25')), 0.25);
    assert.equal(ok(parseValue(f, '2e-3')), 0.002);
    for (const x of ['', 'nan', 'inf', '1,5']) assert.match(bad(parseValue(f, x)), /not a number/, x);
    assert.match(bad(parseValue(f, '-1')), /below the minimum 0/);
  });

  void it('enum matches case-insensitively and names the allowed values', () => {
    const e = oneOf(['statsd', 'hawkular'], 'statsd', 'x');
    assert.equal(ok(parseValue(e, 'HAWKULAR')), 'hawkular');
    assert.match(bad(parseValue(e, 'graphite')), /not one of statsd, hawkular/);
  });

  void it('list splits on commas, trims, drops empty items, and is frozen', () => {
    const l = list([], 'x');
    const v = ok(parseValue(l, ' a , b,,\nc, ')) as string[];
    assert.deepEqual(v, ['a', 'b', 'c']);
    assert.ok(Object.isFrozen(v));
    assert.deepEqual(ok(parseValue(l, '')), []);
  });

  void it('string runs its check', () => {
    const s = str('/x', 'x', { check: (v) => (v.startsWith('/') ? undefined : 'expected an absolute path') });
    assert.equal(ok(parseValue(s, '/a b')), '/a b');
    assert.match(bad(parseValue(s, 'rel')), /expected an absolute path/);
  });

  void it('every schema default parses back to itself, and enum values are lower case', () => {
    for (const { section, key, spec } of schemaEntries()) {
      if (spec.type === 'string' && spec.default.includes('%(')) continue; // interpolated; checked in layering tests
      assert.deepEqual(ok(parseValue(spec, defaultText(spec))), spec.default, `${section}.${key}`);
      assert.equal(formatValue(spec, spec.default), defaultText(spec));
      if (spec.type === 'enum') for (const v of spec.values) assert.equal(v, v.toLowerCase(), `${section}.${key}`);
      assert.ok(spec.description.length > 10, `${section}.${key} has a description`);
    }
  });
});
