// A worker that registered event callbacks and then goes away (process.exit in the thread, an uncaught
// throw, terminate(), a Piscina pool destroyed) must not crash the process; events keep flowing to the
// subscriptions that remain.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { LifecycleEvent } from '../../src/libvirt/constants.js';
import type { BindingEvent } from '../../src/contracts/libvirt-types.js';
import { nodeFixture, type NodeFixture } from './helpers/node-fixture.js';
import { PiscinaDispatcher } from './helpers/piscina-dispatcher.js';

const virt = loadVirtBinding();

void describe('workers that registered libvirt callbacks and exit', () => {
  let fx: NodeFixture;
  let conn: number;
  const seen: BindingEvent[] = [];
  let sub: number;

  before(async () => {
    fx = await nodeFixture({ domains: 1 });
    conn = virt.open(fx.uri);
    sub = virt.domainEventsRegister(conn, [0], (e) => seen.push(e), { ref: true });
  });
  after(async () => {
    virt.domainEventsDeregister(sub);
    virt.close(conn);
    await fx.remove();
  });

  /** Suspend and resume, then wait for both events on the main thread's subscription. */
  async function cycle(): Promise<void> {
    const before = seen.length;
    const uuid = fx.domains[0]!.uuid;
    virt.suspend(conn, uuid);
    virt.resume(conn, uuid);
    while (seen.length < before + 2) await new Promise((r) => setImmediate(r));
    const last = seen.slice(-2).map((e) => (e.event === 'lifecycle' ? e.type : -1));
    assert.deepEqual(last, [LifecycleEvent.SUSPENDED, LifecycleEvent.RESUMED]);
  }

  for (const how of ['exit', 'throw', 'terminate'] as const) {
    void it(`survives a worker leaving by ${how}`, async () => {
      const worker = new Worker(new URL('./fixtures/event-worker.js', import.meta.url), { workerData: { conn } });
      worker.on('error', () => undefined);  // the 'throw' case reports its error here
      const [hello] = (await once(worker, 'message')) as [{ registered: number }];
      assert.equal(hello.registered, 1);
      await cycle();  // the worker's callbacks are live while it runs
      const exited = new Promise((resolve) => worker.once('exit', resolve));  // not once(): it rejects on 'error'
      if (how === 'terminate') await worker.terminate();
      else worker.postMessage(how);
      await exited;
      await cycle();
      await cycle();
      assert.equal(virt.connectionInfo(conn).alive, true);
    });
  }

  void it('survives a worker terminated while inside a libvirt call that then fails', async () => {
    const worker = new Worker(new URL('./fixtures/event-worker.js', import.meta.url), { workerData: { conn } });
    await once(worker, 'message');
    worker.postMessage('hold-and-fail');
    await once(worker, 'message');  // 'holding': the thread is about to enter the native call
    while (virt.connectionInfo(conn).inFlight < 2) await new Promise((r) => setImmediate(r));
    await worker.terminate();  // returns once the call has come back and thrown into a dying env
    await cycle();
    assert.equal(virt.connectionInfo(conn).inFlight, 1, 'only this connectionInfo call holds the connection');
  });

  void it('survives a Piscina pool destroyed with subscriptions registered in its workers', async () => {
    const pool = new PiscinaDispatcher(2);
    const ids = await Promise.all([pool.dispatch<number>('test.subscribeHere', { conn }), pool.dispatch<number>('test.subscribeHere', { conn })]);
    assert.ok(ids.every((id) => id > 0));
    await cycle();
    await pool.close();
    await cycle();
  });
});
