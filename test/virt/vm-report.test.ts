// The per-VM stats object and the VM_status event, checked against the engine's type rules, plus
// acceptance case 179 (monitorResponse "-1" after 60 s without fresh stats).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildVmStatsReport, buildVmStatusNotification, statusEventDetails } from '../../src/virt/vm-report.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { StatsCache, type BulkSample } from '../../src/virt/stats-cache.js';
import { VmStateMachine, LifecycleEvent, StoppedDetail, type VmStatusChange } from '../../src/virt/vm-state.js';
import { VmStatus as S } from '../../src/virt/vm-state.js';
import { checkVmStats, checkVmStatusEvent } from '../helpers/engine-types.js';
import { domainXml, VM_UUID } from './domain-fixtures.js';
import { ManualTime } from '../support/manual-time.js';

function record(cpuTime: number): Record<string, number | string> {
  return {
    'cpu.time': cpuTime, 'cpu.user': cpuTime / 4, 'cpu.system': cpuTime / 4, 'vcpu.current': 2, 'balloon.current': 4194304,
    'balloon.available': 4000000, 'balloon.unused': 1000000, 'balloon.disk_caches': 1000000,
    'net.count': 1, 'net.0.name': 'vnet0', 'net.0.rx.bytes': cpuTime / 1000, 'net.0.tx.bytes': 5, 'net.0.rx.errs': 0, 'net.0.rx.drop': 0, 'net.0.tx.errs': 0, 'net.0.tx.drop': 0,
    'block.count': 1, 'block.0.name': 'vda', 'block.0.rd.reqs': cpuTime / 1e6, 'block.0.rd.bytes': cpuTime, 'block.0.rd.times': cpuTime * 3,
    'block.0.wr.reqs': 0, 'block.0.wr.bytes': 0, 'block.0.wr.times': 0, 'block.0.fl.reqs': 0, 'block.0.fl.times': 0,
  };
}

function running(): { time: ManualTime; vm: VmStateMachine; cache: StatsCache; changes: VmStatusChange[] } {
  const time = new ManualTime(100_000);
  const changes: VmStatusChange[] = [];
  const vm = new VmStateMachine(VM_UUID, { clock: time, timers: time, onStatusChange: (c) => changes.push(c) });
  const cache = new StatsCache(time);
  cache.add(VM_UUID);
  vm.launched();
  vm.guestUp();
  const first: BulkSample = { [VM_UUID]: record(1.5e9) };
  cache.put(first, cache.clock());
  time.advance(15_000);
  const last: BulkSample = { [VM_UUID]: record(3e9) };
  cache.put(last, cache.clock());
  return { time, vm, cache, changes };
}

const domain = parseDomainXml(domainXml());

void test('issue 11: pid, displayPort, pauseCode on every running VM and a network entry per NIC, typed as vdsm-api.yml has them', () => {
  const { time, vm, cache } = running();
  const report = buildVmStatsReport({ state: vm.describe(), domain, sample: cache.get(VM_UUID), clock: time, pid: 4242 });
  assert.deepEqual(checkVmStats(report), []);
  assert.equal(report['pid'], '4242');
  assert.equal(report['displayPort'], '5900');
  assert.equal(report['displaySecurePort'], '-1');
  assert.equal(report['pauseCode'], 'NOERR');
  assert.deepEqual(Object.keys(report['network'] as object), domain.nics.map((n) => n.target ?? n.alias));
  vm.paused('EIO');
  assert.equal(buildVmStatsReport({ state: vm.describe(), domain, clock: time })['pauseCode'], 'EIO');
  // no pid known (libvirt's test driver), no graphics, no sample yet: still every key
  const bare = parseDomainXml(domainXml().replace(/<graphics[\s\S]*?<\/graphics>|<graphics[^>]*\/>/g, ''));
  const fresh = new VmStateMachine(VM_UUID, { clock: time, timers: time });
  fresh.launched();
  const r = buildVmStatsReport({ state: fresh.describe(), domain: bare, clock: time });
  assert.equal(r['pid'], '0');
  assert.equal(r['displayPort'], '-1');
  assert.equal(r['pauseCode'], 'NOERR');
  assert.equal(Object.keys(r['network'] as object).length, bare.nics.length);
  assert.deepEqual(checkVmStats(r), []);
});

