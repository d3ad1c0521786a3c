// VM stats computed from libvirt bulk-stats records, with the figures vdsm's own tests state
// (acceptance cases 169-172).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  balloonStats, bulkStatsIndexByName, cpuStats, diskStats, memoryStats, networkStats, produceVmStats, translateVmStats, vcpuCount,
  type ProducedVmStats, type VmStatsSubject,
} from '../../src/virt/stats-compute.js';
import type { BulkStatsRecord } from '../../src/virt/stats-cache.js';

const FIRST_CPU = { 'cpu.user': 4740000000, 'cpu.system': 6490000000 };
const LAST_CPU = { 'cpu.user': 4760000000, 'cpu.system': 6500000000 };

/** Two samples of one VM in which the NIC and disk indexes change between samples (vdsm's test data). */
const FIRST: BulkStatsRecord = {
  'state.state': 1, 'cpu.time': 13755069120, 'cpu.user': 3370000000, 'cpu.system': 6320000000,
  'balloon.current': 4194304, 'balloon.maximum': 4194304, 'vcpu.current': 2, 'vcpu.maximum': 16,
  'net.count': 1, 'net.0.name': 'vnet0', 'net.0.rx.bytes': 0, 'net.0.rx.pkts': 0, 'net.0.rx.errs': 0, 'net.0.rx.drop': 0,
  'net.0.tx.bytes': 0, 'net.0.tx.pkts': 0, 'net.0.tx.errs': 0, 'net.0.tx.drop': 0,
  'block.count': 2, 'block.0.name': 'hdc', 'block.0.rd.reqs': 0, 'block.0.rd.bytes': 0, 'block.0.rd.times': 0,
  'block.0.wr.reqs': 0, 'block.0.wr.bytes': 0, 'block.0.wr.times': 0, 'block.0.fl.reqs': 0, 'block.0.fl.times': 0,
  'block.1.name': 'vda', 'block.1.rd.reqs': 1, 'block.1.rd.bytes': 512, 'block.1.rd.times': 58991,
  'block.1.wr.reqs': 0, 'block.1.wr.bytes': 0, 'block.1.wr.times': 0, 'block.1.fl.reqs': 0, 'block.1.fl.times': 0,
};
const LAST: BulkStatsRecord = {
  'state.state': 1, 'cpu.time': 13755069120, 'cpu.user': 3370000000, 'cpu.system': 6320000000,
  'balloon.current': 4194304, 'balloon.maximum': 4194304, 'vcpu.current': 2, 'vcpu.maximum': 16,
  'net.count': 2, 'net.0.name': 'vnet1', 'net.0.rx.bytes': 0, 'net.0.rx.pkts': 0, 'net.0.rx.errs': 0, 'net.0.rx.drop': 0,
  'net.0.tx.bytes': 0, 'net.0.tx.pkts': 0, 'net.0.tx.errs': 0, 'net.0.tx.drop': 0,
  'net.1.name': 'vnet0', 'net.1.rx.bytes': 1024, 'net.1.rx.pkts': 128, 'net.1.rx.errs': 0, 'net.1.rx.drop': 0,
  'net.1.tx.bytes': 2048, 'net.1.tx.pkts': 256, 'net.1.tx.errs': 0, 'net.1.tx.drop': 0,
  'block.count': 3, 'block.0.name': 'hdd', 'block.0.rd.reqs': 0, 'block.0.rd.bytes': 0, 'block.0.rd.times': 0,
  'block.1.name': 'vda', 'block.1.rd.reqs': 3, 'block.1.rd.bytes': 1536, 'block.1.rd.times': 158991,
  'block.1.wr.reqs': 0, 'block.1.wr.bytes': 0, 'block.1.wr.times': 0, 'block.1.fl.reqs': 0, 'block.1.fl.times': 0,
  'block.2.name': 'hdc', 'block.2.rd.reqs': 1024, 'block.2.rd.bytes': 131072, 'block.2.rd.times': 0,
  'block.2.wr.reqs': 0, 'block.2.wr.bytes': 0, 'block.2.wr.times': 0, 'block.2.fl.reqs': 0, 'block.2.fl.times': 0,
};

function subject(over: Partial<VmStatsSubject> = {}): VmStatsSubject {
  return {
    vmId: 'f3243a90-2e9e-4061-b7b3-a6c585e14857', memSizeMiB: 256,
    nics: [{ name: 'vnet0', macAddr: '00:1a:4a:16:01:51', model: 'virtio' }],
    drives: [{ name: 'hdc', truesize: 700 * 1024 * 1024, apparentsize: 700 * 1024 * 1024, imageID: 'img-1' }, { name: 'vda', truesize: 1, apparentsize: 2 }],
    balloon: { target: 256 * 1024, minimum: 256 * 1024, enabled: true },
    monitorable: true,
    ...over,
  };
}

