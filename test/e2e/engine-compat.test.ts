// Issue 11 against the real vdsmd (dev profile: plain TCP, libvirt's test driver, fake KVM), each point
// through both independent STOMP peers: the npm stompit client (as the engine talks) and python3-stomp
// sending exactly what vdsm's own vdsm-client sends, every name=value argument a string.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient } from '../helpers/engine-client.js';
import { checkCapabilities, checkHostStats, checkVmStats } from '../helpers/engine-types.js';
import { pythonPeerAvailable, runPythonPeer } from '../peers/python-peer.js';

type Obj = Record<string, unknown>;

/** Every key Host.getStats reports once two samples exist (vdsm's set plus the KSM keys). */
const HOST_STATS_KEYS = [
  'anonHugePages', 'bootTime', 'cpuIdle', 'cpuLoad', 'cpuStatistics', 'cpuSys', 'cpuSysVdsmd', 'cpuUser', 'cpuUserVdsmd', 'dateTime', 'diskStats',
  'elapsedTime', 'haStats', 'hugepages', 'incomingVmMigrations', 'ksmCpu', 'ksmMergeAcrossNodes', 'ksmPages', 'ksmState', 'memFree', 'memShared',
  'memUsed', 'momStatus', 'netConfigDirty', 'network', 'numaNodeMemFree', 'outgoingVmMigrations', 'rxDropped', 'storageDomains', 'swapFree',
  'swapTotal', 'thpState', 'txDropped', 'v2vJobs', 'vmActive', 'vmCount', 'vmMigrating',
].sort();

