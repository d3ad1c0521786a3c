// The QEMU agent's answers in the engine's terms, with vdsm's own samples (tests/virt/qemuguestagent_test.py):
// guest-info capabilities, libvirt guestInfo params, vCPU lists, guest-get-devices, fake appsList.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  agentReturn, capabilitiesFrom, cpulistCount, fakeAppsList, guestCpuCount, pciDevicesFrom, QgaReplyError, translateArch, translateGuestInfo,
} from '../../workers/guest/qga-translate.js';
import { hasRoutableAddress } from '../../src/guest/qga-schedule.js';

const VDSM_GUEST_INFO = {
  'user.count': 2, 'user.0.name': 'root', 'user.1.name': 'frodo', 'user.1.domain': 'hobbits',
  'os.id': 'rhel', 'os.name': 'Red Hat Enterprise Linux Server', 'os.pretty-name': 'Red Hat Enterprise Linux Server 7.8 Beta (Maipo)',
  'os.version': '7.8 (Maipo)', 'os.version-id': '7.8', 'os.machine': 'x86_64', 'os.variant': 'Server', 'os.variant-id': 'server',
  'os.kernel-release': '3.10.0-1101.el7.x86_64', 'os.kernel-version': '#1 SMP Sat Oct 5 04:50:26 EDT 2019',
  'timezone.name': 'EDT', 'timezone.offset': -14400, hostname: 'localhost.localdomain',
  'fs.count': 1, 'fs.0.name': 'vda1', 'fs.0.mountpoint': '/', 'fs.0.fstype': 'xfs', 'fs.0.disk.count': 1, 'fs.0.disk.0.alias': 'vda',
  'fs.0.disk.0.serial': 'e7d27603-0a2e-47ab-8', 'fs.0.disk.0.device': '/dev/vda1', 'fs.0.total-bytes': 200, 'fs.0.used-bytes': 100,
};

void test('vdsm\'s guestInfo sample: disks, mapping without the partition number, hostname, OS, timezone in minutes, users', () => {
  const f = translateGuestInfo(VDSM_GUEST_INFO, true);
  assert.deepEqual(f.disksUsage, [{ path: '/', total: '200', used: '100', fs: 'xfs' }]);
  assert.deepEqual(f.diskMapping, { 'e7d27603-0a2e-47ab-8': { name: '/dev/vda' } });
  assert.equal(f.guestFQDN, 'localhost.localdomain');
  assert.equal(f.guestName, 'localhost.localdomain');
  assert.equal(f.guestOs, '3.10.0-1101.el7.x86_64');
  assert.deepEqual(f.guestOsInfo, { type: 'linux', arch: 'x86_64', kernel: '3.10.0-1101.el7.x86_64', distribution: 'Red Hat Enterprise Linux Server', version: '7.8', codename: 'Server' });
  assert.deepEqual(f.guestTimezone, { offset: -240, zone: 'EDT' });
  assert.equal(f.username, 'root, frodo@hobbits');
  assert.ok(!('diskMapping' in translateGuestInfo(VDSM_GUEST_INFO, false)), 'guest-get-disks gives the mapping instead');
});

void test('disks type: serial -> device name; file systems without sizes are skipped', () => {
  const f = translateGuestInfo({
    'disk.count': 2, 'disk.0.name': '/dev/sda', 'disk.0.serial': 'S1', 'disk.1.name': '/dev/sda1', 'disk.1.partition': true,
    'fs.count': 2, 'fs.0.mountpoint': 'C:\\', 'fs.0.fstype': 'NTFS', 'fs.0.total-bytes': 1, 'fs.0.used-bytes': 0, 'fs.1.mountpoint': 'System Reserved', 'fs.1.fstype': 'NTFS',
  }, false);
  assert.deepEqual(f.diskMapping, { S1: { name: '/dev/sda' } });
  assert.deepEqual(f.disksUsage, [{ path: 'C:\\', total: '1', used: '0', fs: 'NTFS' }]);
});

void test('Windows OS info: pretty name, empty kernel and distribution', () => {
  const f = translateGuestInfo({ 'os.id': 'mswindows', 'os.pretty-name': 'Windows 10 Enterprise', 'os.kernel-version': '10.0', 'os.machine': 'x86_64', 'os.kernel-release': '10240' }, true);
  assert.equal(f.guestOs, 'Windows 10 Enterprise');
  assert.deepEqual(f.guestOsInfo, { type: 'windows', arch: 'x86_64', kernel: '', distribution: '', version: '10.0', codename: 'Windows 10 Enterprise' });
  assert.deepEqual(fakeAppsList({ version: '100.0', commands: [] }, 'mswindows', '10240'), ['qemu-guest-agent-100.0']);
});

void test('architectures the engine knows; the rest "unknown"', () => {
  assert.equal(translateArch('i686'), 'x86');
  assert.equal(translateArch('ppc64le'), 'ppc64le');
  assert.equal(translateArch('aarch64'), 'unknown');
});

