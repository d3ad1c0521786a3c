// Storage benchmark (issue 18). Cases, each one JSON line on stdout; progress on stderr; a Markdown
// report in results/storage/:
//   tasks: --tasks (1,000) small tasks, each schedule + job on the HSM thread pool + Task.clear, C at a
//     time, through the real TaskManager, TaskPool (Piscina, 10 threads) and the storage Executor that
//     persists them: a no-op job in memory, the same persisted in vdsm's layout (fsync'd directory swap
//     per transition), and a job that writes a file with a persisted recovery. Floor: the same number of
//     bare Piscina round trips of an empty function.
//   api-volumes: --volumes (200) Volume.create (1 MiB sparse raw) + Host.getAllTasksStatuses polling +
//     Task.clear through vdsmd over STOMP, 10 at a time: the engine's own path.
//   copy: a --copy-gib (1) GiB volume of random data copied by Volume.copy through vdsmd, against
//     `qemu-img convert` alone with the same flags on the same files (ratio), --repeats (3) each,
//     alternating; vdsmd's main-loop delay during each API copy: the health monitor's 1 s windows
//     ([health] check_interval=1, read from its log lines, so measuring sends the agent nothing), the
//     worst window's p99 and the largest max.
//   hang: a second domain whose metadata becomes a FIFO (reads block): time until Host.getStats reports
//     it invalid, for [irs] sd_health_check_delay --hang-intervals (2,10) s, while the first domain
//     stays valid and Host.ping2 keeps answering (its p99 / max during the hang).
// Usage: npm run bench:storage [-- --quick --out=DIR --cases=tasks,api-volumes,copy,hang --tasks=1000 --copy-gib=1];
// vdsm-bench runs it as the `storage` suite. The vdsmd cases use the test suite's engine helpers and are
// left out (the report says so) where test/ is absent (an installed vdsm-bench).
// Needs root (vdsmd as run by the tests), qemu-img, mkfifo, and ~3 GiB free under --dir (/var/tmp).
import { execFile, spawn } from 'node:child_process';
import diagnostics_channel from 'node:diagnostics_channel';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isMainThread } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { pino } from 'pino';
import { Executor } from '../src/runtime/executor/executor.js';
import { Scheduler } from '../src/runtime/scheduler.js';
import { taskChannels, type TaskStateEvent } from '../src/storage/task/task-events.js';
import { TaskManager } from '../src/storage/task/task-manager.js';
import { TaskPool } from '../src/storage/task/task-pool.js';
import { TaskStore } from '../src/storage/task/task-store.js';
import type { Task } from '../src/storage/task/task.js';
import { taskFiles, type TaskRecord } from '../src/contracts/task-format.js';
import type { AgentProcess } from '../test/helpers/agent-process.js';
import type { EngineClient } from '../test/helpers/engine-client.js';
import type { LocalDc } from '../test/helpers/storage-engine.js';
import { mdTable, fmt } from './lib/markdown.js';
import { emitCase, outDir, progress, step } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { round, summarize, type Summary } from './lib/stats.js';

const run = promisify(execFile);
type Obj = Record<string, unknown>;
type Rec = Record<string, unknown> & { case: string };

/** Piscina worker side: the floor of a task-pool round trip. */
export default function noop(): number {
  return 0;
}

const load1 = (): number => round(loadavg()[0] ?? 0, 2);
const ms = (s: Summary): Obj => ({ p50_ms: round(s.p50, 2), p99_ms: round(s.p99, 2), max_ms: round(s.max, 2) });

/** Run `count` async jobs, `concurrency` at a time. */
async function pump(count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await job(next++);
  }));
  return performance.now() - t0;
}

// ---- tasks: the task manager in this process ------------------------------------------------------

