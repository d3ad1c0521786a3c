// The health monitor measures the main thread and every Executor worker (event-loop delay and
// utilisation, heap, CPU, GC), logs one summary line, warns past thresholds and says which workers
// were too busy to answer; then vdsmd with [health] monitor_enable logs that line on its own.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { HealthMonitor } from '../../src/observability/health/health-monitor.js';
import { ThreadProbe } from '../../src/observability/thread-probe.js';
import { realTimers } from '../../src/runtime/clock.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { captureLog } from '../runtime/capture-log.js';
import { harness } from '../runtime/executor-harness.js';

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* a blocked main thread */ }
}

void describe('health monitor', () => {
  void it('reports the main thread and each worker, one summary line, and warns when the main loop was blocked', async () => {
    const h = harness({ name: 'health', workersCount: 2, maxWorkers: 4 });
    const probe = new ThreadProbe();
    const { log, lines } = captureLog();
    const gate = new SharedArrayBuffer(4);
    const monitor = new HealthMonitor({ intervalMs: 3_600_000, probe, executors: [h.ex], log, timers: realTimers, workerTimeoutMs: 2000, thresholds: { eldMaxMs: 150 } });
    try {
      h.ex.start();
      await h.until(() => h.ex.counts().idle === 2);
      probe.watch();
      await monitor.check();
      // After a reset the histogram drops its first period, so block the loop from a timer due after
      // the histogram's own 20 ms timer (libuv runs timers in due order).
      await new Promise<void>((r) => setTimeout(() => { spin(300); r(); }, 50));
      // A worker busy in a synchronous operation cannot answer before it is done; it stays blocked
      // until the gate opens after the check, however slow the machine.
      const busy = h.ex.dispatch('test.block', { gate });
      await h.next('start');
      await h.ex.dispatch('test.busy', { ms: 100 });
      const r = await monitor.check();
      assert.equal(r.threads[0]!.thread, 'main');
      assert.ok(r.threads[0]!.eld.max >= 200, `the blocked main loop shows: max ${r.threads[0]!.eld.max} ms`);
      const workers = r.threads.slice(1);
      assert.ok(workers.length >= 1, 'the idle worker (and warm spares) answered');
      assert.ok(workers.every((w) => w.thread.startsWith(`${h.ex.name}/`) && w.tid > 0 && w.tid !== process.pid && w.heap.used > 0));
      const ran = workers.filter((w) => w.elu > 0);
      assert.ok(ran.length > 0, 'the worker that ran test.busy shows utilisation');
      // Its own kernel thread's CPU time (the rate over one short check can round to 0 jiffies when the
      // machine is overloaded; the total cannot).
      assert.ok(ran.some((w) => w.cpuPct !== null && w.cpu !== null && w.cpu.user + w.cpu.system > 0), `its own kernel thread CPU: ${JSON.stringify(workers.map((w) => [w.thread, w.elu, w.cpuPct, w.cpu]))}`);
      assert.deepEqual(r.unanswered.map((u) => [u.reason, u.busyWith]), [['timeout', 'test.block']]);
      assert.ok(r.osThreads! >= 4 && r.fds! > 0 && r.rssKiB > 0);
      const summary = lines.filter((l) => l.msg.startsWith('health: user='));
      assert.equal(summary.length, 2, 'one line per check');
      assert.match(summary[1]!.msg, /^health: user=\d+\.\d\d%, sys=\d+\.\d\d%, rss=\d+ kB \([+-]\d+\), threads=\d+ \(workers live=\d+ lingering=0 unanswered=1\), fds=\d+\/\d+, heap=[\d.]+ MiB, loop delay p99=[\d.]+ ms max=[\d.]+ ms, elu=[\d.]+, busiest worker \S+ elu=[\d.]+, gc \d+ runs \d+ ms \(max \d+ ms\)$/);
      assert.ok(lines.some((l) => l.level === 40 && /main thread event-loop delay .* something blocks the main thread/.test(l.msg)), 'a threshold warning');
      const names = new Set(monitor.collect().map((f) => f.name));
      for (const n of ['vdsm_event_loop_delay_p99_seconds', 'vdsm_event_loop_utilization_ratio', 'vdsm_thread_cpu_ratio', 'vdsm_agent_cpu_user_ratio', 'vdsm_health_unanswered_threads']) assert.ok(names.has(n), n);
      Atomics.store(new Int32Array(gate), 0, 1);
      Atomics.notify(new Int32Array(gate), 0);
      assert.equal(await busy, 1);
    } finally {
      Atomics.store(new Int32Array(gate), 0, 1);
      Atomics.notify(new Int32Array(gate), 0);
      monitor.stop();
      probe.close();
      await h.close();
    }
  });

  void it('vdsmd runs it every check_interval and serves its figures and last report', async () => {
    const agent = await AgentProcess.start({ args: ['--set', 'health.check_interval=1'] });
    try {
      // The first check can run before the executors' threads have reported in; a later one must
      // carry both executors' workers.
      const executorsOf = (l: Record<string, unknown>): Set<string> => new Set(Array.isArray(l['workers']) ? (l['workers'] as Array<{ thread?: string }>).map((w) => String(w.thread).split('/')[0]!) : []);
      const line = await agent.waitForLog((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('health: user=') && executorsOf(l).has('periodic') && executorsOf(l).has('jsonrpc'));
      assert.equal(line['logger'], 'health');
    } finally {
      await agent.stop();
      await agent.cleanup();
    }
    const off = await AgentProcess.start({ args: ['--set', 'health.monitor_enable=false', '--set', 'health.check_interval=1'] });
    try {
      const health = await new Promise<Record<string, unknown>>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: off.port, path: '/health' }, (res) => {
          let b = '';
          res.setEncoding('utf8').on('data', (c: string) => { b += c; }).on('end', () => resolve(JSON.parse(b) as Record<string, unknown>));
        }).on('error', reject);
      });
      assert.deepEqual((health['observability'] as Record<string, unknown>)['health'], { enabled: false });
    } finally {
      await off.stop();
      await off.cleanup();
    }
  });
});
