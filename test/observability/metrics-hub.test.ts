// The metrics convention: a part publishes or contributes figures on diagnostics_channel and they reach
// the reporters without any reporter being edited; the hub keeps bad figures from spoiling /metrics.
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { metricPath, metricsChannels, publishFigures, type CollectRequest, type Figure } from '../../src/observability/metrics/convention.js';
import { hostFigures } from '../../src/observability/metrics/host-figures.js';
import { MetricsHub } from '../../src/observability/metrics/hub.js';
import { FigureRegistry, renderFigures } from '../../src/observability/metrics/prometheus-figures.js';
import { vmFigures } from '../../src/observability/metrics/vm-figures.js';
import { Counter } from 'prom-client';
import { captureLog } from '../runtime/capture-log.js';
import { ManualTime } from '../support/manual-time.js';

const delay = (sd: string, v: number): Figure => ({
  name: 'vdsm_storage_domain_delay_seconds', kind: 'gauge', help: 'Storage domain read delay', value: v, labels: { sd }, path: metricPath('hosts', 'storage', sd, 'delay'),
});

void describe('metrics convention and hub', () => {
  void it('a publication reaches collect() and replaces the source\'s previous figures; it expires after its ttl', async () => {
    const time = new ManualTime();
    const hub = new MetricsHub({ clock: time, log: captureLog().log });
    hub.start();
    try {
      publishFigures('storage-test', [delay('sd-a', 0.004), delay('sd-b', 0.2)], 30_000);
      assert.deepEqual((await hub.collect()).map((f) => f.labels?.['sd']), ['sd-a', 'sd-b']);
      publishFigures('storage-test', [delay('sd-b', 0.3)], 30_000);
      const again = await hub.collect();
      assert.deepEqual(again.map((f) => [f.labels?.['sd'], f.value]), [['sd-b', 0.3]]);
      time.advance(30_001);
      assert.deepEqual(await hub.collect(), [], 'expired');
    } finally {
      hub.stop();
    }
  });

  void it('a collect subscriber adds figures at collection time, filtered by source', async () => {
    const hub = new MetricsHub({ clock: new ManualTime(), log: captureLog().log });
    let asked = 0;
    const contributor = (msg: unknown): void => {
      asked++;
      (msg as CollectRequest).add('supervdsm-test', [{ name: 'vdsm_supervdsm_up', kind: 'gauge', help: 'Whether supervdsmd answers', value: 1, path: 'hosts.vdsm.supervdsm.up' }]);
    };
    diagnostics_channel.subscribe(metricsChannels.collect.name, contributor);
    try {
      assert.equal((await hub.collect()).find((f) => f.name === 'vdsm_supervdsm_up')?.value, 1);
      assert.deepEqual(await hub.collect({ include: (s) => s !== 'supervdsm-test' }), []);
      assert.equal(asked, 2);
    } finally {
      diagnostics_channel.unsubscribe(metricsChannels.collect.name, contributor);
    }
  });

  void it('figures breaking the convention are left out with one warning each; the rest stay', async () => {
    const { log, lines } = captureLog();
    const registry = new FigureRegistry();
    new Counter({ name: 'vdsm_taken_total', help: 'owned by prom-client', registers: [registry] });
    const good = delay('sd-a', 1);
    const hub = new MetricsHub({
      clock: new ManualTime(), log, reservedNames: () => registry.ownNames(),
      sources: [{
        source: 'bad', collect: () => [
          good,
          { ...good, labels: { sd: 'sd-a' } },
          { ...good, labels: { domain: 'x' } },
          { ...good, kind: 'counter' },
          { name: 'vdsm bad name', kind: 'gauge', help: 'x', value: 1 },
          { name: 'vdsm_requests', kind: 'counter', help: 'no _total', value: 1 },
          { name: 'vdsm_ok', kind: 'gauge', help: '', value: 1 },
          { name: 'vdsm_nan', kind: 'gauge', help: 'x', value: Number.NaN },
          { name: 'vdsm_taken_total', kind: 'counter', help: 'clash', value: 1 },
          { name: 'vdsm_path', kind: 'gauge', help: 'x', value: 1, path: 'a.b:c|g' },
        ] as Figure[],
      }],
    });
    const figures = await hub.collect();
    assert.deepEqual(figures, [good]);
    assert.equal(hub.state()['rejected'], 9);
    await hub.collect();
    assert.equal(lines.filter((l) => l.msg.startsWith('figure breaks')).length, 9, 'each problem is logged once, not at every collection');
    assert.match(renderFigures(figures), /^# HELP vdsm_storage_domain_delay_seconds Storage domain read delay\n# TYPE vdsm_storage_domain_delay_seconds gauge\nvdsm_storage_domain_delay_seconds\{sd="sd-a"\} 1\n$/);
  });

  void it('the registry serves prom-client metrics and the hub\'s figures in one exposition, label values escaped', async () => {
    const registry = new FigureRegistry();
    new Counter({ name: 'vdsm_own_total', help: 'prom-client counter', registers: [registry] }).inc();
    const hub = new MetricsHub({ clock: new ManualTime(), log: captureLog().log, sources: [{ source: 's', collect: () => [{ name: 'vdsm_vm_status', kind: 'gauge', help: 'VM status', value: 1, labels: { vm_name: 'a "quoted"\\name\n' } }] }] });
    registry.attach(hub);
    const text = await registry.metrics();
    assert.match(text, /vdsm_own_total 1\n/);
    assert.match(text, /vdsm_vm_status\{vm_name="a \\"quoted\\"\\\\name\\n"\} 1\n/);
  });

  void it('metricPath keeps one segment per name whatever it contains', () => {
    assert.equal(metricPath('vms', 'web.1 prod', 'nic', 'vnet0:1', 'rx_bytes'), 'vms.web_1_prod.nic.vnet0_1.rx_bytes');
  });
});

void describe('host and VM figures from the samples the agent already has', () => {
  void it('Host.getStats -> base units on /metrics, vdsm\'s units on the statsd paths', () => {
    const figures = hostFigures({
      cpuUser: '12.50', cpuSys: '2.50', cpuIdle: '85.00', cpuLoad: '0.42', memUsed: '37', memFree: 2048, anonHugePages: '4', swapTotal: 1024, swapFree: 512,
      vmCount: 3, vmActive: 2, vmMigrating: 0,
      network: { eth0: { rx: '1000', tx: '2000', rxErrors: '1', txErrors: '0', rxDropped: '2', txDropped: '0', speed: '1000', state: 'up' } },
    });
    const by = (name: string, labels?: Record<string, string>): Figure => figures.find((f) => f.name === name && JSON.stringify(f.labels ?? {}) === JSON.stringify(labels ?? {}))!;
    assert.equal(by('vdsm_host_cpu_user_ratio').value, 0.125);
    assert.equal(by('vdsm_host_cpu_user_ratio').path, 'hosts.cpu.user');
    assert.equal(by('vdsm_host_cpu_user_ratio').value * by('vdsm_host_cpu_user_ratio').pathScale!, 12.5);
    assert.equal(by('vdsm_host_memory_free_bytes').value, 2048 * 2 ** 20);
    assert.equal(by('vdsm_host_memory_free_bytes').value * by('vdsm_host_memory_free_bytes').pathScale!, 2048);
    assert.equal(by('vdsm_host_vms', { state: 'active' }).path, 'hosts.vms.active');
    assert.equal(by('vdsm_host_network_receive_bytes_total', { interface: 'eth0' }).path, 'hosts.nic.eth0.rx_bytes');
    assert.equal(by('vdsm_host_network_speed_bytes', { interface: 'eth0' }).value, 125_000_000);
    assert.equal(by('vdsm_host_network_up', { interface: 'eth0' }).value, 1);
  });

  void it('Host.getAllVmStats reports -> per-VM figures labelled by id and name; a Down VM only has its status', () => {
    const figures = vmFigures([
      {
        vmId: 'u-1', vmName: 'web.1', status: 'Up', monitorResponse: '0', cpuUser: '3.00', cpuSys: '1.00', cpuUsage: '5000000000', memUsage: '40',
        balloonInfo: { balloon_max: '1048576', balloon_min: '0', balloon_cur: '524288', balloon_target: '524288' },
        disks: { vda: { readBytes: '4096', writtenBytes: '0', readOps: '1', writeOps: '0', readRate: '0.0', writeRate: '0.0', readLatency: '2000000', writeLatency: '0', flushLatency: '0', apparentsize: '1073741824', truesize: '0' } },
        network: { vnet0: { rx: '10', tx: '20', rxErrors: '0', txErrors: '0', rxDropped: '0', txDropped: '0', speed: '1000' } },
      },
      { vmId: 'u-2', status: 'Down', exitCode: 0 },
    ]);
    const f = (name: string): Figure[] => figures.filter((x) => x.name === name);
    assert.deepEqual(f('vdsm_vm_status').map((x) => x.labels), [{ vm_id: 'u-1', vm_name: 'web.1', status: 'Up' }, { vm_id: 'u-2', vm_name: 'u-2', status: 'Down' }]);
    assert.equal(f('vdsm_vm_cpu_seconds_total')[0]!.value, 5);
    assert.equal(f('vdsm_vm_cpu_seconds_total')[0]!.path, 'vms.web_1.cpu.usage');
    assert.equal(f('vdsm_vm_disk_read_latency_seconds')[0]!.value, 0.002);
    assert.equal(f('vdsm_vm_disk_read_latency_seconds')[0]!.path, 'vms.web_1.disk.vda.read_latency');
    assert.equal(f('vdsm_vm_balloon_current_bytes')[0]!.value, 512 * 2 ** 20);
    assert.equal(f('vdsm_vm_balloon_current_bytes')[0]!.path, 'vms.web_1.balloon.cur');
    assert.equal(f('vdsm_vm_network_transmit_bytes_total')[0]!.path, 'vms.web_1.nic.vnet0.tx_bytes');
    assert.ok(figures.every((x) => x.labels?.['vm_id'] !== 'u-2' || x.name === 'vdsm_vm_status'));
  });
});
