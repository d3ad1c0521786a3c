// OS thread names as the kernel reports them (/proc/<pid>/task/<tid>/comm, what top -H, ps -T and gdb
// show): every Executor worker is <executor>/<n>, the libvirt control thread and libvirt's event-loop
// thread say what they are, and vdsmd's main thread names the process.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { ControlThread } from '../../src/libvirt/control-thread.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { waitFor } from '../support/realvm/wait-for.js';
import { harness } from '../runtime/executor-harness.js';

/** tid -> comm of every thread of `pid` ('self' for this process). */
async function comms(pid: number | 'self'): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const comm = await readFile(`/proc/${pid}/task/${tid}/comm`, 'utf8').catch(() => undefined);
    if (comm !== undefined) out.set(Number(tid), comm.trim());
  }
  return out;
}

void describe('thread names in /proc/self/task/*/comm', () => {
  void it('every Executor worker names its OS thread <executor>/<n>, as the Executor lists it', async () => {
    const h = harness({ name: 'tn', workersCount: 2, maxWorkers: 4, opsModules: ['test'] });
    try {
      h.ex.start();
      await h.until(() => h.ex.threads().filter((t) => t.tid > 0).length >= 2);
      const threads = h.ex.threads().filter((t) => t.tid > 0);
      const names = await comms('self');
      for (const t of threads) {
        assert.match(t.name, /^tn-\d+-\d+\/\d+$/);
        assert.equal(names.get(t.tid), t.name.slice(0, 15), `worker ${t.name} (tid ${t.tid})`);
      }
    } finally {
      await h.close();
    }
  });

  void it('the libvirt event-loop thread is libvirt/events and the control thread libvirt/control', async () => {
    const virt = loadVirtBinding();
    virt.close(virt.open('test:///default'));
    // The loop thread records its tid once it runs, which may be just after open() returned.
    const giveUp = Date.now() + 10_000;
    while (virt.eventLoopInfo().threadId === 0 && Date.now() < giveUp) await new Promise((r) => setTimeout(r, 10));
    const loopTid = virt.eventLoopInfo().threadId;
    assert.ok(loopTid > 0, 'the binding started its event loop');
    assert.equal((await comms('self')).get(loopTid), 'libvirt/events');

    let control: ControlThread | undefined;
    try {
      control = new ControlThread({ onEvent: () => undefined });
      await control.request({ cmd: 'ping', conn: -1 } as never, 10_000).catch(() => undefined);
      const tid = control.toJSON().tid;
      assert.ok(tid > 0, 'the control thread reported its tid');
      assert.equal((await comms('self')).get(tid), 'libvirt/control');
    } finally {
      control?.terminate();
    }
  });

  void it('vdsmd shows as vdsmd, with named workers, control and event-loop threads', async () => {
    const agent = await AgentProcess.start();
    try {
      await agent.whenReady();
      assert.equal(await readFile(`/proc/${agent.pid}/comm`, 'utf8').then((s) => s.trim()), 'vdsmd');
      // A worker names itself once its thread runs, which may be just after "ready" (spares are still
      // starting then): wait until each kind is there; a thread that never names itself fails.
      const wanted = [/^vdsmd$/, /^periodic\/\d+$/, /^jsonrpc\/\d+$/, /^libvirt\/control$/, /^libvirt\/events$/];
      let names: string[] = [];
      await waitFor(async () => {
        names = [...(await comms(agent.pid)).values()];
        return wanted.every((want) => names.some((n) => want.test(n)));
      }, { timeoutMs: 20_000, intervalMs: 100, what: 'named threads' }).catch(() => undefined);
      for (const want of wanted) {
        assert.ok(names.some((n) => want.test(n)), `${String(want)} among ${names.join(', ')}`);
      }
    } finally {
      await agent.cleanup();
    }
  });
});
