// Agent.stop() called while the agent is stopping waits for the first stop and returns its real
// answer: vdsmd decides on a hard exit from stuckThreads, so a second caller must not be told 0 while
// a worker thread is still blocked in a native call. Embedded test driver, real Executors.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { Agent } from '../../src/app/agent.js';
import { loadConfig, PROFILES } from '../../src/config/index.js';
import { writeNodeXml } from '../../src/libvirt/fixture.js';
import { createRootLogger, LogManager } from '../../src/observability/logging.js';

void test('a second stop() waits for the first and gets the same count of stuck threads', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-agent-stop-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const uri = await writeNodeXml(join(dir, 'fixture'), { domains: 2 });
  const { config } = await loadConfig({
    configFile: join(dir, 'absent.conf'), requireConfigFile: false, dropinDirs: [], profile: PROFILES.dev,
    overrides: [`libvirt.uri=${uri}`, 'addresses.management_port=0', `vars.state_dir=${dir}/state`, `vars.run_dir=${dir}/run`],
  });
  await mkdir(config.vars.state_dir, { recursive: true });
  const agent = new Agent({ config, logManager: new LogManager(createRootLogger({ level: 'silent', destination: pino.destination(2) })) });
  await agent.start();
  assert.deepEqual(await agent.start(), agent.address, 'start is idempotent too: the same port');
  await agent.whenReady();

  // A worker blocked in a native call that outlives the grace period.
  const stuck = agent.jsonrpc.dispatch('test.sleepNative', { ms: 1500 }).catch(() => 'stopped');
  while (agent.jsonrpc.counts().busy === 0) await new Promise((r) => setTimeout(r, 5));  // polling a condition

  const first = agent.stop(100);
  const second = agent.stop(100);
  assert.equal(second, first, 'the same stop');
  const [a, b] = await Promise.all([first, second]);
  assert.ok(a.stuckThreads >= 1, `the first stop reports the stuck thread (${a.stuckThreads})`);
  assert.deepEqual(b, a, 'the second caller gets the real answer, not 0');
  assert.equal(agent.health()['lifecycle'], 'closed');
  assert.equal(await stuck, 'stopped');
});
