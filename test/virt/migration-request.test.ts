// VM.migrate's parameters into libvirt's terms: vdsm's flags, the destination URIs, the typed migration
// parameters, and the status codes each failure leaves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MigrateFlag } from '../../src/contracts/migration-ops.js';
import { Errors, vdsmError } from '../../src/errors.js';
import {
  clusterAtLeast, libvirtMigrateParams, migrationFlags, migrationUris, MigrateRequestError, parseMigrateRequest, splitHostPort,
} from '../../src/virt/migration/migration-request.js';
import { statusForDestinationError, statusForMigrateError } from '../../src/virt/migration/migration-status.js';

const defaults = { managementPort: 54321, maxBandwidth: 52, downtime: 500, downtimeSteps: 5 };

void test("dst is vdsm's host[:port]: the management port by default, IPv6 literals in brackets", () => {
  assert.deepEqual(splitHostPort('10.0.0.2', 54321), { host: '10.0.0.2', port: 54321 });
  assert.deepEqual(splitHostPort('host2.example:54322', 54321), { host: 'host2.example', port: 54322 });
  assert.deepEqual(splitHostPort('[fd00::2]:54321', 1), { host: 'fd00::2', port: 54321 });
  assert.throws(() => splitHostPort('h:70000', 1), MigrateRequestError);
  assert.throws(() => parseMigrateRequest({ method: 'online' }, defaults), /dst/);
  assert.throws(() => parseMigrateRequest({ dst: null }, defaults), /dst/);
});

void test("the engine's request: defaults from the configuration, its schedule or vdsm's computed one", () => {
  const r = parseMigrateRequest({ dst: 'h2', tunneled: false, abortOnError: true, maxBandwidth: null, parallel: 0, downtime: 300 }, defaults);
  assert.equal(r.maxBandwidth, 52, 'absent bandwidth: [vars] migration_max_bandwidth');
  assert.equal(r.parallel, undefined, '0 parallel connections: off');
  assert.equal(r.engineSchedule, false);
  assert.deepEqual(r.schedule.init, [{ name: 'setDowntime', params: ['61'] }], 'the legacy schedule from the request\'s downtime');
  const e = parseMigrateRequest({ dst: 'h2', maxBandwidth: 10, convergenceSchedule: { init: [], stalling: [{ limit: -1, action: { name: 'abort', params: [] } }] } }, defaults);
  assert.equal(e.maxBandwidth, 10);
  assert.equal(e.engineSchedule, true);
  assert.throws(() => parseMigrateRequest({ dst: 'h2', convergenceSchedule: { init: 'x' } }, defaults), MigrateRequestError);
});

void test("vdsm's flags: LIVE | PEER2PEER always, PERSIST_DEST from cluster 4.2, the rest as asked; never UNSAFE", () => {
  const base = parseMigrateRequest({ dst: 'h2' }, defaults);
  assert.equal(migrationFlags(base, '4.7'), MigrateFlag.LIVE | MigrateFlag.PEER2PEER | MigrateFlag.PERSIST_DEST);
  assert.equal(migrationFlags(base, '4.1'), MigrateFlag.LIVE | MigrateFlag.PEER2PEER);
  const all = parseMigrateRequest({
    dst: 'h2', tunneled: true, abortOnError: true, compressed: true, autoConverge: true, encrypted: true, zerocopy: true, parallel: 4,
    convergenceSchedule: { stalling: [{ limit: 1, action: { name: 'postcopy' } }] },
  }, defaults);
  const f = migrationFlags(all, undefined);
  for (const name of ['LIVE', 'PEER2PEER', 'TUNNELLED', 'ABORT_ON_ERROR', 'COMPRESSED', 'AUTO_CONVERGE', 'TLS', 'PARALLEL', 'PERSIST_DEST', 'ZEROCOPY', 'POSTCOPY'] as const) {
    assert.ok((f & MigrateFlag[name]) !== 0, name);
  }
  assert.equal(f & MigrateFlag.UNSAFE, 0);
  assert.equal(clusterAtLeast('4.10', 4, 2), true);
});

void test('the destination URI from [libvirt] migration_uri; QEMU\'s data to dstqemu when given', () => {
  const r = parseMigrateRequest({ dst: '[fd00::2]:54321', dstqemu: '' }, defaults);
  assert.deepEqual(migrationUris(r, 'qemu+{transport}://{host}/system', true), { duri: 'qemu+tls://[fd00::2]/system', muri: 'tcp://[fd00::2]' });
  const m = parseMigrateRequest({ dst: '10.0.0.2', dstqemu: '192.168.5.2' }, defaults);
  assert.deepEqual(migrationUris(m, 'qemu+{transport}://{host}/session', false), { duri: 'qemu+tcp://10.0.0.2/session', muri: 'tcp://192.168.5.2' });
});

void test('migrateToURI3 parameters as vdsm sets them', () => {
  const r = parseMigrateRequest({ dst: 'h2', consoleAddress: '10.1.1.1', encrypted: true, parallel: 2 }, defaults);
  assert.deepEqual(libvirtMigrateParams(r, { muri: 'tcp://h2', destinationXml: '<domain/>', graphics: 'spice' }), {
    bandwidth: 52, 'parallel.connections': 2, migrate_uri: 'tcp://h2', graphics_uri: 'spice://10.1.1.1', 'tls.destination': 'h2', destination_xml: '<domain/>',
  });
  const tunnelled = parseMigrateRequest({ dst: 'h2', tunneled: true, maxBandwidth: 0 }, { ...defaults, maxBandwidth: 0 });
  assert.deepEqual(libvirtMigrateParams(tunnelled, { muri: 'tcp://h2', destinationXml: 'x', graphics: 'vnc' }), { destination_xml: 'x' }, 'no URI when tunnelled, no cap when 0');
});

const libvirtError = (name: string, virCode: number, msg: string): Error => Object.assign(new Error(msg), { code: `ERR_LIBVIRT_${name}`, virCode, virDomain: 10, virMessage: msg });

void test("each failure's status: aborted 47, OPERATION_FAILED 102 with libvirt's text, anything else 12; the destination's own code", () => {
  assert.deepEqual(statusForMigrateError(libvirtError('OPERATION_ABORTED', 78, "operation aborted: job 'migration out' canceled by client")), { code: 47, message: 'Migration canceled' });
  assert.deepEqual(statusForMigrateError(libvirtError('OPERATION_FAILED', 9, 'domain mg already exists')), { code: 102, message: 'domain mg already exists' });
  assert.deepEqual(statusForMigrateError(libvirtError('INTERNAL_ERROR', 1, 'qemu unexpectedly closed the monitor')), { code: 12, message: 'Fatal error during migration' });
  assert.deepEqual(statusForDestinationError(vdsmError(Errors.MIGRATE_LIMIT)), { code: 82, message: 'Incoming migration limit exceeded' });
  assert.deepEqual(statusForDestinationError(Object.assign(new Error('Virtual machine already exists'), { code: 4 })), { code: 4, message: 'Virtual machine already exists' });
  assert.equal(statusForDestinationError(new Error('connect ECONNREFUSED 10.0.0.2:54321')).code, 12);
});
