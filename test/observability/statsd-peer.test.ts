// The npm `statsd` daemon (Etsy's reference server) receives what the agent sends with
// [metrics] collector_type = statsd: vdsm's hosts.vdsm.* names, parts' publications
// (hosts.storage.<sd>.*), and behind [metrics] host_vm_metrics the host and VM metrics vdsm removed.
// A small backend of the test appends every flush as one JSON line, which the test reads.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { metricPath, publishFigures } from '../../src/observability/metrics/convention.js';
import { MetricsHub } from '../../src/observability/metrics/hub.js';
import { StatsdReporter } from '../../src/observability/metrics/statsd-reporter.js';
import { monotonicClock } from '../../src/runtime/clock.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { freeTcpPort, freeUdpPort } from '../support/free-port.js';
import { captureLog } from '../runtime/capture-log.js';

const STATSD = fileURLToPath(new URL('../../../node_modules/statsd/stats.js', import.meta.url));

const BACKEND = `
const fs = require('fs');
exports.init = function (startupTime, config, events) {
  events.on('flush', (ts, m) => fs.appendFileSync(config.jsonl.file, JSON.stringify({ ts, gauges: m.gauges }) + '\\n'));
  return true;
};
`;

void describe('statsd: the npm statsd daemon receives the agent\'s metrics', () => {
  let dir: string;
  let daemon: ChildProcess;
  let port: number;
  let flushFile: string;

  /** The latest value of each gauge statsd flushed, once `pred` holds for them (30 s bound). */
  const gaugesWhen = async (pred: (g: Record<string, number>) => boolean): Promise<Record<string, number>> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const text = await readFile(flushFile, 'utf8').catch(() => '');
      const gauges: Record<string, number> = {};
      for (const line of text.split('\n').filter(Boolean)) Object.assign(gauges, (JSON.parse(line) as { gauges: Record<string, number> }).gauges);
      if (pred(gauges)) return gauges;
      if (Date.now() > deadline) throw new Error(`statsd never flushed the expected gauges; it has: ${Object.keys(gauges).sort().join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-statsd-'));
    flushFile = join(dir, 'flush.jsonl');
    port = await freeUdpPort();
    await writeFile(join(dir, 'backend.cjs'), BACKEND);
    await writeFile(join(dir, 'config.js'), JSON.stringify({
      address: '127.0.0.1', port, mgmt_address: '127.0.0.1', mgmt_port: await freeTcpPort(),
      backends: [join(dir, 'backend.cjs')], jsonl: { file: flushFile }, flushInterval: 300, deleteIdleStats: false,
    }));
    daemon = spawn(process.execPath, [STATSD, join(dir, 'config.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      daemon.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('server is up')) resolve();
      });
      daemon.once('exit', (code) => reject(new Error(`statsd exited with ${code}: ${out}`)));
    });
  });

  after(async () => {
    daemon.kill();
    await rm(dir, { recursive: true, force: true });
  });

  void it('without host_vm_metrics only the agent\'s own figures go out, as in vdsm today', async () => {
    const agent = await AgentProcess.start({
      args: ['--set', 'metrics.enabled=true', '--set', `metrics.collector_address=127.0.0.1:${port}`, '--set', 'vars.host_sample_stats_interval=1', '--set', 'health.check_interval=1'],
    });
    try {
      await agent.whenReady();
      // Every report carries all included sources at once, so once the health figures arrived the
      // host figures (present from the first report on) would have too.
      const g = await gaugesWhen((x) => 'hosts.vdsm.cpu.user_pct' in x && 'hosts.vdsm.memory.rss' in x && 'hosts.vdsm.libvirt.connected' in x);
      assert.deepEqual(Object.keys(g).filter((k) => k.startsWith('hosts.cpu.') || k.startsWith('hosts.memory.') || k.startsWith('vms.')), []);
      assert.equal(g['hosts.vdsm.libvirt.connected'], 1);
    } finally {
      await agent.stop();
      await agent.cleanup();
    }
  });

  void it('vdsmd sends hosts.vdsm.*, and with host_vm_metrics the host and VM metrics, under vdsm\'s names and units', async () => {
    const agent = await AgentProcess.start({
      args: [
        '--set', 'metrics.enabled=true', '--set', `metrics.collector_address=127.0.0.1:${port}`, '--set', 'metrics.host_vm_metrics=true',
        '--set', 'vars.host_sample_stats_interval=1', '--set', 'vars.vm_sample_interval=1', '--set', 'health.check_interval=1',
      ],
    });
    try {
      await agent.whenReady();
      const vm = 'embedded-vm-0001';
      const g = await gaugesWhen((x) => ['hosts.vdsm.memory.rss', 'hosts.vdsm.cpu.user_pct', 'hosts.vdsm.threads_count', 'hosts.vdsm.executor.periodic.live', 'hosts.cpu.user', 'hosts.memory.free_mb', `vms.${vm}.cpu.user`, `vms.${vm}.disk.vda.read_latency`].every((k) => k in x));
      const status = await readFile(`/proc/${agent.pid}/status`, 'utf8');
      const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)![1]);
      assert.ok(g['hosts.vdsm.memory.rss']! > rssKiB / 2 && g['hosts.vdsm.memory.rss']! < rssKiB * 2, `rss in KiB as vdsm sent it: ${g['hosts.vdsm.memory.rss']} vs VmRSS ${rssKiB}`);
      assert.ok(g['hosts.vdsm.threads_count']! >= 5, 'kernel threads of the agent');
      assert.ok(g['hosts.vdsm.executor.periodic.live']! >= 1);
      assert.ok(g['hosts.cpu.user']! >= 0 && g['hosts.cpu.user']! <= 100, 'percent, as vdsm sent it');
      assert.ok(g[`vms.${vm}.disk.vda.read_latency`]! >= 0, 'nanoseconds, as vdsm sent it');
    } finally {
      await agent.stop();
      await agent.cleanup();
    }
  });

  void it('a part\'s publication appears as hosts.storage.<sd>.delay without touching the reporter; negative gauges stay absolute', async () => {
    const hub = new MetricsHub({ clock: monotonicClock, log: captureLog().log });
    hub.start();
    const reporter = new StatsdReporter({ address: `127.0.0.1:${port}`, flushMs: 50 });
    try {
      const sd = 'a7e6d1c4-0000-4000-8000-00000000cafe';
      publishFigures('storage', [
        { name: 'vdsm_storage_domain_delay_seconds', kind: 'gauge', help: 'Read delay of the domain monitor', value: 0.0042, labels: { sd }, path: metricPath('hosts', 'storage', sd, 'delay') },
        { name: 'vdsm_storage_domain_last_check_seconds', kind: 'gauge', help: 'Seconds since the last check', value: 1.5, labels: { sd }, path: metricPath('hosts', 'storage', sd, 'last_check') },
        { name: 'vdsm_test_offset', kind: 'gauge', help: 'a negative figure', value: -5, path: 'hosts.vdsm.test.offset' },
      ]);
      reporter.report(await hub.collect());
      const g = await gaugesWhen((x) => `hosts.storage.${sd}.delay` in x && 'hosts.vdsm.test.offset' in x);
      assert.equal(g[`hosts.storage.${sd}.delay`], 0.0042);
      assert.equal(g[`hosts.storage.${sd}.last_check`], 1.5);
      assert.equal(g['hosts.vdsm.test.offset'], -5);
    } finally {
      await reporter.close();
      hub.stop();
    }
  });

});
