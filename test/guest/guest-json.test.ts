// Decoding untrusted guest lines: invalid UTF-8 replaced, XML-forbidden characters replaced after JSON
// decoding (keys too), lone surrogates only, __name__ handling, nesting bound, no prototype pollution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeGuestLine, filterXmlChars, MAX_JSON_DEPTH, REPLACEMENT_CHAR } from '../../src/guest/guest-json.js';

const R = REPLACEMENT_CHAR;

void test('vdsm\'s XML filter: kept and replaced ranges', () => {
  const kept = ['\t', '\n', '\r', ' ', '~', '\u0085', '\u00a0', '\ud7ff', '\ue000', '\ufffd', '\u{10000}', '\u{10ffff}', '😀'];
  for (const c of kept) assert.equal(filterXmlChars(`a${c}b`), `a${c}b`, `U+${c.codePointAt(0)!.toString(16)} kept`);
  const replaced = ['\u0000', '\u0008', '\u000b', '\u000c', '\u000e', '\u001f', '\u007f', '\u0084', '\u0086', '\u009f', '\ud800', '\udfff', '\ufffe', '\uffff'];
  for (const c of replaced) assert.equal(filterXmlChars(`a${c}b`), `a${R}b`, `U+${c.charCodeAt(0).toString(16)} replaced`);
});

void test('escapes that decode to forbidden characters are filtered after JSON decoding, keys included', () => {
  const d = decodeGuestLine(Buffer.from('{"__name__":"host-name","name":"a\\u0001b\\ud800","k\\u0000ey":["\\u001f",1,true,null]}'));
  assert.ok(d.ok);
  assert.equal(d.args['name'], `a${R}b${R}`);
  assert.deepEqual(d.args[`k${R}ey`], [R, 1, true, null]);
  assert.ok(!('__name__' in d.args));
});

void test('invalid UTF-8 bytes become U+FFFD; a valid surrogate pair survives', () => {
  const bytes = Buffer.concat([Buffer.from('{"__name__":"host-name","name":"x'), Buffer.from([0xff, 0xc3]), Buffer.from('y\\ud83d\\ude00"}')]);
  const d = decodeGuestLine(bytes);
  assert.ok(d.ok);
  assert.equal(d.args['name'], `x${R}${R}y😀`);
});

void test('not JSON, not an object, no __name__, nested too deep: a reason each', () => {
  const reason = (s: string): string => {
    const d = decodeGuestLine(Buffer.from(s));
    return d.ok ? 'ok' : d.reason;
  };
  assert.equal(reason('garbage'), 'json');
  assert.equal(reason('{"__name__":'), 'json');
  assert.equal(reason('[1,2]'), 'not-object');
  assert.equal(reason('"heartbeat"'), 'not-object');
  assert.equal(reason('null'), 'not-object');
  assert.equal(reason('{"name":"x"}'), 'no-name');
  assert.equal(reason('{"__name__":3}'), 'no-name');
  const deep = `{"__name__":"x","a":${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}}`;
  assert.equal(reason(deep), 'too-deep');
  const ok = `{"__name__":"x","a":${'['.repeat(MAX_JSON_DEPTH - 2)}${']'.repeat(MAX_JSON_DEPTH - 2)}}`;
  assert.equal(reason(ok), 'ok');
  assert.equal(reason(`{"__name__":"x","a":${'['.repeat(200_000)}${']'.repeat(200_000)}}`), 'too-deep', 'a million-level nest is refused, not a stack overflow');
});

void test('a "__proto__" member never becomes a prototype', () => {
  const d = decodeGuestLine(Buffer.from('{"__name__":"os-info","__proto__":{"polluted":1},"id":"x"}'));
  assert.ok(d.ok);
  assert.equal(Object.getPrototypeOf(d.args), Object.prototype);
  assert.equal((d.args as Record<string, unknown>)['polluted'], undefined);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});
