// Benchmark `guest-agents`: both guest-agent paths at host scale.
//
// channels: 500 ovirt-guest-agent channels served by a load generator of agents in another process
//   (bench/guest-agents-load.ts: heartbeats, large application and interface lists, silent agents,
//   floods, 1 MiB lines of garbage) through the real vmchannels thread, OvirtChannels and the merge the
//   stats use. Measured: main-loop delay, how old the healthy VMs' data is when the engine reads it
//   (the heartbeat carries its send time), the cost of a full stats pass over 500 VMs, CPU of the main
//   and vmchannels threads, memory per channel.
// poller: the QEMU guest agent poller over 500 (or 1,000) agents of which 10 % (or 50 %) hang, on its
//   real `qgapoller` Executor, Scheduler and schedule. 500 real guests cannot run here, so the agents are
//   a fake behind libvirt's API (test.qgaPoll, workers/ops/test.ts): a healthy agent answers after 2 ms
//   per call, a hung one blocks its worker thread for the full command timeout and fails as libvirt does.
//   Measured: main-loop delay, age of the healthy VMs' data against its period, CPU per poll, agent
//   calls spent on dead agents per poll; with the per-host budget and without it (vdsm's way), side by side.
//
// Process layout: the orchestrator runs each case in a fresh child (--case=...); the channels case
// spawns the load generator (--agents) as its own child.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { DEFAULT_READ_BUDGET } from '../src/guest/channel-listener.js';
import { ChannelThread } from '../src/guest/channel-thread.js';
import { GuestAgents } from '../src/guest/guest-agents.js';
import { MAX_MESSAGE_BYTES } from '../src/guest/line-framer.js';
import { OvirtChannels } from '../src/guest/ovirt-channels.js';
import { QgaPoller } from '../src/guest/qga-poller.js';
import { LibvirtClient } from '../src/libvirt/client.js';
import type { QgaVmInput } from '../src/guest/qga-schedule.js';
import { monotonicClock, realTimers } from '../src/runtime/clock.js';
import { Executor } from '../src/runtime/executor/executor.js';
import { Scheduler } from '../src/runtime/scheduler.js';
import { agentKind, runAgents, socketPath } from './guest-agents-load.js';
import { runChildCase } from './lib/child-case.js';
import { fmt, mdTable } from './lib/markdown.js';
import { emitCase, Flags, outDir, step } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { procSample } from './lib/process-sample.js';
import { round, summarize } from './lib/stats.js';

const SCRIPT = fileURLToPath(import.meta.url);
const TICKS_PER_S = 100;

/** utime + stime of one thread, seconds (procfs, clock ticks of 1/100 s). */
function threadCpuS(tid: number): number {
  try {
    const f = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / TICKS_PER_S;
  } catch {
    return Number.NaN;
  }
}

function loopDelay(): { start(): void; stop(): { p50: number; p99: number; max: number } } {
  const h = monitorEventLoopDelay({ resolution: 1 });
  return {
    start: () => h.enable(),
    stop: () => {
      h.disable();
      return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
    },
  };
}

const silentLog = pino({ level: 'silent' });
/** How long the idle floor is measured before each case (--floor-ms; shorter with --quick). */
const FLOOR_MS = new Flags().num('floor-ms', 10_000);

/** The machine's own floor: the loop delay of this process doing nothing, over `ms` (a shared machine's load shows here). */
async function idleFloor(ms: number = FLOOR_MS): Promise<{ p99: number; max: number }> {
  const d = loopDelay();
  d.start();
  await new Promise((r) => setTimeout(r, ms));
  const f = d.stop();
  return { p99: f.p99, max: f.max };
}

// ---- channels ------------------------------------------------------------------------------------

