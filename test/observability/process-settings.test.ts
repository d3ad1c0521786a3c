// [vars] vdsm_nice, cpu_affinity and core_dump_enable are applied by vdsmd at start to every thread
// (workers inherit them), as vdsm's daemonAdapter and vdsmd did; the kernel's view is checked in /proc.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { getPriority } from 'node:os';
import { describe, it } from 'node:test';
import { pickCpus } from '../../src/bin/process-settings.js';
import { parseCpuList } from '../../src/host/cpu.js';
import { AgentProcess } from '../helpers/agent-process.js';

/** nice (field 19) and allowed CPUs of every thread of a process. */
async function threadsOf(pid: number): Promise<{ tid: number; nice: number; cpus: string }[]> {
  const out = [];
  for (const t of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${t}/stat`, 'utf8').catch(() => '');
    const status = await readFile(`/proc/${pid}/task/${t}/status`, 'utf8').catch(() => '');
    if (stat === '' || status === '') continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.push({ tid: Number(t), nice: Number(fields[16]), cpus: /^Cpus_allowed_list:\s+(\S+)/m.exec(status)![1]! });
  }
  return out;
}

void describe('process settings at start', () => {
  void it('auto pins to one online CPU, preferably not CPU 0; a list is taken as is; empty means no pinning', () => {
    assert.deepEqual(pickCpus('auto', [0, 1, 2, 3]), [1]);
    assert.deepEqual(pickCpus('auto', [0]), [0]);
    assert.deepEqual(pickCpus('', [0, 1]), null);
    assert.deepEqual(pickCpus('0,2', [0, 1, 2]), [0, 2]);
  });

  void it('vdsmd applies vdsm_nice, cpu_affinity and core_dump_enable to itself and every worker thread', async () => {
    const online = parseCpuList(await readFile('/sys/devices/system/cpu/online', 'utf8'));
    const cpu = online[online.length - 1]!;
    const agent = await AgentProcess.start({ args: ['--set', 'vars.vdsm_nice=7', '--set', `vars.cpu_affinity=${cpu}`, '--set', 'vars.core_dump_enable=false'] });
    try {
      await agent.whenReady();
      const line = agent.lines.find((l) => l['msg'] === 'process settings applied')!;
      assert.deepEqual([line['vdsm_nice'], line['cpus'], line['core_dumps']], [7, [cpu], 'off']);
      const threads = await threadsOf(agent.pid);
      assert.ok(threads.length >= 6, 'main, V8, libuv and executor worker threads');
      assert.deepEqual([...new Set(threads.map((t) => t.cpus))], [String(cpu)], 'every thread pinned, workers included');
      const main = threads.find((t) => t.tid === agent.pid)!;
      assert.equal(main.nice, 7);
      // Workers start at the main thread's niceness plus the executor's own increment: never below it.
      assert.ok(threads.every((t) => t.nice >= 7), JSON.stringify(threads.map((t) => t.nice)));
      const limits = await readFile(`/proc/${agent.pid}/limits`, 'utf8');
      assert.match(limits, /^Max core file size\s+0\s/m);
    } finally {
      await agent.stop();
      await agent.cleanup();
    }
  });

  void it('the development profiles leave the machine alone: no pinning, niceness unchanged', async () => {
    const agent = await AgentProcess.start();
    try {
      await agent.whenReady();
      const line = agent.lines.find((l) => l['msg'] === 'process settings applied')!;
      assert.equal(line['cpus'], null);
      const main = (await threadsOf(agent.pid)).find((t) => t.tid === agent.pid)!;
      assert.equal(main.nice, getPriority(), 'the niceness it was started with');
    } finally {
      await agent.stop();
      await agent.cleanup();
    }
  });
});
