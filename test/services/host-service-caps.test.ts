// getCapabilities asks libvirt about itself once per connection (the engine polls every 3 s while a
// host initializes) and reads host facts every time. The executor is a stand-in that answers with
// canned facts and counts the operations; assembling them is the real code.
import { LibvirtClient } from '../../src/libvirt/client.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { HostService } from '../../src/services/host-service.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { supervdsmOf } from '../../src/supervdsm/privileged.js';
import { bareHostFacts, DOMCAPS_XML, QEMU_CAPS_XML } from '../host/caps-fixtures.js';

void test('libvirt capabilities are fetched once per connection; a failed fetch is not kept', async () => {
  const log = pino({ level: 'silent' });
  const connections = new ConnectionsStub(1);
  let failCaps = false;
  const calls: string[] = [];
  const answers: Record<string, () => unknown> = {
    'host.capabilitiesFacts': () => bareHostFacts(),
    'libvirt.getCapabilities': () => { if (failCaps) throw new Error('libvirt went away'); return QEMU_CAPS_XML; },
    'libvirt.getDomainCapabilities': () => DOMCAPS_XML,
    'libvirt.getLibVersion': () => 9_000_000,
    'libvirt.getVersion': () => 7_002_000,
  };
  const executor = { dispatch: <T>(op: string): Promise<T> => { calls.push(op); return Promise.resolve().then(() => answers[op]!() as T); } };
  const host = new HostService({
    executor,
    libvirt: new LibvirtClient({ dispatcher: executor, connections }),
    scheduler: new Scheduler({ log }),
    clock: { now: () => 0 },
    log,
    vmCounts: () => ({ vmCount: 0, vmActive: 0, vmMigrating: 0, incomingVmMigrations: 0, outgoingVmMigrations: 0 }),
    sampleIntervalMs: 15_000,
    runDir: '/run/vdsm',
    capabilities: {},
    callTimeoutMs: 1000,
    supervdsm: supervdsmOf(undefined),
  });
  const count = (op: string): number => calls.filter((c) => c === op).length;

  const first = await host.capabilities();
  await host.capabilities();
  assert.equal(count('host.capabilitiesFacts'), 2, 'host facts (NICs, addresses) are read on every call');
  assert.equal(count('libvirt.getCapabilities'), 1, 'libvirt is asked once per connection');
  assert.equal(count('libvirt.getDomainCapabilities'), 1);
  assert.ok((first['emulatedMachines'] as string[]).length > 0);

  connections.reconnect(); // libvirtd may have been upgraded or restarted
  failCaps = true;
  await assert.rejects(host.capabilities(), /libvirt went away/);
  failCaps = false;
  await host.capabilities();
  assert.equal(count('libvirt.getCapabilities'), 3, 'asked again after a reconnect, and again after a failure');
});
