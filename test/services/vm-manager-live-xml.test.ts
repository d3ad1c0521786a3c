// VmManager.create: once libvirt runs the domain, the VM's report follows libvirt's live XML, so a VNC
// port left to autoport shows the port QEMU got (the engine connects the console with it), not -1.
// The dispatcher is a stand-in here (the test driver keeps port -1 under autoport); the real-VM tier
// (test/realvm/agent-real-vm.test.ts) checks the same against QEMU.
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
import { StatsCache } from '../../src/virt/stats-cache.js';
import { domainXml, VM_UUID } from '../virt/domain-fixtures.js';
import { ManualTime } from '../support/manual-time.js';

void test('after VM.create the display port is the one in libvirt\'s live XML', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-livexml-'));
  const time = new ManualTime(500_000);
  const records = new VmRecordStore(dir);
  const sent = domainXml({ graphics: 'vnc' }).replace("port='5900' autoport='yes'", "port='-1' autoport='yes'");
  const live = sent.replace("port='-1' autoport='yes'", "port='5907' autoport='yes'");
  const ops: string[] = [];
  let launched!: () => void;
  const done = new Promise<void>((resolve) => { launched = resolve; });
  const dispatcher = {
    dispatch: <T>(op: string): Promise<T> => {
      ops.push(op);
      if (op === 'libvirt.xmlDesc') { setImmediate(launched); return Promise.resolve(live as T); }
      return Promise.resolve(undefined as T);
    },
  };
  const vms = new VmManager({
    libvirt: new LibvirtClient({ dispatcher, connections: new ConnectionsStub() }),
    records,
    statsCache: new StatsCache(time),
    clock: time,
    timers: time,
    log: pino({ level: 'silent' }),
    publish: () => undefined,
    sysShutdownTimeoutS: 120,
    vmCommandTimeoutS: 60,
  });
  try {
    await vms.create({ xml: sent });
    const vm = vms.container.require(VM_UUID);
    assert.equal((vms.report(vm)['displayInfo'] as Record<string, string>[])[0]?.['port'], '-1', 'before libvirt runs it');
    await done;
    // Then (not awaited by the start) the scheduler parameters are read for vcpuQuota / vcpuPeriod.
    assert.deepEqual(ops.filter((o) => o !== 'libvirt.schedulerParameters'), ['libvirt.createXML', 'libvirt.xmlDesc']);
    assert.equal(vm.state.status, 'Powering up');
    assert.equal((vms.report(vm)['displayInfo'] as Record<string, string>[])[0]?.['port'], '5907');
  } finally {
    vms.close();
    await records.remove('none');
    await rm(dir, { recursive: true, force: true });
  }
});
