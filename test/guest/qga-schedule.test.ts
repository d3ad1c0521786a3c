// The QEMU agent poller's schedule with a hand-moved clock: boot-phase checks, the capability check, one
// period per query (never a poll late), channel state and hints, one task per VM, the failure back-off,
// the per-host probe budget for failing agents, aging of a silent agent's data, hotplug re-checks, purge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QgaSchedule, type QgaOutcome, type QgaPlan, type QgaQuery, type QgaScheduleOptions, type QgaVmInput } from '../../src/guest/qga-schedule.js';

const S = 1000;
const ALL_COMMANDS = ['guest-info', 'guest-get-vcpus', 'guest-network-get-interfaces', 'guest-get-users', 'guest-get-osinfo', 'guest-get-timezone', 'guest-get-host-name', 'guest-get-fsinfo', 'guest-get-disks'];
const CAPS = { version: '7.2.22', commands: ALL_COMMANDS };

function schedule(over: Partial<QgaScheduleOptions> = {}): QgaSchedule {
  return new QgaSchedule({
    periods: { info: 300 * S, sysinfo: 120 * S, users: 10 * S, disk: 300 * S, cpu: 60 * S },
    pollMs: 5 * S, initialIntervalMs: 120 * S, backoffMs: 60 * S, backoffMaxMs: 300 * S, probeBudget: 2, maxAgeMs: 120 * S, ...over,
  });
}

const vm = (vmId: string, startedAt = -1e9, extra: Partial<QgaVmInput> = {}): QgaVmInput => ({ vmId, running: true, startedAt, ...extra });
const ok = (queries: QgaQuery[], caps = CAPS): QgaOutcome => ({
  done: queries.filter((q) => q !== 'info'), fields: { netIfaces: [{ name: 'eth0', hw: '', inet: ['10.0.0.5'], inet6: [] }] },
  ...(queries.includes('info') ? { caps } : {}),
});
const fail = (query: QgaQuery = 'users'): QgaOutcome => ({ done: [], fields: {}, failure: { query, message: 'Guest agent is not responding', code: 'ERR_LIBVIRT_AGENT_UNRESPONSIVE' } });

/** Poll, complete every plan with `outcome`, return the plans. */
function round(s: QgaSchedule, vms: QgaVmInput[], now: number, outcome: (p: QgaPlan) => QgaOutcome = (p) => ok(p.queries)): QgaPlan[] {
  const plans = s.poll(vms, now);
  for (const p of plans) s.complete(p.vmId, outcome(p), now);
  return plans;
}

void test('nothing is asked until the channel is connected; an unknown channel takes a hint, an event wins over a hint', () => {
  const s = schedule();
  assert.deepEqual(s.poll([vm('a')], 0), []);
  s.channelHint('a', 'connected');
  assert.equal(s.poll([vm('a')], 0).length, 1, 'the hint is taken while the state is unknown');
  const t = schedule();
  t.channelChanged('b', 'disconnected');
  t.channelHint('b', 'connected');
  assert.deepEqual(t.poll([vm('b')], 0), [], 'an event said disconnected: the hint is ignored');
  assert.equal(t.channel('b'), 'disconnected');
});

void test('a VM not running (paused, migrating) is not asked', () => {
  const s = schedule();
  s.channelChanged('a', 'connected');
  assert.deepEqual(s.poll([{ ...vm('a'), running: false }], 0), []);
});