function captureLog(): { warn: (m: string) => void; error: (m: string) => void; warns: string[]; errors: string[] } {
  const warns: string[] = [];
  const errors: string[] = [];
  return { warn: (m) => warns.push(m), error: (m) => errors.push(m), warns, errors };
}

void test('169 CPU: no data gives the defaults and no result', () => {
  for (const [first, last] of [[{}, {}], [{}, FIRST_CPU], [FIRST_CPU, {}]] as const) {
    const stats: Partial<ProducedVmStats> = {};
    assert.equal(cpuStats(stats, first, last, 15), false);
    assert.deepEqual(stats, { cpuUsage: 0, cpuUser: 0, cpuSys: 0, cpuActual: false });
  }
});

void test('169 CPU: user/system only gives cpuSys 0.2, cpuUsage "11260000000", cpuActual false', () => {
  const stats: Partial<ProducedVmStats> = {};
  assert.equal(cpuStats(stats, FIRST_CPU, LAST_CPU, 15), false);
  assert.deepEqual(stats, { cpuUser: 0, cpuSys: 0.2, cpuUsage: '11260000000', cpuActual: false });
});

void test('169 CPU: with cpu.time, cpuUser 0.6840879 and cpuActual true; wire "0.68"/"0.20"', () => {
  const stats: Partial<ProducedVmStats> = {};
  const first = { ...FIRST_CPU, 'cpu.time': 24345584838 };
  const last = { ...LAST_CPU, 'cpu.time': 24478198023 };
  assert.equal(cpuStats(stats, first, last, 15), true);
  assert.deepEqual(stats, { cpuUser: 0.6840879, cpuSys: 0.2, cpuUsage: '11260000000', cpuActual: true });
  const wire = translateVmStats({ ...(stats as ProducedVmStats), network: {}, balloonInfo: {} });
  assert.equal(wire['cpuUser'], '0.68');
  assert.equal(wire['cpuSys'], '0.20');
  assert.equal(wire['cpuActual'], true);
});

void test('169 CPU: interval 0 or -1 gives no result; a cpu.time below user+system clamps cpuUser at 0', () => {
  for (const interval of [0, -1]) assert.equal(cpuStats({}, FIRST_CPU, LAST_CPU, interval), false);
  const stats: Partial<ProducedVmStats> = {};
  cpuStats(stats, { ...FIRST_CPU, 'cpu.time': 100 }, { ...LAST_CPU, 'cpu.time': 100 }, 15);
  assert.equal(stats.cpuUser, 0);
});

void test('170 vcpuCount: none, {}, -1 (error logged) give nothing; 4 gives 4', () => {
  const log = captureLog();
  for (const sample of [undefined, {}, { 'vcpu.current': -1 }]) {
    const stats: Partial<ProducedVmStats> = {};
    vcpuCount(stats, sample, log);
    assert.deepEqual(stats, {});
  }
  assert.equal(log.errors.length, 1);
  const stats: Partial<ProducedVmStats> = {};
  vcpuCount(stats, { 'vcpu.current': 4 }, log);
  assert.deepEqual(stats, { vcpuCount: 4 });
});

void test('171 balloon: a known target with an empty sample reports balloon_cur "0" and one warning', () => {
  const log = captureLog();
  const stats: Partial<ProducedVmStats> = {};
  balloonStats(subject(), stats, {}, log);
  assert.deepEqual(stats.balloonInfo, { balloon_max: '262144', balloon_min: '262144', balloon_cur: '0', balloon_target: '262144', ballooning_enabled: true });
  assert.equal(log.warns.length, 1);
  assert.match(log.warns[0] ?? '', /balloon\.current/);
  const none: Partial<ProducedVmStats> = {};
  balloonStats(subject({ balloon: undefined }), none, LAST, log);
  assert.deepEqual(none.balloonInfo, {});
});

void test('172 NICs are matched by name, not index; a NIC the last sample lacks reports zero counters (issue 11)', () => {
  assert.deepEqual([...bulkStatsIndexByName(LAST, 'net')], [['vnet1', 0], ['vnet0', 1]]);
  const stats: Partial<ProducedVmStats> = {};
  const nics = [{ name: 'vnet0', macAddr: '00:1a:4a:16:01:51', model: 'virtio' }, { name: 'vnet1', macAddr: 'x', model: 'rtl8139' }, { name: 'vnet9', macAddr: 'y', model: 'e1000' }];
  assert.equal(networkStats(subject({ nics }), stats, FIRST, LAST, 15, 123.5), true);
  assert.deepEqual(Object.keys(stats.network ?? {}), ['vnet0', 'vnet1', 'vnet9']);
  assert.deepEqual(stats.network?.['vnet0'], {
    macAddr: '00:1a:4a:16:01:51', name: 'vnet0', speed: '1000', state: 'unknown',
    rxErrors: '0', rxDropped: '0', txErrors: '0', txDropped: '0', rx: '1024', tx: '2048', sampleTime: '123.500000',
  });
  assert.equal(stats.network?.['vnet1']?.['speed'], '100');
  assert.deepEqual(stats.network?.['vnet9'], {
    macAddr: 'y', name: 'vnet9', speed: '1000', state: 'unknown',
    rxErrors: '0', rxDropped: '0', txErrors: '0', txDropped: '0', rx: '0', tx: '0', sampleTime: '123.500000',
  });
  // before any sample (a VM just started, or a hypervisor without interface stats) every NIC is listed
  const none: Partial<ProducedVmStats> = {};
  assert.equal(networkStats(subject({ nics }), none, undefined, undefined, undefined, 1), false);
  assert.deepEqual(Object.keys(none.network ?? {}), ['vnet0', 'vnet1', 'vnet9']);
  assert.equal(none.network?.['vnet0']?.['rx'], '0');
});

