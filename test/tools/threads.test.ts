// `vdsm-tool threads` against the real vdsmd: every thread the agent reports is a real thread of its
// process, the Executor workers are named and placed, and /proc fills in state and CPU time.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parseTaskStat, renderThreads } from '../../src/bin/tool-threads.js';
import { AgentProcess } from '../helpers/agent-process.js';

const TOOL = fileURLToPath(new URL('../../src/bin/vdsm-tool.js', import.meta.url));

function tool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TOOL, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

void describe('vdsm-tool threads', () => {
  let agent: AgentProcess;
  before(async () => {
    agent = await AgentProcess.start();
    await agent.whenReady();
  });
  after(async () => { await agent?.cleanup(); });

  void it('lists main, the libvirt control thread and every executor worker, each a live thread of vdsmd', async () => {
    type Report = { pid: number; threads: { tid: number; name: string; executor?: string }[]; proc: Record<string, { state: string; cpuS: number }> | null };
    // The agent answers before its spares are up; a worker still starting has no thread yet (tid -1),
    // so ask again until every listed worker has reported its thread (a few seconds at most).
    let report: Report;
    for (let attempt = 0; ; attempt++) {
      const r = await tool(['threads', '--insecure', '-p', String(agent.port), '--json']);
      assert.equal(r.code, 0, r.stderr);
      report = JSON.parse(r.stdout) as Report;
      if (report.threads.every((t) => t.tid > 0) || attempt >= 50) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(report.proc, 'same host: /proc details present');
    const names = report.threads.map((t) => t.name);
    assert.equal(report.threads[0]?.tid, report.pid, 'the main thread is the process id');
    assert.ok(names.includes('libvirt/control'));
    for (const ex of ['periodic', 'jsonrpc']) assert.ok(names.some((n) => n.startsWith(`${ex}/`)), `${ex} workers listed`);
    for (const t of report.threads) assert.ok(report.proc[String(t.tid)], `${t.name} (tid ${t.tid}) is a thread of pid ${report.pid}`);
  });

  void it('says what to do when no agent answers', async () => {
    const r = await tool(['threads', '--insecure', '-p', '1']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /Is vdsmd running\?/);
  });
});

void it('parseTaskStat reads state and CPU seconds, even with spaces and parentheses in the name', () => {
  const line = '4242 (node (worker 1)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0';
  assert.deepEqual(parseTaskStat(line), { state: 'S', cpuS: 3 });
  assert.equal(parseTaskStat('garbage'), undefined);
});

void it('renderThreads shows what a busy worker runs and marks threads the agent did not name', () => {
  const text = renderThreads(
    { pid: 10, threads: [{ tid: 10, name: 'main', role: 'acceptor' }, { tid: 11, name: 'periodic/0', role: 'periodic executor worker', state: 'busy', op: 'sampling.bulkStats', task_id: 7, runtime_ms: 1234.4 }] },
    new Map([[10, { state: 'S', cpuS: 1 }], [11, { state: 'D', cpuS: 0.5 }], [12, { state: 'S', cpuS: 0 }]]),
  );
  assert.match(text, /^11 +periodic\/0 +D +0\.50 +sampling\.bulkStats \(task 7, 1234 ms\) \[busy\]$/m);
  assert.match(text, /^12 +\(node\) +S/m);
});
