// Several worker threads share one connection from the process-wide table: an id opened in one worker
// is valid in the others and on the main thread, concurrent calls all succeed, and close() while calls
// are in flight does not free the connection under them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { DomainState, StatsGroup } from '../../src/libvirt/constants.js';
import type { DomainStatsRecord } from '../../src/contracts/libvirt-types.js';
import { nodeFixture, type NodeFixture } from './helpers/node-fixture.js';
import { PiscinaDispatcher } from './helpers/piscina-dispatcher.js';

const virt = loadVirtBinding();

void describe('several workers sharing one libvirt connection', () => {
  let fx: NodeFixture;
  let pool: PiscinaDispatcher;

  before(async () => {
    fx = await nodeFixture({ domains: 20 });
    pool = new PiscinaDispatcher(3);
  });
  after(async () => {
    await pool.close();
    await fx.remove();
  });

  void it('a connection opened in a worker serves concurrent calls from three threads and the main thread', async () => {
    const conn = await pool.dispatch<number>('libvirt.open', { uri: fx.uri });
    try {
      assert.ok(virt.connections().some((c) => c.id === conn), 'the main thread sees the same table');
      // Three calls that each hold the connection inside a native call must run on three threads.
      const holds = await Promise.all([0, 1, 2].map(() => pool.dispatch<{ tid: number; domains: number }>('test.holdAndReport', { conn, ms: 150 })));
      assert.equal(new Set(holds.map((h) => h.tid)).size, 3);
      assert.ok(holds.every((h) => h.domains === 20));
      assert.ok(!holds.some((h) => h.tid === virt.threadId()), 'none ran on the main thread');

      // Mixed concurrent traffic: each domain suspended and resumed by whichever worker gets the task.
      const work: Promise<unknown>[] = [];
      for (const d of fx.domains) {
        work.push(pool.dispatch('libvirt.suspend', { conn, uuid: d.uuid }).then(() => pool.dispatch('libvirt.resume', { conn, uuid: d.uuid })));
        work.push(pool.dispatch('libvirt.getAllDomainStats', { conn, stats: StatsGroup.STATE }));
      }
      await Promise.all(work);
      const states = await pool.dispatch<DomainStatsRecord[]>('libvirt.getAllDomainStats', { conn, stats: StatsGroup.STATE });
      assert.ok(states.every((r) => r.stats['state.state'] === DomainState.RUNNING));
    } finally {
      await pool.dispatch('libvirt.close', { conn });
    }
    await assert.rejects(pool.dispatch('libvirt.state', { conn, uuid: fx.domains[0]!.uuid }), { code: 'ERR_LIBVIRT_NO_CONNECTION' });
  });

  void it('close() from the main thread while a worker is inside a call leaves that call intact', async () => {
    const conn = virt.open(fx.uri);
    const held = pool.dispatch('libvirt.holdConnection', { conn, ms: 300 });
    // Wait until the worker's call holds its reference (connectionInfo's own call counts as one).
    while (virt.connectionInfo(conn).inFlight < 2) await new Promise((r) => setImmediate(r));
    assert.equal(virt.close(conn), true);
    assert.equal(virt.connections().some((c) => c.id === conn), false);
    assert.equal(await held, null, 'the call kept its own reference and finished');
    await assert.rejects(pool.dispatch('libvirt.getHostname', { conn }), { code: 'ERR_LIBVIRT_NO_CONNECTION' });
  });
});
