// The QEMU guest agent poller as a service, over a stand-in executor (behind the real LibvirtClient) and
// a hand-moved clock: what each task asks for, on which connection and how long it may run, one log line
// per change of an agent's health (with counts), a discarded task counted as a failure, the first
// capabilities reported once, a full queue not blamed on the agent, departed VMs purged, and what dead
// agents cost per poll under the budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errors, vdsmError } from '../../src/errors.js';
import { QgaPoller, type QgaPollerConfig } from '../../src/guest/qga-poller.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import type { QgaTask, QgaTaskResult } from '../../src/contracts/guest-ops.js';
import type { QgaVmInput } from '../../src/guest/qga-schedule.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { captureLog } from '../runtime/capture-log.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import { ManualTime } from '../support/manual-time.js';

const S = 1000;
const CAPS = { version: '7.2.22', commands: ['guest-info', 'guest-get-users', 'guest-get-osinfo'] };

interface Call { op: string; args: { conn: number; tasks: QgaTask[] }; opts: { timeoutMs?: number; discard?: boolean }; resolve: (r: QgaTaskResult[]) => void; reject: (e: unknown) => void }

function setup(over: Partial<QgaPollerConfig> = {}, vms: QgaVmInput[] = [{ vmId: 'a', running: true, startedAt: -1e9 }]) {
  const time = new ManualTime(1_000_000);
  const { log, lines } = captureLog('debug');
  const calls: Call[] = [];
  let full = false;
  const firstCaps: string[] = [];
  const list = { vms };
  const dispatcher = {
    dispatch: <T>(op: string, args?: unknown, opts?: { timeoutMs?: number; discard?: boolean }): Promise<T> => {
      if (full) throw vdsmError(Errors.RESOURCE_EXHAUSTED, { reason: 'Too many tasks', resource: 'qgapoller', current_tasks: 400 });
      return new Promise<T>((resolve, reject) => calls.push({ op, args: args as Call['args'], opts: opts ?? {}, resolve: resolve as (r: QgaTaskResult[]) => void, reject }));
    },
  };
  // The typed client the runtime gives the poller: the main connection is 1, the guest-agent one 7.
  const connections = new ConnectionsStub(1);
  connections.agentConn = () => 7;
  const poller = new QgaPoller({
    libvirt: new LibvirtClient({ dispatcher, connections }),
    scheduler: new Scheduler({ clock: time, timers: time, log }),
    clock: time,
    log,
    vms: () => list.vms,
    known: () => new Set(list.vms.map((v) => v.vmId)),
    config: {
      pollMs: 5 * S, taskTimeoutMs: 30 * S, commandTimeoutS: 1, initialIntervalMs: 120 * S, probeBudget: 2, maxAgeMs: 120 * S,
      periods: { info: 300 * S, sysinfo: 120 * S, users: 10 * S, disk: 300 * S, cpu: 60 * S }, ...over,
    },
    onFirstCaps: (id) => firstCaps.push(id),
  });
  for (const v of list.vms) poller.channelEvent(v.vmId, 'connected');
  const settle = async (): Promise<void> => { for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r)); };
  const okOne = (task: QgaTask): QgaTaskResult => ({ done: task.queries.filter((q) => q !== 'info'), fields: { username: 'root' }, replyErrors: [], ms: 3, ...(task.queries.includes('info') ? { caps: CAPS } : {}) });
  const failOne = (task: QgaTask): QgaTaskResult => ({ done: [], fields: {}, replyErrors: [], ms: 1000, failure: { query: task.queries[0]!, message: 'Guest agent is not responding: Guest agent not available for now', code: 'ERR_LIBVIRT_AGENT_UNRESPONSIVE' } });
  const ok = (c: Call): void => c.resolve(c.args.tasks.map(okOne));
  const fail = (c: Call): void => c.resolve(c.args.tasks.map(failOne));
  return { poller, time, calls, lines, firstCaps, list, settle, ok, fail, setFull: (v: boolean) => { full = v; } };
}

void test('one task per VM on the guest-agent connection, with the command and task timeouts', async () => {
  const t = setup();
  void t.poller.poll();
  assert.equal(t.calls.length, 1);
  const c = t.calls[0]!;
  assert.equal(c.op, 'guest.qgaPoll');
  assert.equal(c.args.conn, 7);
  assert.equal(c.args.tasks.length, 1);
  assert.equal(c.args.tasks[0]!.vmId, 'a');
  assert.equal(c.args.tasks[0]!.commandTimeoutS, 1);
  assert.deepEqual(c.opts, { timeoutMs: 30_000, discard: true });
  assert.equal(c.args.tasks[0]!.queries[0], 'info');
  t.ok(c);
  await t.settle();
  assert.deepEqual(t.firstCaps, ['a'], 'the guest is up once its agent is known');
  assert.deepEqual(t.poller.fields('a'), { username: 'root' });
  assert.equal(t.poller.isActive('a'), true);
  assert.equal(t.lines.filter((l) => l.msg === 'New QEMU-GA capabilities').length, 1);
});