void test('a running VM report satisfies every engine type rule', () => {
  const { time, vm, cache } = running();
  const report = buildVmStatsReport({ state: vm.describe(), domain, sample: cache.get(VM_UUID), clock: time, displayIp: '192.0.2.2', subject: { balloon: { target: 4194304, minimum: 1048576, enabled: true } } });
  assert.deepEqual(checkVmStats(report), []);
  assert.equal(report['status'], 'Up');
  assert.equal(report['statusTime'], String(2147483647 + time.now()));
  assert.equal(report['elapsedTime'], '15');
  assert.equal(report['monitorResponse'], '0');
  assert.equal(report['vmName'], 'web-01');
  assert.equal(report['timeOffset'], '3600');
  assert.equal(report['acpiEnable'], 'true');
  assert.equal(report['hash'], domain.deviceHash);
  assert.deepEqual(report['displayInfo'], [
    { type: 'vnc', port: '5900', tlsPort: '-1', ipAddress: '192.0.2.2' },
    { type: 'spice', port: '5901', tlsPort: '5902', ipAddress: '192.0.2.10' },
  ]);
  assert.equal(report['cpuSys'], '5.00');
  assert.equal(report['cpuUser'], '5.00');
  // 100 - 2000000 KiB free / 4 GiB * 100 = 52.3
  assert.equal(report['memUsage'], '52');
  assert.equal(report['guestCPUCount'], -1);
  assert.equal(report['username'], 'Unknown');
  assert.deepEqual(report['appsList'], []);
  assert.equal((report['disks'] as Record<string, Record<string, string>>)['vda']?.['readLatency'], '3000000.0');
});

void test('balloonInfo comes from the domain (currentMemory target, minGuaranteedMemoryMb minimum) when no target is given', () => {
  const { time, vm, cache } = running();
  const report = buildVmStatsReport({ state: vm.describe(), domain, sample: cache.get(VM_UUID), clock: time });
  assert.deepEqual(report['balloonInfo'], {
    balloon_max: String(domain.memoryKiB), balloon_min: String(1024 * 1024), balloon_cur: '4194304',
    balloon_target: String(domain.currentMemoryKiB), ballooning_enabled: true,
  });
  const noBalloon = parseDomainXml(domainXml().replace(/<memballoon[\s\S]*?(<\/memballoon>|\/>)/, '<memballoon model="none"/>'));
  assert.equal(buildVmStatsReport({ state: vm.describe(), domain: noBalloon, sample: cache.get(VM_UUID), clock: time })['balloonInfo'], undefined);
});

void test('179: a monitorable VM without fresh stats for 60 s reports monitorResponse "-1"', () => {
  const { time, vm, cache } = running();
  time.advance(59_999);
  assert.equal(buildVmStatsReport({ state: vm.describe(), domain, sample: cache.get(VM_UUID), clock: time })['monitorResponse'], '0');
  time.advance(1);
  assert.equal(buildVmStatsReport({ state: vm.describe(), domain, sample: cache.get(VM_UUID), clock: time })['monitorResponse'], '-1');
  assert.equal(buildVmStatsReport({ state: vm.describe(), domain, sample: cache.get(VM_UUID), clock: time, monitorable: false })['monitorResponse'], '0');
});

void test('a Down VM reports its exit info with integer codes; the Down event passes the event check', () => {
  const { time, vm, cache, changes } = running();
  vm.onLifecycleEvent(LifecycleEvent.STOPPED, StoppedDetail.SHUTDOWN);
  const report = buildVmStatsReport({ state: vm.describe(), domain, sample: cache.get(VM_UUID), clock: time });
  assert.deepEqual(report, { vmId: VM_UUID, status: 'Down', statusTime: String(2147483647 + time.now()), exitCode: 0, exitMessage: 'User shut down from within the guest', exitReason: 7, timeOffset: '3600' });
  assert.deepEqual(checkVmStats(report), []);
  const change = changes.at(-1) as VmStatusChange;
  const event = buildVmStatusNotification(VM_UUID, statusEventDetails(change, report), 2147483647 + time.now());
  assert.deepEqual(checkVmStatusEvent(event), []);
  assert.deepEqual(Object.keys(event.params).sort(), ['notify_time', VM_UUID].sort());
  assert.equal(event.method, `|virt|VM_status|${VM_UUID}`);
});

