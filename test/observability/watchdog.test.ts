// systemd's watchdog: WATCHDOG=1 goes out only while the main loop, the scheduler and the executors
// make progress. The rules run on a manual clock; then a real vdsmd whose main loop is wedged by a
// busy loop (test hook) stops pinging a NOTIFY_SOCKET this test listens on, and pings again after.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { Watchdog, watchdogTimeoutMs, type WatchedExecutor } from '../../src/observability/health/watchdog.js';
import { Scheduler, type ScheduledCall } from '../../src/runtime/scheduler.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { captureLog } from '../runtime/capture-log.js';
import { ManualTime } from '../support/manual-time.js';

const ENV = { WATCHDOG_USEC: '3000000' };

function fakeExecutor(name: string): WatchedExecutor & { queued: number; done: number } {
  return {
    name, queued: 0, done: 0,
    counts() { return { queued: this.queued, running: this.queued > 0 ? 1 : 0 }; },
    stats() { return { completed: this.done, failed: 0, discarded: 0 }; },
  };
}

void describe('watchdog rules', () => {
  void it('is armed only by WATCHDOG_USEC for this pid', () => {
    assert.equal(watchdogTimeoutMs({}), undefined);
    assert.equal(watchdogTimeoutMs({ WATCHDOG_USEC: '60000000' }), 60_000);
    assert.equal(watchdogTimeoutMs({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: String(process.pid + 1) }), undefined);
    assert.equal(watchdogTimeoutMs({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: String(process.pid) }), 60_000);
  });

  void it('pings every timeout/3 while the scheduler runs its canary and executors are idle or progressing', () => {
    const time = new ManualTime(1000);
    const { log } = captureLog();
    const sched = new Scheduler({ clock: time, timers: time, log });
    sched.start();
    const pings: Record<string, string>[] = [];
    const wd = new Watchdog({ ping: (f) => pings.push(f), env: ENV, scheduler: sched, executors: [fakeExecutor('a')], clock: time, timers: time, log });
    wd.start();
    assert.equal(pings.length, 1);
    time.advance(1000);
    time.advance(1000);
    assert.equal(pings.length, 3);
    assert.deepEqual(pings.map((p) => p['VDSM_WATCHDOG_SEQ']), ['1', '2', '3']);
    assert.equal(pings[2]!['VDSM_WATCHDOG_AT'], (3000).toFixed(3));
    wd.stop();
    sched.stop();
  });

  void it('withholds the ping while the scheduler does not run a call due one interval ago, and resumes after', () => {
    const time = new ManualTime();
    const { log, lines } = captureLog();
    const stuck: (() => void)[] = [];
    const scheduler = {
      running: true,
      schedule(_ms: number, fn: () => void): ScheduledCall {
        let valid = true;
        stuck.push(() => { if (valid) { valid = false; fn(); } });
        return { cancel() { valid = false; }, get valid() { return valid; }, name: 'canary', deadline: 0 };
      },
    };
    const pings: unknown[] = [];
    const wd = new Watchdog({ ping: (f) => pings.push(f), env: ENV, scheduler, executors: [], clock: time, timers: time, log });
    wd.start();
    time.advance(1000);
    time.advance(1000);
    assert.equal(pings.length, 1, 'the first ping, then none: the canary never ran');
    assert.equal(lines.filter((l) => l.msg.startsWith('watchdog: not pinging')).length, 1, 'logged once, not at every tick');
    stuck.shift()!();
    time.advance(1000);
    assert.equal(pings.length, 2);
    assert.ok(lines.some((l) => l.msg === 'watchdog: progress again, pinging systemd'));
    wd.stop();
  });

  void it('withholds the ping when an executor has queued tasks and finished none for executorStallMs', () => {
    const time = new ManualTime();
    const { log } = captureLog();
    const sched = new Scheduler({ clock: time, timers: time, log });
    sched.start();
    const ex = fakeExecutor('jsonrpc');
    const pings: unknown[] = [];
    const wd = new Watchdog({ ping: (f) => pings.push(f), env: ENV, scheduler: sched, executors: [ex], clock: time, timers: time, log, executorStallMs: 5000 });
    wd.start();
    ex.queued = 3;
    for (let i = 0; i < 5; i++) time.advance(1000);
    assert.equal(pings.length, 6, 'queued but within the stall bound');
    time.advance(1000);
    time.advance(1000);
    assert.equal(pings.length, 6, 'stalled past 5 s: no ping');
    assert.match(String(wd.state()['stalled']), /executor jsonrpc has 3 queued task\(s\) and finished none/);
    ex.done++;
    time.advance(1000);
    assert.equal(pings.length, 7);
    wd.stop();
    sched.stop();
  });
});

