// VM bulk sampling (vdsm's VMBulkstatsMonitor): one getAllDomainStats while nothing is stuck; while a
// call is still in flight, or some VMs recently did not answer, only the responsive VMs are asked,
// and a VM that did not answer is skipped for 40 s. The first tests put a stand-in at the Executor
// boundary to hold a call in flight at will; the last runs the real worker operation on the test driver.
import { LibvirtClient } from '../../src/libvirt/client.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { UNRESPONSIVE_TTL_MS, VmSampling } from '../../src/services/vm-sampling.js';
import { fixtureDomains, writeNodeXml } from '../../src/libvirt/fixture.js';
import { Executor } from '../../src/runtime/executor/executor.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { StatsCache } from '../../src/virt/stats-cache.js';
import type { BulkStatsArgs, BulkStatsResult } from '../../src/contracts/sampling-ops.js';
import { BulkStatsView, encodeBulkStats } from '../../src/contracts/bulk-stats-codec.js';

const log = pino({ level: 'silent' });

interface Call { args: BulkStatsArgs; resolve: (r: BulkStatsResult) => void }

function harness(vmIds: string[], logger = log) {
  let now = 1_000_000;
  const clock = { now: () => now };
  const calls: Call[] = [];
  const cache = new StatsCache(clock);
  const dispatcher = {
    dispatch: <T>(_op: string, args?: unknown): Promise<T> => new Promise<T>((resolve) => {
      calls.push({ args: args as BulkStatsArgs, resolve: resolve as (r: BulkStatsResult) => void });
    }),
  };
  const sampling = new VmSampling({
    libvirt: new LibvirtClient({ dispatcher, connections: new ConnectionsStub(7) }),
    scheduler: new Scheduler({ log }),
    clock,
    statsCache: cache,
    log: logger,
    vmIds: () => vmIds,
    periodMs: 15_000,
    nowait: true,
  });
  const advance = (ms: number): void => { now += ms; };
  return { sampling, calls, cache, advance };
}

const rec = (n: number): Record<string, unknown> => ({ 'state.state': 1, 'cpu.time': n });
/** Records as the worker sends them: one encoded buffer. */
const bytes = (records: Record<string, Record<string, unknown>>): ArrayBuffer => encodeBulkStats(Object.entries(records).map(([uuid, stats]) => ({ uuid, stats })));

void test('fast path: every domain in one call, NOWAIT and ACTIVE flags, results land in the cache', async () => {
  const h = harness(['a', 'b']);
  const done = h.sampling.sampleNow();
  assert.equal(h.calls.length, 1);
  assert.equal(h.calls[0]!.args.uuids, undefined, 'no uuid list: getAllDomainStats');
  assert.equal(h.calls[0]!.args.conn, 7);
  assert.ok((h.calls[0]!.args.flags & (1 << 29)) !== 0, 'NOWAIT');
  assert.ok((h.calls[0]!.args.flags & 1) !== 0, 'ACTIVE');
  h.calls[0]!.resolve({ records: bytes({ a: rec(1), b: rec(2) }), unresponsive: [] });
  await done;
  h.advance(15_000);
  const second = h.sampling.sampleNow();
  h.calls[1]!.resolve({ records: bytes({ a: rec(3), b: rec(4) }), unresponsive: [] });
  await second;
  assert.deepEqual(h.cache.get('a').last, rec(3));
  assert.equal(h.cache.get('a').interval, 15);
});

void test('slow path while a call is stuck; VMs that did not answer are skipped for 40 s; a late stale result is dropped', async () => {
  const h = harness(['a', 'b', 'c']);
  const stuck = h.sampling.sampleNow(); // never answers until the end
  h.advance(15_000);
  const slow = h.sampling.sampleNow();
  assert.deepEqual(h.calls[1]!.args.uuids, ['a', 'b', 'c'], 'a call is in flight: ask per VM');
  h.calls[1]!.resolve({ records: bytes({ a: rec(10), c: rec(30) }), unresponsive: ['b'] });
  await slow;

  h.advance(15_000);
  const next = h.sampling.sampleNow();
  assert.deepEqual(h.calls[2]!.args.uuids, ['a', 'c'], 'b did not answer: skipped');
  h.calls[2]!.resolve({ records: bytes({ a: rec(11), c: rec(31) }), unresponsive: [] });
  await next;
  assert.deepEqual(h.cache.get('a').last, rec(11));

  // The stuck call returns now, with data sampled before the two newer samples: dropped as stale.
  h.calls[0]!.resolve({ records: bytes({ a: rec(0), b: rec(0), c: rec(0) }), unresponsive: [] });
  await stuck;
  assert.deepEqual(h.cache.get('a').last, rec(11), 'the late result did not overwrite newer stats');

  h.advance(UNRESPONSIVE_TTL_MS);
  const later = h.sampling.sampleNow();
  assert.equal(h.calls[3]!.args.uuids, undefined, 'nothing in flight and the skip expired: fast path again');
  h.calls[3]!.resolve({ records: bytes({}), unresponsive: [] });
  await later;
});

