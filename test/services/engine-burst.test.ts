// Engine work and monitoring run on separate executors (issue 9, item 6): a burst of 400 pipelined
// Host.getCapabilities calls (whose host facts used to run on the `periodic` executor) never makes
// VMBulkstatsMonitor or HostMonitor skip a cycle. The real vdsmd with the default executors (the
// periodic one holds 400 tasks) and 1 s monitoring periods; every call is answered (a result, or 1100
// when the engine's own executor is full).
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { errorMessage } from '../../src/errors.js';
import { StompRpcClient, RpcCallError } from '../../src/rpc/stomp-client.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { nodeFixture, type NodeFixture } from '../libvirt/helpers/node-fixture.js';

type Health = {
  sampling: { runs: { fast: number; slow: number; failed: number }; operation: { runs: number; queue_full: number } };
  host: { monitor: { runs: number; queue_full: number } };
};
const samplingRuns = (h: Health): number => h.sampling.runs.fast + h.sampling.runs.slow;

function health(port: number): Promise<Health> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/health' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve(JSON.parse(body) as Health));
    }).on('error', reject);
  });
}

void describe('a burst of engine calls', () => {
  let fx: NodeFixture;
  let agent: AgentProcess;
  before(async () => {
    fx = await nodeFixture({ domains: 3 });
    agent = await AgentProcess.start({
      args: [
        '--set', `libvirt.uri=${fx.uri}`,
        '--set', 'vars.vm_sample_interval=1', '--set', 'vars.host_sample_stats_interval=1',
      ],
    });
    await agent.whenReady();
  });
  after(async () => {
    await agent?.cleanup();
    await fx?.remove();
  });

  void it('400 getCapabilities kept in flight for 4 monitoring periods never skip a sampling or host-monitor cycle', async () => {
    const client = new StompRpcClient({ host: '127.0.0.1', port: agent.port });
    await client.connect();
    try {
      const before = await health(agent.port);
      const counts: Record<string, number> = {};
      // 400 pipelined calls, each replaced by the next as soon as it is answered, until 4 periods passed.
      const until = samplingRuns(before) + 4;
      let burstOver = false;
      const caller = async (): Promise<void> => {
        while (!burstOver) {
          const o = await client.call('Host.getCapabilities', {}, 120_000).then(
            () => 'ok',
            (err: unknown) => (err instanceof RpcCallError ? `code ${err.code}` : `failed: ${errorMessage(err)}`),
          );
          counts[o] = (counts[o] ?? 0) + 1;
        }
      };
      const callers = Array.from({ length: 400 }, caller);
      while (samplingRuns(await health(agent.port)) < until) await new Promise((r) => setImmediate(r));
      burstOver = true;
      await Promise.all(callers);
      assert.deepEqual(Object.keys(counts).filter((k) => k !== 'ok' && k !== 'code 1100'), [], JSON.stringify(counts));
      assert.ok((counts['ok'] ?? 0) > 0, JSON.stringify(counts));
      const skipped = agent.lines.filter((l) => String(l['msg']).includes('executor queue full'));
      assert.deepEqual(skipped, [], 'a monitoring operation found its executor full during the burst');
      const afterBurst = await health(agent.port);
      assert.equal(afterBurst.sampling.operation.queue_full, before.sampling.operation.queue_full, 'VMBulkstatsMonitor skipped a cycle');
      assert.equal(afterBurst.host.monitor.queue_full, before.host.monitor.queue_full, 'HostMonitor skipped a cycle');
      assert.ok(afterBurst.sampling.operation.runs > before.sampling.operation.runs);
    } finally {
      client.close();
    }
  });
});
