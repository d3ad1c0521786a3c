// VM stats' vcpuQuota / vcpuPeriod follow libvirt's scheduler parameters as vdsm's do: read when the
// domain runs, and read back after VM.setCpuTuneQuota / setCpuTunePeriod (libvirt's values, not the
// request). The dispatcher is a stand-in for a libvirtd whose QEMU has cgroups: none of the real peers
// here has them (libvirt's test driver keeps only `weight`, test/libvirt/lifecycle.test.ts; an
// unprivileged libvirtd refuses CPU tuning, test/realvm/hotplug-real-vm.test.ts).
import { LibvirtClient } from '../../src/libvirt/client.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { VmManager } from '../../src/services/vm-manager.js';
import { VmRecordStore } from '../../src/services/vm-records.js';
import { VmTune } from '../../src/services/vm-tune.js';
import { StatsCache } from '../../src/virt/stats-cache.js';
import { domainXml, VM_UUID } from '../virt/domain-fixtures.js';
import { ManualTime } from '../support/manual-time.js';

void test('vcpuQuota / vcpuPeriod: read when the VM runs, read back from libvirt after setCpuTuneQuota / setCpuTunePeriod', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-vcputune-'));
  const time = new ManualTime(500_000);
  const records = new VmRecordStore(dir);
  const xml = domainXml();
  // What QEMU's cgroup holds; libvirt rounds a period as the kernel would (here: to whole milliseconds).
  const sched: Record<string, number> = { cpu_shares: 1024, vcpu_period: 100000, vcpu_quota: -1 };
  let reads = 0;
  let readDone: () => void = () => undefined;
  const dispatcher = {
    dispatch: <T>(op: string, args: Record<string, unknown>): Promise<T> => {
      if (op === 'libvirt.xmlDesc') return Promise.resolve(xml as T);
      if (op === 'libvirt.schedulerParameters') {
        reads++;
        setImmediate(readDone);
        return Promise.resolve({ ...sched } as T);
      }
      if (op === 'libvirt.setSchedulerParameters') {
        for (const [k, v] of Object.entries(args['params'] as Record<string, number>)) sched[k] = k === 'vcpu_period' ? Math.round(v / 1000) * 1000 : v;
      }
      return Promise.resolve(undefined as T);
    },
  };
  const libvirt = new LibvirtClient({ dispatcher, connections: new ConnectionsStub() });
  const vms = new VmManager({
    libvirt, records, statsCache: new StatsCache(time), clock: time, timers: time, log: pino({ level: 'silent' }),
    publish: () => undefined, sysShutdownTimeoutS: 120, vmCommandTimeoutS: 60,
  });
  const tune = new VmTune({ vms, libvirt, log: pino({ level: 'silent' }) });
  try {
    const firstRead = new Promise<void>((resolve) => { readDone = resolve; });
    await vms.create({ xml });
    const vm = vms.container.require(VM_UUID);
    assert.equal('vcpuQuota' in vms.report(vm), false, 'nothing before libvirt was asked');
    await firstRead;
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(reads, 1);
    assert.equal(vms.report(vm)['vcpuQuota'], '-1');
    assert.equal(vms.report(vm)['vcpuPeriod'], 100000);
    assert.equal(await tune.setCpuTuneQuota(VM_UUID, '50000'), true);
    assert.equal(vms.report(vm)['vcpuQuota'], '50000');
    assert.equal(await tune.setCpuTunePeriod(VM_UUID, 150500), true);
    assert.equal(vms.report(vm)['vcpuPeriod'], 151000, "libvirt's value, not the request");
    assert.equal(reads, 3);
  } finally {
    vms.close();
    await records.remove('none');
    await rm(dir, { recursive: true, force: true });
  }
});