void test('the sampling.bulkStats worker operation on the test driver: fast path, and per-VM control check', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-sampling-'));
  const fixture = { domains: 3, paused: 1, shutoff: 1 };
  const uri = await writeNodeXml(dir, fixture);
  const scheduler = new Scheduler({ log });
  scheduler.start();
  const ex = new Executor({ name: 'sampling-test', workersCount: 1, maxWorkers: 2, maxTasks: 8, scheduler, log, spares: 0 });
  ex.start();
  try {
    const conn = await ex.dispatch('libvirt.open', { uri });
    const [running, paused, shutoff] = fixtureDomains(fixture);
    const fastResult = await ex.dispatch('sampling.bulkStats', { conn, stats: 1, flags: 1 });
    assert.ok(fastResult.records instanceof ArrayBuffer, 'the records arrive as one buffer');
    const fast = new BulkStatsView(fastResult.records);
    assert.deepEqual([...fast.ids()].sort(), [running!.uuid, paused!.uuid].sort(), 'ACTIVE: running and paused, not shut off');
    // Decoded, the same records as the plain (cloned) libvirt call gives.
    const plain = await ex.dispatch('libvirt.getAllDomainStats', { conn, stats: 1, flags: 1 });
    assert.deepEqual(fast.toObject(), Object.fromEntries(plain.map((r) => [r.uuid, r.stats])));
    const slowResult = await ex.dispatch('sampling.bulkStats', { conn, stats: 1, flags: 1, uuids: [running!.uuid, '11111111-2222-4333-8444-555555555555'] });
    const slow = new BulkStatsView(slowResult.records);
    assert.deepEqual([...slow.ids()], [running!.uuid]);
    assert.deepEqual(slowResult.unresponsive, ['11111111-2222-4333-8444-555555555555'], 'an unknown domain cannot answer');
    assert.ok(!fast.has(shutoff!.uuid));
    await ex.dispatch('libvirt.close', { conn });
  } finally {
    await ex.stop({ graceMs: 1000 });
    scheduler.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

void test('a sample buffer that does not decode is refused with a clear error: the previous sample stays, sampling goes on', async () => {
  const lines: Record<string, unknown>[] = [];
  const h = harness(['a'], pino({ level: 'error' }, { write: (l: string) => { lines.push(JSON.parse(l) as Record<string, unknown>); } }));
  const first = h.sampling.sampleNow();
  h.calls[0]!.resolve({ records: bytes({ a: rec(1) }), unresponsive: [] });
  await first;
  const good = bytes({ a: rec(2) });
  const bad: [string, ArrayBuffer, RegExp][] = [
    ['truncated', good.slice(0, good.byteLength - 3), /truncated or corrupt/],
    ['not a sample', new TextEncoder().encode('{"a":{"cpu.time":2}}'.padEnd(48)).buffer, /bad magic/],
    ['too short', new ArrayBuffer(4), /shorter than its 40-byte header/],
  ];
  for (const [what, buf, message] of bad) {
    h.advance(15_000);
    const round = h.sampling.sampleNow();
    h.calls.at(-1)!.resolve({ records: buf, unresponsive: [] });
    await round;
    assert.equal(h.cache.describe().samples, 1, `${what}: nothing of it stored`);
    const line = lines.at(-1)!;
    assert.match(String(line['msg']), /VM bulk stats sample refused/, what);
    assert.match(String((line['err'] as { message: string }).message), message, what);
    assert.equal((line['err'] as { code: string }).code, 'ERR_BULK_STATS_FORMAT');
  }
  assert.equal((h.sampling.state()['runs'] as { badSamples: number }).badSamples, 3);
  h.advance(15_000);
  const next = h.sampling.sampleNow();
  h.calls.at(-1)!.resolve({ records: good, unresponsive: [] });
  await next;
  assert.deepEqual(h.cache.get('a').last, rec(2), 'the next good sample lands');
  assert.deepEqual(h.cache.get('a').first, rec(1), 'the refused ones were never stored');
});
