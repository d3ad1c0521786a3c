// One ovirt-guest-agent conversation: refresh on connect, API version negotiation from heartbeats (and
// the api-version notice), command encoding gated by version, responsiveness, problems per bad line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OvirtSession, type ProblemKind } from '../../src/guest/ovirt-session.js';
import { encodeCommand, loginName, negotiateApiVersion, shutdownCommand } from '../../src/guest/ovirt-protocol.js';
import type { OvirtInfoKey } from '../../src/guest/ovirt-messages.js';

function setup(apiVersion?: number) {
  let now = 1000;
  const sent: Record<string, unknown>[] = [];
  const events: string[] = [];
  const changed: OvirtInfoKey[][] = [];
  const problems: [ProblemKind, string][] = [];
  const s = new OvirtSession({
    now: () => now,
    wallS: () => 42,
    maxMessageBytes: 200,
    ...(apiVersion !== undefined ? { apiVersion } : {}),
    listener: {
      changed: (k) => changed.push([...k]),
      guestStatus: (up) => events.push(`status:${up}`),
      apiVersion: (a, b) => events.push(`api:${a}->${b}`),
      completion: (id) => events.push(`completion:${id}`),
      problem: (k, d) => problems.push([k, d]),
      note: (t) => events.push(`note:${t}`),
    },
  });
  const write = (b: Buffer): boolean => {
    for (const line of b.toString('utf8').split('\n').filter(Boolean)) sent.push(JSON.parse(line) as Record<string, unknown>);
    return true;
  };
  return { s, sent, events, changed, problems, write, advance: (ms: number) => (now += ms), line: (o: unknown) => s.data(Buffer.from(`${JSON.stringify(o)}\n`)) };
}

void test('on connect the host sends refresh with apiVersion 3', () => {
  const t = setup();
  t.s.attach(t.write);
  assert.deepEqual(t.sent, [{ apiVersion: 3, __name__: 'refresh' }]);
  assert.equal(t.s.connected, true);
});

void test('heartbeats negotiate the version: min(reported, 3), api-version sent on change, 0 when the member disappears', () => {
  const t = setup();
  t.s.attach(t.write);
  t.line({ __name__: 'heartbeat', 'free-ram': 1, apiVersion: 5 });
  assert.equal(t.s.apiVersion, 3);
  assert.deepEqual(t.sent.at(-1), { apiVersion: 3, __name__: 'api-version' });
  assert.deepEqual(t.events, ['api:0->3', 'status:true']);
  t.line({ __name__: 'heartbeat', 'free-ram': 1, apiVersion: 3 });
  assert.equal(t.sent.length, 2, 'no notice when nothing changed');
  t.line({ __name__: 'heartbeat', 'free-ram': 1, apiVersion: 1 });
  assert.deepEqual(t.sent.at(-1), { apiVersion: 1, __name__: 'api-version' });
  t.line({ __name__: 'heartbeat', 'free-ram': 1 });
  assert.equal(t.s.apiVersion, 0);
  assert.equal(t.sent.length, 3, 'versioning switched off: the guest is not told');
  t.line({ __name__: 'heartbeat', 'free-ram': 1, apiVersion: 'x' });
  assert.equal(t.s.apiVersion, 0);
  assert.equal(negotiateApiVersion(-4), 0);
  assert.equal(negotiateApiVersion('2'), 2);
});

