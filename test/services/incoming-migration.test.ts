// The destination's side of a live migration with the source's guest events (enableGuestEvents in
// VM.migrationCreate's parameters): once libvirt resumed the VM here and it is Up, the oVirt guest agent
// hears after_migration, after its channel had a chance to connect. libvirt's events and the VMs are
// scripted (a fake libvirt and VM list on a manual clock); test/e2e/migration-peers.test.ts runs two
// real agents against libvirt's test driver.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { DomainEvent } from '../../src/contracts/libvirt-types.js';
import type { MigratingVm, MigrationGuest, MigrationLibvirt, MigrationVms } from '../../src/services/migration/migration-ports.js';
import { MigrationService } from '../../src/services/migration/migration-service.js';
import { LifecycleEvent, ResumedDetail, VmStateMachine, VmStatus } from '../../src/virt/vm-state.js';
import { ManualTime } from '../support/manual-time.js';

const UUID = '6f1f0000-0000-4000-8000-0000000019a1';
const XML = `<domain type="qemu"><name>in</name><uuid>${UUID}</uuid><memory unit="KiB">131072</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices/></domain>`;

const settle = async (): Promise<void> => {
  for (let i = 0; i < 30; i++) await Promise.resolve();
};

function destination() {
  const time = new ManualTime(1000);
  let vm: MigratingVm | undefined;
  let emit!: (e: DomainEvent) => void;
  const vms = {
    get: () => vm,
    addIncoming: (domain: MigratingVm['domain'], xml: string) => {
      vm = { vmId: UUID, xml, domain, guest: undefined, state: new VmStateMachine(UUID, { clock: time, timers: time, initial: VmStatus.MIGRATION_DESTINATION }) };
      return vm;
    },
    adoptIncomingDomain: () => Promise.resolve(),
    onStatusChange: () => () => undefined,
    report: () => ({ vmId: UUID }),
    liveXml: () => Promise.resolve(XML),
  } as unknown as MigrationVms;
  const libvirt = { call: () => Promise.resolve(null), onEvent: (cb: (e: DomainEvent) => void) => { emit = cb; return () => undefined; } } as unknown as MigrationLibvirt;
  const events: string[] = [];
  const guest: MigrationGuest = {
    ovirtResponsive: () => false,
    desktopLock: () => Promise.resolve(true),
    sessionLocked: () => Promise.resolve(false),
    lifecycleEvent: (_id, type, opts) => { events.push(`${type} connectWait=${opts.connectWaitMs}`); return Promise.resolve(true); },
  };
  const svc = new MigrationService({
    vms, libvirt, guest, clock: time, timers: time, log: pino({ level: 'silent' }), publish: () => undefined, connectPeer: () => Promise.reject(new Error('no peer')),
    config: { maxOutgoing: 2, maxIncoming: 2, managementPort: 54321, maxBandwidth: 52, downtime: 500, downtimeSteps: 5, duriTemplate: 'qemu+tcp://{host}/system', ssl: false, monitorIntervalMs: 0, retryTimeoutMs: 1000, destinationTimeoutMs: 60_000, guestEventWaitMs: 7000, upDelayMs: 1000 },
  });
  svc.start();
  const resumed = (): void => emit({ event: 'lifecycle', type: LifecycleEvent.RESUMED, detail: ResumedDetail.MIGRATED, domain: { uuid: UUID, name: 'in', id: 1 } } as DomainEvent);
  return { time, svc, events, resumed, vm: () => vm! };
}

void test('enableGuestEvents from the source: after_migration once the arrived VM is Up here, waiting for the channel to connect', async () => {
  const d = destination();
  d.svc.migrationCreate(UUID, { _srcDomXML: XML, xml: XML, enableGuestEvents: true }, 2);
  assert.equal(d.vm().state.status, VmStatus.MIGRATION_DESTINATION);
  d.resumed();
  await settle();
  assert.deepEqual(d.events, [], 'not before the VM is Up');
  d.time.advance(1000);
  await settle();
  assert.equal(d.vm().state.status, VmStatus.UP);
  assert.deepEqual(d.events, ['after_migration connectWait=7000']);
});

void test('without enableGuestEvents the destination sends no guest event', async () => {
  const d = destination();
  d.svc.migrationCreate(UUID, { _srcDomXML: XML, xml: XML }, 2);
  d.resumed();
  await settle();
  d.time.advance(1000);
  await settle();
  assert.equal(d.vm().state.status, VmStatus.UP);
  assert.deepEqual(d.events, []);
});
