// Stats served while libvirt is unreachable are marked as vdsm marks stats it cannot vouch for
// (issue 9, item 7): monitorResponse "-1" for every running VM during a libvirt outage (before, cached
// stats went out with "0"), back to "0" once libvirt answers again. Real vdsmd, real libvirtd.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient } from '../helpers/engine-client.js';
import { libvirtdUnavailable, TestLibvirtd } from '../libvirt/helpers/libvirtd.js';

const skip = libvirtdUnavailable();
type Stats = Record<string, unknown>;
let daemon: TestLibvirtd;
before(async () => {
  if (skip) return;
  daemon = await TestLibvirtd.create({ domains: 2 });
  await daemon.start();
});
after(async () => {
  await daemon?.cleanup();
});

void it('monitorResponse is -1 while libvirt is unreachable and 0 once it is back', { skip: skip ?? false }, async () => {
  const agent = await AgentProcess.start({ args: ['--set', `libvirt.uri=${daemon.uri}`, '--set', 'libvirt.reconnect_max_delay=0.5'] });
  const engine = await EngineClient.connect({ port: agent.port });
  try {
    await agent.whenReady();
    const responses = async (): Promise<string[]> => (await engine.call<Stats[]>('Host.getAllVmStats')).map((v) => String(v['monitorResponse']));
    assert.deepEqual(await responses(), ['0', '0']);
    const mark = agent.lines.length;
    await daemon.kill('SIGKILL');
    await agent.waitForLog((l) => agent.lines.indexOf(l) >= mark && l['msg'] === 'libvirt connection lost');
    assert.deepEqual(await responses(), ['-1', '-1']);
    await daemon.start();
    await agent.waitForLog((l) => agent.lines.indexOf(l) >= mark && l['msg'] === 'libvirt connection restored');
    assert.deepEqual(await responses(), ['0', '0']);
  } finally {
    engine.close();
    await agent.cleanup();
  }
});