interface ChannelsResult {
  suite: 'guest-agents';
  case: string;
  channels: number;
  seconds: number;
  /** Nice increment of the vmchannels thread (the agent uses 5, as its Executor workers). */
  thread_nice: number;
  /** The same process idle for 10 s just before: the machine's floor. */
  floor_loop_p99_ms: number;
  floor_loop_max_ms: number;
  loop_delay_p50_ms: number;
  loop_delay_p99_ms: number;
  loop_delay_max_ms: number;
  /** Age of a healthy VM's heartbeat data when read, ms (heartbeat period 5 s: target <= 6 s). */
  healthy_age_p50_ms: number;
  healthy_age_p99_ms: number;
  healthy_age_max_ms: number;
  age_samples: number;
  /** One pass building the guest stats of every VM (what getAllVmStats adds), main thread. */
  stats_pass_p50_ms: number;
  stats_pass_p99_ms: number;
  main_cpu_pct: number;
  vmchannels_cpu_pct: number;
  rss_per_channel_kb: number;
  thread_heap_per_channel_kb: number;
  main_heap_per_channel_kb: number;
  thread_heap_mb: number;
  posts_per_s: number;
  bytes_read_mb: number;
  throttles: number;
  problem_log_lines: number;
  problems_counted: number;
  load1: number;
}

