// The guest time sync's decisions (src/guest/guest-time-sync.ts): which reasons set the clock under
// [vars] time_sync_cont_enable / time_sync_snapshot_enable, the host time it sends (an injected wall
// clock), the operation it dispatches (guest.setTime on the agent connection, bounded, never discarding
// the worker) and vdsm's handling of libvirt's answers (expected misses at debug, the rest at error,
// never thrown). The dispatcher is a stand-in that records calls and answers as libvirt would; the
// real-VM tier (test/realvm/time-sync-real-vm.test.ts) sets a real guest's clock through qemu-ga.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DispatchOptions, Dispatcher } from '../../src/contracts/dispatcher.js';
import type { OpArgs, OpName, OpResult } from '../../src/contracts/operations.js';
import { GuestTimeSync, setTimeArgs, type TimeSyncReason } from '../../src/guest/guest-time-sync.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { VirErrorCode } from '../../src/libvirt/constants.js';
import { captureLog } from '../runtime/capture-log.js';
import { ConnectionsStub } from '../support/connections-stub.js';

const VM_ID = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
/** 2009-02-13T23:31:30.125Z, as vdsm's own test of syncGuestTime. */
const NOW_MS = 1234567890125;

/** A libvirt error as it crosses the worker boundary (src/libvirt/binding.ts toTransferableLibvirtError). */
const libvirtError = (virCode: number, message: string): Error => Object.assign(new Error(message), { code: `ERR_LIBVIRT_${virCode}`, context: { virCode, virDomain: 10, virMessage: message } });

/** The main connection is 3, the guest-agent one 7: the call must go on the latter. */
class TwoConnections extends ConnectionsStub {
  override agentConn(): number {
    return 7;
  }
}

function setup(opts: { onCont?: boolean; onSnapshot?: boolean; fail?: Error } = {}) {
  const calls: { op: string; args: unknown; opts: DispatchOptions | undefined }[] = [];
  const dispatcher: Dispatcher = {
    dispatch: <K extends OpName>(op: K, args: OpArgs<K>, o?: DispatchOptions): Promise<OpResult<K>> => {
      calls.push({ op, args, opts: o });
      return opts.fail !== undefined ? Promise.reject(opts.fail) : Promise.resolve(null as OpResult<K>);
    },
  };
  const { log, lines } = captureLog('debug');
  const sync = new GuestTimeSync({
    libvirt: new LibvirtClient({ dispatcher, connections: new TwoConnections(3) }),
    log,
    wallClock: () => NOW_MS,
    onCont: opts.onCont ?? false,
    onSnapshot: opts.onSnapshot ?? false,
    timeoutMs: 30_000,
  });
  return { sync, calls, lines };
}

void describe('guest time sync', () => {
  void it('sends the host time as seconds and nanoseconds (vdsm\'s split of time.time())', () => {
    assert.deepEqual(setTimeArgs(NOW_MS), { seconds: 1234567890, nseconds: 125_000_000 });
    assert.deepEqual(setTimeArgs(1_000), { seconds: 1, nseconds: 0 });
    // Past 2038: seconds beyond an int32 stay exact.
    assert.deepEqual(setTimeArgs(4_102_444_800_500), { seconds: 4_102_444_800, nseconds: 500_000_000 });
    // A fraction that rounds up to a whole second stays below one.
    assert.equal(setTimeArgs(1999.9999999).nseconds, 999_999_999);
  });

  void it('a restore always sets the clock, with the defaults (both keys false)', async () => {
    const t = setup();
    assert.equal(await t.sync.sync(VM_ID, 'restore'), 'set');
    assert.deepEqual(t.calls, [{ op: 'guest.setTime', args: { conn: 7, uuid: VM_ID, seconds: 1234567890, nseconds: 125_000_000 }, opts: { timeoutMs: 30_000, discard: false } }]);
    assert.ok(t.lines.some((l) => l.msg === 'guest time updated' && l['vmId'] === VM_ID && l['seconds'] === 1234567890));
  });

  void it('VM.cont and a snapshot\'s end set nothing with the defaults: no call at all', async () => {
    const t = setup();
    for (const reason of ['cont', 'snapshot'] as TimeSyncReason[]) {
      assert.equal(t.sync.wanted(reason), false);
      assert.equal(await t.sync.sync(VM_ID, reason), 'skipped');
    }
    assert.deepEqual(t.calls, []);
  });

  void it('time_sync_cont_enable sets the clock on VM.cont only; time_sync_snapshot_enable at a snapshot\'s end only', async () => {
    const cont = setup({ onCont: true });
    assert.equal(await cont.sync.sync(VM_ID, 'cont'), 'set');
    assert.equal(await cont.sync.sync(VM_ID, 'snapshot'), 'skipped');
    assert.equal(cont.calls.length, 1);
    const snap = setup({ onSnapshot: true });
    assert.equal(await snap.sync.sync(VM_ID, 'snapshot'), 'set');
    assert.equal(await snap.sync.sync(VM_ID, 'cont'), 'skipped');
    assert.equal(snap.calls.length, 1);
  });

  void it('an agent that does not answer, an unsupported driver or agent, a gone domain: logged at debug, never thrown', async () => {
    const cases: [Error, string][] = [
      [libvirtError(VirErrorCode.AGENT_UNRESPONSIVE, 'Guest agent is not responding: QEMU guest agent is not connected'), 'agentUnresponsive'],
      [libvirtError(VirErrorCode.NO_SUPPORT, 'this function is not supported by the connection driver: virDomainSetTime'), 'unsupported'],
      [libvirtError(VirErrorCode.NO_DOMAIN, 'Domain not found'), 'noDomain'],
    ];
    for (const [err, outcome] of cases) {
      const t = setup({ fail: err });
      assert.equal(await t.sync.sync(VM_ID, 'restore'), outcome);
      const line = t.lines.find((l) => l.msg === 'Failed to set the guest time');
      assert.equal(line?.level, 20, `${outcome} at debug`);
      assert.equal(line?.['outcome'], outcome);
      assert.equal(line?.['reason'], 'restore');
    }
  });

  void it('any other failure (qemu-ga refusing, a task timeout) is logged at error, never thrown', async () => {
    const t = setup({ onCont: true, fail: libvirtError(VirErrorCode.INTERNAL_ERROR, 'internal error: unable to execute QEMU agent command \'guest-set-time\': this feature or command is not currently supported') });
    assert.equal(await t.sync.sync(VM_ID, 'cont'), 'failed');
    const line = t.lines.find((l) => l.msg === 'Failed to set the guest time');
    assert.equal(line?.level, 50);
    assert.match(String(line?.['err']), /guest-set-time/);
    const timedOut = setup({ fail: Object.assign(new Error('task timed out'), { code: 'ERR_TASK_TIMEOUT' }) });
    assert.equal(await timedOut.sync.sync(VM_ID, 'restore'), 'failed');
  });
});