void test('status events on the way up carry the running report with the new status', () => {
  const { time, vm, cache, changes } = running();
  for (const change of changes) {
    const report = buildVmStatsReport({ state: vm.describe(), domain, sample: cache.get(VM_UUID), clock: time });
    const event = buildVmStatusNotification(VM_UUID, statusEventDetails(change, report), change.statusTime);
    assert.deepEqual(checkVmStatusEvent(event), [], change.to);
    assert.equal((event.params[VM_UUID] as Record<string, unknown>)['status'], change.to);
  }
  assert.deepEqual(changes.map((c) => c.to), [S.POWERING_UP, S.UP]);
});

void test('a VM still in WaitForLaunch (no domain yet) still has every required key', () => {
  const time = new ManualTime(0);
  const vm = new VmStateMachine(VM_UUID, { clock: time, timers: time });
  const report = buildVmStatsReport({ state: vm.describe(), clock: time });
  assert.deepEqual(checkVmStats(report), []);
  assert.equal(report['status'], 'WaitForLaunch');
});

void test('the checkers catch what crashes the engine', () => {
  const bad = { vmId: VM_UUID, status: 'Up', statusTime: 4295123456, elapsedTime: '1', monitorResponse: '0', timeOffset: '0', hash: '1', cpuUser: 1.5, displayInfo: [{ type: 'vnc', port: 5900, tlsPort: '-1' }] };
  const v = checkVmStats(bad);
  assert.ok(v.some((x) => x.startsWith('vm.statusTime')));
  assert.ok(v.some((x) => x.startsWith('vm.cpuUser')));
  assert.ok(v.some((x) => x.startsWith('vm.displayInfo[0].port')));
  assert.ok(checkVmStats({ vmId: VM_UUID, status: 'Down', statusTime: '1', exitCode: 0, exitMessage: 'x', exitReason: '6' }).some((x) => x.includes('exitReason')));
  assert.ok(checkVmStats({ vmId: VM_UUID, status: 'Running', statusTime: '1' }).some((x) => x.includes('status')));
  const ev = { jsonrpc: '2.0', method: `|virt|VM_status|${VM_UUID}`, params: { [VM_UUID]: { status: 'Up' }, notify_time: 1.5, extra: 1 } };
  const ve = checkVmStatusEvent(ev);
  assert.ok(ve.some((x) => x.includes('notify_time')));
  assert.ok(ve.some((x) => x.includes('event.params.extra')));
  assert.ok(checkVmStatusEvent({ ...ev, method: `virt|VM_status|${VM_UUID}` }).some((x) => x.startsWith('event.method')));
});

void test('vcpuQuota / vcpuPeriod: libvirt\'s scheduler values as vdsm reports them (a string and a long, typed as vdsm-api.yml has them), only when read and not 0', () => {
  const { time, vm, cache } = running();
  const input = { state: vm.describe(), domain, sample: cache.get(VM_UUID), clock: time };
  // QEMU with cgroups, no limit set: libvirt gives quota -1 and the kernel's period.
  const unlimited = buildVmStatsReport({ ...input, vcpuTune: { vcpu_quota: -1, vcpu_period: 100000 } });
  assert.equal(unlimited['vcpuQuota'], '-1');
  assert.equal(unlimited['vcpuPeriod'], 100000);
  assert.deepEqual(checkVmStats(unlimited), []);
  const limited = buildVmStatsReport({ ...input, vcpuTune: { vcpu_quota: 50000, vcpu_period: 200000 } });
  assert.equal(limited['vcpuQuota'], '50000');
  assert.equal(limited['vcpuPeriod'], 200000);
  // 0 is libvirt's "no value"; nothing read (the test driver has only weight, an unprivileged libvirtd refuses): no keys.
  for (const vcpuTune of [{ vcpu_quota: 0, vcpu_period: 0 }, {}, undefined]) {
    const r = buildVmStatsReport({ ...input, vcpuTune });
    assert.equal('vcpuQuota' in r, false, JSON.stringify(vcpuTune));
    assert.equal('vcpuPeriod' in r, false, JSON.stringify(vcpuTune));
  }
  // The type rules catch what vdsm-api.yml forbids.
  assert.equal(checkVmStats({ ...unlimited, vcpuQuota: -1 }).length, 1);
  assert.equal(checkVmStats({ ...unlimited, vcpuPeriod: '100000' }).length, 1);
});