void test('a failing agent: one warning when it starts, counts meanwhile, one line when it answers again', async () => {
  const t = setup({}, [{ vmId: 'a', running: true, startedAt: -1e9 }]);
  void t.poller.poll();
  t.ok(t.calls.splice(0)[0]!);
  await t.settle();
  // The agent stops answering for ~150 s (a few back-off rounds), then answers again.
  for (let i = 0; i < 60; i++) {
    t.time.advance(5 * S);
    void t.poller.poll();
    for (const c of t.calls.splice(0)) if (i < 30) t.fail(c); else t.ok(c);
    await t.settle();
  }
  const warn = t.lines.filter((l) => l.msg.startsWith('QEMU guest agent not answering'));
  assert.equal(warn.length, 1, 'one line for the outage, not one per failed call');
  assert.equal(warn[0]!['retryInS'], 60);
  assert.equal(warn[0]!['code'], 'ERR_LIBVIRT_AGENT_UNRESPONSIVE');
  const back = t.lines.filter((l) => l.msg === 'QEMU guest agent answers again');
  assert.equal(back.length, 1);
  assert.ok(Number(back[0]!['failedCalls']) >= 2, `failures counted: ${String(back[0]!['failedCalls'])}`);
  assert.equal(back[0]!['repeats'], back[0]!['failedCalls']);
});

void test('a discarded task (stuck in libvirt past qga_task_timeout) is a failure; a full queue is not', async () => {
  const t = setup();
  void t.poller.poll();
  t.calls[0]!.reject(vdsmError(Errors.TASK_DISCARDED, "Task discarded after timeout: {'op': 'guest.qgaPoll'}"));
  await t.settle();
  assert.equal(t.lines.filter((l) => l.msg.startsWith('QEMU guest agent not answering')).length, 1);
  assert.equal(t.poller.describe()['stats'] !== undefined, true);
  const u = setup();
  u.setFull(true);
  await u.poller.poll();
  assert.equal(u.lines.filter((l) => l.msg.startsWith('QEMU guest agent not answering')).length, 0);
  u.setFull(false);
  void u.poller.poll();
  assert.equal(u.calls.length, 1, 'the VM was not left marked busy');
});

void test('a poll never waits for a stuck VM: the others go on, the stuck one is skipped until its task settles', async () => {
  const t = setup({}, [{ vmId: 'a', running: true, startedAt: -1e9 }, { vmId: 'b', running: true, startedAt: -1e9 }]);
  void t.poller.poll();
  assert.equal(t.calls.length, 1, 'both VMs in one batch while their agents answer');
  // a does not answer: from now on it is a probe of its own.
  t.calls.splice(0)[0]!.resolve([{ done: [], fields: {}, replyErrors: [], ms: 1000, failure: { query: 'info', message: 'not responding' } }, { done: ['users'], fields: {}, replyErrors: [], ms: 3, caps: CAPS }]);
  await t.settle();
  t.time.advance(60 * S);
  void t.poller.poll();
  const [probe, batch] = [t.calls.find((c) => c.args.tasks[0]!.vmId === 'a')!, t.calls.find((c) => c.args.tasks[0]!.vmId === 'b')!];
  assert.equal(probe.args.tasks.length, 1);
  assert.equal(probe.args.tasks[0]!.probe, true);
  t.calls.length = 0;
  t.ok(batch);
  await t.settle();
  t.time.advance(10 * S);
  void t.poller.poll();
  assert.deepEqual(t.calls.flatMap((c) => c.args.tasks.map((x) => x.vmId)), ['b'], 'a\'s probe is still stuck: a is skipped, b goes on');
});

void test('answering VMs go in batches of QGA_BATCH; a discarded batch is a failure for each of its VMs', async () => {
  const vms = Array.from({ length: 20 }, (_, i) => ({ vmId: `v${i}`, running: true, startedAt: -1e9 }));
  const t = setup({}, vms);
  void t.poller.poll();
  assert.deepEqual(t.calls.map((c) => c.args.tasks.length), [8, 8, 4]);
  t.ok(t.calls[0]!);
  t.ok(t.calls[1]!);
  t.calls[2]!.reject(vdsmError(Errors.TASK_DISCARDED, 'Task discarded after timeout'));
  await t.settle();
  assert.equal(t.lines.filter((l) => l.msg.startsWith('QEMU guest agent not answering')).length, 4);
});

void test('departed VMs are purged at every poll', async () => {
  const t = setup();
  void t.poller.poll();
  t.ok(t.calls[0]!);
  await t.settle();
  assert.ok(t.poller.fields('a'));
  t.list.vms = [];
  await t.poller.poll();
  assert.equal(t.poller.fields('a'), undefined);
  assert.equal(t.poller.schedule.size, 0);
});

void test('what 50 dead agents cost per poll: at most the budget once each failed once', async () => {
  const vms = Array.from({ length: 50 }, (_, i) => ({ vmId: `d${i}`, running: true, startedAt: -1e9 }));
  const t = setup({ probeBudget: 3 }, vms);
  void t.poller.poll();
  for (const c of t.calls.splice(0)) t.fail(c);
  await t.settle();
  for (let i = 0; i < 60; i++) {
    t.time.advance(5 * S);
    void t.poller.poll();
    for (const c of t.calls.splice(0)) t.fail(c);
    await t.settle();
  }
  assert.equal(t.poller.describe()['stats'] !== undefined, true);
  const perPoll = t.poller.failedPerPoll;
  assert.equal(perPoll[0], 50, 'the first poll finds them out');
  assert.ok(perPoll.slice(1).every((n) => n <= 3), `then at most the budget per poll: ${perPoll.join(',')}`);
  assert.equal(t.lines.filter((l) => l.msg.startsWith('QEMU guest agent not answering')).length, 50, 'one line per VM for the whole run');
});
