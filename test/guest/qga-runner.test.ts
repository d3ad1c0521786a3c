// One VM's agent task against a recording fake of libvirt's agent calls (the real calls are covered by the
// real-VM tier): timeout set first and restored last, one guestInfo call for every due type, the fresh
// capabilities deciding what else is asked, and the first failure ending the task.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QgaTask } from '../../src/contracts/guest-ops.js';
import { runQgaTask, RESPONSE_TIMEOUT_DEFAULT, type QgaApi } from '../../workers/guest/qga-runner.js';
import { GuestInfoType } from '../../src/libvirt/constants.js';

const GUEST_INFO_REPLY = JSON.stringify({ return: { version: '7.2.22', supported_commands: [
  'guest-info', 'guest-get-vcpus', 'guest-get-users', 'guest-get-osinfo', 'guest-get-host-name', 'guest-network-get-interfaces', 'guest-get-timezone', 'guest-get-fsinfo', 'guest-get-disks',
].map((name) => ({ name, enabled: true })).concat([{ name: 'guest-get-devices', enabled: false }]) } });

function fake(over: Partial<QgaApi> = {}): { api: QgaApi; calls: string[] } {
  const calls: string[] = [];
  const api: QgaApi = {
    setResponseTimeout: (s) => { calls.push(`timeout ${s}`); },
    command: (json) => { calls.push(`command ${json}`); return GUEST_INFO_REPLY; },
    guestInfo: (types) => {
      calls.push(`guestInfo ${types}`);
      return { hostname: 'tinyguest', 'os.id': 'tinyguest', 'os.kernel-release': '6.1.0-56-amd64', 'os.machine': 'x86_64', 'user.count': 0, 'fs.count': 0, 'disk.count': 0, 'timezone.offset': 0, 'timezone.name': 'UTC', 'if.count': 0 };
    },
    vcpus: () => { calls.push('vcpus'); return { vcpus: '0', online: '0', offlinable: '' }; },
    ...over,
  };
  return { api, calls };
}

const task = (queries: QgaTask['queries'], caps: QgaTask['caps'] = { version: null, commands: [] }): QgaTask => ({ vmId: 'v', queries, caps, probe: false, commandTimeoutS: 1, hasApps: false });

void test('a first task: timeout set, guest-info, vCPUs, one guestInfo call for every type, timeout restored', async () => {
  const { api, calls } = fake();
  const r = await runQgaTask(task(['info', 'vcpus', 'devices', 'interfaces', 'users', 'os', 'timezone', 'hostname', 'filesystem', 'disks']), api);
  const all = GuestInfoType.USERS | GuestInfoType.OS | GuestInfoType.TIMEZONE | GuestInfoType.HOSTNAME | GuestInfoType.FILESYSTEM | GuestInfoType.DISKS | GuestInfoType.INTERFACES;
  assert.deepEqual(calls, ['timeout 1', 'command {"execute":"guest-info"}', 'vcpus', `guestInfo ${all}`, `timeout ${RESPONSE_TIMEOUT_DEFAULT}`],
    'guest-get-devices is disabled in this agent: not asked');
  assert.equal(r.caps?.version, '7.2.22');
  assert.deepEqual(r.done, ['vcpus', 'interfaces', 'users', 'os', 'timezone', 'hostname', 'filesystem', 'disks']);
  assert.equal(r.fields.guestCPUCount, 1);
  assert.equal(r.fields.guestName, 'tinyguest');
  assert.equal(r.fields.username, '');
  assert.deepEqual(r.fields.appsList, ['kernel-6.1.0-56-amd64', 'qemu-guest-agent-7.2.22']);
  assert.deepEqual(r.fields.guestTimezone, { offset: 0, zone: 'UTC' });
  assert.equal(r.failure, undefined);
});

void test('the first call the agent does not answer ends the task; the timeout is still restored', async () => {
  const { api, calls } = fake({ vcpus: () => { calls.push('vcpus'); throw Object.assign(new Error('Guest agent is not responding: Guest agent not available for now'), { code: 'ERR_LIBVIRT_AGENT_UNRESPONSIVE' }); } });
  const r = await runQgaTask(task(['users', 'vcpus'], { version: '7.2', commands: ['guest-get-users', 'guest-get-vcpus'] }), api);
  assert.deepEqual(calls, ['timeout 1', 'vcpus', 'timeout -1']);
  assert.deepEqual(r.failure, { query: 'vcpus', message: 'Guest agent is not responding: Guest agent not available for now', code: 'ERR_LIBVIRT_AGENT_UNRESPONSIVE' });
  assert.deepEqual(r.done, []);
});

void test('an error reply is not a failure: logged as a reply error, the rest goes on', async () => {
  const { api, calls } = fake({ command: (json) => { calls.push(json); return '{"error":{"class":"GenericError","desc":"boom"}}'; } });
  const r = await runQgaTask(task(['devices', 'users'], { version: '7.2', commands: ['guest-get-devices', 'guest-get-users'] }), api);
  assert.equal(r.failure, undefined);
  assert.equal(r.replyErrors.length, 1);
  assert.equal(r.replyErrors[0]!.query, 'devices');
  assert.deepEqual(r.done, ['users']);
  assert.ok(calls.includes(`guestInfo ${GuestInfoType.USERS}`));
});

void test('guest-info failing: caps unknown, nothing else asked; guest-info refused: caps empty, no failure', async () => {
  const dead = fake({ command: () => { throw new Error('Guest agent is not responding: QEMU guest agent is not connected'); } });
  const r = await runQgaTask(task(['info', 'users']), dead.api);
  assert.deepEqual(r.caps, { version: null, commands: [] });
  assert.equal(r.failure?.query, 'info');
  assert.deepEqual(dead.calls, ['timeout 1', 'timeout -1']);
  const refusing = fake({ command: () => '{"error":{"class":"CommandNotFound","desc":"disabled"}}' });
  const r2 = await runQgaTask(task(['info', 'users']), refusing.api);
  assert.equal(r2.failure, undefined);
  assert.equal(r2.caps?.version, null);
  assert.deepEqual(refusing.calls, ['timeout 1', 'timeout -1']);
});

void test('setting the timeout failing (domain gone) is the failure of the first query', async () => {
  const { api } = fake({ setResponseTimeout: () => { throw new Error('domain is not running'); } });
  const r = await runQgaTask(task(['users'], { version: '7.2', commands: ['guest-get-users'] }), api);
  assert.equal(r.failure?.message, 'domain is not running');
});
