// Domain events reach the main thread: directly from the binding (TSFN into the main environment) and
// through the ConnectionManager's control thread, for calls made in Executor-style workers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isMainThread } from 'node:worker_threads';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { ConnectionManager } from '../../src/libvirt/connection-manager.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { EventId, LifecycleEvent, MetadataType, VDSM_EVENT_IDS } from '../../src/libvirt/constants.js';
import { fixtureUuid, generateDomainXml } from '../../src/libvirt/fixture.js';
import type { BindingEvent, DomainEvent } from '../../src/contracts/libvirt-types.js';
import { nextMatching, nodeFixture, type NodeFixture } from './helpers/node-fixture.js';
import { PiscinaDispatcher } from './helpers/piscina-dispatcher.js';

const virt = loadVirtBinding();

void describe('libvirt domain events on the main thread', () => {
  let fx: NodeFixture;
  let dispatcher: PiscinaDispatcher;

  before(async () => {
    fx = await nodeFixture({ domains: 2 });
    dispatcher = new PiscinaDispatcher(2);
  });
  after(async () => {
    await dispatcher.close();
    await fx.remove();
  });

  void it('binding subscription: a suspend/resume made in a worker arrives on the main thread, in order', async () => {
    const conn = virt.open(fx.uri);
    const seen: { e: BindingEvent; main: boolean }[] = [];
    let wake: () => void = () => undefined;
    const sub = virt.domainEventsRegister(conn, VDSM_EVENT_IDS, (e) => {
      seen.push({ e, main: isMainThread });
      if (seen.length >= 2) wake();
    }, { ref: true });  // ref: keeps the loop alive while the test awaits the events
    try {
      const done = new Promise<void>((resolve) => { wake = resolve; });
      const uuid = fx.domains[0]!.uuid;
      await dispatcher.dispatch('libvirt.suspend', { conn, uuid });
      await dispatcher.dispatch('libvirt.resume', { conn, uuid });
      await done;
      assert.ok(seen.every((s) => s.main));
      assert.deepEqual(seen.map((s) => s.e.event === 'lifecycle' ? [s.e.domain.uuid, s.e.type] : null),
        [[uuid, LifecycleEvent.SUSPENDED], [uuid, LifecycleEvent.RESUMED]]);
    } finally {
      assert.equal(virt.domainEventsDeregister(sub), true);
      assert.equal(virt.domainEventsDeregister(sub), false);
      virt.close(conn);
    }
  });

  void it('ConnectionManager: lifecycle and metadata events from worker calls reach onEvent subscribers', async () => {
    const manager = new ConnectionManager({ uri: fx.uri });
    await manager.start();
    const client = new LibvirtClient({ dispatcher, connections: manager });
    const subscribe = (cb: (e: DomainEvent) => void): (() => void) => manager.onEvent(cb);
    try {
      const uuid = fixtureUuid(7, 0xabc);
      const started = nextMatching(subscribe, (e) => e.event === 'lifecycle' && e.domain.uuid === uuid && e.type === LifecycleEvent.STARTED);
      await client.call('libvirt.createXML', { xml: generateDomainXml({ name: 'evt-7', uuid }) });
      const s = await started;
      assert.equal(s.eventId, EventId.LIFECYCLE);
      assert.equal(s.conn, manager.conn());

      const md = nextMatching(subscribe, (e) => e.event === 'metadata-change');
      await client.call('libvirt.setMetadata', { uuid, type: MetadataType.ELEMENT, metadata: '<vm/>', key: 'ovirt-vm', uri: 'http://ovirt.org/vm/1.0' });
      const m = await md;
      assert.equal(m.event === 'metadata-change' && m.nsuri, 'http://ovirt.org/vm/1.0');

      const stopped = nextMatching(subscribe, (e) => e.event === 'lifecycle' && e.type === LifecycleEvent.STOPPED);
      await client.call('libvirt.destroy', { uuid });
      const st = await stopped;
      assert.equal(st.event === 'lifecycle' && st.detail, 1, 'STOPPED/DESTROYED');
      assert.ok(manager.health().eventsReceived >= 3);
    } finally {
      await manager.close();
      await manager.close();
      assert.equal(manager.state, 'closed');
    }
  });
});