void test('172 a bad interval yields no network stats; a missing counter is logged and skipped', () => {
  for (const interval of [0, -42]) {
    const stats: Partial<ProducedVmStats> = {};
    assert.equal(networkStats(subject(), stats, FIRST, FIRST, interval, 1), false);
    assert.deepEqual(stats.network, {});
  }
  const log = captureLog();
  const faulty = { ...LAST };
  delete faulty['net.1.rx.drop'];
  const stats: Partial<ProducedVmStats> = {};
  networkStats(subject(), stats, FIRST, faulty, 1, 1, log);
  assert.equal(stats.network?.['vnet0']?.['rx'], '1024');
  // Like vdsm, the counters before the missing one are kept, the rest of that group is not.
  assert.equal(stats.network?.['vnet0']?.['rxErrors'], '0');
  assert.equal(stats.network?.['vnet0']?.['rxDropped'], undefined);
  assert.equal(stats.network?.['vnet0']?.['txErrors'], undefined);
  assert.equal(log.warns.length, 1);
  const quiet = captureLog();
  networkStats(subject({ monitorable: false }), {}, FIRST, faulty, 1, 1, quiet);
  assert.equal(quiet.warns.length, 0);
});

void test('172 disks: rates from byte deltas, latency per request, absolute ops/bytes; matched by name', () => {
  const stats: Partial<ProducedVmStats> = {};
  diskStats(subject(), stats, FIRST, LAST, 10);
  assert.deepEqual(stats.disks?.['hdc'], {
    truesize: '734003200', apparentsize: '734003200', imageID: 'img-1',
    readLatency: '0.0', writeLatency: '0', flushLatency: '0',
    readRate: '13107.2', writeRate: '0.0', readOps: '1024', writeOps: '0', readBytes: '131072', writtenBytes: '0',
  });
  assert.equal(stats.disks?.['vda']?.['readLatency'], '50000.0');
  assert.equal(stats.disks?.['vda']?.['readRate'], '102.4');
});

void test('172 disks with an invalid interval keep rates at "0.0" but fill latency and ops', () => {
  const stats: Partial<ProducedVmStats> = {};
  diskStats(subject(), stats, FIRST, LAST, 0, captureLog());
  assert.equal(stats.disks?.['hdc']?.['readRate'], '0.0');
  assert.equal(stats.disks?.['hdc']?.['readOps'], '1024');
  assert.equal(stats.disks?.['vda']?.['readLatency'], '50000.0');
});

void test('memoryStats: balloon figures and per-second fault rates; nothing without balloon.available', () => {
  const stats: Partial<ProducedVmStats> = {};
  const first = { 'balloon.available': 1000, 'balloon.major_fault': 10, 'balloon.minor_fault': 100, 'balloon.swap_in': 0 };
  const last = { 'balloon.available': 1000, 'balloon.unused': 300, 'balloon.disk_caches': 200, 'balloon.major_fault': 25, 'balloon.minor_fault': 145, 'balloon.swap_in': 15 };
  memoryStats(stats, first, last, 10);
  assert.deepEqual(stats.memoryStats, { mem_total: '1000', mem_unused: '300', mem_free: '500', swap_in: 2, swap_out: 0, majflt: 2, minflt: 4, pageflt: 6 });
  const none: Partial<ProducedVmStats> = {};
  memoryStats(none, first, { 'balloon.current': 1 }, 10);
  assert.equal(none.memoryStats, undefined);
});

void test('produce + translate: strings everywhere except cpuActual and memory rates', () => {
  const p = produceVmStats(subject(), { ...FIRST, ...FIRST_CPU, 'cpu.time': 24345584838 }, { ...LAST, ...LAST_CPU, 'cpu.time': 24478198023 }, 15, { sampleTimeS: 5 });
  const wire = translateVmStats(p);
  assert.equal(wire['vcpuCount'], '2');
  assert.equal(wire['cpuUsage'], '11260000000');
  assert.ok(typeof wire['network'] === 'object' && typeof wire['disks'] === 'object');
  assert.equal((wire['balloonInfo'] as Record<string, unknown>)['balloon_cur'], '4194304');
});
