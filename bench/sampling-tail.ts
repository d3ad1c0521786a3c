// Where the slowest getAllVmStats replies of the sampling bench spent their time (bench/sampling.ts's
// case child collects the events; this file only reads them). A reply's agent side is two phases:
//
//   queue: request frame parsed -> encoded reply queued for the connection (dispatch, the report read
//          in ~2 ms slices, envelope, frame);
//   write: queued -> the socket's write callback for its last byte, in 64 KiB chunks. Each chunk is
//          handed to the socket (vdsm:rpc:output), the socket's write callback runs
//          (vdsm:rpc:output-written), and the next chunk is handed on a later turn of the event loop.
//          hand-off -> callback is the socket taking the chunk (long when the kernel's send buffer is
//          full: the client reads slower than we write); callback -> next hand-off is the wait for a turn
//          (whatever else the main thread runs in between, or the thread waiting for a core).
//
// Per reply: both phases, the write phase's turns, its socket and turn waits (sum and longest), the
// chunks the kernel did not take at once, and what overlapped each phase: GC pauses, samples arriving
// (StatsCache.put), background report rebuild slices (VmReportCache.refresh), and the main thread
// runnable but waiting on a run queue (/proc schedstat, sampled every ~1 ms by a side thread).
import { performance } from 'node:perf_hooks';
import { round } from './lib/stats.js';

export type Span = readonly [number, number];

export interface TimedReply {
  connectionId: number;
  receivedAt: number;
  queuedAt: number;
  writtenAt: number;
}

export interface OutputTimeline {
  /** Per connection: [time after the write call, bytes the socket still buffered after it, ms in the write call] per hand-off. */
  handOffs: Map<number, number[]>;
  /** Per connection: the time of each chunk's write callback. */
  written: Map<number, number[]>;
}

export interface ReplyTimeline {
  agentMs: number;
  queueMs: number;
  writeMs: number;
  /** Chunks handed (turns of the loop the write took). */
  turns: number;
  /** Time inside the socket's write calls (the copy to the kernel; on loopback also the peer's receive path). */
  writeCallMs: number;
  /** Sum and longest of the write call's return -> its callback (the socket taking a chunk later). */
  socketWaitMs: number;
  socketWaitMaxMs: number;
  /** Sum and longest of write callback -> the next write call (waiting for a turn). */
  turnWaitMs: number;
  turnWaitMaxMs: number;
  /** Chunks the kernel did not take at once (bytes left in the socket after the hand-off). */
  bufferedChunks: number;
  /** Overlap with each phase. */
  queue: PhaseOverlap;
  write: PhaseOverlap;
}

export interface PhaseOverlap {
  gcMs: number;
  /** A sample arriving: the sampling result received, opened and stored (VmSampling, StatsCache.put). */
  putMs: number;
  refreshMs: number;
  /** Runnable but not running (1 ms sampling: up to ~2 ms of neighbouring time counts in). */
  runqueueMs: number | null;
  /** Context switches of the main thread: it blocked (voluntary) or the scheduler took its core (involuntary). */
  voluntary: number | null;
  involuntary: number | null;
}

/** Overlap in ms of [a, b] with the spans. */
export function overlap(a: number, b: number, spans: readonly Span[]): number {
  let ms = 0;
  for (const [s0, s1] of spans) ms += Math.max(0, Math.min(b, s1) - Math.max(a, s0));
  return ms;
}

/** Collects spans of many short calls into slices: calls closer than `gapMs` join the previous span. */
export class SpanRecorder {
  readonly spans: [number, number][] = [];
  constructor(private readonly gapMs = 0.05) {}
  add(t0: number, t1: number): void {
    const last = this.spans[this.spans.length - 1];
    if (last !== undefined && t0 - last[1] <= this.gapMs) last[1] = t1;
    else this.spans.push([t0, t1]);
  }
}

/** Numbers per sample of the schedstat side thread: epoch ms, ms on a CPU, ms waiting on a run queue, voluntary and involuntary context switches (cumulative). */
export const SCHED_STRIDE = 5;

/**
 * The main thread between performance.now() times a and b, from the side thread's samples: run-queue
 * wait and context switches. Sampled every ~1 ms: up to ~2 ms of neighbouring time counts in. Null
 * without samples.
 */
export function schedBetween(sched: readonly number[], a: number, b: number): { waitMs: number; voluntary: number; involuntary: number } | null {
  const n = Math.floor(sched.length / SCHED_STRIDE);
  if (n === 0) return null;
  const origin = performance.timeOrigin;
  const at = (t: number): number | undefined => {
    if (sched[0]! > t) return undefined;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (sched[mid * SCHED_STRIDE]! <= t) lo = mid;
      else hi = mid - 1;
    }
    return lo * SCHED_STRIDE;
  };
  const i = at(origin + a - 1);
  const j = at(origin + b + 1);
  if (i === undefined || j === undefined) return null;
  return { waitMs: sched[j + 2]! - sched[i + 2]!, voluntary: sched[j + 3]! - sched[i + 3]!, involuntary: sched[j + 4]! - sched[i + 4]! };
}

