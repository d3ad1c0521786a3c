// Every libvirt call runs on its JS thread's native call thread (virt/call, native/offload/offload.h):
// libvirt's errors still arrive intact on the JS thread, and a worker stuck in a call to a frozen
// libvirtd (a real unprivileged daemon stopped with SIGSTOP) is let go by the Executor when discarded:
// its thread exits while the call thread waits in libvirt, and the call's return frees its slot.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { Errors } from '../../src/errors.js';
import { harness } from '../runtime/executor-harness.js';
import { ControlThread } from '../../src/libvirt/control-thread.js';
import { nodeFixture } from './helpers/node-fixture.js';
import { libvirtdUnavailable, TestLibvirtd } from './helpers/libvirtd.js';

const UNKNOWN = 'deadbeef-0000-4000-8000-000000000000';
const virt = loadVirtBinding();

function threadName(tid: number): string | undefined {
  const path = `/proc/self/task/${tid}/comm`;
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

/** Resolves once cond() holds, looking again every 20 ms (a condition, not a wait for time); 10 s guard. */
async function until(cond: () => boolean): Promise<void> {
  const giveUp = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > giveUp) throw new Error('condition not reached within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function threadsNamed(name: string): number[] {
  return readdirSync('/proc/self/task').map(Number).filter((tid) => threadName(tid) === name);
}

void describe('libvirt calls on call threads (test driver)', () => {
  void it('run on this thread\'s virt/call thread, and bring libvirt\'s error back intact', async () => {
    const fx = await nodeFixture({ domains: 1 });
    const conn = virt.open(fx.uri);
    try {
      const before = virt.nativeCallStats().calls;
      assert.equal(typeof virt.getHostname(conn), 'string');
      assert.equal(virt.nativeCallStats().calls, before + 1, 'the call went through the call thread');
      assert.ok(threadsNamed('virt/call').length >= 1, 'a virt/call thread exists');
      // A failing call: code, numbers and message come from the call thread's libvirt error.
      assert.throws(() => virt.state(conn, UNKNOWN), (e: Record<string, unknown>) => {
        assert.equal(e['code'], 'ERR_LIBVIRT_NO_DOMAIN');
        assert.equal(e['virCode'], 42);
        assert.match(String(e['virMessage']), /domain/i);
        assert.equal(e['call'], 'virDomainLookupByUUIDString');
        return true;
      });
      // getMetadata reads the error code on the JS thread to tell "no metadata" from a failure.
      const uuid = fx.domains[0]!.uuid;
      assert.equal(virt.getMetadata(conn, uuid, 2, 'http://example.org/none/1.0'), null);
      // The calls after a failure do not see its error.
      assert.equal(virt.state(conn, uuid).state > 0, true);
      assert.equal(virt.nativeCalls().length, 0, 'nothing left running');
    } finally {
      virt.close(conn);
      await fx.remove();
    }
  });
});

const skip = libvirtdUnavailable();

void describe('a worker stuck in a call to a frozen libvirtd', { skip: skip ?? false }, () => {
  let daemon: TestLibvirtd;
  let conn = -1;
  before(async () => {
    daemon = await TestLibvirtd.create({ domains: 1 });
    await daemon.start();
    conn = virt.open(daemon.uri);
  });
  after(async () => {
    daemon?.thaw();
    if (conn > 0) virt.close(conn);
    await daemon?.cleanup();
  });

  void it('is let go when discarded: the worker thread exits, the call lingers in virt/call until the daemon answers', async (t) => {
    const h = harness({ workersCount: 1, maxWorkers: 3, spares: 1, prewarmMs: 0, opsModules: ['libvirt'] });
    t.after(async () => {
      daemon.thaw();
      await h.close();
    });
    h.ex.start();
    await h.until(() => h.ex.counts().idle === 1 && h.ex.counts().spares === 1);
    const hostname = await h.ex.dispatch('libvirt.getHostname', { conn });
    daemon.freeze();
    const stuck = h.ex.dispatch('libvirt.getHostname', { conn }, { timeoutMs: 100 }).then(() => 'answered', (e: { code?: string }) => e.code);
    const stuckId = h.events.filter((e) => e.channel === 'dispatch').at(-1)!.msg['taskId'];
    const start = await h.next('start', (m) => m['taskId'] === stuckId);
    const workerTid = h.ex.threads().find((r) => r.worker_id === start['workerId'])!.tid;
    // The call is inside libvirt (on the worker's call thread) before its timeout is made to pass.
    // (callTid set: the call thread took it; a call let go before that is never made.)
    await h.until(() => virt.nativeCalls().some((c) => c.tid === workerTid && c.what === 'virConnectGetHostname' && c.callTid > 0));
    h.time.advance(100);
    const discard = await h.next('discard', (m) => m['taskId'] === start['taskId']);
    assert.equal(await stuck, Errors.TASK_DISCARDED.code);
    await h.next('worker', (m) => m['event'] === 'exit' && m['workerId'] === discard['workerId']);
    assert.equal(threadName(workerTid), undefined, 'the worker thread exited');
    const row = h.ex.threads().find((r) => r.worker_id === discard['workerId']);
    assert.ok(row?.native_call, 'listed with the call it left behind');
    assert.equal(row.native_call.what, 'virConnectGetHostname');
    assert.equal(threadName(row.native_call.call_tid), 'virt/call', 'the call thread waits in libvirt');
    assert.equal(h.ex.counts().lingeringCalls, 1);
    // The daemon answers: the lingering call returns, frees its slot, and the connection serves again.
    daemon.thaw();
    await h.next('worker', (m) => m['event'] === 'released' && m['workerId'] === discard['workerId']);
    assert.equal(h.ex.counts().lingering, 0);
    assert.equal(await h.ex.dispatch('libvirt.getHostname', { conn }), hostname);
    await assert.rejects(h.ex.dispatch('libvirt.lookupByUUID', { conn, uuid: UNKNOWN }), (e: Record<string, unknown>) => e['code'] !== undefined && /NO_DOMAIN|NO_VM/.test(String(e['code'])));
  });

  void it('the libvirt control thread, terminated while wedged in a call, exits at once; the call lingers in virt/call', async (t) => {
    const control = new ControlThread({ onEvent: () => undefined });
    t.after(() => {
      daemon.thaw();
      control.terminate();
    });
    const own = await control.request({ cmd: 'open', uri: daemon.uri, options: {} }, 10_000);
    const tid = control.toJSON().tid;
    assert.ok(tid > 0);
    daemon.freeze();
    const ping = control.request({ cmd: 'ping', conn: own }, 60_000).catch((e: { code?: string }) => e.code);
    await until(() => virt.nativeCalls().some((c) => c.tid === tid && c.what === 'virConnectGetLibVersion' && c.callTid > 0));
    control.terminate();
    assert.equal(await ping, Errors.LIBVIRT_CONNECTION.code);
    await until(() => threadName(tid) === undefined);  // the control thread is gone while the daemon is still frozen
    const left = virt.nativeCalls().find((c) => c.tid === tid);
    assert.equal(left?.abandoned, true, 'its call waits on in libvirt');
    assert.equal(threadName(left.callTid), 'virt/call');
    daemon.thaw();
    await until(() => !virt.nativeCalls().some((c) => c.tid === tid));
    virt.close(own);
  });
});
