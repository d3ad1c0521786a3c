// The typed door between the main thread and the workers, proven by the compiler: fixtures that
// misspell an operation, pass the wrong arguments, expect the wrong result, leave an operation or an
// area unimplemented must each fail to compile, on exactly the lines marked `error:` (so a fixture that
// stopped compiling for an unrelated reason fails this test too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

function repoRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src', 'contracts'))) return dir;
    if (dirname(dir) === dir) throw new Error('repository root not found');
  }
}

const root = repoRoot();
const fixtureDir = join(root, 'test', 'contracts', 'type-fixtures');
const fixtures = readdirSync(fixtureDir).filter((f) => f.endsWith('.ts')).map((f) => join(fixtureDir, f));

/** Compile the fixtures with the project's compiler options; diagnostics per file and line (1-based). */
function compile(files: string[]): Map<string, Map<number, string[]>> {
  const config = ts.readConfigFile(join(root, 'tsconfig.json'), (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const program = ts.createProgram(files, { ...parsed.options, noEmit: true, incremental: false });
  const out = new Map<string, Map<number, string[]>>();
  for (const d of ts.getPreEmitDiagnostics(program)) {
    assert.ok(d.file, `a global diagnostic: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    const line = d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1;
    const lines = out.get(d.file.fileName) ?? new Map<number, string[]>();
    lines.set(line, [...(lines.get(line) ?? []), `TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`]);
    out.set(d.file.fileName, lines);
  }
  return out;
}

function markedLines(file: string): number[] {
  return readFileSync(file, 'utf8').split('\n').flatMap((l, i) => (/\/\/ error:/.test(l) ? [i + 1] : []));
}

void test('misuse of the operation contracts fails to compile, line by line', () => {
  assert.ok(fixtures.length >= 2, 'fixtures present');
  const diagnostics = compile(fixtures);
  for (const file of fixtures) {
    const expected = markedLines(file);
    assert.ok(expected.length >= 4, `${file}: marked lines`);
    const got = diagnostics.get(file) ?? new Map<number, string[]>();
    for (const line of expected) assert.ok(got.has(line), `${file}:${line} should not compile`);
    const unexpected = [...got].filter(([line]) => !expected.includes(line));
    assert.deepEqual(unexpected, [], `${file}: errors on unmarked lines`);
  }
  const elsewhere = [...diagnostics.keys()].filter((f) => !fixtures.includes(f));
  assert.deepEqual(elsewhere, [], 'the contracts themselves compile');
});
