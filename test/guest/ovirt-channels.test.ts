// The main thread's side of the oVirt agent: lifecycle events waiting for the guest's completion (only
// when the agent can reply), the responsiveness window, API versions remembered for a thread restart,
// and connection lines once per change (an unreachable socket warned about once).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SendReply } from '../../src/guest/channel-protocol.js';
import { OvirtChannels, type ChannelTransport } from '../../src/guest/ovirt-channels.js';
import type { OvirtCommand } from '../../src/guest/ovirt-protocol.js';
import { captureLog } from '../runtime/capture-log.js';
import { ManualTime } from '../support/manual-time.js';

class Transport implements ChannelTransport {
  sent: OvirtCommand[] = [];
  versions: Record<string, number> = {};
  add(): void {}
  remove(): void {}
  reboot(): void {}
  send(_v: string, cmd: OvirtCommand): Promise<SendReply> { this.sent.push(cmd); return Promise.resolve({ ok: true }); }
  describe(): Promise<undefined> { return Promise.resolve(undefined); }
  rememberApiVersion(vmId: string, v: number): void { this.versions[vmId] = v; }
}

function setup(responsiveMs?: number) {
  const time = new ManualTime(10_000);
  const transport = new Transport();
  const { log, lines } = captureLog('debug');
  const status: [string, boolean][] = [];
  const c = new OvirtChannels({ transport, clock: time, timers: time, log, ...(responsiveMs !== undefined ? { responsiveMs } : {}), onGuestStatus: (v, up) => status.push([v, up]) });
  c.attach('vm', '/run/x.sock');
  return { c, time, transport, lines, status };
}

void test('before_migration waits for the guest\'s completion when the agent is responsive and speaks API 3', async () => {
  const t = setup();
  t.c.apply([{ vmId: 'vm', lastMessageAt: t.time.now(), apiVersion: 3 }]);
  const done = t.c.lifecycleEvent('vm', 'before_migration', { waitMs: 10_000 });
  await new Promise((r) => setImmediate(r));
  const sent = t.transport.sent.at(-1) as Extract<OvirtCommand, { name: 'lifecycle-event' }>;
  assert.equal(sent.name, 'lifecycle-event');
  assert.equal(sent.args.type, 'before_migration');
  assert.match(sent.args.reply_id!, /^[0-9a-f-]{36}$/);
  t.c.apply([{ vmId: 'vm', completions: [sent.args.reply_id!] }]);
  assert.equal(await done, true);
  assert.equal(t.time.pendingTimers, 0, 'the wait timer is gone');
  assert.equal(t.transport.versions['vm'], 3, 'remembered for a thread restart');
});

void test('no completion in time: false after waitMs; no reply capability: sent without reply_id, no wait', async () => {
  const t = setup();
  t.c.apply([{ vmId: 'vm', lastMessageAt: t.time.now(), apiVersion: 3 }]);
  const done = t.c.lifecycleEvent('vm', 'before_hibernation', { waitMs: 10_000 });
  await new Promise((r) => setImmediate(r));
  t.time.advance(10_000);
  assert.equal(await done, false);
  const u = setup();
  u.c.apply([{ vmId: 'vm', lastMessageAt: u.time.now(), apiVersion: 2 }]);
  assert.equal(await u.c.lifecycleEvent('vm', 'before_migration', { waitMs: 10_000 }), false);
  const sent = u.transport.sent.at(-1) as Extract<OvirtCommand, { name: 'lifecycle-event' }>;
  assert.equal(sent.args.reply_id, undefined);
  assert.equal(await u.c.lifecycleEvent('vm', 'after_migration', { failure: true }), false);
  assert.deepEqual(u.transport.sent.at(-1), { name: 'lifecycle-event', args: { type: 'after_migration', failure: true } });
});

void test('responsive while the last message is younger than the window (vdsm 120 s; configurable)', () => {
  const t = setup();
  assert.equal(t.c.isResponsive('vm'), false, 'never heard from');
  t.c.apply([{ vmId: 'vm', lastMessageAt: t.time.now() }]);
  t.time.advance(119_999);
  assert.equal(t.c.isResponsive('vm'), true);
  t.time.advance(1);
  assert.equal(t.c.isResponsive('vm'), false);
  const s = setup(10_000);
  s.c.apply([{ vmId: 'vm', lastMessageAt: s.time.now() }]);
  s.time.advance(10_000);
  assert.equal(s.c.isResponsive('vm'), false);
});

