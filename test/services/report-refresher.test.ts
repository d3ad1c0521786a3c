// The background rebuild of VM reports (issue 17): it runs in slices that yield to the event loop, so a
// ping2 on another connection is answered while 1,000 VM reports are being rebuilt; it does not run while
// a read holds it; a change during a walk restarts it; close() stops it. Conditions, not time: the walk's
// progress is read when the ping's answer arrives, and gated yields step it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StompRpcClient } from '../../src/rpc/stomp-client.js';
import { ReportRefresher } from '../../src/services/report-refresher.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { StatsCache, type BulkSample } from '../../src/virt/stats-cache.js';
import type { VmReportInput } from '../../src/virt/vm-report.js';
import { VmReportCache } from '../../src/virt/vm-report-cache.js';
import { VmStateMachine } from '../../src/virt/vm-state.js';
import { ManualTime } from '../support/manual-time.js';
import { domainXml } from '../virt/domain-fixtures.js';
import { startServer } from '../rpc/server-fixture.js';

const uuid = (i: number): string => `6e1b0a46-2f5b-4d2b-9c37-${String(i).padStart(12, '0')}`;

/** n VMs with reports built from two samples; sample() puts a new one (every report changes). */
function fleet(n: number): { time: ManualTime; cache: VmReportCache; owners: { vm: VmStateMachine }[]; input: (o: { vm: VmStateMachine }) => VmReportInput; sample: (cpu: number) => void } {
  const time = new ManualTime(100_000);
  const stats = new StatsCache(time);
  const domain = parseDomainXml(domainXml());
  const owners = Array.from({ length: n }, (_, i) => {
    const vm = new VmStateMachine(uuid(i), { clock: time, timers: time });
    vm.launched();
    vm.guestUp();
    return { vm };
  });
  const sample = (cpu: number): void => {
    time.advance(15_000);
    const s: BulkSample = {};
    owners.forEach((o, i) => (s[o.vm.vmId] = { 'cpu.time': cpu * 1e9 + i, 'cpu.user': 1e8, 'cpu.system': 1e8, 'balloon.current': 4194304, 'net.count': 1, 'net.0.name': 'vnet0', 'net.0.rx.bytes': cpu * 1000 + i }));
    stats.put(s, stats.clock());
  };
  sample(1);
  sample(2);
  const input = (o: { vm: VmStateMachine }): VmReportInput => ({ state: o.vm.describe(), domain, sample: stats.get(o.vm.vmId), clock: time, log: { warn: () => undefined, error: () => undefined } });
  return { time, cache: new VmReportCache(), owners, input, sample };
}

void test('ping2 on another connection is answered while a background rebuild of 1,000 VM reports runs', async () => {
  const f = fleet(1_000);
  const refresher = new ReportRefresher({ items: () => f.owners, refresh: (o) => f.cache.refresh(o, f.input(o)), clock: f.time });
  refresher.schedule();
  await refresher.idle();
  assert.equal(f.cache.describe().builds, 1_000);

  const fx = await startServer();
  const client = new StompRpcClient({ host: '127.0.0.1', port: fx.port });
  try {
    await client.connect();
    f.sample(3);
    refresher.schedule();
    // The walk has started rebuilding before the ping is sent.
    while (refresher.describe().position === 0) await new Promise((r) => setImmediate(r));
    const atAnswer = await client.call('Host.ping2').then(() => refresher.describe());
    assert.equal(atAnswer.running, true, 'the rebuild was still running when ping2 was answered');
    assert.ok(atAnswer.position < atAnswer.total, `ping2 answered at VM ${atAnswer.position} of ${atAnswer.total}`);
    await refresher.idle();
    assert.equal(f.cache.describe().builds, 2_000, 'every report was rebuilt for the new sample');
    for (const o of f.owners) assert.ok(f.cache.isCurrent(o, f.input(o)));
  } finally {
    refresher.close();
    client.close();
    await fx.close();
  }
});

