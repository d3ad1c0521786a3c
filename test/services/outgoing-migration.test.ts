// The outgoing migration's decisions on orderings a real pair of hosts shows only by chance: libvirt's
// job statistics, events and the blocked call are scripted here (a fake libvirt and a fake destination
// agent, on a manual clock); test/realvm/migration*.test.ts runs the same code against two real hosts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { JobOperation, JobType, type JobStats } from '../../src/contracts/migration-ops.js';
import { Errors, vdsmError } from '../../src/errors.js';
import type { MigratingVm, MigrationGuest, MigrationLibvirt, MigrationVms, PeerAgent, ShortOp } from '../../src/services/migration/migration-ports.js';
import { DOWNTIME_REPORT_GRACE_MS, OutgoingMigration } from '../../src/services/migration/outgoing.js';
import { MigrationSlots } from '../../src/services/migration/slots.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { parseMigrateRequest } from '../../src/virt/migration/migration-request.js';
import { LifecycleEvent, StoppedDetail, VmStateMachine, VmStatus, type VmStatusChange } from '../../src/virt/vm-state.js';
import { ManualTime } from '../support/manual-time.js';

const UUID = '6f1f0000-0000-4000-8000-000000000019';
const XML = `<domain type="qemu"><name>mig</name><uuid>${UUID}</uuid><memory unit="KiB">131072</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices/></domain>`;
const libvirtError = (name: string, virCode: number): Error => Object.assign(new Error(name), { code: `ERR_LIBVIRT_${name}`, virCode, virDomain: 10, virMessage: name });
const moving = (remaining: number, iteration = 1, type: number = JobType.UNBOUNDED): JobStats => ({
  type, operation: JobOperation.MIGRATION_OUT, data_total: 100, data_remaining: remaining, data_processed: 100 - remaining, memory_iteration: iteration,
});

