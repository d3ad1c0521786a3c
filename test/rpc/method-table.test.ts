// The method table and schema language: binding named/positional params, defaults, validation errors,
// and the generated docs and types staying in step with the table.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectApiMethods, renderApiMarkdown, renderApiTypes } from '../../src/api/gen-docs.js';
import { MethodTable, type MethodSpec } from '../../src/api/method-table.js';
import { s, validate } from '../../src/api/schema.js';

const spec: MethodSpec = {
  name: 'VM.shutdown',
  description: 'test',
  params: [
    { name: 'vmID', type: s.string() },
    { name: 'delay', type: s.union(s.string(), s.int()), optional: true },
    { name: 'reboot', type: s.bool(), default: false },
  ],
  result: s.bool(),
  handler: () => true,
};

void test('named and positional params bind to the same names, defaults applied, extras passed through', () => {
  assert.deepEqual(MethodTable.bind(spec, { vmID: 'a', extra: 1 }), { ok: true, params: { vmID: 'a', extra: 1, reboot: false } });
  assert.deepEqual(MethodTable.bind(spec, ['a', '30', true]), { ok: true, params: { vmID: 'a', delay: '30', reboot: true } });
  assert.deepEqual(MethodTable.bind(spec, ['a', 30]), { ok: true, params: { vmID: 'a', delay: 30, reboot: false } });
});

void test('binding failures: vdsm\'s -32603 for a missing argument, -32602 for a value that cannot be used', () => {
  const missing = MethodTable.bind(spec, {});
  assert.ok(!missing.ok);
  assert.equal(missing.error.code, -32603);
  assert.match(missing.error.message, /missing a required argument: 'vmID'/);
  const bad = MethodTable.bind(spec, { vmID: 'a', delay: { seconds: 1 } });
  assert.ok(!bad.ok);
  assert.equal(bad.error.code, -32602);
  assert.match(bad.error.message, /Parameter delay is not string \| integer type/);
  const many = MethodTable.bind(spec, ['a', 1, true, 4]);
  assert.ok(!many.ok);
  assert.equal(many.error.code, -32603);
  assert.match(many.error.message, /too many positional arguments/);
});

void test('schema validation of nested objects, maps and arrays reports the path', () => {
  const t = s.object({ networks: s.map(s.object({ bridged: s.bool(), mtu: s.optional(s.string()) })), list: s.array(s.int()) });
  assert.equal(validate(t, { networks: { ovirtmgmt: { bridged: true } }, list: [1, 2] }, 'p'), undefined);
  assert.equal(validate(t, { networks: { ovirtmgmt: { bridged: 'yes' } }, list: [] }, 'p'), 'p.networks.ovirtmgmt.bridged: expected boolean, got string');
  assert.equal(validate(t, { networks: {}, list: [1, 'x'] }, 'p'), 'p.list[1]: expected integer, got string');
  assert.equal(validate(t, { list: [] }, 'p'), 'p.networks: missing');
});

void test('the table refuses duplicate methods and malformed names', () => {
  const table = new MethodTable([spec]);
  assert.throws(() => table.add(spec), /duplicate/);
  assert.throws(() => table.add({ ...spec, name: 'noDot' }), /Namespace.verb/);
});

void test('docs/api.md and src/contracts/api-types.ts match the method table (run gen-docs when this fails)', async () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, '..', '..', '..');
  const table = await collectApiMethods(path.resolve(here, '..', '..', 'src', 'api'));
  assert.ok(table.has('Host.ping2') && table.has('Host.setLogLevel') && table.has('Host.echo'));
  assert.equal(await readFile(path.join(root, 'docs', 'api.md'), 'utf8'), renderApiMarkdown(table.specs()));
  assert.equal(await readFile(path.join(root, 'src', 'contracts', 'api-types.ts'), 'utf8'), renderApiTypes(table.specs()));
});
