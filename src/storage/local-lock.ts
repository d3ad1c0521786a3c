// The SPM lock of local domains (vdsm's clusterlock.LocalLock): an exclusive, non-blocking flock(2) on
// the master domain's dom_md/ids, held for as long as this host is SPM, plus the in-memory host id.
// Node has no flock, and the main thread must not open files on storage anyway, so the lock is held
// by a child: `flock --exclusive --nonblock --close <ids> cat`. The lock lives exactly as long as that child;
// the child lives until we close its stdin, or until the agent dies (its stdin then closes, and
// setpriv's parent-death signal kills it), so a crashed SPM never keeps the pool locked.
import { spawn, type ChildProcess } from 'node:child_process';
import { Errors, storageError } from '../errors.js';

interface Held {
  child: ChildProcess;
  exited: Promise<void>;
}

export class LocalLock {
  /** vdsm's LocalLock.LVER: always 0 (getSpmStatus reports it as -1). */
  static readonly LVER = 0;
  #hostIds = new Map<string, number>();
  #locks = new Map<string, Held>();
  #acquireTimeoutMs: number;

  constructor(opts: { acquireTimeoutMs?: number } = {}) {
    this.#acquireTimeoutMs = opts.acquireTimeoutMs ?? 10_000;
  }

  /** acquireHostId: a different id already held is AcquireHostIdFailure (661); here, 651. */
  acquireHostId(sdUUID: string, hostId: number): void {
    const cur = this.#hostIds.get(sdUUID);
    if (cur !== undefined && cur !== hostId) throw storageError(Errors.SD_ACQUIRE_LOCK, [sdUUID, `host id ${cur} already acquired`]);
    this.#hostIds.set(sdUUID, hostId);
  }

  releaseHostId(sdUUID: string): void {
    if (this.#locks.has(sdUUID)) return;
    this.#hostIds.delete(sdUUID);
  }

  hasHostId(sdUUID: string, hostId: number): boolean {
    return this.#hostIds.get(sdUUID) === hostId;
  }

  /** Take the lock on `idsPath`; AcquireLockFailure (651) when another holder has it. Idempotent. */
  async acquire(sdUUID: string, idsPath: string): Promise<void> {
    const held = this.#locks.get(sdUUID);
    if (held && held.child.exitCode === null && held.child.signalCode === null) return;
    // --close: the command (cat) does not inherit the locked descriptor, so the lock is held by flock
    // alone and dies with it (a killed flock frees it at once, whatever its cat does).
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'flock', '--exclusive', '--nonblock', '--close', '--conflict-exit-code', '11', idsPath, 'sh', '-c', 'echo locked; exec cat'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(storageError(Errors.SD_ACQUIRE_LOCK, [sdUUID, `flock did not answer within ${this.#acquireTimeoutMs} ms (storage not responding?)`]));
      }, this.#acquireTimeoutMs);
      child.stdout.setEncoding('utf8').once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(storageError(Errors.SD_ACQUIRE_LOCK, [sdUUID, `cannot run flock: ${err.message}`]));
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        const why = code === 11 ? 'Cannot acquire local lock: held by another process' : `flock exited ${String(code)}: ${stderr.trim()}`;
        reject(storageError(Errors.SD_ACQUIRE_LOCK, { value: `id=${sdUUID}, rc=${String(code)}, out=${why}, err=${stderr.trim()}` }));
      });
    });
    this.#locks.set(sdUUID, { child, exited });
  }

  /** The lock holder's host id, or undefined (vdsm's inquire: (LVER, hostId or None)). */
  inquire(sdUUID: string): { lver: number; hostId: number | undefined } {
    const held = this.#locks.get(sdUUID);
    const alive = held !== undefined && held.child.exitCode === null && held.child.signalCode === null;
    return { lver: LocalLock.LVER, hostId: alive ? this.#hostIds.get(sdUUID) : undefined };
  }

  async release(sdUUID: string): Promise<void> {
    const held = this.#locks.get(sdUUID);
    if (!held) return;
    this.#locks.delete(sdUUID);
    held.child.stdin?.end();
    const t = setTimeout(() => held.child.kill('SIGKILL'), 2000);
    await held.exited;
    clearTimeout(t);
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.#locks.keys()].map((sd) => this.release(sd)));
    this.#hostIds.clear();
  }

  /** Resolves once the holder of `sdUUID`'s lock has exited (its lock is free then); at once when none. */
  holderGone(sdUUID: string): Promise<void> {
    return this.#locks.get(sdUUID)?.exited ?? Promise.resolve();
  }

  state(): Record<string, unknown> {
    return {
      hostIds: Object.fromEntries(this.#hostIds),
      locks: Object.fromEntries([...this.#locks].map(([sd, h]) => [sd, { pid: h.child.pid }])),
    };
  }
}
