// Our vdsm.conf parser against the real thing: Python's configparser (what vdsm reads its config
// with) parses the same generated files, and both must agree on accept/reject and on every value.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_SECTION, parseIni } from '../../src/config/ini-parser.js';

const PYTHON = `
import configparser, json, sys
out = []
for text in json.load(sys.stdin):
    p = configparser.ConfigParser(interpolation=None)
    try:
        p.read_string(text, source="f")
        entries = [["DEFAULT", k, v] for k, v in p._defaults.items()]
        entries += [[name, k, v] for name, sec in p._sections.items() for k, v in sec.items()]
        out.append({"ok": True, "entries": entries})
    except configparser.Error as e:
        out.append({"ok": False, "error": type(e).__name__})
print(json.dumps(out))
`;

function pythonParse(texts: readonly string[]): Promise<({ ok: true; entries: [string, string, string][] } | { ok: false; error: string })[]> {
  return new Promise((resolve, reject) => {
    const child = execFile('/usr/bin/python3', ['-c', PYTHON], { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(JSON.parse(stdout) as never);
    });
    child.stdin!.end(JSON.stringify(texts));
  });
}

const ws = fc.constantFrom('', ' ', '  ', '\t');
const line = fc.oneof(
  fc.tuple(ws, fc.constantFrom('a', 'b', 'DEFAULT', 'A', 'a] x', 'c]]')).map(([w, n]) => `${w}[${n}]`),
  fc
    .tuple(ws, fc.constantFrom('k', 'K', 'x y', 'k2', 'k.z'), fc.constantFrom(' ', '', '\t'), fc.constantFrom('=', ':', ' = ', ': '), fc.constantFrom('', 'v', 'a=b', 'c:d', ' x ', 'v # c', '%(k)s', 'v '))
    .map(([w, k, s, d, v]) => `${w}${k}${s}${d}${v}`),
  fc.tuple(ws, fc.constantFrom('# c', '; c', '#', ';x=1')).map(([w, c]) => `${w}${c}`),
  fc.constantFrom('', '   ', '\t'),
  fc.tuple(fc.constantFrom(' ', '  ', '\t', '    '), fc.constantFrom('cont', 'more = x', '[a]', 'x,y')).map(([w, c]) => `${w}${c}`),
  fc.constantFrom('junk', '= v', ': v'),
);
const doc = fc.array(line, { maxLength: 12 }).map((lines) => lines.join('\n') + '\n');

void describe('parser vs Python configparser', () => {
  void it('agrees on accept/reject and on every section, key and value of 600 generated files', async () => {
    const seed = Number(process.env['VDSM_FC_SEED'] ?? 20261125);
    const texts = fc.sample(doc, { numRuns: 600, seed });
    // Hand-picked cases first: the classic gotchas.
    texts.unshift('[a]\nk = 1\n  [b]\n', '[a]\nk = 1\n\n  x = 2\n', '[DEFAULT]\nk=1\n[DEFAULT]\nj=2\n', '[a] trailing\nk=v\n', 'k=v\n');
    const expected = await pythonParse(texts);
    let compared = 0;
    texts.forEach((text, i) => {
      const py = expected[i]!;
      const ours = parseIni(text, 'f');
      assert.equal(ours.problems.length === 0, py.ok, `accept/reject differs for ${JSON.stringify(text)}: python ${py.ok ? 'ok' : (py as { error: string }).error}, ours ${JSON.stringify(ours.problems)}`);
      if (!py.ok) return;
      compared++;
      const mine = new Map<string, string>();
      for (const e of ours.entries) mine.set(`${e.section}\0${e.key}`, e.value);
      const theirs = new Map(py.entries.map(([s, k, v]) => [`${s}\0${k}`, v]));
      // configparser lists sections even when empty; only keys are compared.
      assert.deepEqual(new Map([...mine].sort()), new Map([...theirs].sort()), `values differ for ${JSON.stringify(text)}`);
    });
    assert.ok(compared > 100, `only ${compared} accepted files compared; the generator needs more valid files`);
    assert.equal(DEFAULT_SECTION, 'DEFAULT');
  });
});
