// Parsers of /proc texts fed with canned content (acceptance case 178 for the boot time).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBootTime, parsePidStat, parseProcStat } from '../../src/host/proc-stat.js';
import { parseMeminfo } from '../../src/host/meminfo.js';
import { parseNetDev, parseThpState, interfaceState } from '../../src/host/sample.js';
import { parseCpuList, parseCpuinfo } from '../../src/host/cpu.js';
import { MEMINFO, NET_DEV, procStat } from './raw-samples.js';

void test('/proc/stat: total user includes nice, per-core lines, btime', () => {
  const s = parseProcStat(procStat({ timestampMs: 0, total: [100, 5, 50, 1000], cores: { 0: [1, 2, 3, 4], 7: [5, 6, 7, 8] } }));
  assert.deepEqual(s.total, { user: 105, sys: 50, idle: 1000 });
  assert.deepEqual(s.cores, { 0: { user: 1, userNice: 2, sys: 3, idle: 4 }, 7: { user: 5, userNice: 6, sys: 7, idle: 8 } });
  assert.equal(s.btime, 1795604810);
  assert.throws(() => parseProcStat('intr 1\n'), /no cpu line/);
});

void test('178 boot time from the btime line; missing or malformed is an error', () => {
  assert.equal(parseBootTime(procStat({ timestampMs: 0 })), 1795604810);
  assert.throws(() => parseBootTime(procStat({ timestampMs: 0, btime: null })), /Boot time not present/);
  assert.throws(() => parseBootTime(procStat({ timestampMs: 0, btime: 'soon' })), /Boot time not present/);
  assert.throws(() => parseBootTime('cpu 1 2 3 4\nbtime\n'), /Boot time not present/);
});

void test('/proc/<pid>/stat: utime and stime even when the command name has spaces and parens', () => {
  assert.deepEqual(parsePidStat('4242 (node (main) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 77 33 0 0 20 0\n'), { user: 77, sys: 33 });
  assert.throws(() => parsePidStat('garbage'), /malformed/);
});

void test('meminfo in kB, including per-node lines; /proc/net/dev counters; THP; cpu lists', () => {
  const m = parseMeminfo(MEMINFO);
  assert.equal(m['MemTotal'], 16384000);
  assert.equal(m['HugePages_Total'], 0);
  assert.equal(parseMeminfo('Node 1 MemFree:  102400 kB\n')['MemFree'], 102400);
  assert.deepEqual(parseNetDev(NET_DEV)['eth0'], { rx: 98317067, rxErrors: 1, rxDropped: 7, tx: 412615, txErrors: 2, txDropped: 3 });
  assert.equal(parseThpState('always [madvise] never'), 'madvise');
  assert.equal(parseThpState(null), 'never');
  assert.deepEqual(parseCpuList('0-3,8,10-11'), [0, 1, 2, 3, 8, 10, 11]);
  assert.equal(interfaceState('unknown', '0x9'), 'up');
  assert.equal(interfaceState('down', '0x1003'), 'down');
  assert.equal(interfaceState('up', '0x1002'), 'down');
});

void test('/proc/cpuinfo: model name, MHz as a string, flags', () => {
  const c = parseCpuinfo('processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.122\nflags\t\t: fpu vme svm nx\n\nprocessor\t: 1\n');
  assert.deepEqual(c, { model: 'AMD EPYC', speed: '2596.122', flags: ['fpu', 'vme', 'svm', 'nx'] });
});