void test('first poll: the capability check and every query; then each query again after its own period', () => {
  const s = schedule();
  s.channelChanged('a', 'connected');
  const [p] = round(s, [vm('a')], 0);
  assert.deepEqual(p!.queries, ['info', 'vcpus', 'devices', 'interfaces', 'users', 'os', 'timezone', 'hostname', 'filesystem', 'disks']);
  const at = (t: number): QgaQuery[] => round(s, [vm('a')], t)[0]?.queries ?? [];
  assert.deepEqual(at(5 * S), []);
  assert.deepEqual(at(10 * S), ['users'], 'users every 10 s');
  assert.deepEqual(at(15 * S), []);
  assert.deepEqual(at(20 * S), ['users']);
  for (let t = 25; t < 60; t += 5) at(t * S);
  assert.deepEqual(at(60 * S), ['vcpus', 'users'], 'vCPUs every 60 s');
  for (let t = 65; t < 120; t += 5) at(t * S);
  assert.deepEqual(at(120 * S), ['vcpus', 'interfaces', 'users', 'os', 'timezone', 'hostname'], 'sysinfo group every 120 s (devices not supported)');
  for (let t = 125; t < 300; t += 5) at(t * S);
  assert.deepEqual(at(300 * S), ['info', 'vcpus', 'users', 'filesystem', 'disks'], 'capabilities and disks every 300 s');
});

void test('poll jitter never makes a query a whole poll late: due up to half a poll early', () => {
  const s = schedule();
  s.channelChanged('a', 'connected');
  round(s, [vm('a')], 1_000);
  // The next polls come a little early or late; users (10 s) must be asked at the poll nearest to +10 s.
  assert.deepEqual(round(s, [vm('a')], 5_990)[0]?.queries ?? [], []);
  assert.deepEqual(round(s, [vm('a')], 10_700)[0]?.queries, ['users'], 'asked 0.3 s early instead of 5 s late');
});

void test('caps unknown: nothing but the capability check (and the boot-time address query)', () => {
  const s = schedule();
  s.channelChanged('a', 'connected');
  round(s, [vm('a')], 0, () => ({ done: [], fields: {}, caps: { version: null, commands: [] } }));
  assert.deepEqual(round(s, [vm('a', -1e9)], 5 * S), [], 'not booting: wait for the next capability period');
  const b = schedule();
  b.channelChanged('b', 'connected');
  round(b, [vm('b', 0)], 1 * S, () => ({ done: [], fields: {}, caps: { version: null, commands: [] } }));
  assert.deepEqual(b.poll([vm('b', 0)], 6 * S)[0]!.queries, ['info', 'vcpus', 'devices', 'interfaces', 'users', 'os', 'timezone', 'hostname', 'filesystem', 'disks'],
    'booting: the capability check on every poll (the runner drops what the fresh capabilities do not list)');
});

void test('boot phase: interfaces asked on every poll until a routable address shows up', () => {
  const s = schedule();
  s.channelChanged('a', 'connected');
  const noAddress = (p: QgaPlan): QgaOutcome => ({
    done: p.queries.filter((q) => q !== 'info'), fields: { netIfaces: [{ name: 'lo', hw: '', inet: ['127.0.0.1'], inet6: ['::1'] }] }, ...(p.queries.includes('info') ? { caps: CAPS } : {}),
  });
  round(s, [vm('a', 0)], 1 * S, noAddress);
  assert.deepEqual(round(s, [vm('a', 0)], 6 * S, noAddress)[0]!.queries, ['interfaces']);
  assert.deepEqual(round(s, [vm('a', 0)], 11 * S, (p) => ok(p.queries))[0]!.queries, ['interfaces', 'users']);
  assert.deepEqual(round(s, [vm('a', 0)], 16 * S)[0]?.queries ?? [], [], 'an address is known');
  const late = schedule();
  late.channelChanged('z', 'connected');
  round(late, [vm('z', 0)], 121 * S, noAddress);
  assert.deepEqual(late.poll([vm('z', 0)], 126 * S), [], 'after the boot phase the period rules');
});

void test('one task per VM: a VM whose task still runs is skipped, the others are not held up', () => {
  const s = schedule();
  s.channelChanged('a', 'connected');
  s.channelChanged('b', 'connected');
  const first = s.poll([vm('a'), vm('b')], 0);
  assert.equal(first.length, 2);
  s.complete('b', ok(first[1]!.queries), 0);
  assert.deepEqual(s.poll([vm('a'), vm('b')], 10 * S).map((p) => p.vmId), ['b'], 'a is still running its first task');
});