/** Flush promise continuations (no time passes). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

function harness(o: { createAnswers?: (Error | undefined)[]; outgoingLimit?: number; enableGuestEvents?: boolean } = {}) {
  const time = new ManualTime(1000);
  const changes: VmStatusChange[] = [];
  const vm: MigratingVm = {
    vmId: UUID, xml: XML, domain: parseDomainXml(XML), guest: undefined,
    state: new VmStateMachine(UUID, { clock: time, timers: time, initial: VmStatus.UP, onStatusChange: (c) => changes.push(c) }),
  };
  const vms = { get: () => vm, report: () => ({ vmId: UUID, elapsedTime: '12' }), liveXml: () => Promise.resolve(XML) } as unknown as MigrationVms;
  const calls: string[] = [];
  let jobStats: JobStats | Error = { type: JobType.NONE };
  let abortAnswer: Error | undefined;
  let stateAnswer: { state: number; reason: number } | Error = libvirtError('NO_DOMAIN', 42);
  let finishCall!: (err?: Error) => void;
  const libvirt: MigrationLibvirt = {
    call: <K extends ShortOp>(op: K): Promise<never> => {
      calls.push(op);
      const answer = (): unknown => {
        switch (op) {
          case 'migration.jobStats': return jobStats;
          case 'migration.abortJob': return abortAnswer ?? null;
          case 'libvirt.xmlDesc': return XML;
          case 'libvirt.state': return stateAnswer;
          default: return null;
        }
      };
      const a = answer();
      return (a instanceof Error ? Promise.reject(a) : Promise.resolve(a)) as Promise<never>;
    },
    migrate: () => {
      calls.push('migrateToURI3');
      return new Promise((resolve, reject) => (finishCall = (err) => (err ? reject(err) : resolve(null))));
    },
    save: () => Promise.reject(new Error('not a hibernation test')),
    restore: () => Promise.reject(new Error('not a hibernation test')),
    saveImageXml: () => Promise.reject(new Error('not a hibernation test')),
    onEvent: () => () => undefined,
  };
  const peerCalls: string[] = [];
  const answers = [...(o.createAnswers ?? [])];
  const peer: PeerAgent = {
    ping: () => { peerCalls.push('ping'); return Promise.resolve(); },
    migrationCreate: () => {
      peerCalls.push('migrationCreate');
      const a = answers.shift();
      return a ? Promise.reject(a) : Promise.resolve({ migrationPort: 0 });
    },
    destroy: () => { peerCalls.push('destroy'); return Promise.resolve(); },
    close: () => { peerCalls.push('close'); },
  };
  const published: Record<string, unknown>[] = [];
  const slots = new MigrationSlots('outgoing', 2);
  // The guest's lifecycle events, in the same list as the destination's calls (their order matters).
  let confirmGuest!: (ok: boolean) => void;
  const guest: MigrationGuest = {
    ovirtResponsive: () => true,
    desktopLock: () => Promise.resolve(true),
    sessionLocked: () => Promise.resolve(true),
    lifecycleEvent: (_id, type, opts) => {
      peerCalls.push(`guest ${type}${opts.failure === true ? ' failure' : ''}${opts.waitMs !== undefined ? ` wait=${opts.waitMs}` : ''}`);
      return type.startsWith('before_') ? new Promise((r) => (confirmGuest = r)) : Promise.resolve(true);
    },
  };
  const start = (): OutgoingMigration => new OutgoingMigration({
    vm, vms, libvirt, clock: time, timers: time, log: pino({ level: 'silent' }),
    publish: (method, params) => published.push({ method, ...(params[UUID] as object) }),
    request: parseMigrateRequest({ dst: '10.0.0.2', ...(o.outgoingLimit !== undefined ? { outgoingLimit: o.outgoingLimit } : {}), ...(o.enableGuestEvents !== undefined ? { enableGuestEvents: o.enableGuestEvents } : {}), convergenceSchedule: { init: [], stalling: [] } }, { managementPort: 54321, maxBandwidth: 52, downtime: 500, downtimeSteps: 5 }),
    guest, guestEventWaitMs: 10_000,
    connectPeer: () => Promise.resolve(peer), slots, duriTemplate: 'qemu+tcp://{host}/session', ssl: false, monitorIntervalMs: 1000, retryTimeoutMs: 10_000,
  });
  return {
    time, vm, changes, calls, peerCalls, published, slots, start,
    setJob: (s: JobStats | Error) => (jobStats = s),
    setAbort: (e: Error | undefined) => (abortAnswer = e),
    setState: (s: { state: number; reason: number } | Error) => (stateAnswer = s),
    finishCall: (err?: Error) => finishCall(err),
    confirmGuest: (ok: boolean) => confirmGuest(ok),
  };
}

void test('a cancel before libvirt has a job is not lost: the job is aborted as soon as it shows', async () => {
  const h = harness();
  const m = h.start();
  await settle();
  assert.equal(h.calls.at(-1), 'migrateToURI3');
  // migrateToURI3 is dispatched but libvirt has not started its job yet: "no job is active".
  h.setAbort(libvirtError('OPERATION_INVALID', 55));
  await m.cancel();
  assert.equal(h.vm.state.status, VmStatus.MIGRATION_SOURCE);
  h.setAbort(undefined);
  h.setJob(moving(90));
  h.time.advance(1000);
  await settle();
  assert.equal(h.calls.filter((c) => c === 'migration.abortJob').length, 2, 'aborted again once the job showed');
  h.finishCall(libvirtError('OPERATION_ABORTED', 78));
  await m.done;
  assert.deepEqual(m.stats().status, { code: 47, message: 'Migration canceled' });
  assert.equal(h.vm.state.status, VmStatus.UP);
  assert.deepEqual(h.peerCalls, ['ping', 'migrationCreate', 'destroy', 'close']);
});

void test('job statistics saying the job was cancelled decide the outcome while the call stays blocked (never discarded): lingering until it returns', async () => {
  const h = harness();
  const m = h.start();
  await settle();
  h.setJob(moving(60));
  h.time.advance(1000);
  await settle();
  await m.cancel();
  h.setJob(moving(60, 1, JobType.CANCELLED));
  h.time.advance(1000);
  await m.done;
  assert.equal(h.vm.state.status, VmStatus.UP);
  assert.deepEqual(m.stats().status, { code: 47, message: 'Migration canceled' });
  assert.ok(h.peerCalls.includes('destroy'), 'the destination VM destroyed (which frees the blocked call)');
  assert.equal(m.lingering, true);
  assert.equal(m.describe(3000)['stuck'], true);
  h.finishCall(libvirtError('INTERNAL_ERROR', 1));
  await settle();
  assert.equal(m.lingering, false);
  assert.deepEqual(m.stats().status, { code: 47, message: 'Migration canceled' }, 'the late error changes nothing');
});

void test("the source's Down(4) waits for JOB_COMPLETED's downtime, which libvirt sends after STOPPED/MIGRATED", async () => {
  const h = harness();
  const m = h.start();
  await settle();
  h.vm.state.onLifecycleEvent(LifecycleEvent.STOPPED, StoppedDetail.MIGRATED);
  m.onLifecycle(LifecycleEvent.STOPPED, StoppedDetail.MIGRATED);
  await settle();
  assert.equal(h.vm.state.status, VmStatus.MIGRATION_SOURCE, 'no Down before the downtime report');
  m.onJobCompleted({ downtime: 70, downtime_net: 61.4, operation: 5 });
  await m.done;
  assert.equal(h.vm.state.status, VmStatus.DOWN);
  assert.equal(h.vm.state.exitInfo?.exitReason, 4);
  const last = h.published.at(-1)!;
  assert.deepEqual(last, { method: `|virt|VM_migration_status|${UUID}`, progress: 100, postcopy: false, downtime: 61 });
  assert.deepEqual(m.stats(), { status: { code: 0, message: 'Migration done' }, progress: 100, downtime: 61 });
  assert.equal(h.slots.taken, 0);
});

void test('a lost JOB_COMPLETED delays the Down by the grace only; a call that returns first is checked against the domain\'s state', async () => {
  const h = harness();
  const m = h.start();
  await settle();
  h.finishCall();
  await settle();
  assert.equal(h.vm.state.status, VmStatus.MIGRATION_SOURCE);
  h.time.advance(DOWNTIME_REPORT_GRACE_MS);
  await m.done;
  assert.ok(h.calls.includes('libvirt.state'), 'without STOPPED/MIGRATED the domain\'s state is asked');
  assert.equal(h.vm.state.status, VmStatus.DOWN);
  assert.equal(h.vm.state.exitInfo?.exitReason, 4);
});

void test('a busy destination (82) is asked again after migration_retry_timeout, without holding an outgoing slot meanwhile', async () => {
  const h = harness({ createAnswers: [vdsmError(Errors.MIGRATE_LIMIT), vdsmError(Errors.MIGRATE_LIMIT)] });
  const m = h.start();
  await settle();
  assert.equal(m.phase, 'retry-wait');
  assert.equal(m.stats().status.code, 82);
  assert.equal(h.slots.taken, 0);
  h.time.advance(10_000);
  await settle();
  assert.equal(m.phase, 'retry-wait');
  h.time.advance(10_000);
  await settle();
  assert.equal(m.phase, 'migrating');
  assert.equal(m.stats().status.code, 0);
  assert.deepEqual(h.peerCalls.filter((c) => c === 'migrationCreate').length, 3);
  h.finishCall(libvirtError('OPERATION_FAILED', 9));
  await m.done;
  assert.equal(m.stats().status.code, 102);
});

void test("the engine's outgoingLimit bounds concurrent migrations: the second waits for the first's slot", async () => {
  const h = harness({ outgoingLimit: 1 });
  const first = h.start();
  await settle();
  assert.equal(first.phase, 'migrating');
  const second = h.start();
  await settle();
  assert.equal(second.phase, 'waiting-slot');
  await second.cancel();
  await second.done;
  assert.deepEqual(second.stats().status, { code: 47, message: 'Migration canceled' });
  h.finishCall(libvirtError('OPERATION_ABORTED', 78));
  await first.done;
  assert.equal(h.slots.taken, 0);
});

void test('enableGuestEvents: before_migration once a slot is held and before the destination is asked, waited for; once only across a busy destination\'s retries', async () => {
  const h = harness({ enableGuestEvents: true, createAnswers: [vdsmError(Errors.MIGRATE_LIMIT)] });
  const m = h.start();
  await settle();
  assert.deepEqual(h.peerCalls, ['ping', 'guest before_migration wait=10000'], 'the destination is not asked until the guest answered');
  assert.equal(h.slots.describe().taken, 1);
  h.confirmGuest(true);
  await settle();
  assert.deepEqual(h.peerCalls, ['ping', 'guest before_migration wait=10000', 'migrationCreate']);
  h.time.advance(10_000); // the busy destination's retry
  await settle();
  assert.deepEqual(h.peerCalls, ['ping', 'guest before_migration wait=10000', 'migrationCreate', 'migrationCreate'], 'not told twice');
  h.finishCall(libvirtError('OPERATION_FAILED', 9));
  await m.done;
  assert.equal(h.vm.state.status, VmStatus.UP);
  assert.deepEqual(h.peerCalls.slice(-3), ['destroy', 'close', 'guest after_migration failure'], 'a failed migration: the guest learns it stays');
});

void test('enableGuestEvents: a cancel while the guest is asked ends the migration (47); without enableGuestEvents nothing is sent to the guest', async () => {
  const h = harness({ enableGuestEvents: true });
  const m = h.start();
  await settle();
  assert.equal(h.peerCalls.at(-1), 'guest before_migration wait=10000');
  await m.cancel();
  await m.done;
  assert.deepEqual(m.stats().status, { code: 47, message: 'Migration canceled' });
  assert.ok(!h.peerCalls.includes('migrationCreate'));
  assert.equal(h.slots.describe().taken, 0);

  const q = harness();
  const quiet = q.start();
  await settle();
  q.finishCall(libvirtError('OPERATION_FAILED', 9));
  await quiet.done;
  assert.ok(!q.peerCalls.some((c) => c.startsWith('guest')), q.peerCalls.join());
});
