// Host.getStats served from a report serialised once per host sample (issue 17): the text is the
// report built at that moment (dateTime and elapsedTime taken per read), and a new host sample or a
// change of the VM counts shows at once. The executor is a stand-in answering `host.sample` with canned
// raw samples; everything after it (window, rates, stringification, template) is the real code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { HostService } from '../../src/services/host-service.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { supervdsmOf } from '../../src/supervdsm/privileged.js';
import { rawSample } from '../host/raw-samples.js';
import { ManualTime } from '../support/manual-time.js';
import type { VmCounts } from '../../src/virt/vm-container.js';
import { RawJsonBytes } from '../../src/runtime/raw-json-bytes.js';

void test('Host.getStats text: equal to the report built now, elapsedTime moves per read, a new sample and new VM counts show', async () => {
  const log = pino({ level: 'silent' });
  const time = new ManualTime(1_000_000);
  const scheduler = new Scheduler({ clock: time, timers: time, log });
  scheduler.start();
  let busy = 1;
  let step = 0;
  const delivered: Array<() => void> = [];
  const counts: VmCounts = { vmCount: 0, vmActive: 0, vmMigrating: 0, incomingVmMigrations: 0, outgoingVmMigrations: 0 };
  const executor = {
    dispatch: <T>(op: string): Promise<T> => {
      assert.equal(op, 'host.sample');
      step += 3000; // a different CPU rate in every sample pair
      busy += step;
      const sample = rawSample({ timestampMs: time.now(), cores: { 0: [busy, 0, 2, 100_000] } });
      return Promise.resolve(sample as T).finally(() => setImmediate(() => delivered.shift()?.()));
    },
  };
  const host = new HostService({
    executor,
    libvirt: new LibvirtClient({ dispatcher: executor, connections: new ConnectionsStub(1) }),
    scheduler, clock: time, log, vmCounts: () => ({ ...counts }),
    sampleIntervalMs: 15_000, runDir: '/run/vdsm', capabilities: {}, callTimeoutMs: 1000, supervdsm: supervdsmOf(undefined),
  });
  const sampled = (): Promise<void> => new Promise((resolve) => delivered.push(resolve));
  const parse = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;
  const withoutDate = (o: Record<string, unknown>): Record<string, unknown> => {
    assert.match(String(o['dateTime']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d GMT$/);
    const { dateTime: _d, ...rest } = o;
    return rest;
  };
  // Every text served keeps its UTF-8 bytes (copied into the reply frame): the bytes of that very text.
  const served = (): RawJsonBytes => {
    const j = host.statsJson();
    assert.ok(j instanceof RawJsonBytes);
    assert.ok(j.bytes.equals(Buffer.from(j.text, 'utf8')));
    return j;
  };
  try {
    let next = sampled();
    host.start();
    time.advance(15_000);
    await next;
    next = sampled();
    time.advance(15_000);
    await next;
    const a = parse(served().text);
    assert.deepEqual(withoutDate(a), withoutDate(JSON.parse(JSON.stringify(host.stats())) as Record<string, unknown>));
    time.advance(5_000); // no new sample: the serialised text is reused, elapsedTime still moves
    const b = parse(served().text);
    assert.equal(Number(b['elapsedTime']) - Number(a['elapsedTime']), 5);
    assert.deepEqual(b['cpuStatistics'], a['cpuStatistics']);
    // Byte for byte the text a fresh build and stringify gives (dateTime aside: the wall clock's second).
    const dateless = (text: string): string => text.replace(/"dateTime":"[^"]*"/, '"dateTime":""');
    assert.equal(dateless(served().text), dateless(JSON.stringify(host.stats())));
    // Reads within the same 10 ms get the same text (filled once); the next 10 ms moves elapsedTime.
    const again = served();
    assert.equal(served(), again);
    const centis = (j: { text: string }): number => Math.round(Number(parse(j.text)['elapsedTime']) * 100);
    time.advance(3); // still rounds to the same elapsedTime
    assert.equal(served(), again);
    time.advance(3); // now rounds up
    const later = served();
    assert.notEqual(later, again);
    assert.equal(centis(later) - centis(again), 1);
    assert.equal(dateless(later.text), dateless(JSON.stringify(host.stats())));
    time.advance(10);
    assert.equal(centis(served()) - centis(later), 1);
    assert.equal(dateless(served().text), dateless(JSON.stringify(host.stats())));
    counts.vmCount = 2;
    counts.vmActive = 2;
    const c = parse(served().text);
    assert.equal(c['vmCount'], 2);
    assert.equal(c['vmActive'], 2);
    next = sampled();
    time.advance(10_000);
    await next;
    const dText = served().text;
    assert.equal(dateless(dText), dateless(JSON.stringify(host.stats())));
    const d = parse(dText);
    assert.notDeepEqual(d['cpuStatistics'], a['cpuStatistics']);
    assert.deepEqual(withoutDate(d), withoutDate(JSON.parse(JSON.stringify(host.stats())) as Record<string, unknown>));
  } finally {
    host.close();
    scheduler.stop();
  }
});
