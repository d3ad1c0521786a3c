// Host.getStats from two canned host samples, computed as vdsm does (acceptance 175-177, 238), and
// checked against the engine's type rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHostSample } from '../../src/host/sample.js';
import { buildHostStats, emptyHostStats, formatDateTime, HostStatsWindow, produceHostStats, stringifyHostStats } from '../../src/host/stats.js';
import { checkHostStats } from '../helpers/engine-types.js';
import { ManualTime } from '../support/manual-time.js';
import { rawSample } from './raw-samples.js';

const COUNTS = { vmCount: 3, vmActive: 1, vmMigrating: 1, incomingVmMigrations: 1, outgoingVmMigrations: 0 };

void test('175 per-core stats: constant jiffies 1 s apart give idle 100.00 with the node index; missing cores left out', () => {
  const first = parseHostSample(rawSample({ timestampMs: 1_000_000, cores: { 0: [1, 0, 2, 100], 1: [1, 0, 2, 100] } }));
  const last = parseHostSample(rawSample({ timestampMs: 1_001_000, cores: { 0: [1, 0, 2, 100], 1: [1, 0, 2, 100], 2: [9, 9, 9, 9] } }));
  const s = produceHostStats(first, last, { elapsedS: 10 }).stats;
  assert.deepEqual(s['cpuStatistics'], {
    0: { nodeIndex: 0, cpuUser: '0.00', cpuSys: '0.00', cpuIdle: '100.00' },
    1: { nodeIndex: 1, cpuUser: '0.00', cpuSys: '0.00', cpuIdle: '100.00' },
  });
});

void test('176 (changed, issue 11) no sample: every key, zero or empty; two samples at one instant: no rates yet', () => {
  const empty = produceHostStats(undefined, undefined, { elapsedS: 0 }).stats;
  assert.deepEqual(empty, {
    cpuIdle: 100, cpuSys: 0, cpuSysVdsmd: 0, cpuUser: 0, cpuUserVdsmd: 0, memUsed: 0, elapsedTime: 0, anonHugePages: 0, cpuLoad: 0,
    network: {}, rxDropped: 0, txDropped: 0, cpuStatistics: {}, numaNodeMemFree: {}, diskStats: {}, hugepages: {}, thpState: 'never', bootTime: 0, v2vJobs: {},
  });
  const same = parseHostSample(rawSample({ timestampMs: 5000 }));
  const one = produceHostStats(same, same, { elapsedS: 0 }).stats;
  assert.deepEqual(Object.keys(one).sort(), Object.keys(empty).sort());
  assert.equal(one['cpuUser'], 0);
  assert.deepEqual(stringifyHostStats(emptyHostStats(0)), {
    cpuLoad: '0.00', cpuUser: '0.00', cpuSys: '0.00', cpuIdle: '100.00', cpuSysVdsmd: '0.00', cpuUserVdsmd: '0.00', elapsedTime: '0.00', memUsed: '0', anonHugePages: '0',
    network: {}, rxDropped: '0', txDropped: '0', cpuStatistics: {}, numaNodeMemFree: {}, diskStats: {}, hugepages: {}, thpState: 'never', bootTime: '0', v2vJobs: {},
  });
});

void test('getStats has the same keys from the first call on: none, one and two samples (issue 11)', () => {
  const time = new ManualTime(0);
  const window = new HostStatsWindow(time);
  const at = (): Record<string, unknown> => buildHostStats(window.produce(), { nowMs: 0, meminfo: window.latest()?.meminfo ?? {}, vmCounts: COUNTS, ksm: window.ksm() });
  const none = at();
  window.append(parseHostSample(rawSample({ timestampMs: 1_000_000, total: [1000, 0, 500, 90000] })));
  const one = at();
  time.advance(15_000);
  window.append(parseHostSample(rawSample({ timestampMs: 1_015_000, total: [1150, 0, 560, 92700] })));
  const two = at();
  assert.deepEqual(Object.keys(none).sort(), Object.keys(two).sort());
  assert.deepEqual(Object.keys(one).sort(), Object.keys(two).sort());
  for (const k of ['network', 'cpuStatistics', 'numaNodeMemFree', 'diskStats', 'bootTime', 'hugepages', 'thpState', 'ksmState', 'ksmPages', 'ksmCpu', 'ksmMergeAcrossNodes', 'memShared']) assert.ok(k in none, k);
  for (const s of [none, one, two]) assert.deepEqual(checkHostStats(s), []);
  // one sample already tells memory, disks, counters and per-core entries (at zero use); rates need two
  assert.equal(one['thpState'], 'madvise');
  assert.deepEqual(Object.keys(one['cpuStatistics'] as object), ['0', '1']);
  assert.equal((one['cpuStatistics'] as Record<string, Record<string, string>>)['0']?.['cpuIdle'], '100.00');
  assert.equal((one['network'] as Record<string, Record<string, string>>)['lo']?.['rx'], '3193');
  assert.equal(one['cpuUser'], '0.00');
  assert.equal(two['cpuUser'], '5.00');
});

