// The per-VM state machine: transitions from calls and libvirt lifecycle events, exit info on Down,
// one status-change callback per change, the powering-up window on an injected timer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canTransition, GUEST_WAIT_TIMEOUT_MS, LifecycleEvent as E, ResumedDetail, ShutdownDetail, StartedDetail, StoppedDetail, SuspendedDetail,
  VmStateMachine, type VmStatusChange,
} from '../../src/virt/vm-state.js';
import { VmExitReason } from '../../src/virt/exit-reasons.js';
import { VmStatus as S } from '../../src/virt/vm-state.js';
import { ManualTime } from '../support/manual-time.js';

function setup(initial?: (typeof S)[keyof typeof S]): { vm: VmStateMachine; time: ManualTime; changes: VmStatusChange[]; warns: string[] } {
  const time = new ManualTime(1000);
  const changes: VmStatusChange[] = [];
  const warns: string[] = [];
  const vm = new VmStateMachine('vm-1', {
    clock: time, timers: time, onStatusChange: (c) => changes.push(c), log: { warn: (m) => warns.push(m) },
    ...(initial !== undefined ? { initial } : {}),
  });
  return { vm, time, changes, warns };
}

const path = (changes: VmStatusChange[]): string[] => changes.map((c) => c.to);

void test('create -> STARTED/BOOTED -> Powering up -> guest agent up -> Up, one callback each', () => {
  const { vm, changes, time } = setup();
  assert.equal(vm.status, S.WAIT_FOR_LAUNCH);
  assert.equal(vm.onLifecycleEvent(E.DEFINED, 0), false);
  assert.equal(vm.onLifecycleEvent(E.STARTED, StartedDetail.BOOTED), true);
  assert.equal(vm.launched(), false, 'the same status again is not a change');
  time.advance(5000);
  assert.equal(vm.guestUp(), true);
  assert.deepEqual(path(changes), [S.POWERING_UP, S.UP]);
  assert.deepEqual(changes.map((c) => c.from), [S.WAIT_FOR_LAUNCH, S.POWERING_UP]);
  assert.equal(changes[1]?.statusTime, 2147483647 + 6000);
  assert.equal(vm.statusTime, changes[1]?.statusTime);
  assert.equal(time.pendingTimers, 0, 'the powering-up timer is cancelled');
});

void test('real QEMU: RESUMED/UNPAUSED before STARTED/BOOTED is the start of the boot (Powering up), not Up', () => {
  const { vm, changes } = setup();
  assert.equal(vm.onLifecycleEvent(E.RESUMED, ResumedDetail.UNPAUSED), true);
  assert.equal(vm.onLifecycleEvent(E.STARTED, StartedDetail.BOOTED), false);
  assert.equal(vm.launched(), false);
  assert.equal(vm.status, S.POWERING_UP);
  assert.equal(vm.guestUp(), true);
  assert.deepEqual(path(changes), [S.POWERING_UP, S.UP]);
});

void test('without a guest agent, Powering up becomes Up after the guest wait timeout', () => {
  const { vm, changes, time } = setup();
  vm.launched();
  time.advance(GUEST_WAIT_TIMEOUT_MS - 1);
  assert.equal(vm.status, S.POWERING_UP);
  time.advance(1);
  assert.equal(vm.status, S.UP);
  assert.equal(changes.at(-1)?.cause, 'guestWaitTimeout');
});

void test('pause and resume by call and by event; pauseCode follows the suspend detail', () => {
  const { vm, changes } = setup(S.UP);
  assert.equal(vm.paused(), true);
  assert.equal(vm.onLifecycleEvent(E.SUSPENDED, SuspendedDetail.PAUSED), false, 'the event after our pause call changes nothing');
  assert.equal(vm.pauseCode, 'NOERR');
  assert.equal(vm.onLifecycleEvent(E.RESUMED, ResumedDetail.UNPAUSED), true);
  assert.equal(vm.pauseCode, undefined);
  assert.equal(vm.onLifecycleEvent(E.SUSPENDED, SuspendedDetail.IOERROR), true);
  assert.equal(changes.at(-1)?.pauseCode, 'EIO');
  assert.equal(vm.resumed(), true);
  assert.deepEqual(path(changes), [S.PAUSED, S.UP, S.PAUSED, S.UP]);
});

