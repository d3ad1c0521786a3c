// VmManager.adopt (recovery): a re-adopted VM keeps counting elapsedTime from the start the agent
// recorded before its restart, not from the moment it was re-adopted.
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
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { StatsCache } from '../../src/virt/stats-cache.js';
import { VmStatus } from '../../src/virt/vm-state.js';
import { domainXml, VM_UUID } from '../virt/domain-fixtures.js';
import { ManualTime } from '../support/manual-time.js';

void test('a re-adopted VM reports elapsedTime from its recorded start', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-adopt-'));
  const time = new ManualTime(500_000);
  const published: string[] = [];
  const records = new VmRecordStore(dir);
  // adopt() makes no libvirt call: a dispatcher that refuses every operation proves it.
  const vms = new VmManager({
    libvirt: new LibvirtClient({ dispatcher: { dispatch: () => Promise.reject(new Error('no libvirt call expected')) }, connections: new ConnectionsStub() }),
    records,
    statsCache: new StatsCache(time),
    clock: time,
    timers: time,
    log: pino({ level: 'silent' }),
    publish: (method) => published.push(method),
    sysShutdownTimeoutS: 120,
    vmCommandTimeoutS: 60,
  });
  try {
    const xml = domainXml();
    const vm = vms.adopt(parseDomainXml(xml), xml, VmStatus.UP, Date.now() - 7_000);
    assert.equal(vms.report(vm)['elapsedTime'], '7');
    time.advance(3_000);
    assert.equal(vms.report(vm)['elapsedTime'], '10');
    assert.deepEqual(published, [`|virt|VM_status|${VM_UUID}`]);
  } finally {
    vms.close();
    await records.remove('none'); // resolves once the adoption's record write is done
    await rm(dir, { recursive: true, force: true });
  }
});