void test('KSM keys with vdsm\'s types: state and merge flags booleans, pages and MiB shared ints, ksmd CPU percent', () => {
  const ksm = (run: string, sharing: string, ksmdJiffies: [number, number]) => ({
    ksm: { run, pagesToScan: '100', mergeAcrossNodes: '1', pagesSharing: sharing },
    ksmd: { pid: 42, stat: `42 (ksmd) S 2 0 0 0 -1 2129984 0 0 0 0 ${ksmdJiffies[0]} ${ksmdJiffies[1]} 0 0 25 5 1 0 15 0 0 18446744073709551615\n` },
    pageSizeKiB: 4,
  });
  const time = new ManualTime(0);
  const window = new HostStatsWindow(time);
  assert.deepEqual(window.ksm(), { ksmState: false, ksmPages: 0, ksmMergeAcrossNodes: false, memShared: 0, ksmCpu: 0 });
  window.append(parseHostSample({ ...rawSample({ timestampMs: 1_000_000 }), ...ksm('1', '2560', [100, 50]) }));
  assert.deepEqual(window.ksm(), { ksmState: true, ksmPages: 100, ksmMergeAcrossNodes: true, memShared: 10, ksmCpu: 0 });
  time.advance(10_000);
  window.append(parseHostSample({ ...rawSample({ timestampMs: 1_010_000 }), ...ksm('1', '5120', [130, 70]) }));
  assert.deepEqual(window.ksm(), { ksmState: true, ksmPages: 100, ksmMergeAcrossNodes: true, memShared: 20, ksmCpu: 5 });
  const stats = buildHostStats(window.produce(), { nowMs: 0, meminfo: {}, vmCounts: COUNTS, ksm: window.ksm() });
  assert.equal(stats['ksmState'], true);
  assert.equal(stats['memShared'], 20);
  assert.equal(stats['momStatus'], 'inactive', 'no MOM runs here');
  // a kernel without KSM: everything off, nothing missing
  const none = new HostStatsWindow(time);
  none.append(parseHostSample({ ...rawSample({ timestampMs: 0 }), ksm: { run: null, pagesToScan: null, mergeAcrossNodes: null, pagesSharing: null }, ksmd: null }));
  assert.deepEqual(none.ksm(), { ksmState: false, ksmPages: 0, ksmMergeAcrossNodes: false, memShared: 0, ksmCpu: 0 });
});

void test('177 interface stats: lo is up at speed "1000", counters are strings, sampleTime a numeric string', () => {
  const first = parseHostSample(rawSample({ timestampMs: 1_000_000 }));
  const last = parseHostSample(rawSample({ timestampMs: 1_015_000 }));
  const s = produceHostStats(first, last, { elapsedS: 30 }).stats;
  const net = s['network'] as Record<string, Record<string, string>>;
  assert.deepEqual(net['lo'], { name: 'lo', state: 'up', speed: '1000', tx: '3193', rx: '3193', rxDropped: '0', txDropped: '0', rxErrors: '0', txErrors: '0', sampleTime: '1015.000000', rxRate: '0.0', txRate: '0.0' });
  assert.equal(net['eth0']?.['speed'], '10000');
  // Rates: percent of the link speed over the window (12.5 MB in 15 s on a 10 Gb/s link is 0.1 %).
  const busy = parseHostSample(rawSample({ timestampMs: 1_015_000 }));
  busy.interfaces['eth0']!.rx += 18_750_000;
  const rated = (produceHostStats(first, busy, { elapsedS: 30 }).stats['network'] as Record<string, Record<string, string>>)['eth0'];
  assert.deepEqual([rated?.['rxRate'], rated?.['txRate']], ['0.1', '0.0']);
  // The totals are rx and tx drops respectively (vdsm swaps them).
  assert.equal(s['rxDropped'], 7);
  assert.equal(s['txDropped'], 3);
});