void test('a guest that shuts itself down: SHUTDOWN -> Powering down, STOPPED/SHUTDOWN -> Down, user shutdown', () => {
  const { vm, changes } = setup(S.UP);
  vm.onLifecycleEvent(E.SHUTDOWN, ShutdownDetail.GUEST);
  vm.onLifecycleEvent(E.STOPPED, StoppedDetail.SHUTDOWN);
  assert.deepEqual(path(changes), [S.POWERING_DOWN, S.DOWN]);
  assert.deepEqual(vm.exitInfo, { exitCode: 0, exitReason: VmExitReason.USER_SHUTDOWN, exitMessage: 'User shut down from within the guest' });
  assert.deepEqual(changes.at(-1)?.exitInfo, vm.exitInfo);
});

void test('VM.shutdown: Powering down, then Down with an admin shutdown', () => {
  const { vm, changes } = setup(S.UP);
  vm.shutdownRequested();
  vm.onLifecycleEvent(E.STOPPED, StoppedDetail.SHUTDOWN);
  assert.deepEqual(path(changes), [S.POWERING_DOWN, S.DOWN]);
  assert.equal(vm.exitInfo?.exitReason, VmExitReason.ADMIN_SHUTDOWN);
  assert.equal(vm.exitInfo?.exitMessage, 'Admin shut down from the engine');
});

void test('VM.shutdown that times out goes back to Up; with reboot it is RebootInProgress', () => {
  const { vm, changes } = setup(S.UP);
  vm.shutdownRequested();
  assert.equal(vm.shutdownFailed(), true);
  vm.shutdownRequested({ reboot: true });
  assert.deepEqual(path(changes), [S.POWERING_DOWN, S.UP, S.REBOOT_IN_PROGRESS]);
});

void test('VM.destroy: exactly one Down whether destroyed() or the STOPPED event comes first', () => {
  for (const eventFirst of [true, false]) {
    const { vm, changes } = setup(S.UP);
    vm.destroyRequested();
    if (eventFirst) vm.onLifecycleEvent(E.STOPPED, StoppedDetail.DESTROYED);
    assert.equal(vm.destroyed(), !eventFirst);
    assert.equal(vm.onLifecycleEvent(E.STOPPED, StoppedDetail.DESTROYED), false);
    assert.deepEqual(path(changes), [S.DOWN]);
    assert.deepEqual(vm.exitInfo, { exitCode: 0, exitReason: VmExitReason.ADMIN_SHUTDOWN, exitMessage: 'Admin shut down from the engine' });
  }
});

void test('stopped by someone else, crashed or failed: Down with an error exit', () => {
  const cases: [number, number, boolean][] = [
    [StoppedDetail.DESTROYED, VmExitReason.HOST_SHUTDOWN, false],
    [StoppedDetail.FAILED, VmExitReason.LOST_QEMU_CONNECTION, false],
    [StoppedDetail.CRASHED, VmExitReason.GENERIC_ERROR, false],
    [StoppedDetail.SHUTDOWN, VmExitReason.GENERIC_ERROR, true],
  ];
  for (const [detail, reason, panicFirst] of cases) {
    const { vm } = setup(S.UP);
    if (panicFirst) assert.equal(vm.onLifecycleEvent(E.CRASHED, 0), false);
    vm.onLifecycleEvent(E.STOPPED, detail);
    assert.equal(vm.exitInfo?.exitCode, 1);
    assert.equal(vm.exitInfo?.exitReason, reason);
  }
});

void test('launch failure: Down with LIBVIRT_START_FAILED and the given message', () => {
  const { vm, changes } = setup();
  vm.launchFailed('internal error: qemu unexpectedly closed the monitor');
  assert.deepEqual(changes.at(-1)?.exitInfo, { exitCode: 1, exitReason: VmExitReason.LIBVIRT_START_FAILED, exitMessage: 'internal error: qemu unexpectedly closed the monitor' });
  const { vm: vm2 } = setup();
  vm2.launchFailed();
  assert.equal(vm2.exitInfo?.exitMessage, 'failed to start libvirt vm');
});

