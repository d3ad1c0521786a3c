// A worker blocked inside a native libvirt call (holding a connection) does not stall the main thread's
// event loop, and other workers keep serving calls on the same connection meanwhile. The bound on loop
// delay is deliberately generous (2 cores, suites in parallel): it catches a blocked main thread
// (which would show the full 1.5 s), not scheduling noise.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { StatsGroup } from '../../src/libvirt/constants.js';
import type { DomainStatsRecord } from '../../src/contracts/libvirt-types.js';
import { nodeFixture, type NodeFixture } from './helpers/node-fixture.js';
import { PiscinaDispatcher } from './helpers/piscina-dispatcher.js';

const virt = loadVirtBinding();
const HOLD_MS = 1500;

void describe('a worker blocked in libvirt', () => {
  let fx: NodeFixture;
  let pool: PiscinaDispatcher;
  let conn: number;

  before(async () => {
    fx = await nodeFixture({ domains: 50 });
    pool = new PiscinaDispatcher(2);
    conn = virt.open(fx.uri);
  });
  after(async () => {
    await pool.close();
    virt.close(conn);
    await fx.remove();
  });

  void it('leaves the main event loop responsive and the other worker serving', async () => {
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const order: string[] = [];
    try {
      const blocked = pool.dispatch('libvirt.holdConnection', { conn, ms: HOLD_MS }).then(() => order.push('hold'));
      const served: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) {
        served.push(pool.dispatch<DomainStatsRecord[]>('libvirt.getAllDomainStats', { conn, stats: StatsGroup.STATE }).then((r) => assert.equal(r.length, 50)));
      }
      await Promise.all(served).then(() => order.push('stats'));
      await blocked;
    } finally {
      clearInterval(ticker);
      histogram.disable();
    }
    assert.deepEqual(order, ['stats', 'hold'], 'stats calls finished while the other worker was still blocked');
    const p99Ms = histogram.percentile(99) / 1e6;
    const maxMs = histogram.max / 1e6;
    assert.ok(p99Ms < 250, `main loop delay p99 ${p99Ms.toFixed(1)} ms (max ${maxMs.toFixed(1)} ms)`);
    assert.ok(maxMs < HOLD_MS / 2, `main loop max delay ${maxMs.toFixed(1)} ms stays far below the ${HOLD_MS} ms block`);
    assert.ok(ticks > 10, `interval ticked ${ticks} times during the block`);
  });
});
