// Hibernation in the per-VM state machine and the engine's hibernation volumes: Saving State ignores
// hibernation's own pause and libvirt's STOPPED/SAVED (the hibernation says Down once the parameters are
// written too), Restoring state ignores the restored image's pause and resume (the restore says Up);
// the handle's six UUIDs and the configuration volume's one-line content.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LifecycleEvent as E, ResumedDetail, StartedDetail, StoppedDetail, SuspendedDetail, VmStateMachine, VmStatus as S, type VmStatusChange } from '../../src/virt/vm-state.js';
import { VmExitReason } from '../../src/virt/exit-reasons.js';
import {
  decodeSavedParams, encodeSavedParams, formatHibernationHandle, HibernationHandleError, hibernationVolumesOf, parseHibernationHandle,
} from '../../src/virt/migration/hibernation-volumes.js';
import { ManualTime } from '../support/manual-time.js';

function setup(initial: (typeof S)[keyof typeof S]): { vm: VmStateMachine; changes: VmStatusChange[] } {
  const time = new ManualTime(1000);
  const changes: VmStatusChange[] = [];
  const vm = new VmStateMachine('vm-h', { clock: time, timers: time, initial, onStatusChange: (c) => changes.push(c) });
  return { vm, changes };
}

void test('Saving State: the pause and STOPPED/SAVED are hibernation\'s own; Down (5) only from saveSucceeded', () => {
  const { vm, changes } = setup(S.UP);
  assert.equal(vm.savingStarted(), true);
  assert.equal(vm.onLifecycleEvent(E.SUSPENDED, SuspendedDetail.PAUSED), false);
  assert.equal(vm.onLifecycleEvent(E.STOPPED, StoppedDetail.SAVED), false);
  assert.equal(vm.status, S.SAVING_STATE);
  assert.equal(vm.saveSucceeded(), true);
  assert.deepEqual(changes.map((c) => c.to), [S.SAVING_STATE, S.DOWN]);
  assert.equal(changes[1]?.exitInfo?.exitReason, VmExitReason.SAVE_STATE_SUCCEEDED);
  assert.equal(changes[1]?.exitInfo?.exitCode, 0);
  assert.equal(changes[1]?.exitInfo?.exitMessage, 'SaveState succeeded');
});

void test('Saving State: a failed save puts the VM back (Up, or Paused when it was); a crash is still Down', () => {
  const up = setup(S.UP);
  up.vm.savingStarted();
  assert.equal(up.vm.onLifecycleEvent(E.RESUMED, ResumedDetail.UNPAUSED), false, 'the resume after a failed save is the hibernation\'s to report');
  assert.equal(up.vm.saveFailed(), true);
  assert.equal(up.vm.status, S.UP);
  assert.equal(up.vm.saveSucceeded(), false, 'no Down once the VM runs again');
  const paused = setup(S.PAUSED);
  paused.vm.savingStarted();
  paused.vm.saveFailed(S.PAUSED);
  assert.equal(paused.vm.status, S.PAUSED);
  assert.equal(paused.vm.pauseCode, 'NOERR');
  const crash = setup(S.UP);
  crash.vm.savingStarted();
  assert.equal(crash.vm.onLifecycleEvent(E.STOPPED, StoppedDetail.FAILED), true);
  assert.equal(crash.vm.exitInfo?.exitReason, VmExitReason.LOST_QEMU_CONNECTION);
});

void test('Restoring state: STARTED/RESTORED, the saved pause and the resume leave it; restored() is Up', () => {
  const { vm, changes } = setup(S.RESTORING_STATE);
  assert.equal(vm.onLifecycleEvent(E.STARTED, StartedDetail.RESTORED), false);
  assert.equal(vm.onLifecycleEvent(E.SUSPENDED, SuspendedDetail.RESTORED), false);
  assert.equal(vm.onLifecycleEvent(E.RESUMED, ResumedDetail.UNPAUSED), false);
  assert.equal(vm.status, S.RESTORING_STATE);
  assert.equal(vm.restored(), true);
  assert.deepEqual(changes.map((c) => [c.from, c.to]), [[S.RESTORING_STATE, S.UP]]);
  assert.equal(vm.restored(), false);
});

const SD = '5a7e0000-0000-4000-8000-0000000000d1';
const SP = '5a7e0000-0000-4000-8000-0000000000f1';
const IDS = ['1', '2', '3', '4'].map((n) => `5a7e0000-0000-4000-8000-00000000000${n}`);

void test('the hibernation handle: domain, pool, memory image/volume, configuration image/volume', () => {
  const handle = [SD, SP, ...IDS].join(',');
  const v = parseHibernationHandle(handle);
  assert.deepEqual(v.memory, { domainID: SD, poolID: SP, imageID: IDS[0], volumeID: IDS[1] });
  assert.deepEqual(v.conf, { domainID: SD, poolID: SP, imageID: IDS[2], volumeID: IDS[3] });
  assert.equal(formatHibernationHandle(v), handle);
  assert.deepEqual(hibernationVolumesOf({ hiberVolHandle: handle }), v);
  // Newer engines: two volume objects.
  assert.deepEqual(hibernationVolumesOf({ memoryDumpVolume: v.memory, memoryConfVolume: v.conf }), v);
  assert.equal(hibernationVolumesOf({ xml: '<domain/>' }), undefined);
});

void test('a bad handle says what was expected', () => {
  for (const [bad, why] of [
    [undefined, /missing/], ['', /missing/], [[SD, SP].join(','), /2 fields, expected 6/],
    [[SD, SP, 'x', ...IDS.slice(1)].join(','), /field 3 .* not a UUID/], [42, /missing/],
  ] as const) {
    assert.throws(() => parseHibernationHandle(bad), (e: unknown) => e instanceof HibernationHandleError && why.test(e.message) && /sdUUID,spUUID/.test(e.message), String(bad));
  }
  assert.throws(() => hibernationVolumesOf({ memoryDumpVolume: { poolID: SP, domainID: SD, imageID: IDS[0], volumeID: IDS[1] } }), /memoryConfVolume must be an object/);
  assert.throws(() => hibernationVolumesOf({ memoryDumpVolume: { poolID: SP, domainID: SD, imageID: 'nope', volumeID: IDS[1] }, memoryConfVolume: {} }), /memoryDumpVolume.imageID must be a UUID/);
});

void test('the configuration volume: a pickled dict read up to its STOP whatever follows; anything else is not used', () => {
  const params = { vmId: SD, _srcDomXML: '<domain>\n<name>x</name>\n</domain>', elapsedTimeOffset: 12.5, enableGuestEvents: false };
  const bytes = encodeSavedParams(params);
  assert.equal(bytes[0], 0x80, 'a pickle, as vdsm writes there');
  // Written in place over older, longer content: what follows the pickle is ignored.
  const volume = Buffer.concat([bytes, encodeSavedParams({ stale: 'left-over from an earlier hibernation' }), Buffer.alloc(64)]);
  assert.deepEqual(decodeSavedParams(volume), { ok: true, params });
  assert.deepEqual(decodeSavedParams(Buffer.alloc(16)), { ok: false, why: 'the configuration volume holds no saved parameters (not a pickle)' }, 'zeros: never written');
  assert.equal(decodeSavedParams(Buffer.alloc(0)).ok, false);
  assert.match(String((decodeSavedParams(bytes.subarray(0, 20)) as { why: string }).why), /truncated/);
  assert.match(String((decodeSavedParams(Buffer.from([0x80, 0x02, 0x5d, 0x2e])) as { why: string }).why), /not hold a dict/);
});