void test('a launch that fails after VM.destroy was asked for ends as the destroy (admin shut down), not a start failure', () => {
  // Regression: on a loaded host the engine's destroy of a booting VM killed the domain while createXML
  // was still running; the create then failed and the VM went Down with LIBVIRT_START_FAILED (3).
  const { vm, changes } = setup();
  vm.onLifecycleEvent(E.STARTED, StartedDetail.BOOTED);
  vm.destroyRequested();
  assert.equal(vm.launchFailed('Domain not found'), true);
  assert.equal(vm.exitInfo?.exitCode, 0);
  assert.equal(vm.exitInfo?.exitReason, VmExitReason.ADMIN_SHUTDOWN);
  assert.equal(vm.destroyed(), false, 'one Down');
  assert.equal(changes.filter((c) => c.to === S.DOWN).length, 1);
});

void test('migration: source Down(4) when the migration service says so; destination Up only when the incoming migration is taken over', () => {
  const src = setup(S.UP);
  src.vm.migrationStarted();
  assert.equal(src.vm.onLifecycleEvent(E.SUSPENDED, SuspendedDetail.MIGRATED), false);
  // Regression: STOPPED/MIGRATED sent Down before libvirt's JOB_COMPLETED (which follows it) carried the
  // downtime: the engine got the source's Down before its downtime report. The migration service does it.
  assert.equal(src.vm.onLifecycleEvent(E.STOPPED, StoppedDetail.MIGRATED), false);
  assert.deepEqual(path(src.changes), [S.MIGRATION_SOURCE]);
  assert.equal(src.vm.migrationSucceeded(), true);
  assert.deepEqual(path(src.changes), [S.MIGRATION_SOURCE, S.DOWN]);
  assert.equal(src.vm.exitInfo?.exitReason, VmExitReason.MIGRATION_SUCCEEDED);
  assert.equal(src.vm.exitInfo?.exitCode, 0);

  // Regression: RESUMED/MIGRATED moved the destination to Up at once, before the domain was looked up and
  // before vdsm's 1 s delay that lets the source's downtime report reach the engine first.
  const dst = setup(S.MIGRATION_DESTINATION);
  assert.equal(dst.vm.onLifecycleEvent(E.STARTED, StartedDetail.MIGRATED), false);
  assert.equal(dst.vm.onLifecycleEvent(E.RESUMED, ResumedDetail.MIGRATED), false);
  assert.equal(dst.vm.onLifecycleEvent(E.SUSPENDED, SuspendedDetail.PAUSED), false);
  assert.deepEqual(path(dst.changes), []);
  assert.equal(dst.vm.incomingMigrationFinished(), true);
  assert.deepEqual(path(dst.changes), [S.UP]);
  assert.equal(dst.vm.incomingMigrationFinished(), false, 'once');
});

void test('migration: a failed outgoing migration returns to the status it left; an incoming domain that stops is MIGRATION_FAILED', () => {
  const up = setup(S.UP);
  up.vm.migrationStarted();
  assert.equal(up.vm.onLifecycleEvent(E.RESUMED, ResumedDetail.MIGRATED), false);
  up.vm.migrationFailed();
  assert.deepEqual(path(up.changes), [S.MIGRATION_SOURCE, S.UP]);
  assert.equal(up.vm.migrationFailed(), false, 'only from Migration Source');

  const paused = setup(S.PAUSED);
  paused.vm.migrationStarted();
  paused.vm.migrationFailed(S.PAUSED);
  assert.deepEqual(path(paused.changes), [S.MIGRATION_SOURCE, S.PAUSED]);

  const dst = setup(S.MIGRATION_DESTINATION);
  dst.vm.onLifecycleEvent(E.STOPPED, StoppedDetail.FAILED);
  assert.deepEqual(dst.vm.exitInfo, { exitCode: 1, exitReason: VmExitReason.MIGRATION_FAILED, exitMessage: 'VM failed to migrate' });

  const pausedDst = setup(S.MIGRATION_DESTINATION);
  pausedDst.vm.incomingMigrationFinished(true);
  assert.deepEqual(path(pausedDst.changes), [S.PAUSED]);
  assert.equal(pausedDst.vm.pauseCode, 'NOERR');
});

