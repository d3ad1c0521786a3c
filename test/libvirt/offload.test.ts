// Every libvirt call runs on its JS thread's native call thread (virt/call, native/offload/offload.h):
// libvirt's errors still arrive intact on the JS thread, through the synchronous entry and the
// asynchronous one (workers/offloaded-call.ts). Against a frozen libvirtd (a real unprivileged daemon
// stopped with SIGSTOP): an Executor worker whose libvirt op is stuck parks the task and serves others;
// at the timeout the caller gets the usual error, the call is abandoned and lingers on its virt/call
// thread, counted, until the daemon answers; a worker that exits with such a call pending is safe; the
// thread bound holds. The libvirt control thread (synchronous entry) is let go when terminated.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { Errors } from '../../src/errors.js';
import { harness } from '../runtime/executor-harness.js';
import { offloadedCall } from '../../workers/offloaded-call.js';
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

  void it('through the asynchronous entry: the same results and the same errors, on a call thread, without waiting', async () => {
    const fx = await nodeFixture({ domains: 2 });
    const conn = virt.open(fx.uri);
    try {
      const keys: string[] = [];
      const onPending = (k: string): number => keys.push(k);
      assert.equal(await offloadedCall('virt', virt, () => virt.getHostname(conn), onPending), virt.getHostname(conn));
      assert.equal(keys.length, 1, 'the call went to a call thread and the caller was told its key');
      assert.match(keys[0]!, /^virt:\d+$/);
      const uuid = fx.domains[0]!.uuid;
      // A domain call: the lookup and the call itself, each on a call thread, converted as the sync entry does.
      assert.deepEqual(await offloadedCall('virt', virt, () => virt.state(conn, uuid)), virt.state(conn, uuid));
      await assert.rejects(offloadedCall('virt', virt, () => virt.state(conn, UNKNOWN)), (e: Record<string, unknown>) => {
        assert.equal(e['code'], 'ERR_LIBVIRT_NO_DOMAIN');
        assert.equal(e['virCode'], 42);
        assert.equal(e['call'], 'virDomainLookupByUUIDString');
        return true;
      });
      // Unknown UUIDs skipped among known ones (the lookups are told apart by uuid across passes).
      const uuids = fx.domains.map((d) => d.uuid);
      const records = await offloadedCall('virt', virt, () => virt.domainListGetStats(conn, [UNKNOWN, ...uuids], 1, 0));
      assert.deepEqual(records.map((r) => r.uuid).sort(), [...uuids].sort());
      // On a second connection nothing is cached: the lookups of every UUID, known or not, go to the call
      // thread with the stats call itself, one pass to wait for whatever their number; the domains found
      // are cached (a later domain call needs no lookup pass).
      const conn2 = virt.open(fx.uri);
      try {
        const unknowns = [1, 2, 3, 4, 5].map((i) => `deadbeef-0000-4000-8000-00000000000${i}`);
        let passes = 0;
        const again = await offloadedCall('virt', virt, () => (passes++, virt.domainListGetStats(conn2, [...unknowns, ...uuids], 1, 0)));
        assert.deepEqual(again.map((r) => r.uuid).sort(), [...uuids].sort());
        assert.equal(passes, 2, 'one pass that went to a call thread, one that took its result');
        passes = 0;
        assert.deepEqual(await offloadedCall('virt', virt, () => (passes++, virt.state(conn2, uuid))), virt.state(conn, uuid));
        assert.equal(passes, 2, 'the domain was cached: no lookup pass before the call');
        // A lookup failing for another reason than "no such domain" fails the call, named after it.
        await assert.rejects(offloadedCall('virt', virt, () => virt.domainListGetStats(conn2, ['not-a-uuid'], 1, 0)), (e: Record<string, unknown>) => {
          assert.equal(e['call'], 'virDomainLookupByUUIDString');
          assert.notEqual(e['code'], 'ERR_LIBVIRT_NO_DOMAIN');
          return true;
        });
        assert.deepEqual(await offloadedCall('virt', virt, () => virt.domainListGetStats(conn2, [UNKNOWN], 1, 0)), []);
      } finally {
        virt.close(conn2);
      }
      // Several pending at once on one JS thread, each on its own call thread.
      const many = await Promise.all([1, 2, 3, 4].map(() => offloadedCall('virt', virt, () => virt.getLibVersion(conn))));
      assert.equal(new Set(many).size, 1);
      assert.equal(virt.nativeCallStats().asyncPending, 0);
      // A call that already returned cannot be abandoned; nothing happens.
      const id = Number(keys[0]!.split(':')[1]);
      let called = false;
      assert.equal(virt.abandonCall(id, () => (called = true)), false);
      assert.equal(called, false);
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

  void it('a worker with a call stuck in the frozen daemon parks it, answers other tasks, and keeps going after the timeout; the call lingers until the daemon answers', async (t) => {
    const h = harness({ workersCount: 1, maxWorkers: 3, spares: 0, growOnBacklog: false, prewarmMs: 0, opsModules: ['libvirt'] });
    const local = virt.open('test:///default');
    t.after(async () => {
      daemon.thaw();
      await h.close();
      virt.close(local);
    });
    h.ex.start();
    await h.until(() => h.ex.counts().idle === 1);
    const hostname = await h.ex.dispatch('libvirt.getHostname', { conn });
    daemon.freeze();
    const stuck = h.ex.dispatch('libvirt.getHostname', { conn }, { timeoutMs: 100 }).then(() => 'answered', (e: { code?: string }) => e.code);
    const stuckId = h.events.filter((e) => e.channel === 'dispatch').at(-1)!.msg['taskId'];
    const park = await h.next('park', (m) => m['event'] === 'park' && m['taskId'] === stuckId);
    const workerTid = h.ex.threads().find((r) => r.worker_id === park['workerId'] && r.parked_call === undefined)!.tid;
    // The call is inside libvirt on a call thread of the worker (callTid set: the call thread took it).
    await h.until(() => virt.nativeCalls().some((c) => c.tid === workerTid && c.what === 'virConnectGetHostname' && c.callTid > 0 && c.async));
    // The one worker answers other libvirt tasks (another connection) while its first call is stuck.
    assert.equal(await h.ex.dispatch('libvirt.getHostname', { conn: local }, { timeoutMs: 10_000 }), virt.getHostname(local));
    assert.equal(h.events.filter((e) => e.channel === 'done' && e.msg['ok'] === true).at(-1)!.msg['workerId'], park['workerId']);
    const parkedRow = h.ex.threads().find((r) => r.parked_call?.key === park['call']);
    assert.equal(parkedRow?.state, 'parked');
    assert.equal(threadName(parkedRow.tid), 'virt/call', 'a parked call is listed by its call thread');
    // Its timeout: the usual error, no discard, the worker kept; the call lingers on its virt/call thread.
    h.time.advance(100);
    assert.equal(await stuck, Errors.TASK_DISCARDED.code);
    const timeout = await h.next('timeout', (m) => m['taskId'] === park['taskId']);
    assert.equal(timeout['action'], 'abandon');
    assert.equal(h.events.some((e) => e.channel === 'discard'), false);
    assert.ok(threadName(workerTid) !== undefined, 'the worker thread is still there');
    const left = virt.nativeCalls().find((c) => `virt:${c.id}` === park['call']);
    assert.equal(left?.abandoned, true);
    assert.equal(threadName(left.callTid), 'virt/call', 'the call thread waits in libvirt');
    assert.deepEqual([h.ex.counts().lingeringCalls, h.ex.counts().parked], [1, 0]);
    assert.equal(await h.ex.dispatch('libvirt.getLibVersion', { conn: local }), virt.getLibVersion(local));
    // The daemon answers: the lingering call returns and frees its place; the connection serves again.
    daemon.thaw();
    await h.next('worker', (m) => m['event'] === 'released' && m['call'] === park['call']);
    assert.equal(h.ex.counts().lingering, 0);
    assert.equal(await h.ex.dispatch('libvirt.getHostname', { conn }), hostname);
    await assert.rejects(h.ex.dispatch('libvirt.lookupByUUID', { conn, uuid: UNKNOWN }), (e: Record<string, unknown>) => e['code'] !== undefined && /NO_DOMAIN|NO_VM/.test(String(e['code'])));
  });

  void it('max_workers bounds workers + parked calls + lingering calls in a frozen daemon', async (t) => {
    const h = harness({ workersCount: 1, maxWorkers: 3, spares: 0, growOnBacklog: false, prewarmMs: 0, opsModules: ['libvirt'] });
    t.after(async () => {
      daemon.thaw();
      await h.close();
    });
    let maxTotal = 0;
    const track = (): void => void (maxTotal = Math.max(maxTotal, h.ex.counts().total));
    h.ex.start();
    await h.until(() => h.ex.counts().idle === 1);
    daemon.freeze();
    // Four stuck calls, room for three threads: two park, the third stays on the worker (its park waits
    // for room), the fourth is queued.
    const calls = [0, 1, 2, 3].map(() => h.ex.dispatch('libvirt.getHostname', { conn }, { timeoutMs: 60_000 }).then(() => 'answered', (e: { code?: string }) => e.code));
    await h.until(() => (track(), h.ex.counts().parked === 2 && h.ex.state()['waiting_park'] === 1));
    track();
    assert.deepEqual([h.ex.counts().busy, h.ex.counts().queued, h.ex.counts().total], [1, 1, 3]);
    assert.equal(virt.nativeCalls().filter((c) => c.what === 'virConnectGetHostname' && c.async).length, 3);
    daemon.thaw();
    assert.deepEqual(await Promise.all(calls), ['answered', 'answered', 'answered', 'answered']);
    track();
    assert.ok(maxTotal <= 3, `total peaked at ${maxTotal}`);
    assert.equal(h.ex.counts().parked, 0);
  });

  void it('a worker that exits with a libvirt call pending is safe: the call lingers, counted, and returns into nothing', async (t) => {
    const h = harness({ workersCount: 1, maxWorkers: 3, spares: 0, growOnBacklog: false, prewarmMs: 0, opsModules: ['libvirt', 'test'] });
    t.after(async () => {
      daemon.thaw();
      await h.close();
    });
    h.ex.start();
    await h.until(() => h.ex.counts().idle === 1);
    daemon.freeze();
    const stuck = h.ex.dispatch('libvirt.getHostname', { conn }, { timeoutMs: 60_000 }).then(() => 'answered', (e: { code?: string }) => e.code);
    const stuckId = h.events.filter((e) => e.channel === 'dispatch').at(-1)!.msg['taskId'];
    const park = await h.next('park', (m) => m['event'] === 'park' && m['taskId'] === stuckId);
    await h.until(() => virt.nativeCalls().some((c) => `virt:${c.id}` === park['call'] && c.callTid > 0));
    // The worker dies while its call waits in libvirt (its JS environment is torn down).
    assert.equal(await h.ex.dispatch('test.crash', { mode: 'exit' }).catch((e: { code?: string }) => e.code), Errors.WORKER_CRASHED.code);
    assert.equal(await stuck, Errors.WORKER_CRASHED.code);
    await h.next('worker', (m) => m['event'] === 'exit' && m['workerId'] === park['workerId']);
    assert.equal(h.ex.counts().lingeringCalls, 1);
    // The daemon answers: the call returns with nobody to tell but the Executor; the process lives on.
    daemon.thaw();
    await h.next('worker', (m) => m['event'] === 'released' && m['workerId'] === park['workerId']);
    assert.equal(h.ex.counts().lingering, 0);
    assert.equal(typeof await h.ex.dispatch('libvirt.getHostname', { conn }), 'string');
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
