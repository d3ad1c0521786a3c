// Regression for the SIGSEGV after a hung libvirtd resumed (issue 9, item 1): the agent (real vdsmd)
// on an unprivileged libvirtd serving the test driver; the daemon is frozen (SIGSTOP) while bulk-stats
// calls are stuck in it, libvirt's keepalive gives up, and the daemon is thawed or killed. Before the
// fix the close of the connection was held back while a second stuck call waited inside libvirt (so the
// agent went on saying "connected"), and when the daemon answered again that call used a poll source
// that pointed into the stack of the first (libvirt < 10.3, CVE-2024-4418): SIGSEGV. Keepalive and the
// sampling period are short (1 s) so each stall lasts seconds, not 30 s; every wait is on a log line,
// an engine reply or the daemon's socket, never on time.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient } from '../helpers/engine-client.js';
import { libvirtdUnavailable, TestLibvirtd } from './helpers/libvirtd.js';

const skip = libvirtdUnavailable();
const FIXTURE = { domains: 3 } as const;
const VM = '00000000-0000-4000-8000-000000000001';
type Line = Record<string, unknown>;

/** vdsmd on `daemon` with a 1 s keepalive (dead after ~3 s of silence) and 1 s sampling (0.5 s timeout). */
function startAgent(daemon: TestLibvirtd, keepalive: { interval: number; count: number } = { interval: 1, count: 2 }): Promise<AgentProcess> {
  return AgentProcess.start({
    args: [
      '--set', `libvirt.uri=${daemon.uri}`,
      '--set', `libvirt.keepalive_interval=${keepalive.interval}`, '--set', `libvirt.keepalive_count=${keepalive.count}`,
      '--set', 'libvirt.reconnect_max_delay=0.5',
      '--set', 'vars.vm_sample_interval=1', '--set', 'vars.host_sample_stats_interval=1',
    ],
  });
}

/** The next log line matching `pred` at or after index `from`. */
function logAfter(agent: AgentProcess, from: number, pred: (l: Line) => boolean, timeoutMs = 30_000): Promise<Line> {
  return agent.waitForLog((l) => agent.lines.indexOf(l) >= from && pred(l), timeoutMs);
}

const isLost = (l: Line): boolean => l['msg'] === 'libvirt connection lost';
const isRestored = (l: Line): boolean => l['msg'] === 'libvirt connection restored';
// A bulk-stats task stuck in the frozen daemon: parked on its libvirt call (the asynchronous entry), it
// times out and its call is abandoned while the worker is kept (or, had its park found no room under
// max_workers, its worker is discarded as before parking existed).
const PARKED_TIMEOUT = 'Parked task timed out; its native call was abandoned, its worker kept';
const isStuckSample = (l: Line): boolean => (l['msg'] === 'Worker discarded' || l['msg'] === PARKED_TIMEOUT) && l['op'] === 'sampling.bulkStats';
const isAbandonedParked = (l: Line): boolean => l['msg'] === PARKED_TIMEOUT && l['op'] === 'sampling.bulkStats' && l['lingering'] === true;

