// Which threads the Executor should start now: a pure function of its counts, so the policy can be
// read (and tested) apart from the thread plumbing.

export interface SpawnInput {
  workersCount: number;
  maxWorkers: number;
  /** Spares wanted at rest. */
  spares: number;
  maxConcurrentSpawns: number;
  /** Threads held now: starting + spares + live + lingering. */
  total: number;
  /** Threads starting now, and how many of those will be spares. */
  starting: number;
  startingSpares: number;
  /** Live workers (idle + busy + starting live ones) and ready spares. */
  live: number;
  readySpares: number;
  queued: number;
  /** Grow on backlog at all (false: vdsm's fixed pool). */
  growOnBacklog: boolean;
  /** Whether the oldest queued task waited long enough to grow; asked only when it matters. */
  backlogOld: () => boolean;
  /** Running discardable tasks close to their timeout: each may take a live worker away soon. */
  imminentDiscards: number;
}

export interface SpawnPlan {
  /** Roles of the threads to start, in order. */
  spawn: Array<'live' | 'spare'>;
  /** More live workers or spares than wanted at rest: retire idle ones later. */
  surplus: boolean;
}

/**
 * In priority order, all within max_workers:
 * 1. live workers up to workers_count (replacements; not limited by the spawn concurrency);
 * 2. one live worker per queued task that could not start, once the backlog is old enough;
 * 3. spares, plus one per imminent discard that would leave fewer than workers_count live workers.
 */
export function planSpawns(i: SpawnInput): SpawnPlan {
  const spawn: Array<'live' | 'spare'> = [];
  let room = i.maxWorkers - i.total;
  let slots = i.maxConcurrentSpawns - i.starting;
  let live = i.live;
  let startingLive = i.starting - i.startingSpares;
  let spares = i.readySpares + i.startingSpares;
  const add = (role: 'live' | 'spare'): boolean => {
    if (room <= 0) return false;
    spawn.push(role);
    room--;
    slots--;
    if (role === 'live') {
      live++;
      startingLive++;
    } else spares++;
    return true;
  };
  const done = (): SpawnPlan => ({ spawn, surplus: false });
  while (live < i.workersCount) if (!add('live')) return done();
  if (i.growOnBacklog && i.queued > startingLive && slots > 0 && i.backlogOld()) {
    while (i.queued > startingLive && slots > 0) if (!add('live')) return done();
  }
  const spareTarget = i.spares + Math.max(0, i.workersCount - (live - i.imminentDiscards));
  while (spares < spareTarget && slots > 0) if (!add('spare')) return done();
  return { spawn, surplus: live > i.workersCount || i.readySpares > spareTarget };
}
