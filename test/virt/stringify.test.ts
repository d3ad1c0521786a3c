// vdsm's number formatting: Python's "%.2f" (ties to even on exact binary ties) and str(float).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmt2, fmtInt, pyFloatRepr, pyRound } from '../../src/virt/stringify.js';

void test('"%.2f": ordinary rounding, and exact binary ties round half to even as Python does', () => {
  assert.equal(fmt2(0.6840879), '0.68');
  assert.equal(fmt2(100), '100.00');
  assert.equal(fmt2(0.125), '0.12');
  assert.equal(fmt2(0.375), '0.38');
  assert.equal(fmt2(2.675), '2.67'); // 2.675 is really 2.67499999... in binary
  assert.equal(fmt2(-0.125), '-0.12');
  assert.equal(fmtInt(42.9), '42');
});

void test('str(float): shortest digits, ".0" on integers, exponent outside [1e-4, 1e16)', () => {
  assert.equal(pyFloatRepr(13107.2), '13107.2');
  assert.equal(pyFloatRepr(50000), '50000.0');
  assert.equal(pyFloatRepr(0), '0.0');
  assert.equal(pyFloatRepr(0.0001), '0.0001');
  assert.equal(pyFloatRepr(0.00001), '1e-05');
  assert.equal(pyFloatRepr(1e16), '1e+16');
  assert.equal(pyFloatRepr(1.5e16), '1.5e+16');
  assert.equal(pyFloatRepr(123456789012345.6), '123456789012345.6');
  assert.equal(pyFloatRepr(-2.5), '-2.5');
});

void test('round(): half to even', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -2.5, -3.5, 2.4].map(pyRound), [0, 2, 2, -2, -4, 2]);
});

void test('differential against CPython: "%.2f", repr() and round() on 3000 numbers agree', async (t) => {
  const { execFile } = await import('node:child_process');
  const nums: number[] = [];
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = 0; i < 1000; i++) nums.push((rnd() - 0.5) * 10 ** Math.floor(rnd() * 24 - 8));
  for (let i = 0; i < 1000; i++) nums.push(Math.floor((rnd() - 0.5) * 4000) / 8);
  for (let i = 0; i < 1000; i++) nums.push(Math.round(rnd() * 1e6) / 100 + 0.005);
  const script = 'import sys, json\nfor x in json.load(sys.stdin):\n    print("%.2f|%r|%d" % (x, float(x), round(x)))\n';
  let out: string;
  try {
    out = await new Promise<string>((resolve, reject) => {
      const child = execFile('/usr/bin/python3', ['-c', script], { maxBuffer: 1 << 24 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
      child.stdin?.end(JSON.stringify(nums));
    });
  } catch {
    t.skip('no /usr/bin/python3');
    return;
  }
  const lines = out.trim().split('\n');
  assert.equal(lines.length, nums.length);
  nums.forEach((x, i) => {
    assert.equal(`${fmt2(x)}|${pyFloatRepr(x)}|${pyRound(x)}`, lines[i], `for ${x}`);
  });
});
