// The README's start command (`npm start` = vdsmd --profile embedded): TLS with the development PKI on
// 127.0.0.1 and the test driver with generated VMs; `vdsm-client Host ping2` prints true and
// `vdsm-client Host getAllVmStats` lists the VMs. Run on a free port and a private state directory.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';

const CLIENT = fileURLToPath(new URL('../../src/bin/vdsm-client.js', import.meta.url));

void describe('the README start command', () => {
  let agent: AgentProcess;
  before(async () => {
    agent = await AgentProcess.start({ profile: 'embedded' });
    await agent.whenReady();
  });
  after(async () => { await agent?.cleanup(); });

  const client = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => new Promise((resolve) => {
    execFile(process.execPath, [CLIENT, '-a', '127.0.0.1', '-p', String(agent.port), '--state-dir', agent.stateDir, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });

  void it('serves TLS only: vdsm-client with the dev PKI client certificate gets ping2 = true', async () => {
    const r = await client('Host', 'ping2');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'true');
    const plain = await client('--insecure', '--timeout', '3', 'Host', 'ping2');
    assert.notEqual(plain.code, 0, 'plain TCP is not served when TLS is on');
  });

  void it('vdsm-client Host getAllVmStats lists the embedded VMs', async () => {
    const r = await client('Host', 'getAllVmStats');
    assert.equal(r.code, 0, r.stderr);
    const vms = JSON.parse(r.stdout) as { vmId: string; vmName: string; status: string }[];
    assert.equal(vms.length, 4);
    assert.deepEqual(vms.map((v) => v.status).sort(), ['Paused', 'Up', 'Up', 'Up']);
    assert.ok(vms.every((v) => v.vmName.startsWith('embedded-vm-')));
  });
});
