// One hibernation's decisions, with libvirt, storage and the guest agent scripted (the end-to-end run
// against the real vdsmd, libvirt's test driver and a LOCALFS domain is test/e2e/hibernation.test.ts):
// the order of the steps (slot, before_hibernation while the guest runs, pause, memory volume, save,
// configuration volume, Down 5), a failed save putting the VM back, a cancel while the save waits for an outgoing slot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { MigratingVm, MigrationLibvirt, MigrationVms, ShortOp } from '../../src/services/migration/migration-ports.js';
import { Hibernation, type MemoryVolumeStorage } from '../../src/services/migration/hibernation.js';
import type { MigrationGuest } from '../../src/services/migration/migration-ports.js';
import type { SendReply } from '../../src/guest/channel-protocol.js';
import { GuestAgents } from '../../src/guest/guest-agents.js';
import { OvirtChannels, type ChannelTransport } from '../../src/guest/ovirt-channels.js';
import type { OvirtCommand } from '../../src/guest/ovirt-protocol.js';
import { MigrationService } from '../../src/services/migration/migration-service.js';
import { MigrationSlots } from '../../src/services/migration/slots.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { decodeSavedParams, parseHibernationHandle } from '../../src/virt/migration/hibernation-volumes.js';
import { VmStateMachine, VmStatus, type VmStatusChange } from '../../src/virt/vm-state.js';
import { ManualTime } from '../support/manual-time.js';

const UUID = '6f1f0000-0000-4000-8000-0000000019f1';
const XML = `<domain type="qemu"><name>hib</name><uuid>${UUID}</uuid><memory unit="KiB">131072</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices/></domain>`;
const HANDLE = ['d', 'p', '1', '2', '3', '4'].map((c) => `5a7e0000-0000-4000-8000-00000000000${c === 'd' ? 'd' : c === 'p' ? 'f' : c}`).join(',');
const libvirtError = (name: string, virCode: number): Error => Object.assign(new Error(name), { code: `ERR_LIBVIRT_${name}`, virCode, virDomain: 10, virMessage: name });

const settle = async (): Promise<void> => {
  for (let i = 0; i < 30; i++) await Promise.resolve();
};