function agentsChild(dir: string, n: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [SCRIPT, '--agents', `--dir=${dir}`, `--n=${n}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('"ready"')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`load generator exited (${code}) before it was ready`)));
  });
}

async function channelsCase(n: number, seconds: number, nice: number): Promise<ChannelsResult> {
  const floor = await idleFloor();
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-bench-ga-'));
  const gen = await agentsChild(dir, n);
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
  const late: { channels?: OvirtChannels } = {};
  let posts = 0;
  const thread = new ChannelThread({
    config: { timeoutMs: 30_000, flushMs: 50, flushBudgetBytes: 512 * 1024, maxMessageBytes: MAX_MESSAGE_BYTES, readBudget: DEFAULT_READ_BUDGET, tickMs: 1000 },
    niceIncrement: nice,
    onUpdates: (items) => { posts++; late.channels?.apply(items); },
  });
  const channels = (late.channels = new OvirtChannels({ transport: thread, clock: monotonicClock, timers: realTimers, log }));
  const agents = new GuestAgents({ clock: monotonicClock, channels, log: silentLog });
  thread.start();
  await new Promise((r) => setTimeout(r, 500));
  const base = { rss: procSample().rssMb, heap: process.memoryUsage().heapUsed, thread: (await thread.describe())?.heapUsed ?? 0 };
  const ids = Array.from({ length: n }, (_, i) => `vm-${i}`);
  ids.forEach((id, i) => channels.attach(id, socketPath(dir, i)));
  const healthy = ids.filter((_, i) => agentKind(i) === 'normal' || agentKind(i) === 'large');
  // Let every agent connect and send its first heartbeat (they start within 5 s) before measuring.
  await new Promise((r) => setTimeout(r, 7000));
  const delay = loopDelay();
  const ages: number[] = [];
  const passes: number[] = [];
  const cpu0 = { main: threadCpuS(process.pid), thread: threadCpuS(thread.tid) };
  const t0 = performance.now();
  delay.start();
  const sampler = setInterval(() => {
    const now = Date.now();
    for (let k = 0; k < 20; k++) {
      const id = healthy[Math.floor(Math.random() * healthy.length)]!;
      const sent = Number(channels.view(id)?.get('memoryStats')['mem_unused']);
      if (Number.isFinite(sent) && sent > 0) ages.push(now - sent);
    }
  }, 100);
  const engine = setInterval(() => {
    const s = performance.now();
    for (const id of ids) agents.stats(id, 4096);
    passes.push(performance.now() - s);
  }, 2000);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(sampler);
  clearInterval(engine);
  const d = delay.stop();
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = { main: threadCpuS(process.pid), thread: threadCpuS(thread.tid) };
  const state = await thread.describe();
  const end = { rss: procSample().rssMb, heap: process.memoryUsage().heapUsed, thread: state?.heapUsed ?? 0 };
  gen.kill('SIGKILL');
  await thread.stop();
  await rm(dir, { recursive: true, force: true });
  const a = summarize(ages);
  const p = summarize(passes);
  const problemLines = lines.filter((l) => l.includes('"kind"')).length;
  const counted = ids.reduce((sum, id) => sum + (['json', 'oversize', 'invalid', 'unknown', 'not-object'] as const).reduce((s, k) => s + channels.problemCount(id, k), 0), 0);
  return {
    suite: 'guest-agents', case: nice === 5 ? 'channels' : `channels-nice${nice}`, channels: n, seconds, thread_nice: nice,
    floor_loop_p99_ms: round(floor.p99), floor_loop_max_ms: round(floor.max),
    loop_delay_p50_ms: round(d.p50), loop_delay_p99_ms: round(d.p99), loop_delay_max_ms: round(d.max),
    healthy_age_p50_ms: round(a.p50, 0), healthy_age_p99_ms: round(a.p99, 0), healthy_age_max_ms: round(a.max, 0), age_samples: a.count,
    stats_pass_p50_ms: round(p.p50), stats_pass_p99_ms: round(p.p99),
    main_cpu_pct: round(((cpu1.main - cpu0.main) / wall) * 100, 1), vmchannels_cpu_pct: round(((cpu1.thread - cpu0.thread) / wall) * 100, 1),
    rss_per_channel_kb: round(((end.rss - base.rss) * 1024) / n, 1),
    thread_heap_per_channel_kb: round((end.thread - base.thread) / 1024 / n, 1),
    main_heap_per_channel_kb: round((end.heap - base.heap) / 1024 / n, 1),
    thread_heap_mb: round(end.thread / 2 ** 20, 1),
    posts_per_s: round(posts / wall, 1),
    bytes_read_mb: round((state?.channels.reduce((s, c) => s + c.bytes, 0) ?? 0) / 2 ** 20, 1),
    throttles: state?.channels.reduce((s, c) => s + c.throttles, 0) ?? 0,
    problem_log_lines: problemLines, problems_counted: counted,
    load1: round(loadavg()[0]!),
  };
}

// ---- poller --------------------------------------------------------------------------------------

interface PollerResult {
  suite: 'guest-agents';
  case: string;
  floor_loop_p99_ms: number;
  floor_loop_max_ms: number;
  agents: number;
  hung: number;
  probe_budget: number | 'none';
  seconds: number;
  polls: number;
  loop_delay_p50_ms: number;
  loop_delay_p99_ms: number;
  loop_delay_max_ms: number;
  /** Age of a healthy VM's user list (period 10 s: target <= 11 s) when read, ms. */
  users_age_p50_ms: number;
  users_age_p99_ms: number;
  users_age_max_ms: number;
  /** Worst age over all queries of healthy VMs minus the query's period, ms (<= 1000 meets the target). */
  worst_overdue_ms: number;
  /** Healthy VMs whose users were never fetched at the end (starved). */
  healthy_never_fetched: number;
  main_cpu_ms_per_poll: number;
  process_cpu_ms_per_poll: number;
  /** Failed agent calls per poll once the dead agents are known (after the first minute), mean and max. */
  dead_calls_per_poll_mean: number;
  dead_calls_per_poll_max: number;
  dead_calls_first_poll: number;
  tasks: number;
  discarded: number;
  queue_full: number;
  threads_max: number;
  load1: number;
}

async function pollerCase(n: number, hung: number, budget: number, seconds: number, backoffS: number): Promise<PollerResult> {
  const floor = await idleFloor();
  const scheduler = new Scheduler({ clock: monotonicClock, timers: realTimers, log: silentLog });
  scheduler.start();
  const executor = new Executor({
    name: 'qgapoller', workersCount: 4, maxWorkers: 30, maxTasks: 400, scheduler, log: silentLog, opsModules: ['test'], workerData: { qgaLatencyMs: 2 },
  });
  executor.start();
  const startedAt = monotonicClock.now() - 1e9; // past the boot phase: periods rule
  const vms: QgaVmInput[] = Array.from({ length: n }, (_, i) => ({ vmId: i < hung ? `hung-${i}` : `vm-${i}`, running: true, startedAt }));
  const periods = { info: 300_000, sysinfo: 120_000, users: 10_000, disk: 300_000, cpu: 60_000 };
  const poller = new QgaPoller({
    libvirt: new LibvirtClient({ dispatcher: executor, connections: { conn: () => 0, agentConn: () => 0, reportError: () => undefined } }),
    executor, scheduler, clock: monotonicClock, log: silentLog, op: 'test.qgaPoll',
    vms: () => vms, known: () => new Set(vms.map((v) => v.vmId)),
    config: { pollMs: 5000, taskTimeoutMs: 30_000, commandTimeoutS: 1, periods, initialIntervalMs: 120_000, probeBudget: budget, maxAgeMs: 120_000, backoffMs: backoffS * 1000, backoffMaxMs: backoffS * 5000 },
  });
  for (const v of vms) poller.channelEvent(v.vmId, 'connected');
  // Warm the worker threads so thread start-up is not counted as poll cost.
  await new Promise((r) => setTimeout(r, 1000));
  const delay = loopDelay();
  const healthy = vms.filter((v) => !v.vmId.startsWith('hung')).map((v) => v.vmId);
  const usersAges: number[] = [];
  let worstOverdue = 0;
  let threadsMax = 0;
  const cpu0 = { main: threadCpuS(process.pid), proc: process.cpuUsage() };
  const t0 = performance.now();
  delay.start();
  poller.start();
  let ticks = 0;
  const sampler = setInterval(() => {
    const now = monotonicClock.now();
    // procfs reads are this bench's own main-thread cost: every 2 s is enough for a maximum.
    if (ticks++ % 8 === 0) threadsMax = Math.max(threadsMax, procSample().threads);
    if (performance.now() - t0 < 15_000) return; // the first round of every VM is not an age
    for (let k = 0; k < 20; k++) {
      const id = healthy[Math.floor(Math.random() * healthy.length)]!;
      const last = poller.schedule.lastCheck(id, 'users');
      if (last > 0) usersAges.push(now - last);
      for (const [q, period] of [['users', periods.users], ['vcpus', periods.cpu], ['os', periods.sysinfo]] as const) {
        const at = poller.schedule.lastCheck(id, q);
        if (at > 0) worstOverdue = Math.max(worstOverdue, now - at - period);
      }
    }
  }, 250);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(sampler);
  poller.stop();
  const d = delay.stop();
  const cpuProc = process.cpuUsage(cpu0.proc);
  const mainCpuS = threadCpuS(process.pid) - cpu0.main;
  const desc = poller.describe() as { stats: { polls: number; tasks: number; discarded: number; skippedFull: number } };
  const perPoll = poller.failedPerPoll;
  // Dead agents are known after their first failure; count from the second minute of polls on.
  const steady = perPoll.slice(Math.ceil(60_000 / 5000));
  const neverFetched = healthy.filter((id) => poller.schedule.lastCheck(id, 'users') === 0).length;
  await executor.stop({ graceMs: 3000 });
  scheduler.stop();
  const a = summarize(usersAges);
  const polls = desc.stats.polls;
  return {
    suite: 'guest-agents', case: `poller-${n}-${hung}hung-${budget >= 1e6 ? 'unbounded' : `budget${budget}`}`,
    floor_loop_p99_ms: round(floor.p99), floor_loop_max_ms: round(floor.max), agents: n, hung, probe_budget: budget >= 1e6 ? 'none' : budget, seconds, polls,
    loop_delay_p50_ms: round(d.p50), loop_delay_p99_ms: round(d.p99), loop_delay_max_ms: round(d.max),
    users_age_p50_ms: round(a.p50, 0), users_age_p99_ms: round(a.p99, 0), users_age_max_ms: round(a.max, 0),
    worst_overdue_ms: round(worstOverdue, 0), healthy_never_fetched: neverFetched,
    main_cpu_ms_per_poll: round((mainCpuS * 1000) / Math.max(1, polls), 1),
    process_cpu_ms_per_poll: round((cpuProc.user + cpuProc.system) / 1000 / Math.max(1, polls), 1),
    dead_calls_per_poll_mean: round(steady.reduce((s, x) => s + x, 0) / Math.max(1, steady.length), 2),
    dead_calls_per_poll_max: steady.length > 0 ? Math.max(...steady) : 0,
    dead_calls_first_poll: perPoll[0] ?? 0,
    tasks: desc.stats.tasks, discarded: desc.stats.discarded, queue_full: desc.stats.skippedFull, threads_max: threadsMax,
    load1: round(loadavg()[0]!),
  };
}

// ---- orchestration -------------------------------------------------------------------------------

type Result = ChannelsResult | PollerResult;

function report(results: Result[], env: Record<string, unknown>): string {
  const ch = results.filter((r): r is ChannelsResult => r.case.startsWith('channels'));
  const po = results.filter((r): r is PollerResult => r.case.startsWith('poller'));
  return [
    '# bench:guest-agents', '',
    `node ${String(env['node'])}, ${String(env['cpus'])} CPUs, load average at start ${String(env['loadavg'])}; command: \`npm run bench:guest-agents\`.`, '',
    '## ovirt-guest-agent channels (real vmchannels thread; agents in another process)', '',
    'Mix per 10 VMs: 6 normal (heartbeat every 5 s, 2,000 applications), 1 large (10,000 applications and 500 NICs every 30 s), ' +
      '1 silent, 1 flooding valid messages, 1 sending 1 MiB lines of garbage and invalid UTF-8. Healthy = normal + large. ' +
      'Target: main-loop delay p99 <= 10 ms; healthy data never older than its period (5 s heartbeat) + 1 s. ' +
      'The idle floor is this process doing nothing for 10 s just before the case: what the shared machine alone costs the loop. ' +
      '"thread nice" 5 is the agent\'s setting (as its Executor workers); 0 is the alternative.', '',
    mdTable(['channels', 'thread nice', 's', 'idle floor p99 (max) ms', 'loop p50 ms', 'loop p99 ms', 'loop max ms', 'age p50 ms', 'age p99 ms', 'age max ms', 'stats pass p50/p99 ms', 'main CPU %', 'vmchannels CPU %', 'RSS/channel KB', 'thread heap/channel KB', 'main heap/channel KB', 'read MB', 'throttles', 'problem lines / counted', 'load1'],
      ch.map((r) => [r.channels, r.thread_nice, r.seconds, `${fmt(r.floor_loop_p99_ms, 2)} (${fmt(r.floor_loop_max_ms, 1)})`, fmt(r.loop_delay_p50_ms, 2), fmt(r.loop_delay_p99_ms, 2), fmt(r.loop_delay_max_ms, 1), r.healthy_age_p50_ms, r.healthy_age_p99_ms, r.healthy_age_max_ms,
        `${fmt(r.stats_pass_p50_ms, 1)} / ${fmt(r.stats_pass_p99_ms, 1)}`, fmt(r.main_cpu_pct, 1), fmt(r.vmchannels_cpu_pct, 1), fmt(r.rss_per_channel_kb, 1), fmt(r.thread_heap_per_channel_kb, 1),
        fmt(r.main_heap_per_channel_kb, 1), fmt(r.bytes_read_mb, 1), r.throttles, `${r.problem_log_lines} / ${r.problems_counted}`, fmt(r.load1, 2)])), '',
    '## QEMU guest agent poller (real qgapoller Executor; fake agents behind the libvirt API: 2 ms per call, hung ones block 1 s)', '',
    'Periods are vdsm\'s defaults (poll 5 s, users 10 s, vCPUs 60 s, OS 120 s); the failure back-off is shortened to 10 s (vdsm: 60 s) so the ' +
      'dead agents are asked again several times within the run. Target: users never older than 10 s + 1 s; dead-agent cost per poll bounded by the budget. ' +
      '"unbounded" is the same poller without the per-host budget (vdsm\'s model: every dead agent whose back-off expired is asked).', '',
    mdTable(['agents', 'hung', 'budget', 's', 'polls', 'idle floor p99 (max) ms', 'loop p99 ms', 'loop max ms', 'users age p50/p99/max ms', 'worst overdue ms', 'never fetched', 'main CPU ms/poll', 'process CPU ms/poll', 'dead calls/poll mean (max)', 'first poll', 'queue full', 'threads max', 'load1'],
      po.map((r) => [r.agents, r.hung, String(r.probe_budget), r.seconds, r.polls, `${fmt(r.floor_loop_p99_ms, 2)} (${fmt(r.floor_loop_max_ms, 1)})`, fmt(r.loop_delay_p99_ms, 2), fmt(r.loop_delay_max_ms, 1),
        `${r.users_age_p50_ms} / ${r.users_age_p99_ms} / ${r.users_age_max_ms}`, r.worst_overdue_ms, r.healthy_never_fetched, fmt(r.main_cpu_ms_per_poll, 1), fmt(r.process_cpu_ms_per_poll, 1),
        `${fmt(r.dead_calls_per_poll_mean, 2)} (${r.dead_calls_per_poll_max})`, r.dead_calls_first_poll, r.queue_full, r.threads_max, fmt(r.load1, 2)])), '',
    'Physical floor for the dead agents: each call to a hung agent holds a worker thread for the full command timeout (1 s); ' +
      'with budget B the poller spends at most B such seconds per 5 s poll, whatever the number of dead agents.', '',
  ].join('\n');
}

