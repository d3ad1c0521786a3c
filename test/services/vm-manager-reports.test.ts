// Host.getAllVmStats with reports rebuilt off the read path (issue 17): after a new sample the VMs'
// texts are rebuilt in the background, a slice at a time; a read in the meantime serves each VM's
// previous text whole (never a mix of two samples inside one VM's object), a status change shows on the
// very next read, and once the rebuild is done the reply is byte for byte JSON.stringify of a fresh
// build. Guest agent data shows on the very next read as well. The walk is driven by the test (an
// injected yield and slice clock), time by ManualTime.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { VmManager, type Vm, type VmManagerOptions } from '../../src/services/vm-manager.js';
import { VmRecordStore } from '../../src/services/vm-records.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { StatsCache, type BulkSample } from '../../src/virt/stats-cache.js';
import { VmStatus } from '../../src/virt/vm-state.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import { ManualTime } from '../support/manual-time.js';
import { SliceGate } from '../support/slice-gate.js';
import { domainXml } from '../virt/domain-fixtures.js';

type Obj = Record<string, unknown>;

function record(cpuTime: number): Record<string, number | string> {
  return {
    'cpu.time': cpuTime, 'cpu.user': cpuTime / 4, 'cpu.system': cpuTime / 4, 'vcpu.current': 2, 'balloon.current': 4194304,
    'net.count': 1, 'net.0.name': 'vnet0', 'net.0.rx.bytes': cpuTime / 1000, 'net.0.tx.bytes': 5, 'net.0.rx.errs': 0, 'net.0.rx.drop': 0, 'net.0.tx.errs': 0, 'net.0.tx.drop': 0,
  };
}

const uuid = (i: number): string => `7f9a0a46-2f5b-4d2b-9c37-${String(i).padStart(12, '0')}`;

interface Setup {
  time: ManualTime;
  stats: StatsCache;
  vms: VmManager;
  list: Vm[];
  sample(cpu: number): void;
  /** The sample without moving time first. */
  put(cpu: number): void;
  cleanup(): Promise<void>;
}