/** Yields that wait for the test. */
function gate(): { yieldToLoop: () => Promise<void>; open: () => void; waiting: () => number } {
  const waiting: (() => void)[] = [];
  return {
    yieldToLoop: () => new Promise((resolve) => waiting.push(resolve)),
    open: () => waiting.shift()?.(),
    waiting: () => waiting.length,
  };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

void test('a held walk runs no slice until the read releases it; a change mid-walk makes it go once around again; close() stops it', async () => {
  const done: number[] = [];
  const g = gate();
  let tick = 0;
  const time = new ManualTime(0);
  const items = Array.from({ length: 10 }, (_, i) => i);
  const r = new ReportRefresher({ items: () => items, refresh: (i) => done.push(i), clock: time, yieldToLoop: g.yieldToLoop, now: () => tick++, sliceMs: 3 });
  r.schedule();
  assert.deepEqual(done, [], 'schedule() does no work in its caller\'s turn');
  const release = r.hold();
  g.open();
  await turn();
  assert.deepEqual(done, [], 'held: no slice');
  assert.equal(r.describe().holds, 1);
  release();
  release(); // idempotent
  await turn();
  assert.deepEqual(done, [], 'released: the walk looks again only after a turn of the loop');
  assert.equal(g.waiting(), 1);
  g.open();
  await turn();
  assert.deepEqual(done, [0, 1, 2], 'released: one slice (3 clock readings)');
  r.schedule(); // a change mid-walk
  g.open();
  await turn();
  assert.equal(r.describe().walks, 2);
  while (g.waiting() > 0 && r.describe().running) {
    g.open();
    await turn();
  }
  assert.deepEqual(done.slice(3), [...items.slice(3), ...items.slice(0, 3)], 'after the change the walk went once around every item from where it was');
  assert.equal(r.describe().running, false);

  r.schedule();
  r.close();
  g.open();
  await r.idle();
  assert.deepEqual(done.slice(13), [], 'closed: the walk stopped before its slice');
  r.schedule();
  assert.equal(r.describe().running, false, 'closed: no new walk');
});

void test('a read starts a walk only when none started within revalidateMs', async () => {
  const time = new ManualTime(0);
  let walked = 0;
  const r = new ReportRefresher({ items: () => [1], refresh: () => walked++, clock: time, revalidateMs: 1_000 });
  r.afterRead();
  await r.idle();
  assert.equal(walked, 1, 'the first read walks');
  time.advance(999);
  r.afterRead();
  await r.idle();
  assert.equal(walked, 1);
  time.advance(1);
  r.afterRead();
  await r.idle();
  assert.equal(walked, 2);
});

void test('while the server has unsent output the walk waits, but never longer than maxDeferMs after its last slice', async () => {
  let tick = 0;
  let pauses = 0;
  const at: number[] = [];
  const r = new ReportRefresher({
    items: () => [0, 1, 2, 3],
    // Each refresh takes 1 ms of the slice clock: one item per 1 ms slice.
    refresh: () => {
      at.push(tick);
      tick += 1;
    },
    clock: new ManualTime(0),
    now: () => tick,
    sliceMs: 1,
    // Output stays unsent until two items were refreshed (a client that does not read, then reads).
    busy: () => at.length < 2,
    maxDeferMs: 10,
    // Each pause is 2 ms of the slice clock.
    pause: () => {
      pauses++;
      tick += 2;
      return Promise.resolve();
    },
  });
  r.schedule();
  await r.idle();
  // Busy: each slice runs only once 10 ms passed since the previous one (walk start at 0; then 11).
  assert.deepEqual(at, [10, 21, 22, 23]);
  assert.equal(pauses, 10, 'no pause once the output is sent');
});

void test('a read\'s release is not followed by a slice before its reply is queued (the reply is queued some promise steps later)', async () => {
  // What rpc-server does after VmManager.reportsJson: the read releases the walk in a finally(), then the
  // reply goes through a few promise steps (the JSON-RPC layer, framing) before it is handed to the
  // connection, where busy() (RpcServer.outputQueued) sees it. Real setImmediate turns; the slice clock
  // and the pause are the test's.
  let queued = false;
  let sent = false;
  const firstRefresh: { queued: boolean; sent: boolean }[] = [];
  let tick = 0;
  const r = new ReportRefresher({
    items: () => [0, 1, 2],
    refresh: () => {
      if (firstRefresh.length === 0) firstRefresh.push({ queued, sent });
      tick++;
    },
    clock: new ManualTime(0),
    now: () => tick,
    sliceMs: 10,
    busy: () => queued && !sent,
    // The first pause is the reply leaving.
    pause: () => {
      sent = true;
      return Promise.resolve();
    },
  });
  r.schedule();
  const release = r.hold();
  await turn();
  await turn();
  assert.equal(r.describe().holds, 1);
  assert.equal(r.describe().position, 0, 'held: nothing refreshed');
  // The read completes: release, then the reply is queued five promise steps later.
  void Promise.resolve().finally(release).then(() => undefined).then(() => undefined).then(() => undefined).then(() => {
    queued = true;
  });
  await r.idle();
  assert.deepEqual(firstRefresh, [{ queued: true, sent: true }], 'the first slice after the read ran once its reply was queued and sent');
});

void test('changes coming faster than a walk takes do not keep the last items from being refreshed', async () => {
  const done: number[] = [];
  const g = gate();
  let tick = 0;
  const items = Array.from({ length: 10 }, (_, i) => i);
  // 3 items per slice (each refresh reads the slice clock once more); a change after every slice.
  const r = new ReportRefresher({ items: () => items, refresh: (i) => done.push(i), clock: new ManualTime(0), yieldToLoop: g.yieldToLoop, now: () => tick++, sliceMs: 3 });
  r.schedule();
  let slices = 0;
  while (!items.every((i) => done.includes(i))) {
    assert.ok(slices < 8, `every item refreshed within a walk's length of slices (after ${slices}: ${done.join(',')})`);
    g.open();
    await turn();
    slices++;
    r.schedule();
  }
  assert.equal(slices, 4, 'ten items at three per slice');
  while (r.describe().running) {
    g.open();
    await turn();
  }
  r.close();
});

void test('after(): once a walk went round, its steps run in the walk\'s slices, held by reads; a change mid-phase drops it (its finally runs) and the walk goes again before a new phase', async () => {
  const done: number[] = [];
  const steps: string[] = [];
  const g = gate();
  let tick = 0;
  const time = new ManualTime(0);
  const items = [0, 1, 2, 3];
  let phases = 0;
  function* phase(n: number): Generator<void, void, void> {
    try {
      for (let i = 0; i < 5; i++) {
        steps.push(`${n}:${i}`);
        yield;
      }
      steps.push(`${n}:end`);
    } finally {
      steps.push(`${n}:finally`);
    }
  }
  const r = new ReportRefresher({ items: () => items, refresh: (i) => done.push(i), clock: time, yieldToLoop: g.yieldToLoop, now: () => tick++, sliceMs: 3, after: () => phase(++phases) });
  const step = async (): Promise<void> => {
    g.open();
    await turn();
  };
  r.schedule();
  await step();
  await step();
  assert.deepEqual(done, [0, 1, 2, 3], 'the walk, in two slices');
  assert.equal(steps.length, 0, 'no step in the walk\'s slices');
  await step();
  assert.deepEqual(steps, ['1:0', '1:1', '1:2'], 'the phase began in the next slice, as long as a slice');
  const release = r.hold();
  await step();
  assert.deepEqual(steps.length, 3, 'held by a read');
  release();
  await turn();
  await step();
  assert.deepEqual(steps.slice(3), ['1:3', '1:4', '1:end', '1:finally'], 'then on to its end');
  await r.idle();
  assert.equal(r.describe().running, false, 'walk and phase over');

  // A change during the phase: it is dropped, the walk goes round again, then a new phase runs whole.
  r.schedule();
  await step();
  await step();
  await step();
  assert.deepEqual(steps.slice(7), ['2:0', '2:1', '2:2']);
  r.schedule();
  await step();
  assert.deepEqual(steps.slice(10), ['2:finally'], 'dropped, its finally ran');
  while (r.describe().running) await step();
  assert.deepEqual(done.slice(4), [0, 1, 2, 3, 0, 1, 2, 3], 'the second walk went round again after the change');
  assert.deepEqual(steps.slice(11), ['3:0', '3:1', '3:2', '3:3', '3:4', '3:end', '3:finally']);
  assert.equal(phases, 3);

  // close() mid-phase lets the phase clean up too.
  r.schedule();
  while (!steps.includes('4:0')) await step();
  r.close();
  g.open();
  await r.idle();
  assert.ok(steps.includes('4:finally') && !steps.includes('4:end'), 'closed mid-phase: dropped, finally ran');
});
