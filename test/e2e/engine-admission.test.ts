// Issue 11, "must show": with the embedded profile (the README's `npm start`: libvirt's test driver, TLS with
// the development PKI, fake KVM) the capabilities meet every rule an oVirt engine applies before it lets a
// host into a 4.7 cluster, checked rule by rule (test/helpers/engine-admission.ts cites the engine source of
// each), on capabilities fetched over TLS by both independent STOMP peers (npm stompit, python3-stomp).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { devPkiPaths } from '../../src/rpc/pki.js';
import { AgentProcess } from '../helpers/agent-process.js';
import {
  CLUSTER_EMULATED_MACHINES_4_7, LATER_4_7_Q35, clusterLevelRule, emulatedMachinesRule, kvmEnabledRule, maxServerCpu, missingCpuFlags, rngSourcesRule, versionRule,
} from '../helpers/engine-admission.js';
import { EngineClient } from '../helpers/engine-client.js';
import { checkCapabilities } from '../helpers/engine-types.js';
import { pythonPeerAvailable, runPythonPeerTls } from '../peers/python-peer.js';

type Obj = Record<string, unknown>;

void describe('an engine adds the embedded host to a 4.7 cluster', () => {
  let agent: AgentProcess;
  let engine: EngineClient;
  let caps: Obj;

  before(async () => {
    agent = await AgentProcess.start({ profile: 'embedded' });
    await agent.whenReady();
    const pki = devPkiPaths(agent.stateDir);
    const [key, cert, ca] = await Promise.all([readFile(pki.client.keyFile), readFile(pki.client.certFile), readFile(pki.client.caFile)]);
    engine = await EngineClient.connect({ port: agent.port, tls: { key, cert, ca } });
    caps = await engine.call<Obj>('Host.getCapabilities');
  });
  after(async () => {
    engine?.close();
    await agent?.cleanup();
  });

  void it('the refresh parses: every key and JSON type updateVDSDynamicData casts (engine-wire.md §5)', () => {
    assert.deepEqual(checkCapabilities(caps), []);
  });

  void it('kvmEnabled reads as true: no KVM_NOT_RUNNING (VirtMonitoringStrategy)', () => {
    assert.deepEqual(kvmEnabledRule(caps), []);
    assert.equal(caps['kvmEnabled'], 'true');
  });

  void it('emulated machines: a Q35 and an i440fx machine of the 4.7 ClusterEmulatedMachines (EmulatedMachineCommonUtils)', () => {
    const r = emulatedMachinesRule(caps);
    assert.deepEqual(r.violations, []);
    assert.equal(r.q35, 'pc-q35-rhel8.5.0');
    assert.equal(r.i440fx, 'pc-i440fx-rhel7.6.0');
    // later 4.7 engines look for pc-q35-rhel8.6.0 first
    assert.deepEqual(emulatedMachinesRule(caps, [LATER_4_7_Q35, ...CLUSTER_EMULATED_MACHINES_4_7]).q35, LATER_4_7_Q35);
  });

  void it('CPU: a model flag of the 4.7 ServerCPUList; the cluster CPU becomes Secure Intel Skylake Client (CpuFlagsManagerHandler)', () => {
    const flags = String(caps['cpuFlags']);
    assert.ok(flags.split(',').some((f) => f.startsWith('model_')), 'a model_<X> flag');
    assert.ok(flags.split(',').includes('vmx') || flags.split(',').includes('svm'), 'vmx or svm');
    const cpu = maxServerCpu(flags);
    assert.equal(cpu?.name, 'Secure Intel Skylake Client Family');
    // and it fits a cluster whose CPU was set by an earlier host of an older family
    for (const name of ['Intel Nehalem Family', 'Secure Intel Haswell Family', 'Intel Skylake Client Family']) assert.deepEqual(missingCpuFlags(name, flags), [], name);
    assert.match(String(caps['cpuModel']), /Fake/, 'honest about being fake');
  });

  void it('RNG sources: random (or urandom), nothing else required by a 4.7 cluster (VirtMonitoringStrategy)', () => {
    assert.deepEqual(rngSourcesRule(caps), []);
  });

  void it('cluster levels include 4.7; supported engines and the vdsm version satisfy an engine 4.5 (HandleVdsVersion)', () => {
    assert.deepEqual(clusterLevelRule(caps, '4.7'), []);
    assert.deepEqual(versionRule(caps, '4.5'), []);
    assert.ok((caps['supportedENGINEs'] as string[]).includes('4.5'));
  });

  void it('python3-stomp gets the same admission-relevant capabilities over TLS', async (t) => {
    if (!(await pythonPeerAvailable())) {
      if (process.env['CI'] !== undefined) assert.fail('python3-stomp must be present in CI');
      return t.skip('python3-stomp missing');
    }
    const pki = devPkiPaths(agent.stateDir);
    const r = await runPythonPeerTls(agent.port, ['--method', 'Host.getCapabilities'], pki.client, (m) => t.diagnostic(m), 30_000);
    assert.equal(r.code, 0, r.stderr);
    const py = JSON.parse(r.stdout) as Obj;
    for (const k of ['kvmEnabled', 'emulatedMachines', 'cpuFlags', 'rngSources', 'clusterLevels', 'supportedENGINEs']) assert.deepEqual(py[k], caps[k], k);
    assert.equal(py['lastClientIface'], 'lo', 'the connection arrives on loopback');
  });

  void it('a VM the engine defines as type kvm runs on the test driver (fake KVM translates the type)', async () => {
    const vmId = '0e4a1b2c-0000-4000-8000-0000000000a7';
    const xml = `<domain type="kvm"><name>engine-kvm</name><uuid>${vmId}</uuid><memory>1048576</memory><vcpu current="1">16</vcpu>
      <cpu match="exact"><model>Skylake-Client-noTSX-IBRS</model><topology cores="1" threads="1" sockets="16"/></cpu>
      <os><type arch="x86_64" machine="pc-q35-rhel8.5.0">hvm</type></os>
      <devices><interface type="bridge"><mac address="56:6f:5a:b4:00:01"/><source bridge="ovirtmgmt"/><model type="virtio"/><alias name="ua-nic1"/></interface></devices></domain>`;
    const created = await engine.call<Obj>('VM.create', { vmID: vmId, vmParams: { vmId, xml } });
    assert.equal(created['status'], 'WaitForLaunch');
    await agent.waitForLog((l) => l['msg'] === 'VM launched' && l['vmId'] === vmId);
    assert.ok(agent.lines.some((l) => l['msg'] === 'fake KVM: domain type translated for this hypervisor' && l['to'] === 'test'));
    const [stats] = await engine.call<Obj[]>('VM.getStats', { vmID: vmId });
    assert.notEqual(stats?.['status'], 'Down');
    const nics = Object.values(stats?.['network'] as Record<string, Obj>);
    assert.deepEqual(nics.map((n) => n['macAddr']), ['56:6f:5a:b4:00:01'], 'one entry for the engine\'s NIC');
    await engine.call('VM.destroy', { vmID: vmId });
  });
});
