// Host.fenceNode through the real vdsmd. No fence device exists here, so the agents are fake fence
// agents: shell scripts this test writes into a temporary directory that [vars] fence_agent_dir points
// at. They record the standard input and command line they got and exit as fence agents do (0 on,
// 2 off, 1 failure); one hangs, to show the time limit ([vars] fence_timeout=5) kills it while the
// daemon keeps answering Host.ping2.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, type RpcError } from '../helpers/engine-client.js';

const PASSWORD = 'Fence-Pw-8c1e';


void describe('Host.fenceNode with fake fence agents (api_strict_mode on)', () => {
  let dir: string;
  let agent: AgentProcess;
  let engine: EngineClient;
  const params = (agentName: string, action: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    addr: '192.0.2.10', port: '', agent: agentName, username: 'admin', password: PASSWORD, action, secure: 'false', options: '', ...extra,
  });
  const call = (agentName: string, action: string, extra?: Record<string, unknown>): Promise<unknown> => engine.call('Host.fenceNode', params(agentName, action, extra));
  const callError = (agentName: string, action: string): Promise<RpcError> => engine.callError('Host.fenceNode', params(agentName, action));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-fence-'));
    // Exits with the status in fence_fake.rc; says what it got on stdout, as a failing agent may.
    await writeFile(join(dir, 'fence_fake'), '#!/bin/sh\ncat > "$0.stdin"\necho "$#" > "$0.argc"\nrc=$(cat "$0.rc")\n[ "$rc" = 1 ] && echo "Failed: $(grep ^passwd= "$0.stdin")"\nexit "$rc"\n');
    await writeFile(join(dir, 'fence_hang'), '#!/bin/sh\ncat > "$0.stdin"\nexec sleep 1000\n');
    await writeFile(join(dir, 'fence_noexec'), '#!/bin/sh\nexit 0\n');
    for (const f of ['fence_fake', 'fence_hang']) await chmod(join(dir, f), 0o755);
    agent = await AgentProcess.start({ args: ['--set', 'devel.api_strict_mode=true', '--set', `vars.fence_agent_dir=${dir}`, '--set', 'vars.fence_timeout=5'] });
    await agent.whenReady();
    engine = await EngineClient.connect({ port: agent.port });
  });
  after(async () => {
    engine?.close();
    await agent?.cleanup();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  void it("status: power on for exit 0, off for exit 2; the options only on the agent's stdin, none on its command line", async () => {
    await writeFile(join(dir, 'fence_fake.rc'), '0');
    assert.deepEqual(await call('fake', 'status', { port: '15', secure: true, options: 'lanplus=1\npower_wait=4' }), { power: 'on' });
    assert.equal(await readFile(join(dir, 'fence_fake.stdin'), 'utf8'), `agent=fence_fake\nipaddr=192.0.2.10\nlogin=admin\naction=status\npasswd=${PASSWORD}\nport=15\nsecure=yes\nlanplus=1\npower_wait=4`);
    assert.equal((await readFile(join(dir, 'fence_fake.argc'), 'utf8')).trim(), '0');
    await writeFile(join(dir, 'fence_fake.rc'), '2');
    assert.deepEqual(await call('fake', 'status'), { power: 'off' });
    assert.equal(await readFile(join(dir, 'fence_fake.stdin'), 'utf8'), `agent=fence_fake\nipaddr=192.0.2.10\nlogin=admin\naction=status\npasswd=${PASSWORD}\n`);
  });

  void it('reboot/on/off: initiated; a failing agent is error 1 with its output, the password masked', async () => {
    await writeFile(join(dir, 'fence_fake.rc'), '0');
    for (const action of ['reboot', 'on', 'off']) assert.deepEqual(await call('fake', action), { power: 'unknown', operationStatus: 'initiated' });
    await writeFile(join(dir, 'fence_fake.rc'), '1');
    for (const action of ['status', 'off']) {
      const e = await callError('fake', action);
      assert.equal(e.code, 1);
      assert.equal(e.message, 'Failed: passwd=********');
    }
  });

  void it('an agent that is missing, not executable or not a plain name is error 43; a bad action -32602', async () => {
    for (const name of ['missing', 'noexec', '../../bin/true', 'fake/../fake', '']) {
      const e = await callError(name, 'status');
      assert.equal(e.code, 43, name);
    }
    assert.equal((await callError('fake', 'destroy')).code, -32602);
  });

  void it('a line break in addr, port, username or password is refused (91): it would add agent options', async () => {
    for (const k of ['addr', 'port', 'username', 'password']) {
      const e = await engine.callError('Host.fenceNode', params('fake', 'status', { [k]: 'x\nipmitool_path=/tmp/evil' }));
      assert.equal(e.code, 91, k);
      assert.doesNotMatch(String(e.message), /evil/);
    }
  });

  void it('a hung agent is killed with its process group at [vars] fence_timeout while ping2 is answered; the password is never logged', async () => {
    let settled = false;
    const pending = call('hang', 'status').finally(() => { settled = true; });
    const started = await agent.waitForLog((l) => l['msg'] === 'fence agent started' && l['agent'] === 'hang', 10_000);
    const pid = started['pid'] as number;
    assert.equal(process.kill(pid, 0), true, 'the agent runs');
    assert.equal(await engine.call('Host.ping2'), true);
    assert.equal(settled, false, 'ping2 answered while the agent still ran');
    const e = await pending.then(() => assert.fail('the hung agent call succeeded'), (err: { rpc: RpcError }) => err.rpc);
    assert.equal(e.code, 1);
    assert.match(String(e.message), /fence_hang did not finish within 5 s and was killed/);
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the hung agent is gone');
    await agent.waitForLog((l) => l['msg'] === 'fence agent did not finish in time; killed', 5_000);
    assert.ok(!agent.lines.some((l) => JSON.stringify(l).includes(PASSWORD)), 'the password is not in the log');
  });
});