void test('guest status changes reach the listener; connection lines once per change; an unreachable socket is one warning', () => {
  const t = setup();
  t.c.apply([{ vmId: 'vm', connected: true }, { vmId: 'vm', guestUp: true }, { vmId: 'vm', guestUp: true }, { vmId: 'vm', guestUp: false }]);
  assert.deepEqual(t.status, [['vm', true], ['vm', false]]);
  t.c.apply([{ vmId: 'vm', connected: false, reason: 'EOF' }]);
  for (let n = 1; n <= 20; n++) t.c.apply([{ vmId: 'vm', connected: false, connectFailures: n, reason: 'ECONNREFUSED' }]);
  t.c.apply([{ vmId: 'vm', connected: true }]);
  const msgs = t.lines.filter((l) => /channel/.test(l.msg)).map((l) => l.msg);
  assert.deepEqual(msgs, [
    'ovirt-guest-agent channel connected',
    'ovirt-guest-agent channel disconnected; reconnecting',
    'cannot connect to the ovirt-guest-agent channel; retrying at the guest agent timeout',
    'ovirt-guest-agent channel connected',
  ]);
  const back = t.lines.at(-1)!;
  assert.equal(back['previous'], 'unreachable');
  assert.equal(back['repeats'], 16, 'failures 5..20 counted under one line');
});

void test('updates for a detached VM are dropped; detach summarizes what was only counted', () => {
  const t = setup();
  t.c.apply([{ vmId: 'vm', problems: { json: { count: 5, detail: 'x' } } }]);
  t.c.detach('vm');
  t.c.apply([{ vmId: 'vm', problems: { json: { count: 1, detail: 'y' } } }]);
  const summary = t.lines.find((l) => l.msg.startsWith('ovirt-guest-agent channel closed'));
  assert.deepEqual(summary?.['counts'], { json: 5 });
  assert.equal(t.lines.filter((l) => l['kind'] === 'json').length, 1);
});

void test('until(): true as soon as an update makes the condition hold, false at the timeout, on detach or abort; no timer left', async () => {
  const t = setup();
  const locked = (v: { get(k: 'session'): string }): boolean => v.get('session') === 'Locked';
  const a = t.c.until('vm', locked, 30_000);
  t.c.apply([{ vmId: 'vm', fields: { session: '"Active"' } }]);
  t.c.apply([{ vmId: 'other', fields: { session: '"Locked"' } }]);
  t.time.advance(29_000);
  t.c.apply([{ vmId: 'vm', fields: { session: '"Locked"' } }]);
  assert.equal(await a, true, 'the update that locked the session ended the wait');
  assert.equal(t.time.pendingTimers, 0);
  assert.equal(await t.c.until('vm', locked, 30_000), true, 'already true: at once');

  const b = t.c.until('vm', (v) => v.get('session') === 'LoggedOff', 30_000);
  t.time.advance(30_000);
  assert.equal(await b, false, 'timed out');

  const ac = new AbortController();
  const c = t.c.until('vm', (v) => v.get('session') === 'LoggedOff', 30_000, ac.signal);
  ac.abort();
  assert.equal(await c, false, 'aborted');
  const d = t.c.until('vm', (v) => v.get('session') === 'LoggedOff', 30_000);
  t.c.detach('vm');
  assert.equal(await d, false, 'the channel went');
  assert.equal(t.time.pendingTimers, 0);
  assert.equal(await t.c.until('nope', () => true, 30_000), false, 'no channel: false');
});

void test('an after_* event with connectWaitMs waits for the channel to connect, then goes out (sent without waiting when connected)', async () => {
  const t = setup();
  const sent = t.c.lifecycleEvent('vm', 'after_migration', { connectWaitMs: 10_000 });
  await new Promise((r) => setImmediate(r));
  assert.equal(t.transport.sent.length, 0, 'not sent into a channel that is not connected yet');
  t.c.apply([{ vmId: 'vm', connected: true }]);
  await sent;
  assert.deepEqual(t.transport.sent.map((c) => c.name === 'lifecycle-event' && c.args.type), ['after_migration']);
  // Never connecting: sent anyway after the wait (the session says whether it could go out).
  const u = setup();
  const late = u.c.lifecycleEvent('vm', 'after_hibernation', { connectWaitMs: 10_000 });
  await new Promise((r) => setImmediate(r));
  u.time.advance(10_000);
  await late;
  assert.equal(u.transport.sent.length, 1);
});