function harness(o: { initial?: (typeof VmStatus)['UP' | 'PAUSED']; slots?: MigrationSlots; writeFails?: boolean; lockingAgent?: boolean } = {}) {
  const time = new ManualTime(1000);
  const changes: VmStatusChange[] = [];
  const vm: MigratingVm = {
    vmId: UUID, xml: XML, domain: parseDomainXml(XML), guest: undefined,
    state: new VmStateMachine(UUID, { clock: time, timers: time, initial: o.initial ?? VmStatus.UP, onStatusChange: (c) => changes.push(c) }),
  };
  const vms = { get: () => vm, report: () => ({ vmId: UUID, elapsedTime: '42', guestFQDN: 'guest.example' }), liveXml: () => Promise.resolve(XML) } as unknown as MigrationVms;
  const steps: string[] = [];
  let finishSave!: (err?: Error) => void;
  const libvirt: MigrationLibvirt = {
    call: <K extends ShortOp>(op: K): Promise<never> => {
      steps.push(op);
      return Promise.resolve(null) as Promise<never>;
    },
    migrate: () => Promise.reject(new Error('not a live migration')),
    save: (a) => {
      steps.push(`save ${a.path}`);
      return new Promise((resolve, reject) => (finishSave = (err) => (err ? reject(err) : resolve(null))));
    },
    restore: () => Promise.reject(new Error('not a restore')),
    saveImageXml: () => Promise.reject(new Error('not a restore')),
    onEvent: () => () => undefined,
  };
  const written: Record<string, Buffer> = {};
  const storage: MemoryVolumeStorage = {
    prepare: (v) => { steps.push(`prepare ${v.imageID}`); return Promise.resolve(`/vol/${v.volumeID}`); },
    teardown: (v) => { steps.push(`teardown ${v.imageID}`); return Promise.resolve(); },
    write: (path, data) => {
      steps.push(`write ${path}`);
      if (o.writeFails === true) return Promise.reject(Object.assign(new Error('No space left on device'), { code: 'ENOSPC' }));
      written[path] = Buffer.from(data);
      return Promise.resolve();
    },
    read: () => Promise.reject(new Error('not read here')),
  };
  // The real oVirt agent side (GuestAgents over OvirtChannels) with a transport that records what is sent
  // and an agent the test speaks for through channel updates (lockingAgent), or a scripted one that
  // confirms everything at once.
  const sent: OvirtCommand[] = [];
  const transport: ChannelTransport = {
    add: () => undefined, remove: () => undefined, reboot: () => undefined, describe: () => Promise.resolve(undefined),
    send: (_v, cmd): Promise<SendReply> => { sent.push(cmd); steps.push(cmd.name === 'lifecycle-event' ? `${cmd.args.type} (channel)` : cmd.name); return Promise.resolve({ ok: true }); },
  };
  const channels = new OvirtChannels({ transport, clock: time, timers: time, log: pino({ level: 'silent' }) });
  channels.attach(UUID, '/run/ovirt.sock');
  channels.apply([{ vmId: UUID, connected: true, lastMessageAt: time.now(), apiVersion: 3, fields: { session: '"Active"' } }]);
  const agents = new GuestAgents({ clock: time, channels, log: pino({ level: 'silent' }) });
  const guest: MigrationGuest = o.lockingAgent === true ? {
    ovirtResponsive: (id) => agents.ovirtResponsive(id),
    desktopLock: (id) => agents.desktopLock(id),
    sessionLocked: (id, ms, signal) => agents.sessionLocked(id, ms, signal),
    lifecycleEvent: (id, type, opts) => channels.lifecycleEvent(id, type, opts),
  } : {
    ovirtResponsive: () => true,
    desktopLock: () => { steps.push('desktopLock'); return Promise.resolve(true); },
    sessionLocked: () => { steps.push('session locked'); return Promise.resolve(true); },
    lifecycleEvent: (_id, type, opts) => { steps.push(`${type} wait=${opts.waitMs}`); return Promise.resolve(true); },
  };
  const slots = o.slots ?? new MigrationSlots('outgoing', 2);
  const start = (): Hibernation => new Hibernation({
    vm, vms, libvirt, storage, guest, slots, volumes: parseHibernationHandle(HANDLE), guestEventWaitMs: 10_000, desktopLockWaitMs: 30_000,
    clock: time, timers: time, log: pino({ level: 'silent' }), publish: () => undefined,
  });
  return { time, vm, changes, steps, written, slots, channels, sent, start, finishSave: (err?: Error) => finishSave(err) };
}

void test('slot, before_hibernation, pause, save into the memory volume, parameters into the configuration volume, then Down (5)', async () => {
  const h = harness();
  const hib = h.start();
  assert.equal(h.vm.state.status, VmStatus.SAVING_STATE, 'Saving State from the call on');
  await settle();
  assert.equal(hib.phase, 'saving');
  assert.equal(hib.describe()['call'] && (hib.describe()['call'] as Record<string, unknown>)['state'], 'running');
  assert.equal(h.slots.describe().taken, 1);
  h.finishSave();
  await hib.done;
  assert.deepEqual(h.steps, [
    'desktopLock', 'session locked', 'before_hibernation wait=10000', 'libvirt.suspend',
    'prepare 5a7e0000-0000-4000-8000-000000000001', 'save /vol/5a7e0000-0000-4000-8000-000000000002', 'teardown 5a7e0000-0000-4000-8000-000000000001',
    'prepare 5a7e0000-0000-4000-8000-000000000003', 'write /vol/5a7e0000-0000-4000-8000-000000000004', 'teardown 5a7e0000-0000-4000-8000-000000000003',
  ]);
  const decoded = decodeSavedParams(h.written['/vol/5a7e0000-0000-4000-8000-000000000004']!);
  assert.ok(decoded.ok);
  const params = decoded.params;
  assert.equal(params['_srcDomXML'], XML);
  assert.equal(params['elapsedTimeOffset'], 42);
  assert.equal(params['guestFQDN'], 'guest.example');
  assert.deepEqual(h.changes.map((c) => c.to), [VmStatus.SAVING_STATE, VmStatus.DOWN]);
  assert.equal(h.changes[1]?.exitInfo?.exitReason, 5);
  assert.deepEqual(hib.stats(), { status: { code: 0, message: 'SaveState done' }, progress: 100 });
  assert.equal(h.slots.describe().taken, 0, 'the slot is released');
});

