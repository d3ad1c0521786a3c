// configparser's basic interpolation, as vdsm.conf values use it: `%(name)s` is replaced by the value
// of `name` in the same section (or [DEFAULT]), recursively; `%%` is a literal percent sign.

/** configparser's bound on nested references; deeper means a cycle in practice. */
export const MAX_INTERPOLATION_DEPTH = 10;

export type Interpolated = { ok: true; value: string } | { ok: false; problem: string };

/**
 * Expand `raw`. `lookup(name)` returns the raw (not yet expanded) value of a key of the same section,
 * falling back to [DEFAULT], or undefined; names are matched lower-cased like configparser keys.
 */
export function interpolate(raw: string, lookup: (name: string) => string | undefined): Interpolated {
  try {
    return { ok: true, value: expand(raw, lookup, 1, []) };
  } catch (err) {
    if (err instanceof InterpolationProblem) return { ok: false, problem: err.message };
    throw err;
  }
}

class InterpolationProblem extends Error {}

function expand(raw: string, lookup: (name: string) => string | undefined, depth: number, chain: readonly string[]): string {
  if (depth > MAX_INTERPOLATION_DEPTH) {
    throw new InterpolationProblem(`references nest deeper than ${MAX_INTERPOLATION_DEPTH} levels (${chain.join(' -> ')}); is there a cycle?`);
  }
  let out = '';
  let rest = raw;
  for (;;) {
    const at = rest.indexOf('%');
    if (at < 0) return out + rest;
    out += rest.slice(0, at);
    rest = rest.slice(at);
    const next = rest[1];
    if (next === '%') {
      out += '%';
      rest = rest.slice(2);
      continue;
    }
    if (next !== '(') {
      throw new InterpolationProblem(`'%' must be followed by '%' or '(' (write %% for a percent sign), found ${JSON.stringify(rest)}`);
    }
    const m = /^%\(([^)]*)\)s/.exec(rest);
    if (!m) throw new InterpolationProblem(`bad reference ${JSON.stringify(rest)}: expected %(name)s`);
    const name = m[1]!.toLowerCase();
    const value = lookup(name);
    if (value === undefined) throw new InterpolationProblem(`refers to %(${name})s, which is not set in this section or in [DEFAULT]`);
    out += value.includes('%') ? expand(value, lookup, depth + 1, [...chain, name]) : value;
    rest = rest.slice(m[0].length);
  }
}
