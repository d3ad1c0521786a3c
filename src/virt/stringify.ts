// vdsm's wire stringification of numbers: "%.2f" for floats, "%d" for ints, Python's str() for the
// values it formats itself. JavaScript has one number type, so callers say which rule they mean.

/**
 * Python's "%.2f": like toFixed(2), except that exact binary ties round half to even
 * (Python: '%.2f' % 0.125 == '0.12'; JavaScript: (0.125).toFixed(2) == '0.13').
 */
export function fmt2(x: number): string {
  if (!Number.isFinite(x)) return pyFloatRepr(x);
  const hundred = x * 100;
  // A tie at two decimals is representable only when x is a multiple of 1/8 (x*100 ends in .5 exactly).
  if (Number.isInteger(x * 8) && Math.abs(hundred % 1) === 0.5) {
    const floor = Math.floor(hundred);
    const even = floor % 2 === 0 ? floor : floor + 1;
    return (even / 100).toFixed(2);
  }
  const s = x.toFixed(2);
  return s === '-0.00' ? '-0.00' : s;
}

/** Python's "%d" of an int (truncates toward zero as int() would). */
export function fmtInt(x: number): string {
  return Math.trunc(x).toString();
}

/**
 * Python 3's repr()/str() of a float: shortest round-trip digits, always with a '.0' or an exponent,
 * scientific notation when the decimal exponent is < -4 or >= 16 ('1e-05', '1e+16').
 */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant = '0', expText = '0'] = x.toExponential().split('e');
  const exp = Number(expText);
  const negative = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${e}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intLen = exp + 1;
  if (digits.length <= intLen) return `${sign}${digits}${'0'.repeat(intLen - digits.length)}.0`;
  return `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
}

/** Python's str() of a value vdsm computed with true division (always a float). */
export function pyDivStr(numerator: number, denominator: number): string {
  return pyFloatRepr(numerator / denominator);
}

/** Python's round() (half to even) for the per-second rates vdsm rounds to ints. */
export function pyRound(x: number): number {
  const r = Math.round(x);
  if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}
