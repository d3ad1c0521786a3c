// Recovery after an agent restart, against the real vdsmd: VMs libvirt still runs come back with the
// same ids and states; VMs the agent ran that stopped while it was down are reported Down with an exit
// reason until VM.destroy; while recovery waits for libvirt, requests get 99 and events are held and
// delivered once it completes.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtureDomains, generateNodeXml, writeNodeXml } from '../../src/libvirt/fixture.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { checkVmStats } from '../helpers/engine-types.js';
import { libvirtdUnavailable, TestLibvirtd } from '../libvirt/helpers/libvirtd.js';

type Stats = Record<string, unknown>;
const NEW_VM = 'b0e1c0de-0000-4000-8000-0000000000c1';

function newVmXml(): string {
  return `<domain type="test"><name>recovery-created</name><uuid>${NEW_VM}</uuid><memory unit="KiB">524288</memory><vcpu>1</vcpu><os><type arch="x86_64">hvm</type></os><devices/></domain>`;
}

async function waitReadyCall(engine: EngineClient, agent: AgentProcess, method: string): Promise<unknown> {
  await agent.whenReady();
  return engine.call(method);
}

void describe('recovery after an agent restart (test driver in the agent process)', () => {
  const fixture = { domains: 3, paused: 1, namePrefix: 'rec' } as const;
  const [running1, running2, paused] = fixtureDomains(fixture);
  let dir: string;
  let nodeXml: string;
  let stateDir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-recovery-'));
    stateDir = join(dir, 'state');
    nodeXml = (await writeNodeXml(dir, fixture)).replace(/^test:\/\//, '');
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  void it('re-adopts running VMs with the same ids and states and reports stopped ones Down', async () => {
    const args = ['--set', `libvirt.uri=test://${nodeXml}`, '--set', 'vars.guest_wait_timeout=0'];
    // First life: the fixture's three VMs are adopted, and the engine starts a fourth one.
    const first = await AgentProcess.start({ stateDir, args });
    let engine = await EngineClient.connect({ port: first.port });
    try {
      const before = await waitReadyCall(engine, first, 'Host.getAllVmStats') as Stats[];
      assert.deepEqual(new Map(before.map((v) => [v['vmId'], v['status']])), new Map([[running1!.uuid, 'Up'], [running2!.uuid, 'Up'], [paused!.uuid, 'Paused']]));
      await engine.call('VM.create', { vmID: NEW_VM, vmParams: { xml: newVmXml() } });
      await engine.waitForEvent(isVmStatus(NEW_VM, 'Up'));
    } finally {
      engine.close();
    }
    // The agent crashes; meanwhile running2 is shut off (the node XML now says so) and the created VM is
    // gone (a fresh test-driver instance only knows the node XML).
    await first.kill();
    await writeFile(nodeXml, generateNodeXml(fixture).replace(
      new RegExp(`(<uuid>${running2!.uuid}</uuid>[\\s\\S]*?)(\\s*</domain>)`),
      '$1\n    <test:runstate>5</test:runstate>$2',
    ));

    // Second life, same state directory.
    const second = await AgentProcess.start({ stateDir, args });
    engine = await EngineClient.connect({ port: second.port });
    try {
      const afterRestart = await waitReadyCall(engine, second, 'Host.getAllVmStats') as Stats[];
      const byId = new Map(afterRestart.map((v) => [v['vmId'] as string, v]));
      assert.equal(byId.get(running1!.uuid)?.['status'], 'Up', 'still running: re-adopted Up');
      assert.equal(byId.get(paused!.uuid)?.['status'], 'Paused', 'still paused: re-adopted Paused');
      for (const id of [running2!.uuid, NEW_VM]) {
        const vm = byId.get(id);
        assert.equal(vm?.['status'], 'Down', `${id} stopped while the agent was down`);
        assert.equal(typeof vm['exitCode'], 'number');
        assert.equal(typeof vm['exitReason'], 'number');
        assert.match(String(vm['exitMessage']), /while vdsm-node was not running/);
      }
      assert.equal(byId.get(NEW_VM)?.['exitReason'], 9, 'libvirt no longer knows the domain: LibvirtDomainMissing');
      for (const vm of afterRestart) assert.deepEqual(checkVmStats(vm), [], String(vm['vmId']));
      // Down VMs stay listed until the engine destroys them.
      assert.equal(await engine.call('VM.destroy', { vmID: NEW_VM }), true);
      assert.equal(await engine.call('VM.destroy', { vmID: running2!.uuid }), true);
      const left = await engine.call<Stats[]>('Host.getAllVmStats');
      assert.deepEqual(left.map((v) => v['vmId']).sort(), [running1!.uuid, paused!.uuid].sort());
    } finally {
      engine.close();
      await second.cleanup();
    }
  });
});

const skipDaemon = libvirtdUnavailable();
void describe('recovery waits for libvirt: 99 meanwhile, held events after', { skip: skipDaemon }, () => {
  let daemon: TestLibvirtd;
  let stateDir: string;

  before(async () => {
    daemon = await TestLibvirtd.create({ domains: 2, namePrefix: 'held' });
    stateDir = await mkdtemp(join(tmpdir(), 'vdsm-recovery-held-'));
    // A record of a VM the agent ran before, which libvirt will not know: recovery reports it Down.
    await writeFile(join(stateDir, 'vms.json'), JSON.stringify({
      version: 1,
      vms: [{ vmId: NEW_VM, name: 'gone', xml: newVmXml(), startedAt: Date.now() - 60_000 }],
    }));
  });
  after(async () => {
    await daemon?.cleanup();
    await rm(stateDir, { recursive: true, force: true });
  });

  void it('answers 99 until libvirt is reachable, then sends the held Down event', async () => {
    const agent = await AgentProcess.start({ stateDir, args: ['--set', `libvirt.uri=${daemon.uri}`, '--set', 'libvirt.reconnect_max_delay=0.5'] });
    const engine = await EngineClient.connect({ port: agent.port });
    try {
      const early = await engine.request('Host.getAllVmStats');
      assert.equal(early.error?.code, 99, 'libvirt is not running yet: recovering');
      await daemon.start();
      await agent.whenReady();
      const down = await engine.waitForEvent(isVmStatus(NEW_VM, 'Down'));
      assert.equal((down['params'] as Record<string, Stats>)[NEW_VM]!['exitReason'], 9);
      const all = await engine.call<Stats[]>('Host.getAllVmStats');
      assert.equal(all.length, 3, 'two running VMs adopted, one reported Down');
    } finally {
      engine.close();
      await agent.cleanup();
    }
  });
});