void test('jiffy arithmetic: percent of all CPUs, own process not divided, wrap-around at 2^32', () => {
  const first = parseHostSample(rawSample({ timestampMs: 0, total: [2 ** 32 - 100, 0, 1000, 0], self: [2 ** 32 - 10, 0] }));
  const last = parseHostSample(rawSample({ timestampMs: 10_000, total: [200, 0, 1300, 0], self: [20, 40] }));
  const s = produceHostStats(first, last, { elapsedS: 10 }).stats;
  assert.equal(s['cpuUser'], 300 / 10 / 2);
  assert.equal(s['cpuSys'], 300 / 10 / 2);
  assert.equal(s['cpuIdle'], 70);
  assert.equal(s['cpuUserVdsmd'], 3);
  assert.equal(s['cpuSysVdsmd'], 4);
});

void test('238 getStats: dateTime format, MiB integers, two-decimal strings, absent subsystems as vdsm reports them', () => {
  const time = new ManualTime(0);
  const window = new HostStatsWindow(time);
  window.append(parseHostSample(rawSample({ timestampMs: 1_000_000, total: [1000, 0, 500, 90000] })));
  time.advance(15_000);
  window.append(parseHostSample(rawSample({ timestampMs: 1_015_000, total: [1150, 0, 560, 92700] })));
  const stats = buildHostStats(window.produce(), { nowMs: Date.UTC(2025, 10, 25, 9, 49, 16), meminfo: window.latest()?.meminfo ?? {}, vmCounts: COUNTS });
  assert.deepEqual(checkHostStats(stats), []);
  assert.equal(stats['dateTime'], '2025-11-25T09:49:16 GMT');
  assert.equal(stats['memFree'], Math.floor((8192000 + 1024000 + 102400 + 81920) / 1024));
  assert.equal(stats['swapTotal'], 2048);
  assert.equal(stats['swapFree'], 1024);
  assert.equal(stats['cpuUser'], '5.00');
  assert.equal(stats['cpuSys'], '2.00');
  assert.equal(stats['cpuIdle'], '93.00');
  assert.equal(stats['cpuLoad'], '0.07');
  assert.equal(stats['elapsedTime'], '15.00');
  assert.equal(stats['memUsed'], '43');
  assert.equal(stats['anonHugePages'], '200');
  assert.equal(stats['bootTime'], '1795604810');
  assert.equal(stats['thpState'], 'madvise');
  assert.deepEqual(stats['diskStats'], { '/tmp': { free: '1024' }, '/var/log': { free: '0' } });
  assert.deepEqual((stats['numaNodeMemFree'] as Record<string, unknown>)['0'], { memFree: '600', memPercent: 40, hugepages: { 4: { freePages: '153600' }, 2048: { freePages: '1' } } });
  assert.deepEqual((stats['hugepages'] as Record<string, Record<string, number>>)['2048']?.['vm.free_hugepages'], 3);
  assert.deepEqual(stats['storageDomains'], {});
  assert.equal(stats['momStatus'], 'inactive');
  assert.equal(stats['ksmState'], false, 'KSM keys are always there (issue 11), off without data');
  assert.equal(stats['multipathHealth'], undefined);
  assert.deepEqual(stats['haStats'], { configured: false, active: false, score: 0, globalMaintenance: false, localMaintenance: false });
  assert.equal(stats['haScore'], undefined);
  assert.equal(stats['netConfigDirty'], 'False');
  assert.equal(stats['vmMigrating'], 1);
});

void test('the empty set also passes the engine checks; MOM and hosted engine when present', () => {
  const time = new ManualTime(0);
  const window = new HostStatsWindow(time);
  const stats = buildHostStats(window.produce(), {
    nowMs: 0, meminfo: {}, vmCounts: COUNTS,
    mom: { status: 'active' }, ksm: { ksmState: true, ksmPages: 100, ksmMergeAcrossNodes: true, memShared: 12, ksmCpu: 1 },
    haStats: { configured: true, active: true, score: 3400, globalMaintenance: false, localMaintenance: false },
  });
  assert.deepEqual(checkHostStats(stats), []);
  assert.equal(stats['haScore'], 3400);
  assert.equal(stats['ksmPages'], 100);
  assert.equal(formatDateTime(0), '1970-01-01T00:00:00 GMT');
});

void test('the host stats checker flags what the engine cannot parse', () => {
  const v = checkHostStats({ cpuUser: 1, memFree: 10.5, dateTime: '2025-11-25 09:49:16', haStats: {}, storageDomains: {}, vmCount: 0, vmActive: 0, vmMigrating: 0, incomingVmMigrations: 0, outgoingVmMigrations: 0, swapTotal: 0, swapFree: 0, cpuStatistics: { 0: { cpuUser: 1 } } });
  for (const key of ['cpuUser', 'memFree', 'dateTime', 'haStats.configured', 'cpuStatistics.0.nodeIndex', 'cpuStatistics.0.cpuUser']) {
    assert.ok(v.some((x) => x.startsWith(key)), key);
  }
});