void test('Down is terminal: later calls and events are refused without callbacks', () => {
  const { vm, changes, warns } = setup(S.UP);
  vm.destroyRequested();
  vm.destroyed();
  assert.equal(vm.resumed(), false);
  assert.equal(vm.paused(), false);
  assert.equal(vm.onLifecycleEvent(E.STARTED, StartedDetail.BOOTED), false);
  assert.equal(changes.length, 1);
  assert.ok(warns.length >= 2);
});

void test('the transition table: Down has no way out, WaitForLaunch cannot jump to Migration Source', () => {
  for (const to of Object.values(S)) assert.equal(canTransition(S.DOWN, to), false);
  assert.equal(canTransition(S.WAIT_FOR_LAUNCH, S.MIGRATION_SOURCE), false);
  assert.equal(canTransition(S.UP, S.PAUSED), true);
});

void test('PMSUSPENDED pauses; STARTED/WAKEUP resumes; REBOOT event then agent up', () => {
  const { vm, changes } = setup(S.UP);
  vm.onLifecycleEvent(E.PMSUSPENDED, 0);
  vm.onLifecycleEvent(E.STARTED, StartedDetail.WAKEUP);
  vm.rebooting();
  vm.guestUp();
  assert.deepEqual(path(changes), [S.PAUSED, S.UP, S.REBOOT_IN_PROGRESS, S.UP]);
});

void test('describe() and close(): state as JSON, timers cancelled', () => {
  const { vm, time } = setup();
  vm.launched();
  assert.equal(time.pendingTimers, 1);
  vm.close();
  vm.close();
  assert.equal(time.pendingTimers, 0);
  const d = vm.describe();
  assert.equal(d.status, S.POWERING_UP);
  assert.equal(d.destroyRequested, false);
  assert.doesNotThrow(() => JSON.stringify(d));
  assert.equal(new VmStateMachine('vm-2', { clock: time, timers: time, initial: S.UP, startedAtMs: 42 }).startedAt, 42);
});

void test('the release (vdsm\'s releaseVm): Powering down with no callback, then one Down from it; a paused VM stays Paused, a Down one Down', () => {
  const { vm, changes } = setup(S.UP);
  assert.equal(vm.releasing(), true);
  assert.equal(vm.status, S.POWERING_DOWN);
  assert.equal(changes.length, 0, 'vdsm sets Powering down without an event');
  assert.equal(vm.releasing(), false, 'once');
  vm.onLifecycleEvent(E.STOPPED, StoppedDetail.FAILED);
  assert.deepEqual(path(changes), [S.DOWN]);
  assert.equal(changes[0]?.from, S.POWERING_DOWN);
  assert.equal(vm.exitInfo?.exitReason, VmExitReason.LOST_QEMU_CONNECTION);
  assert.equal(vm.releasing(), false, 'a Down VM stays Down');
  assert.equal(vm.status, S.DOWN);

  const paused = setup(S.PAUSED);
  assert.equal(paused.vm.releasing(), false, 'vdsm shows a VM whose guest CPUs are stopped as Paused');
  assert.equal(paused.vm.status, S.PAUSED);
});

void test('an incoming VM released when its domain stops keeps the failed migration as its exit reason', () => {
  const { vm, changes } = setup(S.MIGRATION_DESTINATION);
  assert.equal(vm.releasing(), true);
  vm.onLifecycleEvent(E.STOPPED, StoppedDetail.FAILED);
  assert.deepEqual(path(changes), [S.DOWN]);
  assert.equal(vm.exitInfo?.exitReason, VmExitReason.MIGRATION_FAILED);
});
