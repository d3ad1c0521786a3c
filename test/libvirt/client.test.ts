// The LibvirtClient, the services' one way to libvirt: it fills in the connection (the agent connection
// for guest-agent calls), reports every failure to the connection manager (which decides whether to
// ping), maps a missing domain onto NO_VM while keeping libvirt's numbers reachable, and throws at once
// what cannot be queued. The dispatcher is a stand-in that records calls and fails on request; the
// manager's side of reportError runs against a real libvirtd in reconnect.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Errors, isError, vdsmError } from '../../src/errors.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { isNoDomain } from '../../src/libvirt/errors.js';
import { ConnectionsStub } from '../support/connections-stub.js';

/** A wire error as a worker sends back a libvirt failure (numbers in context). */
function libvirtFailure(virCode: number, name: string, virDomain = 10): Error {
  return Object.assign(new Error(`libvirt says ${name}`), {
    code: `ERR_LIBVIRT_${name}`, vdsmCode: 100, context: { code: `ERR_LIBVIRT_${name}`, virCode, virDomain, virMessage: `libvirt says ${name}` },
  });
}

function setup(fail?: () => unknown): { client: LibvirtClient; calls: { op: string; args: unknown; opts: unknown }[]; conns: ConnectionsStub } {
  const calls: { op: string; args: unknown; opts: unknown }[] = [];
  const conns = new ConnectionsStub(7);
  const dispatcher = {
    dispatch: <T>(op: string, args: unknown, opts?: unknown): Promise<T> => {
      calls.push({ op, args, opts });
      if (fail) return Promise.reject(fail());
      return Promise.resolve(null as T);
    },
  };
  return { client: new LibvirtClient({ dispatcher, connections: conns, defaults: { timeoutMs: 60_000, discard: true } }), calls, conns };
}

void test('fills in the connection (the agent one for guest-agent calls) and the default dispatch options', async () => {
  const { client, calls, conns } = setup();
  conns.agentConn = () => 8;
  await client.call('libvirt.suspend', { uuid: 'u' });
  await client.call('libvirt.qemuAgentCommand', { uuid: 'u', command: '{}', timeout: 5 });
  await client.call('libvirt.xmlDesc', { uuid: 'u' }, { timeoutMs: 10 });
  assert.deepEqual(calls.map((c) => [c.op, (c.args as { conn: number }).conn, c.opts]), [
    ['libvirt.suspend', 7, { timeoutMs: 60_000, discard: true }],
    ['libvirt.qemuAgentCommand', 8, { timeoutMs: 60_000, discard: true }],
    ['libvirt.xmlDesc', 7, { timeoutMs: 10 }],
  ]);
});

void test('every failure reaches the connection manager; a missing domain becomes NO_VM and stays recognisable', async () => {
  const broken = setup(() => libvirtFailure(38, 'SYSTEM_ERROR', 13));
  await assert.rejects(broken.client.call('libvirt.getHostname', {}), (e: unknown) => (e as { code?: string }).code === 'ERR_LIBVIRT_SYSTEM_ERROR');
  assert.equal(broken.conns.reported.length, 1, 'reported, so the manager can ping and declare the connection lost');
  assert.equal((broken.conns.reported[0] as { code?: string }).code, 'ERR_LIBVIRT_SYSTEM_ERROR');

  const gone = setup(() => libvirtFailure(42, 'NO_DOMAIN'));
  let caught: unknown;
  await gone.client.call('libvirt.destroy', { uuid: 'vm-1' }).catch((e: unknown) => { caught = e; });
  assert.ok(isError(caught, Errors.NO_VM), 'NO_VM for the engine');
  assert.deepEqual((caught as { context?: unknown }).context, { vmId: 'vm-1' });
  assert.ok(isNoDomain(caught), 'libvirt\'s NO_DOMAIN still visible through the cause');
  assert.equal(gone.conns.reported.length, 1);
});

void test('what cannot be queued is thrown at once (a periodic operation tells a full queue from a failure)', () => {
  const { client, conns } = setup();
  conns.conn = () => { throw vdsmError(Errors.LIBVIRT_CONNECTION, 'libvirt connection is lost'); };
  assert.throws(() => client.call('libvirt.getHostname', {}), (e: unknown) => isError(e, Errors.LIBVIRT_CONNECTION));
  const full = new LibvirtClient({
    dispatcher: { dispatch: () => { throw vdsmError(Errors.RESOURCE_EXHAUSTED, { reason: 'Too many tasks' }); } },
    connections: new ConnectionsStub(),
  });
  assert.throws(() => full.call('sampling.bulkStats', { stats: 1, flags: 0 }), (e: unknown) => isError(e, Errors.RESOURCE_EXHAUSTED));
});
