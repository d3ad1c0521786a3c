// The worker operations on this machine's real /proc and /sys, run in a real worker_thread (as the
// Executor runs them), then assembled on the main thread and checked against every engine rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildCapabilities } from '../../src/host/capabilities.js';
import { buildHardwareInfo } from '../../src/host/hardware-info.js';
import { parseHostSample } from '../../src/host/sample.js';
import { buildHostStats, produceHostStats } from '../../src/host/stats.js';
import type { CapabilitiesRawFacts, HardwareRawFacts, HostRawSample } from '../../src/contracts/host-facts.js';
import { checkCapabilities, checkHostStats } from '../helpers/engine-types.js';
import { QEMU_CAPS_XML } from './caps-fixtures.js';
import { parseLibvirtCapabilities } from '../../src/host/libvirt-caps.js';

const OPS_URL = new URL('../../workers/ops/host.js', import.meta.url).href;

/** Run named ops from workers/ops/host.js in one worker thread; results cross as structured clones. */
async function inWorker(calls: [string, unknown][]): Promise<unknown[]> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.url).then(async (m) => {
      const out = [];
      for (const [op, args] of workerData.calls) out.push(await m.ops[op](args, { taskId: 0, workerId: 0, workerData: null }));
      parentPort.postMessage(out);
    }).catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));`;
  const worker = new Worker(code, { eval: true, workerData: { url: OPS_URL, calls } });
  try {
    const result = await new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (!Array.isArray(result)) throw new Error(String((result as { error?: string }).error));
    return result;
  } finally {
    await worker.terminate();
  }
}

void test('this host: capabilities facts read in a worker give capabilities the engine accepts', async () => {
  const [facts, hw] = (await inWorker([['host.capabilitiesFacts', {}], ['host.hardwareInfo', {}]])) as [CapabilitiesRawFacts, HardwareRawFacts];
  const caps = buildCapabilities({
    facts, libvirtCapabilitiesXml: QEMU_CAPS_XML, libvirtVersion: 9000000, qemuVersion: 7002000,
  });
  assert.deepEqual(checkCapabilities(caps), []);
  assert.ok(Number(caps['cpuThreads']) >= 1);
  assert.ok(Number(caps['memSize']) > 0);
  assert.equal(caps['kvmEnabled'], facts.kvm ? 'true' : 'false');
  const info = buildHardwareInfo(hw);
  for (const v of Object.values(info)) assert.equal(typeof v, 'string');
  if (!hw.dmiPresent) assert.deepEqual(hw.dmi, {}, 'no DMI directory, nothing read from it');
});

void test('this host: two samples read in a worker give getStats the engine accepts', async () => {
  const args = { monitoredPaths: [tmpdir(), '/var/log', '/nonexistent-run-dir'] };
  const [a, b] = (await inWorker([['host.sample', args], ['host.sample', args]])) as [HostRawSample, HostRawSample];
  const first = parseHostSample(a);
  // Same contents, a later stamp: the interval must be positive for the full stats set.
  const last = parseHostSample({ ...b, timestampMs: Math.max(b.timestampMs, a.timestampMs + 1000) });
  const stats = buildHostStats(produceHostStats(first, last, { elapsedS: 1 }), {
    nowMs: Date.now(), meminfo: last.meminfo, vmCounts: { vmCount: 0, vmActive: 0, vmMigrating: 0, incomingVmMigrations: 0, outgoingVmMigrations: 0 },
  });
  assert.deepEqual(checkHostStats(stats), []);
  assert.ok(Object.keys(stats['cpuStatistics'] as object).length >= 1);
  assert.deepEqual((stats['diskStats'] as Record<string, unknown>)['/nonexistent-run-dir'], { free: '0' });
  assert.ok(Number(stats['memFree']) > 0);
});

void test('real libvirt XML: the test driver capabilities from virsh parse, and lack what an engine cluster needs', async (t) => {
  let xml: string;
  try {
    xml = (await promisify(execFile)('virsh', ['-c', 'test:///default', 'capabilities'], { timeout: 20_000 })).stdout;
  } catch {
    t.skip('virsh is not installed');
    return;
  }
  const lv = parseLibvirtCapabilities(xml);
  assert.equal(lv.arch, 'i686');
  assert.deepEqual(lv.emulatedMachines, []);
  assert.equal(lv.cpuModel, undefined);
  const [facts] = (await inWorker([['host.capabilitiesFacts', {}]])) as [CapabilitiesRawFacts];
  const caps = buildCapabilities({ facts, libvirtCapabilitiesXml: xml, libvirtVersion: 9000000, options: { extraEmulatedMachines: ['pc-q35-rhel9.6.0'] } });
  const v = checkCapabilities(caps);
  assert.deepEqual(v.filter((x) => !x.startsWith('cpuFlags')), []);
});
