// The VM container: keyed by UUID, vdsm's errors for duplicates and unknown VMs, short listings, counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VmContainer } from '../../src/virt/vm-container.js';
import { VmStateMachine } from '../../src/virt/vm-state.js';
import { VmStatus as S } from '../../src/virt/vm-state.js';
import { Errors, isError } from '../../src/errors.js';
import { ManualTime } from '../support/manual-time.js';

const A = '7F9A0A46-2F5B-4D2B-9C37-0C3E6F1B2A11';
const B = 'a1b2c3d4-0000-4000-8000-000000000002';

function entry(time: ManualTime, vmId: string, initial: (typeof S)[keyof typeof S]): { vmId: string; state: VmStateMachine } {
  return { vmId, state: new VmStateMachine(vmId, { clock: time, timers: time, initial }) };
}

void test('add, get case-insensitively, duplicate -> code 4, unknown -> code 1 with vdsm message', () => {
  const time = new ManualTime(0);
  const c = new VmContainer(time);
  c.add(entry(time, A, S.UP));
  assert.ok(c.get(A.toLowerCase()));
  assert.throws(() => c.add(entry(time, A.toLowerCase(), S.UP)), (e: unknown) => isError(e, Errors.VM_EXISTS) && (e as { vdsmCode: number }).vdsmCode === 4);
  assert.throws(() => c.require(B), (e: unknown) => {
    const err = e as { vdsmCode: number; message: string };
    return err.vdsmCode === 1 && err.message === `Virtual machine does not exist: {'vmId': '${B}'}`;
  });
});

void test('shortList: {vmId, status, statusTime string}, filtered by ids; counts for getStats', () => {
  const time = new ManualTime(5000);
  const c = new VmContainer(time);
  c.add(entry(time, A, S.UP));
  c.add(entry(time, B, S.MIGRATION_DESTINATION));
  assert.deepEqual(c.shortList(), [
    { vmId: A, status: S.UP, statusTime: String(2147483647 + 5000) },
    { vmId: B, status: S.MIGRATION_DESTINATION, statusTime: String(2147483647 + 5000) },
  ]);
  assert.deepEqual(c.shortList([B, 'nope']).map((v) => v.vmId), [B]);
  assert.deepEqual(c.counts(), { vmCount: 2, vmActive: 1, vmMigrating: 1, incomingVmMigrations: 1, outgoingVmMigrations: 0 });
  assert.deepEqual(c.describe(), { size: 2, byStatus: { Up: 1, 'Migration Destination': 1 } });
});

void test('remove stops the VM timers and returns the entry once', () => {
  const time = new ManualTime(0);
  const c = new VmContainer(time);
  const e = entry(time, A, S.WAIT_FOR_LAUNCH);
  c.add(e);
  e.state.launched();
  assert.equal(time.pendingTimers, 1);
  assert.equal(c.remove(A), e);
  assert.equal(c.remove(A), undefined);
  assert.equal(time.pendingTimers, 0);
  assert.equal(c.size, 0);
});
