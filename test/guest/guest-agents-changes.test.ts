// GuestAgents.stats() answers repeated reads (getAllVmStats asks for every VM on every read) from its last
// merged view while neither agent side changed (their change counts) and nothing aged: here every kind of
// change and every kind of ageing must show at the next read, exactly as a GuestAgents without any memory
// of earlier reads merges it (a fresh instance over the same sources), and an unchanged read must not look
// at the sources at all. The vmchannels thread is an in-process fake; the qemu-ga side is the real poller
// and schedule, driven through the schedule's own entry points (the poller's libvirt calls are tested in
// qga-poller.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { SendReply } from '../../src/guest/channel-protocol.js';
import { GuestAgents } from '../../src/guest/guest-agents.js';
import { OvirtChannels, type ChannelTransport } from '../../src/guest/ovirt-channels.js';
import { QgaPoller } from '../../src/guest/qga-poller.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import { ManualTime } from '../support/manual-time.js';

const S = 1000;
const VM = 'c0ffee00-0000-4000-8000-000000000001';
const CAPS = { version: '7.2.22', commands: ['guest-info', 'guest-get-users', 'guest-get-osinfo'] };

class FakeTransport implements ChannelTransport {
  add(): void { /* the fake thread has nothing to open */ }
  remove(): void { /* nor to close */ }
  reboot(): void { /* nor to forget */ }
  send(): Promise<SendReply> { return Promise.resolve({ ok: true }); }
  describe(): Promise<undefined> { return Promise.resolve(undefined); }
}

function setup() {
  const time = new ManualTime(1_000_000);
  const log = pino({ level: 'silent' });
  const channels = new OvirtChannels({ transport: new FakeTransport(), clock: time, timers: time, log, responsiveMs: 120 * S });
  const poller = new QgaPoller({
    libvirt: new LibvirtClient({ dispatcher: { dispatch: () => Promise.reject(new Error('not called')) }, connections: new ConnectionsStub(1) }),
    scheduler: new Scheduler({ clock: time, timers: time, log }),
    clock: time,
    log,
    vms: () => [],
    known: () => new Set([VM]),
    config: {
      pollMs: 5 * S, taskTimeoutMs: 30 * S, commandTimeoutS: 1, initialIntervalMs: 120 * S, probeBudget: 2, maxAgeMs: 60 * S,
      periods: { info: 300 * S, sysinfo: 120 * S, users: 10 * S, disk: 300 * S, cpu: 60 * S },
    },
  });
  const agents = new GuestAgents({ clock: time, channels, poller, log });
  /** What a GuestAgents with no memory of earlier reads merges now. */
  const fresh = (mem: number) => new GuestAgents({ clock: time, channels, poller, log }).stats(VM, mem);
  return { time, channels, poller, agents, fresh };
}

void test('every change of either agent and every ageing shows at the next read, as a fresh merge gives it; unchanged reads do not look at the sources', () => {
  const t = setup();
  let mem = 1024;
  const check = (what: string): void => {
    const got = t.agents.stats(VM, mem);
    assert.deepEqual(got, t.fresh(mem), what);
    assert.equal(JSON.stringify(got), JSON.stringify(t.fresh(mem)), what);
  };
  // Counts how often the sources are looked at: an unchanged read must not.
  let looks = 0;
  const view = t.channels.view.bind(t.channels);
  t.channels.view = (id: string) => {
    looks++;
    return view(id);
  };
  check('nothing known');
  t.channels.attach(VM, '/run/x.sock', 3);
  check('oVirt channel attached');
  t.channels.apply([{ vmId: VM, lastMessageAt: t.time.now(), guestUp: true, fields: { username: '"alice"' } }]);
  check('oVirt agent speaks');
  assert.equal(t.agents.stats(VM, mem).username, 'alice');
  const seen = looks;
  const same = t.agents.stats(VM, mem);
  for (let i = 0; i < 5; i++) {
    t.time.advance(10 * S);
    assert.equal(t.agents.stats(VM, mem), same, 'the same object while nothing changed');
  }
  assert.equal(looks, seen, 'unchanged reads answered without looking at the sources');
  t.channels.apply([{ vmId: VM, fields: { username: '"bob"' } }]);
  check('a new oVirt field value');
  assert.equal(t.agents.stats(VM, mem).username, 'bob');
  mem = 2048;
  check('memory size changed');
  // qemu-ga: the channel comes up and a task answers.
  t.poller.channelEvent(VM, 'connected');
  check('qemu-ga channel connected');
  t.poller.schedule.complete(VM, { caps: CAPS, done: ['info', 'users', 'hostname'], fields: { guestOs: '6.1.0', guestName: 'guest-a' } }, t.time.now());
  check('qemu-ga answered');
  t.poller.schedule.complete(VM, { done: ['hostname'], fields: { guestName: 'guest-b' } }, t.time.now());
  check('qemu-ga field changed in place');
  // The oVirt agent falls silent: 120 s after its last message it is unresponsive.
  t.time.advance(50 * S);
  check('still responsive');
  t.time.advance(60 * S);
  check('oVirt agent unresponsive with time');
  // qemu-ga stops answering: its data stays maxAgeMs after the last answer, then ages out.
  t.poller.schedule.complete(VM, { done: [], fields: {}, failure: { query: 'task', message: 'timeout' } }, t.time.now());
  check('qemu-ga failing');
  t.time.advance(30 * S);
  check('qemu-ga data still within its age');
  t.time.advance(40 * S);
  check('qemu-ga data aged out');
  t.poller.channelEvent(VM, 'disconnected');
  check('qemu-ga channel disconnected');
  t.channels.apply([{ vmId: VM, lastMessageAt: t.time.now(), fields: { username: '"carol"' } }]);
  check('oVirt agent back');
  t.channels.detach(VM);
  check('oVirt channel detached');
  t.poller.schedule.purge(new Set());
  check('qemu-ga state purged');
});