void test('failure: back-off of 60 s, doubling to at most 300 s; success after it reports the failures and resets', () => {
  const s = schedule();
  s.channelChanged('a', 'connected');
  round(s, [vm('a')], 0);
  let plans = s.poll([vm('a')], 10 * S);
  const e1 = s.complete('a', fail(), 10 * S);
  assert.deepEqual(e1.health, { to: 'failing', failures: 1, retryInMs: 60 * S, message: 'Guest agent is not responding' });
  assert.equal(s.isActive('a'), false);
  for (let t = 15; t < 70; t += 5) assert.deepEqual(s.poll([vm('a')], t * S), [], `backing off at ${t} s`);
  plans = s.poll([vm('a')], 70 * S);
  assert.equal(plans[0]!.probe, true, 'the first task after the back-off is a probe');
  assert.equal(s.complete('a', fail(), 70 * S).health, undefined, 'still failing: no new state, no line');
  assert.deepEqual(s.poll([vm('a')], 185 * S), [], '120 s back-off after the second failure');
  s.complete('a', fail(), 190 * S + 0 * s.poll([vm('a')], 190 * S).length);
  assert.equal(s.poll([vm('a')], 400 * S).length, 0, '240 s after the third');
  const probe = s.poll([vm('a')], 430 * S);
  assert.equal(probe.length, 1);
  s.complete('a', fail(), 430 * S);
  assert.equal(s.poll([vm('a')], 725 * S).length, 0, 'capped at 300 s');
  const p = s.poll([vm('a')], 730 * S);
  const e = s.complete('a', ok(p[0]!.queries), 730 * S);
  assert.deepEqual(e.health, { to: 'ok', failures: 4 });
  assert.equal(s.isActive('a'), true);
});

void test('a channel that reconnects clears the back-off (vdsm resets failures on disconnected -> connected)', () => {
  const s = schedule();
  s.channelChanged('a', 'connected');
  round(s, [vm('a')], 0);
  s.poll([vm('a')], 10 * S);
  s.complete('a', fail(), 10 * S);
  s.channelChanged('a', 'disconnected');
  assert.deepEqual(s.poll([vm('a')], 15 * S), []);
  s.channelChanged('a', 'connected');
  const plans = s.poll([vm('a')], 20 * S);
  assert.equal(plans.length, 1);
  assert.equal(plans[0]!.probe, false);
});

void test('per-host budget: 1000 dead agents cost at most probeBudget tasks per poll, longest-waiting first; healthy VMs are never held back', () => {
  const s = schedule({ probeBudget: 3 });
  const dead = Array.from({ length: 1000 }, (_, i) => vm(`dead-${i}`));
  const healthy = Array.from({ length: 50 }, (_, i) => vm(`ok-${i}`));
  for (const v of [...dead, ...healthy]) s.channelChanged(v.vmId, 'connected');
  // First poll: every agent is asked once (none is known to be dead yet); the dead ones fail.
  round(s, [...dead, ...healthy], 0, (p) => (p.vmId.startsWith('dead') ? fail('info') : ok(p.queries)));
  let probesSeen = 0;
  const probed = new Set<string>();
  for (let t = 5; t <= 600; t += 5) {
    const plans = s.poll([...dead, ...healthy], t * S);
    const probes = plans.filter((p) => p.probe);
    assert.ok(probes.length <= 3, `poll at ${t} s: ${probes.length} probes`);
    assert.ok(plans.filter((p) => p.vmId.startsWith('dead')).every((p) => p.probe));
    probesSeen += probes.length;
    for (const p of probes) probed.add(p.vmId);
    for (const p of plans) s.complete(p.vmId, p.vmId.startsWith('dead') ? fail() : ok(p.queries), t * S);
    if (t % 10 === 0) assert.equal(plans.filter((p) => !p.probe).length, 50, `all healthy VMs asked for users at ${t} s`);
  }
  // Nothing is due before the 60 s back-off; from then on 3 per poll: 109 polls from 60 s to 600 s.
  assert.equal(probesSeen, 109 * 3, 'the whole budget is used, and no more');
  assert.equal(probed.size, 109 * 3, 'rotation: no dead agent probed twice while others wait');
});