void test('a failed save: the memory volume torn down, the VM resumed and Up again, error 12 in the migration status', async () => {
  const h = harness();
  const hib = h.start();
  await settle();
  h.finishSave(libvirtError('OPERATION_FAILED', 9));
  await hib.done;
  assert.equal(hib.phase, 'failed');
  assert.deepEqual(hib.stats().status, { code: 12, message: 'Fatal error during migration' });
  assert.ok(h.steps.includes('teardown 5a7e0000-0000-4000-8000-000000000001'));
  assert.equal(h.steps.at(-1), 'libvirt.resume');
  assert.ok(!h.steps.some((s) => s.startsWith('write')), 'no parameters written for a VM that was not saved');
  assert.deepEqual(h.changes.map((c) => c.to), [VmStatus.SAVING_STATE, VmStatus.UP]);
  assert.equal(h.slots.describe().taken, 0);
});

void test('a VM paused before hibernation is saved as it is, and stays paused after a failed save (not resumed)', async () => {
  const h = harness({ initial: VmStatus.PAUSED });
  const hib = h.start();
  await settle();
  assert.ok(!h.steps.includes('libvirt.suspend'), 'not paused twice');
  h.finishSave(libvirtError('OPERATION_FAILED', 9));
  await hib.done;
  assert.ok(!h.steps.includes('libvirt.resume'));
  assert.equal(h.vm.state.status, VmStatus.PAUSED);
});

void test('a cancel while the hibernation waits for an outgoing slot: no save, the VM back Up, 47 "Migration canceled"', async () => {
  const slots = new MigrationSlots('outgoing', 1);
  await slots.acquire();
  const h = harness({ slots });
  const hib = h.start();
  await settle();
  assert.equal(hib.phase, 'waiting-slot');
  await hib.cancel();
  await hib.done;
  assert.ok(!h.steps.some((s) => s.startsWith('save')));
  assert.deepEqual(hib.stats().status, { code: 47, message: 'Migration canceled' });
  assert.equal(h.vm.state.status, VmStatus.UP);
  assert.ok(!h.steps.includes('libvirt.suspend') && !h.steps.includes('libvirt.resume'), 'never paused, so not resumed');
  await assert.rejects(hib.cancel(), (e: unknown) => (e as { vdsmCode?: number }).vdsmCode === 47);
  slots.release();
  assert.equal(slots.describe().taken, 0, 'the cancelled hibernation took no slot');
});

void test('the parameters cannot be written after the save: the VM is still Down (5), never reported Up with no domain', async () => {
  const h = harness({ writeFails: true });
  const hib = h.start();
  await settle();
  h.finishSave();
  await hib.done;
  assert.ok(h.steps.includes('teardown 5a7e0000-0000-4000-8000-000000000003'), 'the configuration volume torn down');
  assert.ok(!h.steps.includes('libvirt.resume'));
  assert.deepEqual(h.changes.map((c) => c.to), [VmStatus.SAVING_STATE, VmStatus.DOWN]);
  assert.equal(h.changes[1]?.exitInfo?.exitReason, 5);
});

void test('MigrationService: VM.hibernate refused while the VM powers down (100), before a second one (51), without storage (12)', async () => {
  const h = harness();
  const vms = { get: () => h.vm, report: () => ({ vmId: UUID }), liveXml: () => Promise.resolve(XML), onStatusChange: () => () => undefined } as unknown as MigrationVms;
  const time = new ManualTime(1000);
  const common = {
    vms, clock: time, timers: time, log: pino({ level: 'silent' }), publish: () => undefined, connectPeer: () => Promise.reject(new Error('no peer')),
    libvirt: { call: () => Promise.resolve(null), migrate: () => Promise.reject(new Error('x')), save: () => new Promise<null>(() => undefined), restore: () => Promise.reject(new Error('x')), saveImageXml: () => Promise.reject(new Error('x')), onEvent: () => () => undefined } as unknown as MigrationLibvirt,
    config: { maxOutgoing: 2, maxIncoming: 2, managementPort: 54321, maxBandwidth: 52, downtime: 500, downtimeSteps: 5, duriTemplate: 'qemu+tcp://{host}/system', ssl: false, monitorIntervalMs: 0, retryTimeoutMs: 1000, destinationTimeoutMs: 1000, guestEventWaitMs: 10_000 },
  };
  const storage: MemoryVolumeStorage = { prepare: () => Promise.resolve('/vol'), teardown: () => Promise.resolve(), write: () => Promise.resolve(), read: () => Promise.resolve(Buffer.alloc(0)) };
  const code = (f: () => unknown): number | undefined => {
    try {
      f();
      return undefined;
    } catch (e) {
      return (e as { vdsmCode?: number }).vdsmCode;
    }
  };
  assert.equal(code(() => new MigrationService(common).hibernate(UUID, HANDLE)), 12, 'no storage');
  const svc = new MigrationService({ ...common, storage });
  assert.equal(code(() => svc.hibernate(UUID, 'not,a,handle')), 91);
  h.vm.state.shutdownRequested();
  assert.equal(h.vm.state.status, VmStatus.POWERING_DOWN);
  assert.equal(code(() => svc.hibernate(UUID, HANDLE)), 100);
  h.vm.state.shutdownFailed();
  assert.equal(svc.hibernate(UUID, HANDLE), true);
  assert.equal(h.vm.state.status, VmStatus.SAVING_STATE);
  assert.equal(code(() => svc.hibernate(UUID, HANDLE)), 51);
  assert.equal(code(() => svc.migrate(UUID, { dst: '10.0.0.2' })), 51);
  await settle();
  assert.equal((svc.health()['hibernations'] as Record<string, unknown>[])[0]?.['phase'], 'saving');
  assert.equal((svc.health()['active'] as Record<string, number>)['hibernations'], 1);
});

