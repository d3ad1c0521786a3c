// Every ovirt-guest-agent message type and its effect on the guest information (vdsm's samples from
// tests/virt/guestagent_test.py), the arguments the engine's types need, and the bounds on lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyGuestMessage, applyChannelTimeout, applyReboot, initialOvirtInfo, InvalidMessage, MAX_LIST_ENTRIES } from '../../src/guest/ovirt-messages.js';
import type { JsonObject } from '../../src/guest/guest-json.js';

const apply = (name: string, args: JsonObject, info = initialOvirtInfo()) => ({ info, effect: applyGuestMessage(info, name, args, 1700000000) });

void test('initial values are vdsm\'s', () => {
  assert.deepEqual(initialOvirtInfo(), {
    username: 'Unknown', session: 'Unknown', memUsage: 0, guestCPUCount: -1, guestIPs: '', guestFQDN: '',
    appsList: [], disksUsage: [], netIfaces: [], memoryStats: {}, diskMapping: {},
  });
});

void test('heartbeat: free-ram -> memUsage, memory-stat values as strings, mem_free mirrors mem_unused', () => {
  const { info, effect } = apply('heartbeat', {
    'free-ram': 1024000,
    'memory-stat': { mem_total: 8059320, mem_unused: 2733832, mem_free: 4466104, swap_in: 0, swap_out: 0, majflt: 0, pageflt: 0 },
  });
  assert.equal(info.memUsage, 1024000);
  assert.deepEqual(info.memoryStats, { mem_total: '8059320', mem_unused: '2733832', mem_free: '2733832', swap_in: '0', swap_out: '0', majflt: '0', pageflt: '0' });
  assert.deepEqual(effect.heartbeat, { apiVersion: undefined, hasApiVersion: false });
  const v = apply('heartbeat', { 'free-ram': '512', apiVersion: 3 });
  assert.equal(v.info.memUsage, 512, 'a decimal string, as Python int() takes it');
  assert.deepEqual(v.effect.heartbeat, { apiVersion: 3, hasApiVersion: true });
  assert.throws(() => apply('heartbeat', { 'free-ram': 'lots' }), InvalidMessage);
  assert.throws(() => apply('heartbeat', {}), InvalidMessage);
});

void test('host-name, os-version, os-info, timezone, fqdn', () => {
  const info = initialOvirtInfo();
  applyGuestMessage(info, 'host-name', { name: 'example.ovirt.org' }, 0);
  applyGuestMessage(info, 'os-version', { version: '2.6.32-71.el6.x86_64' }, 0);
  applyGuestMessage(info, 'os-info', { type: 'linux', arch: 'x86_64', kernel: '5.14', distribution: 'CentOS', version: '9', codename: '', nested: { no: 1 } }, 0);
  applyGuestMessage(info, 'timezone', { zone: 'Europe/Prague', offset: 60 }, 0);
  applyGuestMessage(info, 'fqdn', { fqdn: 'vm1.example.org' }, 0);
  assert.equal(info.guestName, 'example.ovirt.org');
  assert.equal(info.guestOs, '2.6.32-71.el6.x86_64');
  assert.deepEqual(info.guestOsInfo, { type: 'linux', arch: 'x86_64', kernel: '5.14', distribution: 'CentOS', version: '9', codename: '' });
  assert.deepEqual(info.guestTimezone, { zone: 'Europe/Prague', offset: 60 });
  assert.equal(info.guestFQDN, 'vm1.example.org');
  assert.throws(() => applyGuestMessage(info, 'host-name', {}, 0), /"name" missing/);
});

void test('network-interfaces: netIfaces as given (missing inet lists become []), guestIPs the IPv4 addresses', () => {
  const { info, effect } = apply('network-interfaces', {
    interfaces: [
      { name: 'eth0', inet: ['9.115.122.77'], inet6: ['fe80::200:ff:fe00:1'], hw: '00:00:00:00:00:01' },
      { name: 'wlan0', inet: ['9.115.126.23'], inet6: ['fe80::200:ff:fe00:2'], hw: '00:00:00:00:00:02' },
      { name: 'virbr0', inet: ['192.168.122.1'], hw: '00:00:00:00:00:03' },
    ],
  });
  assert.deepEqual(info.netIfaces, [
    { name: 'eth0', hw: '00:00:00:00:00:01', inet: ['9.115.122.77'], inet6: ['fe80::200:ff:fe00:1'] },
    { name: 'wlan0', hw: '00:00:00:00:00:02', inet: ['9.115.126.23'], inet6: ['fe80::200:ff:fe00:2'] },
    { name: 'virbr0', hw: '00:00:00:00:00:03', inet: ['192.168.122.1'], inet6: [] },
  ]);
  assert.equal(info.guestIPs, '9.115.122.77 9.115.126.23 192.168.122.1');
  assert.deepEqual(effect.changed, ['netIfaces', 'guestIPs']);
  assert.throws(() => apply('network-interfaces', { interfaces: 'eth0' }), /expected a list/);
});