export function replyTimeline(r: TimedReply, out: OutputTimeline, spans: { gc: readonly Span[]; put: readonly Span[]; refresh: readonly Span[] }, sched: readonly number[]): ReplyTimeline {
  const hand = out.handOffs.get(r.connectionId) ?? [];
  const done = out.written.get(r.connectionId) ?? [];
  const handed: { t: number; buffered: number; callMs: number }[] = [];
  let callMs = 0;
  for (let i = 0; i < hand.length; i += 3) {
    if (hand[i]! < r.receivedAt || hand[i]! > r.writtenAt) continue;
    handed.push({ t: hand[i]!, buffered: hand[i + 1]!, callMs: hand[i + 2]! });
    callMs += hand[i + 2]!;
  }
  const callbacks = done.filter((t) => t >= r.receivedAt && t <= r.writtenAt);
  let socketWait = 0;
  let socketMax = 0;
  let turnWait = 0;
  let turnMax = 0;
  for (let i = 0; i < handed.length; i++) {
    const cb = callbacks[i];
    if (cb === undefined) break;
    const s = cb - handed[i]!.t;
    socketWait += s;
    socketMax = Math.max(socketMax, s);
    const next = handed[i + 1];
    if (next !== undefined) {
      const w = next.t - next.callMs - cb;
      turnWait += w;
      turnMax = Math.max(turnMax, w);
    }
  }
  const phase = (a: number, b: number): PhaseOverlap => {
    const sw = schedBetween(sched, a, b);
    return {
      gcMs: round(overlap(a, b, spans.gc), 2), putMs: round(overlap(a, b, spans.put), 2), refreshMs: round(overlap(a, b, spans.refresh), 2),
      runqueueMs: sw === null ? null : round(sw.waitMs, 2), voluntary: sw?.voluntary ?? null, involuntary: sw?.involuntary ?? null,
    };
  };
  return {
    agentMs: round(r.writtenAt - r.receivedAt, 2),
    queueMs: round(r.queuedAt - r.receivedAt, 2),
    writeMs: round(r.writtenAt - r.queuedAt, 2),
    turns: handed.length,
    writeCallMs: round(callMs, 2),
    socketWaitMs: round(socketWait, 2),
    socketWaitMaxMs: round(socketMax, 2),
    turnWaitMs: round(turnWait, 2),
    turnWaitMaxMs: round(turnMax, 2),
    bufferedChunks: handed.filter((h) => h.buffered > 0).length,
    queue: phase(r.receivedAt, r.queuedAt),
    write: phase(r.queuedAt, r.writtenAt),
  };
}

/** The mean of each figure over the timelines (null when there are none). */
export function meanTimeline(list: readonly ReplyTimeline[]): ReplyTimeline | null {
  if (list.length === 0) return null;
  const m = (f: (t: ReplyTimeline) => number | null): number => round(list.reduce((n, t) => n + (f(t) ?? 0), 0) / list.length, 2);
  const ph = (p: (t: ReplyTimeline) => PhaseOverlap): PhaseOverlap => ({
    gcMs: m((t) => p(t).gcMs), putMs: m((t) => p(t).putMs), refreshMs: m((t) => p(t).refreshMs),
    runqueueMs: list.every((t) => p(t).runqueueMs === null) ? null : m((t) => p(t).runqueueMs),
    voluntary: list.every((t) => p(t).voluntary === null) ? null : m((t) => p(t).voluntary),
    involuntary: list.every((t) => p(t).involuntary === null) ? null : m((t) => p(t).involuntary),
  });
  return {
    agentMs: m((t) => t.agentMs), queueMs: m((t) => t.queueMs), writeMs: m((t) => t.writeMs), turns: m((t) => t.turns), writeCallMs: m((t) => t.writeCallMs),
    socketWaitMs: m((t) => t.socketWaitMs), socketWaitMaxMs: m((t) => t.socketWaitMaxMs), turnWaitMs: m((t) => t.turnWaitMs), turnWaitMaxMs: m((t) => t.turnWaitMaxMs),
    bufferedChunks: m((t) => t.bufferedChunks), queue: ph((t) => t.queue), write: ph((t) => t.write),
  };
}

/** One readable line for a timeline. */
export function describeTimeline(t: ReplyTimeline): string {
  const ph = (p: PhaseOverlap): string => `gc ${p.gcMs} sample ${p.putMs} refresh ${p.refreshMs} runq ${p.runqueueMs ?? '-'} switches ${p.voluntary ?? '-'}/${p.involuntary ?? '-'}`;
  return `${t.agentMs} ms = queue ${t.queueMs} [${ph(t.queue)}] + write ${t.writeMs} [${t.turns} turns; in write calls ${t.writeCallMs}; socket ${t.socketWaitMs} (max ${t.socketWaitMaxMs}, ${t.bufferedChunks} chunks not taken at once); turn waits ${t.turnWaitMs} (max ${t.turnWaitMaxMs}); ${ph(t.write)}]`;
}