async function orchestrate(flags: Flags): Promise<void> {
  const env = { node: process.version, cpus: cpus().length, loadavg: loadavg().map((v) => v.toFixed(2)).join(' ') };
  const results: Result[] = [];
  // --quick: 100 channels and 100 agents for a few seconds each (a smoke run, not the issue's figures).
  const quick = flags.has('quick');
  const all = quick ? ['channels', 'poller'] : ['channels', 'channels-nice0', 'poller', 'poller-unbounded', 'poller-1000', 'poller-1000-unbounded'];
  const only = flags.list('cases', all);
  const secs = flags.num('seconds', quick ? 5 : 60);
  const [channels, agents] = quick ? [100, 100] : [500, 500];
  const floor = `--floor-ms=${quick ? 1000 : 10_000}`;
  const cases: [string, string[]][] = [
    ['channels', ['--case=channels', `--n=${channels}`, `--seconds=${secs}`, '--nice=5', floor]],
    ['channels-nice0', ['--case=channels', `--n=${channels}`, `--seconds=${secs}`, '--nice=0', floor]],
    ['poller', ['--case=poller', `--n=${agents}`, `--hung=${agents / 10}`, '--budget=4', `--seconds=${secs + (quick ? 10 : 30)}`, floor]],
    ['poller-unbounded', ['--case=poller', `--n=${agents}`, `--hung=${agents / 10}`, '--budget=1000000', `--seconds=${secs + 30}`, floor]],
    ['poller-1000', ['--case=poller', '--n=1000', '--hung=500', '--budget=4', `--seconds=${secs + 30}`, floor]],
    ['poller-1000-unbounded', ['--case=poller', '--n=1000', '--hung=500', '--budget=1000000', `--seconds=${secs + 30}`, floor]],
  ];
  const todo = cases.filter(([name]) => only.includes(name));
  for (const [i, [name, args]] of todo.entries()) {
    step(i, todo.length, name);
    const r = await runChildCase<Result>(SCRIPT, args, { timeoutMs: 900_000, execArgv: ['--max-old-space-size=2048'] });
    emitCase(r as unknown as Record<string, unknown>);
    results.push(r);
  }
  step(todo.length, todo.length, 'done');
  const out = outDir(flags, 'guest-agents');
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'report.md'), report(results, env));
  await writeFile(join(out, 'results.json'), `${JSON.stringify({ env, results }, null, 2)}\n`);
  process.stderr.write(`report: ${join(out, 'report.md')}\n`);
}