void test('commands: encoding, version gating, not connected', () => {
  const t = setup();
  assert.deepEqual(t.s.send({ name: 'lock-screen' }), { ok: false, reason: 'not-connected', message: 'the ovirt-guest-agent channel is not connected' });
  t.s.attach(t.write);
  t.sent.length = 0;
  assert.deepEqual(t.s.send({ name: 'lock-screen' }), { ok: true });
  t.s.send({ name: 'login', args: { username: loginName('corp', 'alice'), password: 'pw\n' } });
  t.s.send({ name: 'log-off' });
  t.s.send(shutdownCommand(30, 'System going down', false));
  t.s.send({ name: 'hc', command: 'custom-thing' });
  assert.deepEqual(t.sent, [
    { __name__: 'lock-screen' },
    { username: 'alice@corp', password: 'pw\n', __name__: 'login' },
    { __name__: 'log-off' },
    { timeout: 30, message: 'System going down', reboot: 'False', __name__: 'shutdown' },
    { __name__: 'custom-thing' },
  ]);
  const r = t.s.send({ name: 'set-number-of-cpus', args: { count: 2 } });
  assert.deepEqual(r, { ok: false, reason: 'unsupported', message: "Guest Agent command 'set-number-of-cpus' requires version '1'. Current version is '0'" });
  assert.equal(t.s.send({ name: 'lifecycle-event', args: { type: 'before_migration' } }).ok, false);
  t.line({ __name__: 'heartbeat', 'free-ram': 1, apiVersion: 3 });
  assert.equal(t.s.send({ name: 'lifecycle-event', args: { type: 'before_migration', reply_id: 'x' } }).ok, true);
  assert.equal(encodeCommand({ name: 'log-off' }).toString(), '{"__name__":"log-off"}\n');
});

void test('a version remembered from before is used until a heartbeat says otherwise', () => {
  const t = setup(2);
  t.s.attach(t.write);
  assert.equal(t.s.send({ name: 'set-number-of-cpus', args: { count: 2 } }).ok, true);
});

void test('responsiveness follows the last parsed message; a bad line does not count, a bad known message does', () => {
  const t = setup();
  t.s.attach(t.write);
  assert.equal(t.s.lastMessageAt, 0);
  t.s.data(Buffer.from('not json\n'));
  assert.equal(t.s.lastMessageAt, 0);
  t.line({ __name__: 'heartbeat' });
  assert.equal(t.s.lastMessageAt, 1000, 'vdsm stamps the agent before handling the message');
  assert.deepEqual(t.problems.map((p) => p[0]), ['json', 'invalid']);
  t.advance(5_000);
  t.line({ __name__: 'heartbeat', 'free-ram': 5, apiVersion: 3 });
  assert.equal(t.s.lastMessageAt, 6000, 'each parsed message moves it');
  assert.equal(t.s.apiVersion, 3);
});

void test('oversize, unknown, truncated, blank lines', () => {
  const t = setup();
  t.s.attach(t.write);
  t.s.data(Buffer.from(`${'x'.repeat(500)}\n\n  \n`));
  t.line({ __name__: 'frobnicate' });
  t.line({ __name__: 'session-startup' });
  assert.deepEqual(t.problems.map((p) => p[0]), ['oversize', 'unknown']);
  assert.match(t.problems[0]![1], /500 bytes/);
  assert.deepEqual(t.events, ['note:Guest system is started or restarted']);
});

void test('timeout: memUsage 0 and the guest no longer up; reboot: user forgotten', () => {
  const t = setup();
  t.s.attach(t.write);
  t.line({ __name__: 'heartbeat', 'free-ram': 77 });
  t.line({ __name__: 'active-user', name: 'carol' });
  t.s.timeout();
  assert.equal(t.s.info.memUsage, 0);
  assert.deepEqual(t.events, ['status:true', 'status:false']);
  t.s.reboot();
  assert.equal(t.s.info.username, 'Unknown');
  assert.equal(t.s.info.lastUser, 'carol');
  assert.equal(t.s.info.lastLogout, 42);
});

void test('a completion message reaches the listener', () => {
  const t = setup();
  t.s.attach(t.write);
  t.line({ __name__: 'completion', reply_id: 'abc' });
  assert.deepEqual(t.events, ['completion:abc']);
});

void test('detach forgets a half-received message', () => {
  const t = setup();
  t.s.attach(t.write);
  t.s.data(Buffer.from('{"__name__":"host-na'));
  assert.ok(t.s.buffered > 0);
  t.s.detach();
  assert.equal(t.s.buffered, 0);
  t.s.attach(t.write);
  t.line({ __name__: 'host-name', name: 'h' });
  assert.equal(t.s.info.guestName, 'h');
});
