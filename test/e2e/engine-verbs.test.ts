// VM.setTicket and VM.reset through the real vdsmd (dev profile: libvirt's test driver), the paths the
// test driver can show: a reset of a running VM, the errors vdsm gives (unknown VM, a VM without
// graphics), and the parameters the engine sends accepted under api_strict_mode. The ticket reaching
// a live VNC device, and a reset rebooting a guest, are shown on a real QEMU guest in
// test/realvm/console-ticket-real-vm.test.ts (the test driver cannot update graphics devices).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient } from '../helpers/engine-client.js';

type Obj = Record<string, unknown>;
const UNKNOWN = 'deadbeef-0000-4000-8000-00000000beef';

async function rpcError(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  const err = await p.then(() => undefined, (e: unknown) => e as { rpc?: { code: number; message: string } });
  assert.ok(err?.rpc, 'the call failed with a JSON-RPC error');
  return err.rpc;
}

void describe('engine verbs VM.setTicket and VM.reset on the test driver (api_strict_mode on)', () => {
  let agent: AgentProcess;
  let engine: EngineClient;
  let running: string;

  before(async () => {
    agent = await AgentProcess.start({ args: ['--set', 'devel.api_strict_mode=true'] });
    await agent.whenReady();
    engine = await EngineClient.connect({ port: agent.port });
    const vms = await engine.call<Obj[]>('Host.getVMFullList');
    running = String(vms.find((v) => v['status'] === 'Up')!['vmId']);
  });
  after(async () => {
    engine?.close();
    await agent?.cleanup();
  });

  void it('VM.reset of a running VM answers true and the VM stays Up', async () => {
    assert.equal(await engine.call('VM.reset', { vmID: running }), true);
    assert.equal((await engine.call<Obj>('VM.getInfo', { vmID: running }))['status'], 'Up');
    await agent.waitForLog((l) => l['msg'] === 'VM reset' && l['vmId'] === running, 5_000);
  });

  void it('an unknown VM is error 1 for both verbs', async () => {
    assert.equal((await rpcError(engine.call('VM.reset', { vmID: UNKNOWN }))).code, 1);
    assert.equal((await rpcError(engine.call('VM.setTicket', { vmID: UNKNOWN, password: 'pw', ttl: 120, existingConnAction: 'disconnect', params: {} }))).code, 1);
  });

  void it("VM.setTicket with the engine's parameters on a VM without graphics: error 18, and the password is not echoed or logged", async () => {
    const password = 'Secret-7d1c2';
    const e = await rpcError(engine.call('VM.setTicket', { vmID: running, password, ttl: 120, existingConnAction: 'disconnect', params: { vncUsername: 'u', fips: 'false', disconnectAction: 'LOCK_SCREEN' } }));
    assert.equal(e.code, 18);
    assert.equal(e.message, 'no graphics devices configured', 'vdsm\'s message');
    assert.ok(!agent.lines.some((l) => JSON.stringify(l).includes(password)));
  });

  void it('strict mode: an unknown existingConnAction is refused (-32602); a missing one too, without echoing the password', async () => {
    assert.equal((await rpcError(engine.call('VM.setTicket', { vmID: running, password: 'pw', ttl: 1, existingConnAction: 'drop', params: {} }))).code, -32602);
    const e = await rpcError(engine.call('VM.setTicket', { vmID: running, password: 'Hidden-55', ttl: 1, params: {} }));
    assert.ok(e.code === -32602 || e.code === -32603, `code ${e.code}`);
    assert.doesNotMatch(e.message, /Hidden-55/);
  });
});