const flags = benchFlags({
  name: 'guest-agents',
  about: 'Both guest-agent paths at host scale: 500 ovirt-guest-agent channels against hostile and healthy agents, and the QEMU guest agent poller over 500 and 1,000 agents, some hung (docs/guest-agents.md). Not a vdsm-bench suite: run it on its own.',
  options: {
    quick: '100 channels and 100 agents for a few seconds each (a smoke run)',
    cases: 'channels,channels-nice0,poller,poller-unbounded,poller-1000,poller-1000-unbounded: the cases run (default all; --quick channels,poller)',
    seconds: 'S: seconds per case (default 60; --quick 5)',
    out: 'DIR: where report.md goes (default results/guest-agents)',
  },
  internal: ['agents', 'dir', 'n', 'case', 'nice', 'hung', 'budget', 'backoff', 'floor-ms'],
});
const main = flags.has('agents')
  ? runAgents(flags.str('dir', ''), flags.num('n', 500))
  : flags.str('case', '') === 'channels'
    ? channelsCase(flags.num('n', 500), flags.num('seconds', 60), flags.num('nice', 5)).then((r) => process.stdout.write(`${JSON.stringify(r)}\n`))
    : flags.str('case', '') === 'poller'
      ? pollerCase(flags.num('n', 500), flags.num('hung', 50), flags.num('budget', 4), flags.num('seconds', 90), flags.num('backoff', 10)).then((r) => process.stdout.write(`${JSON.stringify(r)}\n`))
      : orchestrate(flags);
main.then(
  () => { if (!flags.has('agents')) process.exit(0); },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
