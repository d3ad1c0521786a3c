// libvirt errors keep their meaning across the worker boundary: through the Executor's wire format
// (toWireError in the worker, fromWireError on the main thread), which drops `context` for codes outside
// the catalogue, a NO_DOMAIN failure must still map to NO_VM (regression: it did not).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { toTransferableLibvirtError } from '../../src/libvirt/binding.js';
import { isConnectionSuspect, isNoDomain, isNoSupport, libvirtErrorInfo, mapLibvirtError } from '../../src/libvirt/errors.js';
import { VIR_ERROR_NUMBERS } from '../../src/libvirt/vir-error-numbers.js';
import { Errors, isError } from '../../src/errors.js';
import { fromWireError } from '../../src/runtime/executor/remote-error.js';
import { toWireError } from '../../workers/wire-error.js';
import { nodeFixture } from './helpers/node-fixture.js';

const UNKNOWN = 'deadbeef-0000-4000-8000-000000000000';

/** A real binding error, sent the way an Executor worker sends it. */
async function acrossTheWire(): Promise<Error> {
  const fx = await nodeFixture({ domains: 1 });
  const virt = loadVirtBinding();
  const conn = virt.open(fx.uri);
  try {
    virt.state(conn, UNKNOWN);
    assert.fail('state of an unknown UUID must throw');
  } catch (err) {
    return fromWireError(toWireError(toTransferableLibvirtError(err)));
  } finally {
    virt.close(conn);
    await fx.remove();
  }
}

void describe('libvirt error mapping', () => {
  void it('recognises NO_DOMAIN after the Executor rebuilt the error, and maps it to NO_VM', async () => {
    const err = await acrossTheWire();
    assert.equal((err as { code?: string }).code, 'ERR_LIBVIRT_NO_DOMAIN');
    assert.equal(libvirtErrorInfo(err)?.virCode, 42);
    assert.ok(isNoDomain(err));
    const mapped = mapLibvirtError(err, { vmId: UNKNOWN });
    assert.ok(isError(mapped, Errors.NO_VM));
  });

  void it('generated names cover the numbers the facade relies on', () => {
    assert.equal(VIR_ERROR_NUMBERS['NO_DOMAIN'], 42);
    assert.equal(VIR_ERROR_NUMBERS['NO_SUPPORT'], 3);
    assert.equal(VIR_ERROR_NUMBERS['AGENT_UNRESPONSIVE'], 86);
    assert.equal(VIR_ERROR_NUMBERS['AUTH_FAILED'], 45);
    assert.ok(isNoSupport({ code: 'ERR_LIBVIRT_NO_SUPPORT', message: 'x' }));
    assert.equal(libvirtErrorInfo({ code: 'ERR_LIBVIRT_NOT_A_REAL_NAME' }), undefined);
    assert.equal(libvirtErrorInfo(new Error('plain')), undefined);
  });

  void it("suspects the connection by vdsm's rule: REMOTE/RPC (or unknown) domain with a connection-type code", () => {
    const e = (virCode: number, virDomain: number): object => ({ code: 'x', virCode, virDomain });
    assert.equal(isConnectionSuspect(e(38, 13)), true, 'SYSTEM_ERROR from REMOTE');
    assert.equal(isConnectionSuspect(e(1, 7)), true, 'INTERNAL_ERROR from RPC');
    assert.equal(isConnectionSuspect(e(6, 13)), true, 'INVALID_CONN from REMOTE');
    assert.equal(isConnectionSuspect(e(38, 10)), false, 'SYSTEM_ERROR from QEMU');
    assert.equal(isConnectionSuspect(e(42, 13)), false, 'NO_DOMAIN is not a connection problem');
    assert.equal(isConnectionSuspect({ code: 'ERR_LIBVIRT_SYSTEM_ERROR', message: 'lost its context' }), true);
    assert.equal(isConnectionSuspect({ code: 'ERR_LIBVIRT_NO_CONNECTION' }), true);
    assert.equal(isConnectionSuspect(new Error('other')), false);
  });
});