void test('desktop lock: the VM is paused only once the agent reports the session Locked (vdsm waits up to 30 s)', async () => {
  const h = harness({ lockingAgent: true });
  const hib = h.start();
  await settle();
  assert.equal(hib.phase, 'locking-desktop');
  assert.deepEqual(h.steps, ['lock-screen'], 'the lock asked for, nothing paused yet');
  h.time.advance(29_000);
  await settle();
  assert.equal(hib.phase, 'locking-desktop', 'still waiting for the agent');
  h.channels.apply([{ vmId: UUID, lastMessageAt: h.time.now(), fields: { session: '"Locked"' } }]);
  await settle();
  assert.deepEqual(h.steps, ['lock-screen', 'before_hibernation (channel)'], 'then the guest hears before_hibernation and is waited for');
  const event = h.sent.at(-1) as Extract<OvirtCommand, { name: 'lifecycle-event' }>;
  h.channels.apply([{ vmId: UUID, completions: [event.args.reply_id!] }]);
  await settle();
  assert.deepEqual(h.steps.slice(0, 3), ['lock-screen', 'before_hibernation (channel)', 'libvirt.suspend']);
  assert.equal(hib.phase, 'saving');
  h.finishSave();
  await hib.done;
  assert.equal(h.vm.state.status, VmStatus.DOWN);
});

void test('desktop lock: a guest that never locks is hibernated after 30 s anyway; a cancel during the wait stops it (47)', async () => {
  const h = harness({ lockingAgent: true });
  const hib = h.start();
  await settle();
  h.time.advance(29_999);
  await settle();
  assert.ok(!h.steps.includes('libvirt.suspend'));
  h.time.advance(1);
  await settle();
  assert.deepEqual(h.steps, ['lock-screen', 'before_hibernation (channel)'], 'on once the 30 s passed');
  h.time.advance(10_000); // the guest does not confirm before_hibernation either
  await settle();
  assert.ok(h.steps.includes('libvirt.suspend'));
  h.finishSave();
  await hib.done;
  assert.equal(hib.phase, 'succeeded');

  const c = harness({ lockingAgent: true });
  const cancelled = c.start();
  await settle();
  assert.equal(cancelled.phase, 'locking-desktop');
  await cancelled.cancel();
  await cancelled.done;
  assert.deepEqual(cancelled.stats().status, { code: 47, message: 'Migration canceled' });
  assert.equal(c.vm.state.status, VmStatus.UP);
  assert.ok(!c.steps.includes('libvirt.suspend'));
  assert.equal(c.time.pendingTimers, 0, 'no wait left behind');
});

void test('desktop lock: no responsive oVirt agent, nothing asked and nothing waited for', async () => {
  const h = harness({ lockingAgent: true });
  h.time.advance(200_000); // the agent's last message is past the 120 s responsiveness window
  const hib = h.start();
  await settle();
  assert.equal(hib.phase, 'saving');
  assert.ok(!h.sent.some((c) => c.name === 'lock-screen'));
  h.finishSave();
  await hib.done;
});