void test('a silent agent\'s data is reported until maxAgeMs after its last answer; a disconnected one too', () => {
  const s = schedule();
  s.channelChanged('a', 'connected');
  round(s, [vm('a')], 0);
  assert.ok(s.fields('a', 0)?.netIfaces);
  s.poll([vm('a')], 10 * S);
  s.complete('a', fail(), 10 * S);
  assert.ok(s.fields('a', 119 * S), 'still reported 119 s after the last answer');
  assert.equal(s.fields('a', 120 * S), undefined, 'aged out');
  const d = schedule();
  d.channelChanged('b', 'connected');
  round(d, [vm('b')], 0);
  d.channelChanged('b', 'disconnected');
  assert.ok(d.fields('b', 100 * S));
  assert.equal(d.fields('b', 120 * S), undefined);
  d.channelChanged('b', 'connected');
  assert.ok(d.fields('b', 500 * S), 'answering again (connected, no failure): reported');
});

void test('disk hotplug: file systems and disks asked again 10 s after it', () => {
  const s = schedule();
  s.channelChanged('a', 'connected');
  round(s, [vm('a')], 0);
  for (let t = 5; t <= 30; t += 5) round(s, [vm('a')], t * S);
  const hot = (t: number): QgaQuery[] => round(s, [vm('a', -1e9, { lastDiskHotplug: 31 * S })], t * S)[0]?.queries ?? [];
  assert.deepEqual(hot(35), []);
  assert.deepEqual(hot(41), ['users', 'filesystem', 'disks']);
  assert.deepEqual(hot(46), []);
});

void test('capability changes and the first version are reported; purge forgets departed VMs', () => {
  const s = schedule();
  s.channelChanged('a', 'connected');
  const [p] = s.poll([vm('a')], 0);
  const e = s.complete('a', ok(p!.queries), 0);
  assert.equal(e.firstCaps, true);
  assert.deepEqual(e.capsChanged, CAPS);
  assert.deepEqual(s.caps('a'), CAPS);
  for (let t = 5; t < 300; t += 5) round(s, [vm('a')], t * S);
  const [again] = s.poll([vm('a')], 300 * S);
  const e2 = s.complete('a', ok(again!.queries), 300 * S);
  assert.equal(e2.firstCaps, undefined);
  assert.equal(e2.capsChanged, undefined);
  assert.deepEqual(s.purge(new Set(['x'])), ['a']);
  assert.equal(s.size, 0);
  assert.deepEqual(s.complete('a', ok([]), 301 * S), {}, 'a late result for a purged VM is dropped');
});

void test('a capability check the agent did not answer is asked again after the back-off, not after qga_info_period', () => {
  const s = schedule({ backoffMs: 10 * S });
  s.channelChanged('a', 'connected');
  const [p] = s.poll([vm('a')], 0);
  assert.equal(p!.queries[0], 'info');
  s.complete('a', { done: [], fields: {}, caps: { version: null, commands: [] }, failure: { query: 'info', message: 'not responding' } }, 0);
  assert.deepEqual(s.poll([vm('a')], 5 * S), [], 'backing off');
  const retry = s.poll([vm('a')], 10 * S);
  assert.equal(retry.length, 1);
  assert.equal(retry[0]!.probe, true);
  assert.equal(retry[0]!.queries[0], 'info');
  const e = s.complete('a', ok(retry[0]!.queries), 10 * S);
  assert.equal(e.firstCaps, true);
  assert.deepEqual(e.health, { to: 'ok', failures: 1 });
  // Known capabilities are kept when a later check is not answered.
  for (let t = 15; t < 310; t += 5) round(s, [vm('a')], t * S);
  const [again] = s.poll([vm('a')], 310 * S);
  assert.ok(again!.queries.includes('info'));
  s.complete('a', { done: [], fields: {}, caps: { version: null, commands: [] }, failure: { query: 'info', message: 'timeout' } }, 310 * S);
  assert.deepEqual(s.caps('a'), CAPS);
});