const RECEIVER = `
import json, os, socket, sys, time, array
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
print(json.dumps({"listening": True}), flush=True)
while True:
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(64))
    for level, kind, payload in anc:
        if kind == socket.SCM_RIGHTS:
            a = array.array("i"); a.frombytes(payload[: len(payload) // 4 * 4])
            for fd in a: os.close(fd)
    print(json.dumps({"msg": data.decode()}), flush=True)
`;

interface Ping { seq: number; at: number }

void describe('systemd watchdog with a real vdsmd', () => {
  void it('WATCHDOG=1 stops while the main loop is wedged and comes back when it is free', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vdsm-watchdog-'));
    let receiver: ChildProcess | undefined;
    let agent: AgentProcess | undefined;
    try {
      await writeFile(join(dir, 'recv.py'), RECEIVER);
      const socketPath = join(dir, 'notify.sock');
      receiver = spawn('/usr/bin/python3', [join(dir, 'recv.py'), socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
      const pings: Ping[] = [];
      const waiters: (() => void)[] = [];
      let listening = false;
      createInterface({ input: receiver.stdout! }).on('line', (line) => {
        const m = JSON.parse(line) as { listening?: boolean; msg?: string };
        if (m.listening === true) listening = true;
        const fields = Object.fromEntries((m.msg ?? '').split('\n').map((l) => l.split('=') as [string, string]));
        if (fields['WATCHDOG'] === '1') pings.push({ seq: Number(fields['VDSM_WATCHDOG_SEQ']), at: Number(fields['VDSM_WATCHDOG_AT']) });
        for (const w of waiters.splice(0)) w();
      });
      const until = async (cond: () => boolean, what: string): Promise<void> => {
        const deadline = Date.now() + 30_000;
        while (!cond()) {
          if (Date.now() > deadline) throw new Error(`${what} not seen; pings: ${JSON.stringify(pings)}`);
          await new Promise<void>((r) => {
            const t = setTimeout(r, 1000);
            waiters.push(() => (clearTimeout(t), r()));
          });
        }
      };
      await until(() => listening, 'receiver');
      agent = await AgentProcess.start({
        env: { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '900000', VDSM_TEST_HOOKS: '1' },
        args: ['--set', 'devel.memory_profile_enable=true', '--set', 'devel.memory_profile_port=0'],
      });
      const armed = await agent.waitForLog((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('systemd watchdog armed'));
      assert.equal(armed['interval_ms'], 300);
      const endpoint = await agent.waitForLog((l) => l['msg'] === 'profiling endpoint listening on loopback ([devel] memory_profile_enable)');
      await until(() => pings.length >= 2, 'two pings');

      const spin = await new Promise<{ started: number; ended: number }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: endpoint['port'] as number, path: '/debug/test/spin?ms=2500', method: 'POST' }, (res) => {
          let b = '';
          res.setEncoding('utf8').on('data', (c: string) => { b += c; }).on('end', () => resolve(JSON.parse(b) as { started: number; ended: number }));
        });
        req.on('error', reject);
        req.end();
      });
      assert.ok(spin.ended - spin.started >= 2500);
      await until(() => pings.some((p) => p.at > spin.ended), 'a ping after the wedge');
      // Each ping carries the agent's monotonic time when it was sent: none while the loop spun.
      assert.deepEqual(pings.filter((p) => p.at > spin.started && p.at < spin.ended), []);
      assert.ok(pings.some((p) => p.at < spin.started), 'pings before the wedge');
      assert.equal(new Set(pings.map((p) => p.seq)).size, pings.length, 'each ping once');
    } finally {
      await agent?.stop();
      await agent?.cleanup();
      receiver?.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