void test('applications, uninstalled, disks-usage (sizes as strings, the mapping kept), number-of-cpus', () => {
  const info = initialOvirtInfo();
  applyGuestMessage(info, 'applications', { applications: ['kernel-2.6.32-71.7.1.el6', 'kernel-2.6.32-220.el6', 42] }, 0);
  assert.deepEqual(info.appsList, ['kernel-2.6.32-71.7.1.el6', 'kernel-2.6.32-220.el6', '42']);
  applyGuestMessage(info, 'uninstalled', {}, 0);
  assert.deepEqual(info.appsList, []);
  applyGuestMessage(info, 'disks-usage', {
    disks: [{ total: 130062397440, used: 76402614272, fs: 'ext4', path: '/' }, { total: 203097088, used: 153052160, fs: 'ext4', path: '/boot' }],
    mapping: { 'b8f4b7c4-x': { name: '/dev/vda' } },
  }, 0);
  assert.deepEqual(info.disksUsage, [
    { path: '/', fs: 'ext4', total: '130062397440', used: '76402614272' },
    { path: '/boot', fs: 'ext4', total: '203097088', used: '153052160' },
  ]);
  assert.deepEqual(info.diskMapping, { 'b8f4b7c4-x': { name: '/dev/vda' } });
  applyGuestMessage(info, 'number-of-cpus', { count: '4' }, 0);
  assert.equal(info.guestCPUCount, 4);
});

void test('active-user: a new name sets lastLogin; Unknown after None is not a change', () => {
  const info = initialOvirtInfo();
  let e = applyGuestMessage(info, 'active-user', { name: 'alice' }, 111);
  assert.equal(info.username, 'alice');
  assert.equal(info.lastLogin, 111);
  assert.deepEqual(e.changed, ['username', 'lastLogin']);
  e = applyGuestMessage(info, 'active-user', { name: 'alice' }, 222);
  assert.deepEqual(e.changed, []);
  assert.equal(info.lastLogin, 111);
  info.username = 'None';
  e = applyGuestMessage(info, 'active-user', { name: 'Unknown' }, 333);
  assert.equal(info.username, 'None');
});

void test('session messages, startup/shutdown notes, containers, completion, unknown names', () => {
  const info = initialOvirtInfo();
  const sessions: [string, string][] = [['session-logon', 'UserLoggedOn'], ['session-lock', 'Locked'], ['session-unlock', 'Active'], ['session-logoff', 'LoggedOff']];
  for (const [msg, state] of sessions) {
    applyGuestMessage(info, msg, {}, 0);
    assert.equal(info.session, state);
  }
  assert.match(applyGuestMessage(info, 'session-startup', {}, 0).note!, /started/);
  assert.match(applyGuestMessage(info, 'session-shutdown', {}, 0).note!, /shuts down/);
  applyGuestMessage(info, 'containers', { list: [{ id: 'abc', names: 'web', image: 'nginx', command: 'nginx', status: 'Up' }] }, 0);
  assert.deepEqual(info.guestContainers, [{ id: 'abc', names: 'web', image: 'nginx', command: 'nginx', status: 'Up' }]);
  assert.equal(applyGuestMessage(info, 'completion', { reply_id: 'r-1' }, 0).completion, 'r-1');
  assert.throws(() => applyGuestMessage(info, 'make-coffee', {}, 0), (e: unknown) => e instanceof InvalidMessage && e.kind === 'unknown' && /Unknown message type make-coffee/.test(e.message));
});

void test('a rejected message leaves the info untouched', () => {
  const info = initialOvirtInfo();
  applyGuestMessage(info, 'applications', { applications: ['a'] }, 0);
  const before = JSON.stringify(info);
  assert.throws(() => applyGuestMessage(info, 'applications', { applications: 'a' }, 0));
  assert.throws(() => applyGuestMessage(info, 'heartbeat', { 'memory-stat': {} }, 0));
  assert.throws(() => applyGuestMessage(info, 'disks-usage', {}, 0));
  assert.equal(JSON.stringify(info), before);
});

void test('lists are bounded; the effect says so', () => {
  const many = Array.from({ length: MAX_LIST_ENTRIES + 5 }, (_, i) => `app-${i}`);
  const { info, effect } = apply('applications', { applications: many });
  assert.equal(info.appsList.length, MAX_LIST_ENTRIES);
  assert.equal(effect.truncated, true);
  const ifaces = Array.from({ length: MAX_LIST_ENTRIES + 1 }, (_, i) => ({ name: `e${i}`, inet: [], inet6: [] }));
  const n = apply('network-interfaces', { interfaces: ifaces });
  assert.equal(n.info.netIfaces.length, MAX_LIST_ENTRIES);
});

void test('reboot forgets the user; a channel timeout zeroes the memory figure', () => {
  const info = initialOvirtInfo();
  applyGuestMessage(info, 'active-user', { name: 'bob' }, 1);
  applyGuestMessage(info, 'heartbeat', { 'free-ram': 100 }, 1);
  assert.deepEqual(applyReboot(info, 50), ['lastUser', 'username', 'lastLogout']);
  assert.equal(info.username, 'Unknown');
  assert.equal(info.lastUser, 'bob');
  assert.equal(info.lastLogout, 50);
  assert.deepEqual(applyChannelTimeout(info), ['memUsage']);
  assert.equal(info.memUsage, 0);
});
