// FenceAgents (src/host/fence-agent.ts) on a manual clock: a fake fence agent (a shell script in a
// temporary directory; no fence device exists here) that hangs, with children of its own, is killed with
// its whole process group when the time limit passes, and not before. The e2e test
// (test/e2e/fence-node.test.ts) shows the same through vdsmd with the real clock.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { watch } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Writable } from 'node:stream';
import { FenceAgents } from '../../src/host/fence-agent.js';
import { ManualTime } from '../support/manual-time.js';

void describe('fence agent time limit (manual clock)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-fence-unit-'));
    // The agent starts a grandchild, writes both pids once its input is read, then waits on them.
    await writeFile(join(dir, 'fence_stuck'), '#!/bin/sh\ncat > /dev/null\nsleep 1000 &\necho "$$ $!" > "$0.pids.tmp"\nmv "$0.pids.tmp" "$0.pids"\nwait\n');
    await chmod(join(dir, 'fence_stuck'), 0o755);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('kills the agent and its children at the limit; the call fails with error 1 saying so', async () => {
    const time = new ManualTime();
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, cb) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
    const fence = new FenceAgents({ dir, timeoutMs: 60_000, log: pino({ level: 'debug' }, sink), timers: time });
    const pending = fence.fence({ addr: 'a', port: '', agent: 'stuck', username: 'u', password: 'pw-unit-3', action: 'status', secure: false, options: '' });
    let settled = false;
    void pending.catch(() => undefined).finally(() => { settled = true; });
    // Both pids written: the agent read its input and its child runs.
    const pidsFile = join(dir, 'fence_stuck.pids');
    const pids = await (async () => {
      for (;;) {
        const text = await readFile(pidsFile, 'utf8').catch(() => undefined);
        if (text !== undefined) return text.trim().split(' ').map(Number);
        const w = watch(dir);
        try {
          const again = await readFile(pidsFile, 'utf8').catch(() => undefined);
          if (again !== undefined) return again.trim().split(' ').map(Number);
          await once(w, 'change');
        } finally {
          w.close();
        }
      }
    })();
    assert.equal(pids.length, 2);
    assert.equal(time.pendingTimers, 1, 'the limit is armed');
    time.advance(59_999);
    assert.equal(settled, false, 'not killed before the limit');
    for (const pid of pids) assert.equal(process.kill(pid, 0), true);
    time.advance(1);
    const err = await pending.then(() => undefined, (e: unknown) => e as { vdsmCode?: number; message: string });
    assert.equal(err?.vdsmCode, 1);
    assert.match(err!.message, /fence_stuck did not finish within 60 s and was killed/);
    // The agent is reaped by us; its orphaned child is dead, perhaps a zombie until its new parent reaps it.
    // The group's SIGKILL is sent; a child still runnable acts on it when next scheduled, so wait for that
    // (each /proc read is a turn of the loop; the test's own time limit bounds the wait).
    const dead = async (pid: number): Promise<string | undefined> => {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
      return stat === undefined || / Z /.test(stat.slice(stat.lastIndexOf(')'))) ? undefined : stat;
    };
    for (const pid of pids) {
      let alive = await dead(pid);
      while (alive !== undefined && / [RD] /.test(alive.slice(alive.lastIndexOf(')')))) alive = await dead(pid);
      assert.ok(alive === undefined, `pid ${pid} is gone (${alive ?? ''})`);
    }
    assert.equal(time.pendingTimers, 0);
    assert.ok(!JSON.stringify(lines).includes('pw-unit-3'), 'the password is not logged');
  });
});
