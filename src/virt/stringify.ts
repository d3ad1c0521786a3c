// vdsm's wire stringification of numbers: "%.2f" for floats, "%d" for ints, Python's str() for the
// values it formats itself. JavaScript has one number type, so callers say which rule they mean.

/**
 * Python's "%.2f": like toFixed(2), except that exact binary ties round half to even
 * (Python: '%.2f' % 0.125 == '0.12'; JavaScript: (0.125).toFixed(2) == '0.13').
 */
export function fmt2(x: number): string {
  if (!Number.isFinite(x)) return pyFloatRepr(x);
  // toFixed switches to exponent notation at 1e21; such doubles are integers.
  if (Math.abs(x) >= 1e21) return `${BigInt(x).toString()}.00`;
  // A tie at two decimals needs an exact binary value ending in 1/8, 3/8, 5/8 or 7/8 (x*8 odd; the
  // scaling by 8 is exact, unlike x*100). toFixed rounds ties up; Python rounds them to even.
  const eighths = x * 8;
  if (Number.isInteger(eighths) && Math.abs(eighths % 2) === 1) {
    const three = x.toFixed(3); // exact: the value has three decimals
    const second = Number(three.charAt(three.length - 2));
    return second % 2 === 0 ? three.slice(0, -1) : x.toFixed(2);
  }
  return x.toFixed(2);
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
