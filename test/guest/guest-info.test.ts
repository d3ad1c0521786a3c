// vdsm's merge of both agents: defaults, the oVirt agent while responsive (and last-known appsList,
// guestIPs and guestFQDN after), QEMU agent data winning, its fake appsList only without a real one, the
// qemu-guest-agent entry added to the oVirt list, memUsage as percent used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memUsagePercent, mergeGuestInfo } from '../../src/guest/guest-info.js';
import { initialOvirtInfo, type OvirtGuestInfo } from '../../src/guest/ovirt-messages.js';

function ovirt(over: Partial<OvirtGuestInfo> = {}): OvirtGuestInfo {
  return {
    ...initialOvirtInfo(), username: 'alice', session: 'Active', memUsage: 256, guestCPUCount: 2, guestIPs: '10.0.0.2', guestFQDN: 'vm.example.org',
    appsList: ['kernel-5.14', 'ovirt-guest-agent-1.0.16'], netIfaces: [{ name: 'eth0', hw: 'aa', inet: ['10.0.0.2'], inet6: [] }], guestName: 'vm', guestOs: '5.14',
    memoryStats: { mem_total: '1000', mem_unused: '100', mem_free: '100' }, ...over,
  };
}

void test('no agent: vdsm\'s defaults', () => {
  assert.deepEqual(mergeGuestInfo({ memSizeMiB: 1024 }), { username: 'Unknown', session: 'Unknown', guestCPUCount: -1, appsList: [], guestIPs: '', guestFQDN: '' });
});

void test('a responsive oVirt agent: its data, memUsage as percent used of the VM memory', () => {
  const m = mergeGuestInfo({ ovirt: { info: ovirt(), responsive: true }, memSizeMiB: 1024 });
  assert.equal(m.username, 'alice');
  assert.equal(m.session, 'Active');
  assert.equal(m.memUsage, '75', '256 MiB free of 1024');
  assert.equal(m.guestCPUCount, 2);
  assert.deepEqual(m.appsList, ['kernel-5.14', 'ovirt-guest-agent-1.0.16']);
  assert.equal(m.guestName, 'vm');
  assert.deepEqual(m.memoryStats, { mem_total: '1000', mem_unused: '100', mem_free: '100' });
  assert.equal(memUsagePercent(0, 1024), undefined, 'no figure: the balloon\'s is used');
});

void test('an unresponsive oVirt agent: defaults, but the last appsList, guestIPs and guestFQDN stay', () => {
  const m = mergeGuestInfo({ ovirt: { info: ovirt(), responsive: false }, memSizeMiB: 1024 });
  assert.deepEqual(m, { username: 'Unknown', session: 'Unknown', guestCPUCount: -1, appsList: ['kernel-5.14', 'ovirt-guest-agent-1.0.16'], guestIPs: '10.0.0.2', guestFQDN: 'vm.example.org' });
});

void test('QEMU agent data wins over the oVirt agent\'s; its made-up appsList only when there is no real one', () => {
  const qga = { username: 'root', guestCPUCount: 4, guestName: 'qga-host', guestFQDN: 'qga-host', appsList: ['kernel-6.1', 'qemu-guest-agent-7.2'], diskMapping: { s: { name: '/dev/vda' } } };
  const both = mergeGuestInfo({ ovirt: { info: ovirt(), responsive: true }, qga, qgaVersion: '7.2', memSizeMiB: 1024 });
  assert.equal(both.username, 'root');
  assert.equal(both.guestCPUCount, 4);
  assert.equal(both.guestName, 'qga-host');
  assert.deepEqual(both.appsList, ['kernel-5.14', 'ovirt-guest-agent-1.0.16', 'qemu-guest-agent-7.2'], 'the oVirt list, plus the qemu-ga entry it lacked');
  assert.ok(!('diskMapping' in both), 'the disk mapping is not a stats key');
  const onlyQga = mergeGuestInfo({ qga, qgaVersion: '7.2', memSizeMiB: 1024 });
  assert.deepEqual(onlyQga.appsList, ['kernel-6.1', 'qemu-guest-agent-7.2']);
  assert.equal(onlyQga.session, 'Unknown');
  const listed = mergeGuestInfo({ ovirt: { info: ovirt({ appsList: ['QEMU guest agent'] }), responsive: true }, qga, qgaVersion: '7.2', memSizeMiB: 1024 });
  assert.deepEqual(listed.appsList, ['QEMU guest agent'], 'already listed under another spelling: nothing added');
});

void test('integers only on the wire: lastLogin and lastLogout truncated', () => {
  const m = mergeGuestInfo({ ovirt: { info: ovirt({ lastLogin: 1700000000.75, lastLogout: 1.5, lastUser: 'bob' }), responsive: true }, memSizeMiB: 1024 });
  assert.equal(m.lastLogin, 1700000000);
  assert.equal(m.lastLogout, 1);
  assert.equal(m.lastUser, 'bob');
});
