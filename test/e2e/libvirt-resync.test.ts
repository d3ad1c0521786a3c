// libvirtd restarts under a running agent (a real unprivileged libvirtd, test driver): while it is down,
// one VM the agent paused is resumed, one running VM gets paused, one is shut off and one vanishes (the
// restarted daemon's hypervisor follows a rewritten node XML). After the reconnect, without restarting
// the agent, each VM's status and the last VM_status event the engine got match what libvirt says,
// checked with virsh, an independent client.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { fixtureDomains } from '../../src/libvirt/fixture.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { checkVmStats } from '../helpers/engine-types.js';
import { libvirtdUnavailable, TestLibvirtd } from '../libvirt/helpers/libvirtd.js';

const run = promisify(execFile);
type Stats = Record<string, unknown>;
const VIRSH_STATUS: Record<string, string> = { running: 'Up', paused: 'Paused', 'shut off': 'Down', missing: 'Down' };

const skip = libvirtdUnavailable();

void describe('VM states resync after libvirtd restarts under the agent', { skip: skip ?? false }, () => {
  const fixture = { domains: 4, namePrefix: 'rsy' } as const;
  const [resumed, paused, shutOff, vanished] = fixtureDomains(fixture);
  let daemon: TestLibvirtd;
  let agent: AgentProcess;
  let engine: EngineClient;

  /** libvirt's own view through virsh (each test+unix connection gets the node XML's hypervisor). */
  const virshStatus = async (name: string): Promise<string> => {
    const out = await run('virsh', ['-c', daemon.uri, 'domstate', name]).then((r) => r.stdout.trim(), () => 'missing');
    return VIRSH_STATUS[out] ?? `unexpected virsh state ${out}`;
  };
  /** The status in the last VM_status event the engine received for vmId. */
  const lastEventStatus = (vmId: string): unknown => {
    const mine = engine.events().filter((e) => e['method'] === `|virt|VM_status|${vmId}`);
    return (mine.at(-1)?.['params'] as Record<string, Stats> | undefined)?.[vmId]?.['status'];
  };

  before(async () => {
    daemon = await TestLibvirtd.create(fixture);
    await daemon.start();
    agent = await AgentProcess.start({ args: ['--set', `libvirt.uri=${daemon.uri}`, '--set', 'libvirt.reconnect_max_delay=0.5', '--set', 'vars.guest_wait_timeout=0'] });
    engine = await EngineClient.connect({ port: agent.port });
    await agent.whenReady();
  });
  after(async () => {
    engine?.close();
    await agent?.cleanup();
    await daemon?.cleanup();
  });

  void it('the statuses and the engine events follow libvirt after the reconnect', async () => {
    const all = await engine.call<Stats[]>('Host.getAllVmStats');
    assert.deepEqual(new Set(all.map((v) => v['status'])), new Set(['Up']), 'four running VMs adopted');
    await engine.call('VM.pause', { vmID: resumed!.uuid });
    await engine.waitForEvent(isVmStatus(resumed!.uuid, 'Paused'));

    await daemon.kill('SIGKILL');
    await agent.waitForLog((l) => l['msg'] === 'libvirt connection lost');
    // While libvirtd is down: the daemon that comes back runs the node XML's hypervisor, where the VM
    // the agent paused runs again, one VM is paused, one shut off and one is gone.
    let xml = await readFile(daemon.nodeXml, 'utf8');
    const withRunstate = (uuid: string, state: number): void => {
      xml = xml.replace(new RegExp(`(<uuid>${uuid}</uuid>[\\s\\S]*?)(\\s*</domain>)`), `$1\n    <test:runstate>${state}</test:runstate>$2`);
    };
    withRunstate(paused!.uuid, 3);
    withRunstate(shutOff!.uuid, 5);
    xml = xml.replace(new RegExp(`<domain type="test"[^>]*>(?:(?!</domain>)[\\s\\S])*?<uuid>${vanished!.uuid}</uuid>[\\s\\S]*?</domain>`), '');
    assert.ok(!xml.includes(`<uuid>${vanished!.uuid}</uuid>`), 'the vanished VM is gone from the node XML');
    await writeFile(daemon.nodeXml, xml);
    assert.equal(await engine.call('Host.ping2'), true, 'the agent answers during the outage');

    await daemon.start();
    const expected = new Map([[resumed!, 'Up'], [paused!, 'Paused'], [shutOff!, 'Down'], [vanished!, 'Down']]);
    for (const [d, status] of expected) {
      assert.equal(await virshStatus(d.name), status, `libvirt: ${d.name}`);
      await engine.waitForEvent(isVmStatus(d.uuid, status), 20_000);
    }
    await agent.waitForLog((l) => l['msg'] === 'VM states resynced after the libvirt reconnect');

    const after = new Map((await engine.call<Stats[]>('Host.getAllVmStats')).map((v) => [v['vmId'] as string, v]));
    for (const [d, status] of expected) {
      assert.equal(after.get(d.uuid)?.['status'], status, `getAllVmStats: ${d.name}`);
      assert.equal(lastEventStatus(d.uuid), status, `last VM_status event: ${d.name}`);
      assert.deepEqual(checkVmStats(after.get(d.uuid)!), [], d.name);
    }
    assert.equal(after.get(vanished!.uuid)?.['exitReason'], 9, 'libvirt no longer knows the domain: LibvirtDomainMissing');
    assert.match(String(after.get(shutOff!.uuid)?.['exitMessage']), /while the libvirt connection was down/);
    assert.equal(agent.lines.filter((l) => l['msg'] === 'vdsm-node serving the management port').length, 1, 'the agent was not restarted');
    assert.equal(await engine.call('VM.cont', { vmID: paused!.uuid }).then(() => 'resumed'), 'resumed', 'the resynced Paused VM can be resumed');
    await engine.waitForEvent(isVmStatus(paused!.uuid, 'Up'));
  });
});