void test('interfaces from libvirt params (vdsm\'s interfaceAddresses sample): inet/inet6 split, guestIPs the IPv4 ones', () => {
  const f = translateGuestInfo({
    'if.count': 2,
    'if.0.name': 'ens2', 'if.0.hwaddr': '52:54:00:ed:99:76', 'if.0.addr.count': 2,
    'if.0.addr.0.type': 'ipv4', 'if.0.addr.0.addr': '192.168.124.216', 'if.0.addr.0.prefix': 24,
    'if.0.addr.1.type': 'ipv6', 'if.0.addr.1.addr': 'fe80::5054:ff:feed:9976', 'if.0.addr.1.prefix': 64,
    'if.1.name': 'lo', 'if.1.hwaddr': '00:00:00:00:00:00', 'if.1.addr.count': 2,
    'if.1.addr.0.type': 'ipv4', 'if.1.addr.0.addr': '127.0.0.1', 'if.1.addr.1.type': 'ipv6', 'if.1.addr.1.addr': '::1',
  }, true);
  assert.deepEqual(f.netIfaces, [
    { name: 'ens2', hw: '52:54:00:ed:99:76', inet: ['192.168.124.216'], inet6: ['fe80::5054:ff:feed:9976'] },
    { name: 'lo', hw: '00:00:00:00:00:00', inet: ['127.0.0.1'], inet6: ['::1'] },
  ]);
  assert.equal(f.guestIPs, '192.168.124.216 127.0.0.1');
  assert.equal(hasRoutableAddress(f.netIfaces), true);
  assert.equal(hasRoutableAddress([{ name: 'eth0', hw: '', inet: ['169.254.1.1'], inet6: ['fe80::1'] }, { name: 'lo', hw: '', inet: ['10.0.0.1'], inet6: [] }]), false);
  assert.equal(hasRoutableAddress([{ name: 'docker0', hw: '', inet: ['172.17.0.1'], inet6: [] }]), false);
  assert.equal(hasRoutableAddress([{ name: 'eth0', hw: '', inet: [], inet6: ['2001:db8::1'] }]), true);
});

void test('guest-info: version and enabled commands only (vdsm sample); error replies and garbage are reply errors', () => {
  const caps = capabilitiesFrom(JSON.stringify({ return: { version: '1.2.3', supported_commands: [
    { enabled: true, name: 'guest-info', 'success-response': true }, { enabled: false, name: 'guest-exec', 'success-response': true },
  ] } }));
  assert.deepEqual(caps, { version: '1.2.3', commands: ['guest-info'] });
  assert.throws(() => agentReturn('{"error":{"class":"CommandNotFound","desc":"..."}}'), QgaReplyError);
  assert.throws(() => agentReturn('{"nothing":1}'), /Invalid response/);
  assert.throws(() => agentReturn('not json'), /Failed to parse/);
  assert.throws(() => capabilitiesFrom('{"return":{}}'), QgaReplyError);
});

void test('guest-get-devices: PCI devices with drivers, each listed once (vdsm sample); ns dates become YYYY-MM-DD', () => {
  const dev = (id: number, name: string, date: unknown) => ({
    'driver-date': date, 'driver-name': name, 'driver-version': '100.80.104.17300', address: { type: 'pci', data: { 'device-id': id, 'vendor-id': 6900 } },
  });
  const list = pciDevicesFrom(JSON.stringify({ return: [dev(4096, 'Red Hat VirtIO Ethernet Adapter', '2019-08-12'), dev(4098, 'VirtIO Balloon Driver', '2019-08-12'), dev(4096, 'Red Hat VirtIO Ethernet Adapter', '2019-08-12'), { 'driver-name': 'x', address: { type: 'usb' } }] }));
  assert.deepEqual(list, [
    { device_id: 4096, vendor_id: 6900, driver_name: 'Red Hat VirtIO Ethernet Adapter', driver_version: '100.80.104.17300', driver_date: '2019-08-12' },
    { device_id: 4098, vendor_id: 6900, driver_name: 'VirtIO Balloon Driver', driver_version: '100.80.104.17300', driver_date: '2019-08-12' },
  ]);
  assert.equal(pciDevicesFrom(JSON.stringify({ return: [dev(1, 'n', 1565568000000000000)] }))[0]!.driver_date, '2019-08-12');
});

void test('vCPU lists: online count, -1 when not reported, garbage refused', () => {
  assert.equal(cpulistCount('0-3,5,7-8'), 7);
  assert.equal(guestCpuCount({ vcpus: '0-3', online: '0-1,3', offlinable: '1-3' }), 3);
  assert.equal(guestCpuCount({}), -1);
  assert.throws(() => cpulistCount('3-1'), QgaReplyError);
  assert.throws(() => cpulistCount('a'), QgaReplyError);
});

void test('fake appsList: kernel (non-Windows) and qemu-guest-agent (vdsm sample)', () => {
  assert.deepEqual(fakeAppsList({ version: '0.0-test', commands: [] }, 'rhel', '3.10.0-1101.el7.x86_64'), ['kernel-3.10.0-1101.el7.x86_64', 'qemu-guest-agent-0.0-test']);
  assert.deepEqual(fakeAppsList({ version: '7.2', commands: [] }), ['qemu-guest-agent-7.2']);
  assert.deepEqual(fakeAppsList({ version: null, commands: [] }), []);
});