/** Kernel names of the agent's threads by tid (threads that end while read are left out). */
function agentThreads(agent: AgentProcess): Map<number, string> {
  const out = new Map<number, string>();
  for (const tid of readdirSync(`/proc/${agent.pid}/task`).map(Number)) {
    try {
      out.set(tid, readFileSync(`/proc/${agent.pid}/task/${tid}/comm`, 'utf8').trim());
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Count of matching lines from `from` on, resolved once it reaches n. */
async function nthAfter(agent: AgentProcess, from: number, pred: (l: Line) => boolean, n: number): Promise<void> {
  let mark = from;
  for (let i = 0; i < n; i++) {
    const hit = await logAfter(agent, mark, pred);
    mark = agent.lines.indexOf(hit) + 1;
  }
}

/** The agent answers the engine again, with libvirt behind it. */
async function answers(agent: AgentProcess): Promise<void> {
  const engine = await EngineClient.connect({ port: agent.port });
  try {
    assert.equal(await engine.call('Host.ping2'), true);
    const stats = await engine.call<Line[]>('Host.getAllVmStats');
    assert.equal(stats.length, FIXTURE.domains);
    await engine.call('VM.pause', { vmID: VM });
    await engine.call('VM.cont', { vmID: VM });
  } finally {
    engine.close();
  }
}

/**
 * Freeze the daemon until at least two bulk-stats calls are stuck in it and keepalive reports the
 * outage, then thaw it (or kill it and start it again) and wait for the reconnect.
 */
async function stallCycle(agent: AgentProcess, daemon: TestLibvirtd, end: 'thaw' | 'kill'): Promise<void> {
  const mark = agent.lines.length;
  daemon.freeze();
  try {
    await nthAfter(agent, mark, isStuckSample, 2);
    const lost = await logAfter(agent, mark, isLost);
    assert.match(String(lost['reason']), /closed connection/);
  } finally {
    if (end === 'thaw') daemon.thaw();
  }
  if (end === 'kill') {
    await daemon.kill('SIGKILL');
    await daemon.start();
  }
  await logAfter(agent, mark, isRestored);
  await answers(agent);
}

void describe('a frozen libvirtd with calls stuck in it', { skip: skip ?? false }, () => {
  let daemon: TestLibvirtd;
  before(async () => {
    daemon = await TestLibvirtd.create(FIXTURE);
    await daemon.start();
  });
  after(async () => {
    await daemon?.cleanup();
  });

  /** vdsmd on the daemon, ready; `body` runs with it; the agent must not have died or printed to stderr. */
  const withAgent = async (body: (agent: AgentProcess) => Promise<void>, keepalive?: { interval: number; count: number }): Promise<void> => {
    const agent = await startAgent(daemon, keepalive);
    try {
      await agent.whenReady();
      await body(agent);
      assert.equal(agent.lines.filter((l) => l['stderr'] !== undefined).length, 0, agent.tail());
    } finally {
      await agent.cleanup();
    }
  };

  void it('kill -9, restart, reconnect, then a stall that keepalive ends, three times: the outage is reported and the agent survives the thaw', () => withAgent(async (agent) => {
    for (let round = 0; round < 3; round++) {
      const mark = agent.lines.length;
      await daemon.kill('SIGKILL');
      await logAfter(agent, mark, isLost);
      await daemon.start();
      await logAfter(agent, mark, isRestored);
      await stallCycle(agent, daemon, 'thaw');
    }
  }));

  void it('a stall before any reconnect', () => withAgent((agent) => stallCycle(agent, daemon, 'thaw')));

  void it('libvirtd killed during a stall', () => withAgent(async (agent) => {
    await stallCycle(agent, daemon, 'kill');
    await stallCycle(agent, daemon, 'thaw');
  }));

  void it('a stall during bulk stats calls that ends before keepalive gives up: the stuck calls come back, no outage', () => withAgent(async (agent) => {
    const mark = agent.lines.length;
    daemon.freeze();
    try {
      await nthAfter(agent, mark, isStuckSample, 2);
      // The stuck tasks were parked on their libvirt calls; at their timeouts the calls were abandoned
      // and wait in the frozen daemon on virt/call threads, while the workers serve on.
      const abandoned = await logAfter(agent, mark, isAbandonedParked);
      const threads = agentThreads(agent);
      assert.ok([...threads.values()].includes('virt/call'), 'the abandoned call lingers on a virt/call thread');
      assert.ok([...threads.values()].includes(`${String(abandoned['executor'])}/${String(abandoned['worker'])}`), 'the worker that made the call is still there');
      assert.equal(agent.lines.slice(mark).some((l) => l['msg'] === 'Worker discarded' && l['op'] === 'sampling.bulkStats' && l['worker'] === abandoned['worker']), false);
    } finally {
      daemon.thaw();
    }
    // The thawed daemon answers the stuck calls and the next samples; VMs are monitored again.
    await answers(agent);
    assert.equal(agent.lines.slice(mark).filter(isLost).length, 0, 'no outage for a stall shorter than keepalive');
  }, { interval: 5, count: 5 }));
});