void describe('engine and vdsm-client compatibility (issue 11)', () => {
  let agent: AgentProcess;
  let engine: EngineClient;
  let python = false;
  let firstStats: Obj;
  let firstVms: Obj[];

  /** python3-stomp with the arguments as vdsm-client would send them; the parsed result or the error. */
  const vdsmClient = async (method: string, params: Record<string, string>): Promise<{ result?: unknown; code: number; stdout: string; stderr: string }> => {
    const r = await runPythonPeer(agent.port, ['--method', method, '--params', JSON.stringify(params)], 30_000);
    // events that happen to arrive meanwhile are printed as "EVENT ..." lines: the result is the rest
    const body = r.stdout.split('\n').filter((l) => !l.startsWith('EVENT ')).join('\n');
    return { ...r, ...(r.code === 0 ? { result: JSON.parse(body) as unknown } : {}) };
  };

  before(async () => {
    python = await pythonPeerAvailable();
    if (!python && process.env['CI'] !== undefined) throw new Error('python3-stomp must be present in CI');
    // Default sampling periods (15 s): the first calls below come before a second host sample exists.
    agent = await AgentProcess.start();
    await agent.whenReady();
    engine = await EngineClient.connect({ port: agent.port });
    firstStats = await engine.call<Obj>('Host.getStats');
    firstVms = await engine.call<Obj[]>('Host.getAllVmStats');
  });
  after(async () => {
    engine?.close();
    await agent?.cleanup();
  });

  void it('the first Host.getStats after start has every key, typed as the engine reads them', () => {
    assert.deepEqual(Object.keys(firstStats).sort(), HOST_STATS_KEYS);
    assert.deepEqual(checkHostStats(firstStats), []);
  });

  void it('KSM keys with vdsm-api.yml types: ksmState and ksmMergeAcrossNodes booleans, ksmPages, ksmCpu, memShared ints', () => {
    for (const k of ['ksmState', 'ksmMergeAcrossNodes']) assert.equal(typeof firstStats[k], 'boolean', k);
    for (const k of ['ksmPages', 'ksmCpu', 'memShared']) assert.ok(Number.isInteger(firstStats[k]), k);
  });

  void it('VM stats: pid, displayPort and pauseCode on every running VM, a network entry per NIC (2 per test-driver VM)', () => {
    const running = firstVms.filter((v) => v['status'] !== 'Down');
    assert.equal(running.length, 4);
    for (const vm of running) {
      assert.deepEqual(checkVmStats(vm), [], String(vm['vmId']));
      assert.equal(vm['pid'], '0', 'no QEMU process on the test driver');
      assert.equal(vm['displayPort'], '-1', 'the fixture VMs have no graphics');
      assert.equal(vm['pauseCode'], 'NOERR');
      assert.equal(Object.keys(vm['network'] as Obj).length, 2);
      for (const nic of Object.values(vm['network'] as Record<string, Obj>)) for (const k of ['rx', 'tx', 'macAddr', 'name', 'sampleTime']) assert.equal(typeof nic[k], 'string', k);
    }
  });

  void it('getCapabilities: lastClientIface is the device of the connection\'s address, nic mtu a string', async () => {
    const caps = await engine.call<Obj>('Host.getCapabilities');
    assert.deepEqual(checkCapabilities(caps), []);
    assert.equal(caps['lastClientIface'], 'lo');
    for (const [name, nic] of Object.entries(caps['nics'] as Record<string, Obj>)) assert.ok(typeof nic['mtu'] === 'string' && /^\d+$/.test(nic['mtu']), name);
  });

  void it('getHardwareInfo: what is readable without privileges, or error 57 saying why nothing is', async () => {
    const r = await engine.request('Host.getHardwareInfo');
    if (r.error !== undefined) {
      assert.equal(r.error.code, 57);
      assert.match(String(r.error.message), /^Failed to read hardware information: no hardware information readable: .*supervdsm/);
    } else {
      assert.ok(Object.keys(r.result as Obj).length > 0, 'never an empty object');
      for (const v of Object.values(r.result as Obj)) assert.equal(typeof v, 'string');
    }
  });

  void it('a missing required argument: -32603 "missing a required argument", from both peers', async (t) => {
    const r = await engine.request('Host.echo', {});
    assert.equal(r.error?.code, -32603);
    assert.match(String(r.error?.message), /missing a required argument: 'message'/);
    if (!python) return t.skip('python3-stomp missing');
    const py = await vdsmClient('Host.echo', {});
    assert.equal(py.code, 1, 'a JSON-RPC error');
    assert.match(py.stderr, /-32603/);
    assert.match(py.stderr, /missing a required argument: 'message'/);
  });

  void it('vdsm-client style calls, every argument a string, work as against vdsm', async (t) => {
    if (!python) return t.skip('python3-stomp missing');
    const ids = firstVms.map((v) => String(v['vmId']));
    const list = await vdsmClient('Host.getVMList', { onlyUUID: 'true' });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((list.result as string[]).sort(), [...ids].sort());
    const full = await vdsmClient('Host.getVMList', { onlyUUID: 'false', vmList: ids.slice(0, 2).join(',') });
    assert.equal(full.code, 0, full.stderr);
    assert.deepEqual((full.result as Obj[]).map((v) => v['vmId']).sort(), ids.slice(0, 2).sort());
    const xmls = await vdsmClient('Host.dumpxmls', { vmList: ids.join(',') });
    assert.equal(xmls.code, 0, xmls.stderr);
    assert.deepEqual(Object.keys(xmls.result as Obj).sort(), [...ids].sort());
    const stats = await vdsmClient('VM.getStats', { vmID: ids[0]! });
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal((stats.result as Obj[])[0]?.['vmId'], ids[0]);
    const level = await vdsmClient('Host.setLogLevel', { level: 'INFO', name: 'virt.vm' });
    assert.equal(level.code, 0, level.stderr);
    const up = firstVms.find((v) => v['status'] === 'Up')!;
    // the test driver refuses the guest-agent shutdown, so force="true" (a string) must reach the handler as true
    const shutdown = await vdsmClient('VM.shutdown', { vmID: String(up['vmId']), delay: '0', message: 'bye', reboot: 'false', timeout: '30', force: 'true' });
    assert.equal(shutdown.code, 0, shutdown.stderr);
    assert.equal(shutdown.result, true);
    // the same call with a value nothing can make a boolean of is refused, naming the parameter
    const bad = await vdsmClient('VM.shutdown', { vmID: String(up['vmId']), reboot: 'perhaps' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /-32602.*Parameter reboot is not boolean type/s);
    // each conversion was logged once per method and parameter
    const conversions = agent.lines.filter((l) => l['logger'] === 'schema.inconsistency' && l['method'] === 'VM.shutdown');
    // (delay and timeout accept numbers and strings alike: nothing to convert)
    assert.deepEqual(conversions.map((l) => l['parameter']).sort(), ['force', 'reboot']);
  });

  void it('Host.getVMFullList is vdsm\'s short list (acceptance case 232: vdsm\'s Vm.status() has no devices since vm.conf went; the engine reads devices from Host.dumpxmls)', async () => {
    const ids = firstVms.map((v) => String(v['vmId']));
    const all = await engine.call<Obj[]>('Host.getVMFullList');
    assert.deepEqual(all.map((v) => String(v['vmId'])).sort(), [...ids].sort());
    for (const v of all) assert.deepEqual(Object.keys(v).sort(), ['status', 'statusTime', 'vmId']);
    const one = await engine.call<Obj[]>('Host.getVMFullList', { vmList: ids.slice(0, 1) });
    assert.deepEqual(one.map((v) => v['vmId']), ids.slice(0, 1));
  });

  void it('the stompit peer sees the same argument rules: strings where the schema has booleans and lists are converted', async () => {
    const ids = firstVms.map((v) => String(v['vmId']));
    const short = await engine.call<Obj[]>('Host.getVMList', { onlyUUID: 'false', fullStatus: 'False', vmList: JSON.stringify(ids.slice(0, 1)) });
    const typed = await engine.call<Obj[]>('Host.getVMList', { onlyUUID: false, fullStatus: false, vmList: ids.slice(0, 1) });
    assert.deepEqual(short.map((v) => [v['vmId'], v['status']]), typed.map((v) => [v['vmId'], v['status']]));
    assert.equal(short.length, 1);
    const r = await engine.request('Host.getVMList', { onlyUUID: { yes: true } });
    assert.equal(r.error?.code, -32602);
  });
});