async function setup(n: number, reportSlices?: VmManagerOptions['reportSlices']): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-reports-'));
  const time = new ManualTime(500_000);
  const stats = new StatsCache(time);
  const records = new VmRecordStore(dir);
  const vms = new VmManager({
    libvirt: new LibvirtClient({ dispatcher: { dispatch: () => Promise.reject(new Error('no libvirt call expected')) }, connections: new ConnectionsStub() }),
    records, statsCache: stats, clock: time, timers: time, log: pino({ level: 'silent' }), publish: () => undefined,
    sysShutdownTimeoutS: 120, vmCommandTimeoutS: 60,
    ...(reportSlices !== undefined ? { reportSlices } : {}),
  });
  const list: Vm[] = [];
  for (let i = 0; i < n; i++) {
    const xml = domainXml({ uuid: uuid(i) });
    list.push(vms.adopt(parseDomainXml(xml), xml, VmStatus.UP, Date.now() - 5_000));
  }
  // A sample 15 s after the previous one (time moves first, so a read just before it sees the same clock).
  const put = (cpu: number): void => {
    const s: BulkSample = {};
    list.forEach((vm, i) => (s[vm.vmId] = record(cpu * 1e9 + i * 1e6)));
    stats.put(s, stats.clock());
  };
  const sample = (cpu: number): void => {
    time.advance(15_000);
    put(cpu);
  };
  return {
    time, stats, vms, list, sample, put,
    cleanup: async () => {
      vms.close();
      await records.remove('none');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** What a fresh build gives now, per VM, as JSON.stringify would send it. */
const freshTexts = (vms: VmManager): string[] => vms.reports().map((r) => JSON.stringify(r));

async function readTexts(vms: VmManager): Promise<string[]> {
  return (JSON.parse((await vms.reportsJson()).text) as Obj[]).map((o) => JSON.stringify(o));
}

/** Take a sample (`cpu`) and wait until the background rebuild has walked every VM. */
async function sampledAndBuilt(t: Setup, cpu: number): Promise<void> {
  t.sample(cpu);
  t.vms.refreshReports();
  await t.vms.reportsSettled();
}

void test('with no sample pending, the reply is byte for byte JSON.stringify of a fresh build', async () => {
  const t = await setup(30);
  try {
    t.sample(1);
    await sampledAndBuilt(t, 2);
    assert.equal((await t.vms.reportsJson()).text, JSON.stringify(t.vms.reports()));
    t.time.advance(1_234); // read-time fields move without a rebuild
    const builds = t.vms.describeReports().cache.builds;
    assert.equal((await t.vms.reportsJson()).text, JSON.stringify(t.vms.reports()));
    assert.equal(t.vms.describeReports().cache.builds, builds, 'a read with nothing changed builds nothing');
    await sampledAndBuilt(t, 3);
    assert.equal((await t.vms.reportsJson()).text, JSON.stringify(t.vms.reports()));
  } finally {
    await t.cleanup();
  }
});

void test('read-time fields kept per VM between reads (elapsedTime text, monitorResponse) follow the clock: same second, next second, stale sample', async () => {
  const t = await setup(3);
  try {
    t.sample(1);
    await sampledAndBuilt(t, 2);
    for (const step of [0, 300, 300, 500, 61_000]) {
      t.time.advance(step);
      assert.equal((await t.vms.reportsJson()).text, JSON.stringify(t.vms.reports()), `after +${step} ms`);
    }
    const last = JSON.parse((await t.vms.reportsJson()).text) as Obj[];
    assert.deepEqual(last.map((r) => r['monitorResponse']), ['-1', '-1', '-1'], 'no sample for 61 s');
    t.sample(3);
    assert.deepEqual((JSON.parse((await t.vms.reportsJson()).text) as Obj[]).map((r) => r['monitorResponse']), ['0', '0', '0'], 'a new sample: responding again');
  } finally {
    await t.cleanup();
  }
});

/** 24 VMs whose walk the test steps (each clock reading of the walk is 1 ms later: slices of 4 ms hold a fixed number of VMs), two samples in and built. */
async function stepped(): Promise<{ t: Setup; gate: SliceGate; walkToEnd: () => Promise<void> }> {
  const gate = new SliceGate();
  let tick = 0;
  const t = await setup(24, { yieldToLoop: gate.yieldToLoop, now: () => tick++, sliceMs: 4 });
  const walkToEnd = async (): Promise<void> => {
    while (t.vms.describeReports().refresh.running) await gate.step(t.vms);
  };
  t.sample(1);
  t.sample(2);
  t.vms.refreshReports();
  await walkToEnd();
  return { t, gate, walkToEnd };
}

void test('a read during a pending rebuild serves each VM its previous sample, whole; a status change shows on the very next read', async () => {
  const { t, gate, walkToEnd } = await stepped();
  try {
    assert.deepEqual(await readTexts(t.vms), freshTexts(t.vms));

    // The new sample, 15 s later: what each VM showed just before it (same clock) is its previous text.
    t.time.advance(15_000);
    const old = await readTexts(t.vms);
    assert.deepEqual(old, freshTexts(t.vms));
    // That read came 15 s after the last walk: it started one (for inputs that change unannounced).
    await walkToEnd();
    t.put(3); // nothing is rebuilt in this turn
    const next = freshTexts(t.vms);
    assert.notDeepEqual(next, old);
    t.vms.refreshReports();
    const builds = t.vms.describeReports().cache.builds;
    // Before the walk's first slice: every VM still reads its previous sample, and the read rebuilt nothing.
    assert.deepEqual(await readTexts(t.vms), old);
    assert.equal(t.vms.describeReports().cache.builds, builds);

    await gate.step(t.vms);
    const reached = t.vms.describeReports().refresh.position;
    assert.ok(reached > 0 && reached < t.list.length, `one slice rebuilt some VMs, not all (${reached})`);
    let read = await readTexts(t.vms);
    for (let i = 0; i < t.list.length; i++) assert.equal(read[i], i < reached ? next[i] : old[i], `VM ${i}: one sample, whole`);

    // A VM the walk has not reached goes Paused: the very next read shows it (rebuilt from what it is now).
    const late = t.list.length - 1;
    t.list[late]!.state.paused('EIO');
    read = await readTexts(t.vms);
    const now = freshTexts(t.vms);
    assert.equal(read[late], now[late]);
    assert.equal((JSON.parse(read[late]!) as Obj)['status'], VmStatus.PAUSED);
    assert.equal((JSON.parse(read[late]!) as Obj)['pauseCode'], 'EIO');
    // New guest agent data (it arrives unannounced) shows on the very next read too.
    t.list[0]!.guest = { username: 'alice', guestIPs: '10.0.0.7' };
    read = await readTexts(t.vms);
    assert.equal((JSON.parse(read[0]!) as Obj)['username'], 'alice');
    assert.equal(read[0], freshTexts(t.vms)[0]);
    // A VM going Down likewise.
    t.list[late - 1]!.state.markDown({ exitCode: 1, exitMessage: 'gone', exitReason: 1 }, 'test');
    read = await readTexts(t.vms);
    assert.equal((JSON.parse(read[late - 1]!) as Obj)['status'], VmStatus.DOWN);

    await walkToEnd();
    assert.equal((await t.vms.reportsJson()).text, JSON.stringify(t.vms.reports()));
  } finally {
    await t.cleanup();
  }
});

void test('a sample arriving mid-walk restarts the walk: when it ends, every VM shows the newest sample', async () => {
  const { t, gate, walkToEnd } = await stepped();
  try {
    t.sample(3);
    t.vms.refreshReports();
    await gate.step(t.vms);
    await gate.step(t.vms);
    t.sample(4);
    t.vms.refreshReports();
    const walks = t.vms.describeReports().refresh.walks;
    await walkToEnd();
    assert.equal(t.vms.describeReports().refresh.walks, walks + 1);
    assert.equal((await t.vms.reportsJson()).text, JSON.stringify(t.vms.reports()));
  } finally {
    await t.cleanup();
  }
});

void test('a replaced pid reaches the text through a background rebuild, not a read', async () => {
  const t = await setup(3);
  try {
    t.sample(1);
    t.sample(2);
    t.vms.refreshReports();
    await t.vms.reportsSettled();
    await t.vms.reportsJson();
    // A read at least revalidateMs after the last walk starts one (inputs that change without a signal).
    t.list[1]!.pid = 4242;
    const stale = (JSON.parse((await t.vms.reportsJson()).text) as Obj[])[1]!;
    assert.equal(stale['pid'], '0');
    t.time.advance(1_000);
    await t.vms.reportsJson();
    await t.vms.reportsSettled();
    assert.equal((JSON.parse((await t.vms.reportsJson()).text) as Obj[])[1]!['pid'], '4242');
  } finally {
    await t.cleanup();
  }
});

void test('Host.getStats VM counts are counted once per change: the same counts while nothing changes, a status change or a new VM shows at once', async () => {
  const t = await setup(5);
  try {
    const a = t.vms.vmCounts();
    assert.deepEqual({ ...a }, { vmCount: 5, vmActive: 5, vmMigrating: 0, incomingVmMigrations: 0, outgoingVmMigrations: 0 });
    assert.equal(t.vms.vmCounts(), a, 'nothing changed: not counted again');
    t.list[0]!.state.paused('EIO');
    assert.equal(t.vms.vmCounts().vmActive, 4);
    const xml = domainXml({ uuid: uuid(99) });
    t.vms.adopt(parseDomainXml(xml), xml, VmStatus.UP);
    assert.deepEqual({ ...t.vms.vmCounts() }, { vmCount: 6, vmActive: 5, vmMigrating: 0, incomingVmMigrations: 0, outgoingVmMigrations: 0 });
    t.list[1]!.state.markDown({ exitCode: 0, exitMessage: 'done', exitReason: 1 }, 'test');
    assert.equal(t.vms.vmCounts().vmActive, 4);
    assert.deepEqual(t.vms.vmCounts(), t.vms.container.counts());
  } finally {
    await t.cleanup();
  }
});