async function tasksCase(kind: 'noop-memory' | 'noop-persisted' | 'touch-persisted', n: number, concurrency: number, base: string): Promise<Rec> {
  const dir = await mkdtemp(join(base, 'vdsm-bench-tasks-'));
  const log = pino({ level: 'error' }, pino.destination(2));
  const scheduler = new Scheduler({ log });
  scheduler.start();
  const executor = new Executor({ name: 'storage', workersCount: 4, maxWorkers: 16, maxTasks: 1000, scheduler, log, opsModules: ['storage-tasks', 'storage-recovery'] });
  executor.start();
  const pool = new TaskPool({ threads: 10, maxTasks: 500, log });
  pool.start();
  const store = new TaskStore(executor, 60_000);
  const manager = new TaskManager({
    pool, store, log,
    runRecovery: (_t, rec) => executor.dispatch('storage.recover', { rec, domains: {} }, { timeoutMs: 60_000, discard: true }).then(() => undefined),
  });
  const finished = new Map<string, () => void>();
  const seen = new Set<string>();
  const onState = (m: unknown): void => {
    const e = m as TaskStateEvent;
    if (e.to !== 'finished') return;
    const r = finished.get(e.taskId);
    if (r) r();
    else seen.add(e.taskId);
  };
  diagnostic(onState, true);
  let saves = 0;
  const onDispatch = (m: unknown): void => {
    if ((m as { op?: string }).op === 'storage.taskSave') saves++;
  };
  diagnostics_channel.subscribe('vdsm:executor:dispatch', onDispatch);
  const schedule: number[] = [];
  const done: number[] = [];
  const clear: number[] = [];
  const persisted = kind !== 'noop-memory';
  try {
    const one = async (i: number): Promise<void> => {
      const args = kind === 'touch-persisted' ? { path: join(dir, `f${i}`) } : {};
      const t0 = performance.now();
      const id = await manager.schedule('createVolume', async (task: Task) => {
        await manager.scheduleJob(task, 'spm', persisted ? join(dir, 'tasks') : null, { name: 'createVolume', runcmd: 'bench', call: { job: 'test.touch', args } });
      });
      const t1 = performance.now();
      if (!seen.delete(id)) await new Promise<void>((resolve) => finished.set(id, resolve));
      finished.delete(id);
      const t2 = performance.now();
      await manager.clearTask(id);
      const t3 = performance.now();
      schedule.push(t1 - t0);
      done.push(t2 - t0);
      clear.push(t3 - t2);
    };
    // Warm: every pool thread started and the storage executor grown, as in a running agent.
    await pump(50, concurrency, one);
    schedule.length = done.length = clear.length = 0;
    saves = 0;
    const wallMs = await pump(n, concurrency, one);
    return {
      case: `tasks/${kind}`, tasks: n, concurrency, threads: 10, tasks_per_s: Math.round(n / (wallMs / 1000)),
      create_to_finished: ms(summarize(done)), schedule_call: ms(summarize(schedule)), clear_call: ms(summarize(clear)),
      create_and_clear_p99_ms: round(summarize(done.map((d, i) => d + clear[i]!)).p99, 2), saves_per_task: round(saves / n, 2), load1: load1(),
    };
  } finally {
    diagnostics_channel.unsubscribe('vdsm:executor:dispatch', onDispatch);
    diagnostic(onState, false);
    await pool.stop();
    await executor.stop({ graceMs: 2000 });
    scheduler.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function diagnostic(fn: (m: unknown) => void, on: boolean): void {
  if (on) diagnostics_channel.subscribe(taskChannels.state.name, fn);
  else diagnostics_channel.unsubscribe(taskChannels.state.name, fn);
}

async function piscinaFloor(n: number, concurrency: number): Promise<Rec> {
  const pool = new Piscina({ filename: new URL(import.meta.url).href, minThreads: 10, maxThreads: 10, atomics: 'disabled' });
  const lat: number[] = [];
  try {
    await pump(50, concurrency, async () => void (await pool.run(null)));
    const wallMs = await pump(n, concurrency, async () => {
      const t0 = performance.now();
      await pool.run(null);
      lat.push(performance.now() - t0);
    });
    return { case: 'tasks/floor-piscina-round-trip', tasks: n, concurrency, threads: 10, tasks_per_s: Math.round(n / (wallMs / 1000)), round_trip: ms(summarize(lat)), load1: load1() };
  } finally {
    await pool.destroy();
  }
}

/** The floor of persistence: the same fsync'd directory swap of a finished task's files, nothing else. */
async function saveFloor(n: number, concurrency: number, base: string): Promise<Rec> {
  const dir = await mkdtemp(join(base, 'vdsm-bench-saves-'));
  const log = pino({ level: 'error' }, pino.destination(2));
  const scheduler = new Scheduler({ log });
  scheduler.start();
  const executor = new Executor({ name: 'storage', workersCount: 4, maxWorkers: 16, maxTasks: 1000, scheduler, log, opsModules: ['storage-tasks'] });
  executor.start();
  const lat: number[] = [];
  try {
    const record = (id: string): TaskRecord => ({
      id, name: 'createVolume', tag: 'spm', store: dir, recoveryPolicy: 'auto', persistPolicy: 'auto', cleanPolicy: 'manual', priority: 'low',
      state: 'finished', metadataVersion: 1, jobs: [{ name: 'createVolume', runcmd: 'bench' }], recoveries: [], result: { code: 0, message: '1 jobs completed successfully', result: '' },
    });
    // One task directory per caller, saved again and again: every save after the first swaps (as a task's do).
    const free = Array.from({ length: concurrency }, () => randomUUID());
    const one = async (): Promise<void> => {
      const id = free.pop()!;
      const t0 = performance.now();
      await executor.dispatch('storage.taskSave', { store: dir, id, files: taskFiles(record(id)) }, { timeoutMs: 60_000 });
      lat.push(performance.now() - t0);
      free.push(id);
    };
    await pump(20, concurrency, one);
    lat.length = 0;
    const wallMs = await pump(n, concurrency, one);
    return { case: 'tasks/floor-persist-swap', saves: n, concurrency, saves_per_s: Math.round(n / (wallMs / 1000)), save: ms(summarize(lat)), load1: load1() };
  } finally {
    await executor.stop({ graceMs: 2000 });
    scheduler.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- through vdsmd ---------------------------------------------------------------------------------

/**
 * The engine side of the vdsmd cases: the test suite's agent process, STOMP engine client and the
 * engine's storage calls, loaded only when present (a checkout). An installed vdsm-bench has no test/:
 * those cases are then left out, and the report says so.
 */
type Kit = typeof import('../test/helpers/storage-engine.js') & {
  AgentProcess: typeof import('../test/helpers/agent-process.js').AgentProcess;
  EngineClient: typeof import('../test/helpers/engine-client.js').EngineClient;
};
let kit!: Kit;

async function loadKit(): Promise<Kit | undefined> {
  try {
    const [a, e, s] = await Promise.all([
      import('../test/helpers/agent-process.js'), import('../test/helpers/engine-client.js'), import('../test/helpers/storage-engine.js'),
    ]);
    return { ...s, AgentProcess: a.AgentProcess, EngineClient: e.EngineClient };
  } catch {
    return undefined;
  }
}

interface Dc {
  root: string;
  agent: AgentProcess;
  engine: EngineClient;
  dc: LocalDc;
}

async function startDc(base: string, extra: string[] = []): Promise<Dc> {
  const root = await mkdtemp(join(base, 'vdsm-bench-sd-'));
  const data = join(root, 'data');
  await mkdir(data);
  const agent = await kit.AgentProcess.start({ stateDir: join(root, 'state'), args: ['--set', `irs.repository=${join(root, 'repo')}`, ...extra] });
  await agent.whenReady(60_000);
  const engine = await kit.EngineClient.connect({ port: agent.port });
  const dc = kit.newDc(data);
  await kit.bringUpLocalDc(engine, dc);
  return { root, agent, engine, dc };
}

async function stopDc(d: Dc): Promise<void> {
  d.engine.close();
  await d.agent.stop();
  await rm(d.root, { recursive: true, force: true });
}

/** One vdsmd per domain-check period, started on first use and shared by the cases that need that period. */
class Agents {
  #running = new Map<number, Promise<Dc>>();
  constructor(readonly base: string) {}

  get(checkDelayS: number): Promise<Dc> {
    let d = this.#running.get(checkDelayS);
    if (d === undefined) {
      d = startDc(this.base, ['--set', `irs.sd_health_check_delay=${checkDelayS}`, '--set', 'health.check_interval=1', '--set', 'irs.progress_interval=5']);
      this.#running.set(checkDelayS, d);
    }
    return d;
  }

  async stop(): Promise<void> {
    for (const d of this.#running.values()) await stopDc(await d);
    this.#running.clear();
  }
}

async function apiVolumesCase(d: Dc, n: number, concurrency: number): Promise<Rec> {
  const lat: number[] = [];
  const one = async (): Promise<void> => {
    const t0 = performance.now();
    const t = await kit.createVolume(d.engine, d.dc, { imgUUID: randomUUID(), volUUID: randomUUID(), size: 1 << 20, volFormat: 5, preallocate: 2 });
    const st = await kit.waitTaskByAllStatuses(d.engine, t, 120_000);
    if (st.taskResult !== 'success') throw new Error(`Volume.create failed: ${JSON.stringify(st)}`);
    await d.engine.call('Task.clear', { taskID: t });
    lat.push(performance.now() - t0);
  };
  await pump(10, concurrency, one);
  lat.length = 0;
  const wallMs = await pump(n, concurrency, one);
  return { case: 'api-volumes/create-poll-clear', volumes: n, concurrency, poll_interval_ms: 100, volumes_per_s: round(n / (wallMs / 1000), 1), create_to_cleared: ms(summarize(lat)), load1: load1() };
}

/**
 * vdsmd's main-thread event-loop delay while something runs, from the health monitor's own log lines
 * (`[health] check_interval=1`: one window per second, `main.eld_p99_ms` / `eld_max_ms`), so that
 * measuring adds no request to the agent: the worst window's p99 and the largest max from start() to
 * stop() (stop waits for the window that covers the end).
 */
function watchLoop(agent: AgentProcess): { stop(): Promise<{ p99: number; max: number; windows: number }> } {
  const from = agent.lines.length;
  const isHealth = (l: Record<string, unknown>): boolean => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('health: user=');
  return {
    async stop() {
      const end = agent.lines.length;
      await agent.waitForLog((l) => isHealth(l) && agent.lines.indexOf(l) >= end, 10_000);
      const windows = agent.lines.slice(from).filter(isHealth).map((l) => l['main'] as { eld_p99_ms: number; eld_max_ms: number });
      return { p99: Math.max(...windows.map((w) => w.eld_p99_ms)), max: Math.max(...windows.map((w) => w.eld_max_ms)), windows: windows.length };
    },
  };
}

/** The same figure over `ms` of nothing asked of the agent: what the machine alone does to its loop. */
async function idleLoop(agent: AgentProcess, ms: number): Promise<{ p99: number; max: number }> {
  const watch = watchLoop(agent);
  await new Promise((res) => setTimeout(res, ms));
  return watch.stop();
}

async function qemuImgVersion(): Promise<string> {
  return (await run('qemu-img', ['--version'])).stdout.split('\n')[0] ?? '';
}

function timeChild(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

async function copyCase(d: Dc, gib: number, repeats: number): Promise<Rec> {
  const bytes = gib * 1024 ** 3;
  const srcImg = randomUUID();
  try {
    const srcVol = randomUUID();
    const t = await kit.createVolume(d.engine, d.dc, { imgUUID: srcImg, volUUID: srcVol, size: bytes, volFormat: 5, preallocate: 2 });
    await kit.waitTaskByAllStatuses(d.engine, t, 120_000);
    await d.engine.call('Task.clear', { taskID: t });
    const images = join(d.dc.path, d.dc.sdUUID, 'images');
    const src = join(images, srcImg, srcVol);
    progress(`copy: filling ${gib} GiB of random data`);
    await run('dd', ['if=/dev/urandom', `of=${src}`, 'bs=4M', `count=${bytes / (4 << 20)}`, 'conv=notrunc,fsync', 'status=none']);
    const idle = await idleLoop(d.agent, 3000);
    const alone: number[] = [];
    const api: number[] = [];
    const lagP99: number[] = [];
    const lagMax: number[] = [];
    for (let r = 0; r < repeats; r++) {
      // qemu-img alone, the flags the copy job uses (no cache on either side), into the same domain.
      const dst = join(images, `bench-${r}`);
      progress(`copy ${r + 1}/${repeats}: qemu-img convert alone`);
      alone.push(await timeChild('qemu-img', ['convert', '-p', '-t', 'none', '-T', 'none', '-f', 'raw', '-O', 'raw', src, dst]));
      await unlink(dst);
      progress(`copy ${r + 1}/${repeats}: Volume.copy through vdsmd`);
      const img = randomUUID();
      const vol = randomUUID();
      const watch = watchLoop(d.agent);
      const t0 = performance.now();
      const task = await d.engine.call<string>('Volume.copy', {
        volumeID: srcVol, storagepoolID: d.dc.spUUID, storagedomainID: d.dc.sdUUID, imageID: srcImg, dstSdUUID: d.dc.sdUUID, dstImgUUID: img, dstVolUUID: vol,
        desc: '', volType: 6, volFormat: 5, preallocate: 2, postZero: 'false', force: 'false',
      });
      for (;;) {
        const st = await d.engine.call<Obj>('Task.getStatus', { taskID: task });
        if (st['taskState'] === 'finished') {
          if (st['taskResult'] !== 'success') throw new Error(`copy failed: ${JSON.stringify(st)}`);
          break;
        }
        await new Promise((res) => setTimeout(res, 20));
      }
      api.push(performance.now() - t0);
      const lag = await watch.stop();
      lagP99.push(lag.p99);
      lagMax.push(lag.max);
      await d.engine.call('Task.clear', { taskID: task });
      const del = await d.engine.call<string>('Image.delete', { storagepoolID: d.dc.spUUID, storagedomainID: d.dc.sdUUID, imageID: img, postZero: 'false', force: 'false' });
      await kit.waitTaskByAllStatuses(d.engine, del, 120_000);
      await d.engine.call('Task.clear', { taskID: del });
    }
    const med = (v: number[]): number => summarize(v).p50;
    return {
      case: `copy/${gib}GiB-raw`, bytes, repeats, qemu_img: await qemuImgVersion(),
      qemu_img_alone_s: round(med(alone) / 1000, 2), api_s: round(med(api) / 1000, 2), overhead_ratio: round(med(api) / med(alone), 3),
      alone_runs_s: alone.map((v) => round(v / 1000, 2)), api_runs_s: api.map((v) => round(v / 1000, 2)),
      mib_per_s_alone: round(bytes / 2 ** 20 / (med(alone) / 1000), 0), mib_per_s_api: round(bytes / 2 ** 20 / (med(api) / 1000), 0),
      main_loop_delay_p99_ms: round(Math.max(...lagP99), 2), main_loop_delay_max_ms: round(Math.max(...lagMax), 2),
      idle_main_loop_delay_p99_ms: round(idle.p99, 2), idle_main_loop_delay_max_ms: round(idle.max, 2), load1: load1(),
    };
  } finally {
    // The source image goes too: the agent serves the next case.
    await rm(join(d.dc.path, d.dc.sdUUID, 'images', srcImg), { recursive: true, force: true });
  }
}

async function hangCase(d: Dc, intervalS: number): Promise<Rec> {
  try {
    const d2 = { ...kit.newDc(join(d.root, 'dom2')), spUUID: d.dc.spUUID };
    await mkdir(d2.path);
    await kit.connectStorage(d.engine, d2);
    await d.engine.call('StorageDomain.create', { storagedomainID: d2.sdUUID, domainType: 4, typeArgs: d2.path, name: 'hang', domainClass: 1, version: '5', blockSize: 0, maxHosts: 250 });
    await d.engine.call('StorageDomain.attach', { storagedomainID: d2.sdUUID, storagepoolID: d.dc.spUUID });
    await d.engine.call('StorageDomain.activate', { storagedomainID: d2.sdUUID, storagepoolID: d.dc.spUUID });
    const domains = async (): Promise<Record<string, Obj>> => (await d.engine.call<Obj>('Host.getStats'))['storageDomains'] as Record<string, Obj>;
    for (;;) {
      const s = await domains();
      if (s[d2.sdUUID]?.['actual'] === true && s[d2.sdUUID]?.['valid'] === true && s[d.dc.sdUUID]?.['valid'] === true) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const idle = await idleLoop(d.agent, 3000);
    const md = join(d2.path, d2.sdUUID, 'dom_md', 'metadata');
    await rename(md, `${md}.real`);
    await run('mkfifo', [md]);
    const hungAt = performance.now();
    const pings: number[] = [];
    let healthyAlwaysValid = true;
    let invalid: Obj | undefined;
    const watch = watchLoop(d.agent);
    while (invalid === undefined) {
      const p0 = performance.now();
      await d.engine.call('Host.ping2');
      pings.push(performance.now() - p0);
      const s = await domains();
      if (s[d.dc.sdUUID]?.['valid'] !== true) healthyAlwaysValid = false;
      if (s[d2.sdUUID]?.['valid'] === false) invalid = s[d2.sdUUID];
      else await new Promise((res) => setTimeout(res, 20));
      if (performance.now() - hungAt > 5 * intervalS * 1000 + 10_000) throw new Error('the hung domain was never reported invalid');
    }
    const toInvalidMs = performance.now() - hungAt;
    const lag = await watch.stop();
    await unlink(md);
    await rename(`${md}.real`, md);
    // Out of the pool again, so the agent serves the next case with one domain.
    await d.engine.call('StorageDomain.detach', { storagedomainID: d2.sdUUID, storagepoolID: d.dc.spUUID, force: 'true' });
    return {
      case: `hang/interval-${intervalS}s`, sd_health_check_delay_s: intervalS, to_invalid_s: round(toInvalidMs / 1000, 2), bound_s: 2 * intervalS,
      invalid_code: invalid['code'], healthy_domain_always_valid: healthyAlwaysValid, ping2: ms(summarize(pings)), pings: pings.length,
      main_loop_delay_p99_ms: round(lag.p99, 2), main_loop_delay_max_ms: round(lag.max, 2),
      idle_main_loop_delay_p99_ms: round(idle.p99, 2), idle_main_loop_delay_max_ms: round(idle.max, 2), load1: load1(),
    };
  } finally {
    await d.engine.call('Host.ping2');
  }
}

// ---- report -----------------------------------------------------------------------------------------

function report(results: Rec[], env: Obj): string {
  const tasks = results.filter((r) => r.case.startsWith('tasks/') && r.case !== 'tasks/floor-persist-swap');
  const floor = tasks.find((r) => r.case === 'tasks/floor-piscina-round-trip');
  const saves = results.find((r) => r.case === 'tasks/floor-persist-swap');
  const p = (o: unknown, k: string): string => fmt((o as Obj | undefined)?.[k] as number | undefined, 2);
  const lines = [
    '# Storage benchmark', '',
    `\`npm run bench:storage\` (bench/storage.ts) on ${String(env['date'])}: Node ${String(env['node'])}, ${String(env['cpus'])} CPUs, ${String(env['qemu_img'])}, load1 at start ${String(env['load1'])}. Files under ${String(env['dir'])}.${env['quick'] ? ' Quick sizes.' : ''}`, '',
    ...(env['left_out'] ? [`Left out: ${String(env['left_out'])}.`, ''] : []),
    '## Small tasks (schedule, job on the HSM pool, Task.clear)', '',
    mdTable(['case', 'tasks', 'in flight', 'tasks/s', 'ratio to the Piscina floor', 'create→finished p50 / p99 ms', 'clear p99 ms', 'create+clear p99 ms', 'directory swaps per task', 'load1'],
      tasks.map((r) => [r.case, r['tasks'] as number, r['concurrency'] as number, r['tasks_per_s'] as number,
        floor && r !== floor ? fmt((r['tasks_per_s'] as number) / (floor['tasks_per_s'] as number), 3) : '-',
        r === floor ? `${p(r['round_trip'], 'p50_ms')} / ${p(r['round_trip'], 'p99_ms')}` : `${p(r['create_to_finished'], 'p50_ms')} / ${p(r['create_to_finished'], 'p99_ms')}`,
        r === floor ? '-' : p(r['clear_call'], 'p99_ms'), r === floor ? '-' : fmt(r['create_and_clear_p99_ms'] as number, 2),
        r === floor ? '-' : fmt(r['saves_per_task'] as number, 2), r['load1'] as number])),
    '', saves ? `Floor of persistence: the fsync'd directory swap of a finished task's files alone, ${String(saves['concurrency'])} in flight: ${String(saves['saves_per_s'])} swaps/s, p50 / p99 ${p(saves['save'], 'p50_ms')} / ${p(saves['save'], 'p99_ms')} ms (load1 ${String(saves['load1'])}); a persisted task needs the swaps per task listed above, plus the removal at Task.clear.` : '',
    '', 'Persisted tasks write vdsm\'s task directory (temp dir, fsync, two renames, fsync of the store) at each transition that must reach the disk (superseded ones are coalesced; recoveries are acknowledged only once on disk).', '',
  ];
  for (const r of results.filter((x) => x.case.startsWith('api-volumes/'))) {
    lines.push('## Volume.create through vdsmd (the engine\'s path)', '', mdTable(['volumes', 'in flight', 'volumes/s', 'create→cleared p50 / p99 ms', 'load1'],
      [[r['volumes'] as number, r['concurrency'] as number, r['volumes_per_s'] as number, `${p(r['create_to_cleared'], 'p50_ms')} / ${p(r['create_to_cleared'], 'p99_ms')}`, r['load1'] as number]]), '',
    'Each volume: Volume.create (1 MiB raw sparse), Host.getAllTasksStatuses every 100 ms until finished, Task.clear.', '');
  }
  for (const r of results.filter((x) => x.case.startsWith('copy/'))) {
    lines.push(`## ${r.case}: Volume.copy through vdsmd against qemu-img convert alone`, '', mdTable(
      ['qemu-img alone s', 'Volume.copy s', 'overhead ratio', 'MiB/s alone / API', 'main-loop delay p99 / max ms', 'same, agent idle', 'runs alone / API s', 'load1'],
      [[r['qemu_img_alone_s'] as number, r['api_s'] as number, r['overhead_ratio'] as number, `${String(r['mib_per_s_alone'])} / ${String(r['mib_per_s_api'])}`,
        `${fmt(r['main_loop_delay_p99_ms'] as number, 2)} / ${fmt(r['main_loop_delay_max_ms'] as number, 2)}`,
        `${fmt(r['idle_main_loop_delay_p99_ms'] as number, 2)} / ${fmt(r['idle_main_loop_delay_max_ms'] as number, 2)}`,
        `${(r['alone_runs_s'] as number[]).join(', ')} / ${(r['api_runs_s'] as number[]).join(', ')}`, r['load1'] as number]]), '',
    'Medians of the runs. Both run `qemu-img convert -p -t none -T none -f raw -O raw` on the same source into the same domain; the API time runs from the Volume.copy call to the Task.getStatus (polled every 20 ms) that says finished. The delay is vdsmd\'s own main-thread event loop during the copies: the health monitor\'s 1 s windows, the worst window\'s p99 and the largest max over every run, read from its log lines; beside it the same over 3 s with nothing asked of the agent (what the shared machine alone does).', '');
  }
  const hangs = results.filter((x) => x.case.startsWith('hang/'));
  if (hangs.length > 0) {
    lines.push('## A hung domain (its metadata a FIFO: the read blocks)', '', mdTable(
      ['sd_health_check_delay s', 'marked invalid after s', 'bound: 2 x delay, s', 'code', 'other domain valid throughout', 'Host.ping2 p99 / max ms', 'main-loop delay p99 / max ms', 'same, agent idle', 'load1'],
      hangs.map((r) => [r['sd_health_check_delay_s'] as number, r['to_invalid_s'] as number, r['bound_s'] as number, r['invalid_code'] as number, String(r['healthy_domain_always_valid']),
        `${p(r['ping2'], 'p99_ms')} / ${p(r['ping2'], 'max_ms')}`, `${fmt(r['main_loop_delay_p99_ms'] as number, 2)} / ${fmt(r['main_loop_delay_max_ms'] as number, 2)}`,
        `${fmt(r['idle_main_loop_delay_p99_ms'] as number, 2)} / ${fmt(r['idle_main_loop_delay_max_ms'] as number, 2)}`, r['load1'] as number])), '',
    'From the moment the FIFO replaces dom_md/metadata to the first Host.getStats (polled with a Host.ping2 every ~20 ms) whose storageDomains entry says valid false. A check runs every delay seconds and a read that takes longer than the delay is a read timeout (2001), so the bound is two delays (plus the dd start and the time to ask Host.getStats).', '');
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const flags = benchFlags({
    name: 'storage',
    options: {
      cases: 'tasks,api-volumes,copy,hang: the cases run (default all)',
      tasks: 'N: small tasks in the tasks case (default 1000; --quick 40)',
      concurrency: 'N: tasks in flight (default 20)',
      volumes: 'N: Volume.create calls in the api-volumes case (default 200; --quick 10)',
      'copy-gib': 'GIB: the volume Volume.copy copies (default 1; --quick 0.0625)',
      repeats: 'N: copies per side in the copy case (default 3; --quick 1)',
      'hang-intervals': 'S,S: [irs] sd_health_check_delay values for the hang case (default 2,10; --quick 1)',
      dir: 'DIR: where the domains and volumes go (default /var/tmp; ~3 GiB free)',
    },
    notes: 'Needs root, qemu-img and mkfifo; the vdsmd cases need a checkout (test/).',
  });
  const quick = flags.has('quick');
  const cases = flags.list('cases', ['tasks', 'api-volumes', 'copy', 'hang']);
  const base = flags.str('dir', '/var/tmp');
  const n = flags.num('tasks', quick ? 40 : 1000);
  const concurrency = flags.num('concurrency', 20);
  const env: Obj = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, qemu_img: await qemuImgVersion(), load1: load1(), dir: base, quick };
  const loaded = await loadKit();
  if (loaded) kit = loaded;
  else env['left_out'] = 'api-volumes, copy and hang: they drive vdsmd through the test suite\'s engine helpers (test/helpers), which an installed vdsm-bench does not have; run them from a checkout (npm run bench:storage)';
  const vdsmd = loaded !== undefined;
  const hangIntervals = flags.list('hang-intervals', quick ? ['1'] : ['2', '10']).map(Number);
  const plan: [string, () => Promise<Rec>][] = [];
  if (cases.includes('tasks')) {
    plan.push(['tasks: bare Piscina round trips', () => piscinaFloor(n, concurrency)], ['tasks: fsync\'d directory swaps alone', () => saveFloor(n, concurrency, base)]);
    for (const kind of ['noop-memory', 'noop-persisted', 'touch-persisted'] as const) plan.push([`tasks: ${kind}`, () => tasksCase(kind, n, concurrency, base)]);
  }
  // The vdsmd cases share agents: one per domain-check period (the first hang period serves the others).
  const agents = new Agents(base);
  const main = (): Promise<Dc> => agents.get(hangIntervals[hangIntervals.length - 1] ?? 10);
  if (vdsmd && cases.includes('api-volumes')) plan.push(['Volume.create through vdsmd', async () => apiVolumesCase(await main(), flags.num('volumes', quick ? 10 : 200), 10)]);
  if (vdsmd && cases.includes('copy')) plan.push(['Volume.copy against qemu-img convert', async () => copyCase(await main(), flags.num('copy-gib', quick ? 0.0625 : 1), flags.num('repeats', quick ? 1 : 3))]);
  if (vdsmd && cases.includes('hang')) for (const i of hangIntervals) plan.push([`a hung domain, checks every ${i} s`, async () => hangCase(await agents.get(i), i)]);
  progress(`storage bench: ${JSON.stringify(env)}`);
  const results: Rec[] = [];
  try {
    for (const [i, [label, run]] of plan.entries()) {
      step(i, plan.length, label);
      const r = await run();
      results.push(r);
      emitCase({ suite: 'storage', ...r });
    }
  } finally {
    await agents.stop();
  }
  step(plan.length, plan.length, 'done');
  const out = outDir(flags, 'storage');
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'report.md'), report(results, env));
  await writeFile(join(out, 'results.json'), `${JSON.stringify({ env, results }, null, 2)}\n`);
  progress(`report: ${join(out, 'report.md')}`);
}

if (isMainThread) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
