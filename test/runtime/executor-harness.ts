// Builds a real Executor (real Piscina threads, real native sleeps) driven by a manual clock, and
// waits for its diagnostics_channel events. Used by the executor tests.
import diagnostics_channel from 'node:diagnostics_channel';
import { Executor, type ExecutorOptions } from '../../src/runtime/executor/executor.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { ManualTime } from '../support/manual-time.js';
import { captureLog, type LogLine } from './capture-log.js';

let seq = 0;

export interface Harness {
  ex: Executor;
  time: ManualTime;
  sched: Scheduler;
  lines: LogLine[];
  events: Array<{ channel: string; msg: Record<string, unknown> }>;
  /** Resolves with the first event (past or future) on `channel` matching `pred`. */
  next(channel: string, pred?: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Resolves once `cond()` holds, re-checked after every event of this executor. */
  until(cond: () => boolean): Promise<void>;
  close(graceMs?: number): Promise<void>;
}

const CHANNELS = ['dispatch', 'start', 'done', 'timeout', 'discard', 'replace', 'worker', 'park'];

export function harness(opts: Partial<ExecutorOptions>): Harness {
  const time = new ManualTime(1000);
  const { log, lines } = captureLog();
  const sched = new Scheduler({ clock: time, timers: time, log });
  sched.start();
  const name = `${opts.name ?? 'test'}-${process.pid}-${++seq}`;
  const ex = new Executor({ workersCount: 1, maxWorkers: 4, maxTasks: 10, workerLogLevel: 'warn', ...opts, name, scheduler: sched, log, clock: time });
  const events: Harness['events'] = [];
  const waiters: Array<{ channel: string; pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }> = [];
  const anyWaiters: Array<() => void> = [];
  const subs = CHANNELS.map((c) => {
    const channel = `vdsm:executor:${c}`;
    const fn = (m: unknown): void => {
      const msg = m as Record<string, unknown>;
      if (msg['executor'] !== name) return;
      events.push({ channel: c, msg });
      for (const a of anyWaiters.splice(0)) a();
      for (const w of [...waiters]) {
        if (w.channel === c && w.pred(msg)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(msg);
        }
      }
    };
    diagnostics_channel.subscribe(channel, fn);
    return () => diagnostics_channel.unsubscribe(channel, fn);
  });
  return {
    ex, time, sched, lines, events,
    next(channel, pred = () => true) {
      const seen = events.find((e) => e.channel === channel && pred(e.msg));
      if (seen) return Promise.resolve(seen.msg);
      // A real-time guard so that a missing event fails the test instead of hanging it.
      return new Promise((resolve, reject) => {
        const guard = setTimeout(() => reject(new Error(`no ${channel} event within 10 s`)), 10_000);
        waiters.push({ channel, pred, resolve: (m) => (clearTimeout(guard), resolve(m)) });
      });
    },
    async until(cond) {
      const giveUp = Date.now() + 10_000;
      while (!cond()) {
        if (Date.now() > giveUp) throw new Error('condition not reached within 10 s');
        await new Promise<void>((resolve) => {
          const guard = setTimeout(resolve, 500);
          anyWaiters.push(() => (clearTimeout(guard), resolve()));
        });
      }
    },
    async close(graceMs = 3000) {
      await ex.stop({ graceMs });
      sched.stop();
      for (const u of subs) u();
    },
  };
}

