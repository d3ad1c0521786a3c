// What the agent remembers about the VMs it runs, kept in the state directory so that recovery after
// a restart can tell "still running" (re-adopt) from "stopped while the agent was down" (report Down).
// A full or damaged disk cannot corrupt it: every write is atomic (temp file, fsync, rename, fsync of
// the directory); a change that could not be written is not applied in memory either and fails with
// ERR_STATE_WRITE; an unreadable file is moved aside and reported, never fatal.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorMessage, Errors, vdsmError } from '../errors.js';

export interface VmRecord {
  vmId: string;
  name: string;
  /** The domain XML the engine sent (or libvirt's, for adopted VMs). */
  xml: string;
  /** Wall-clock ms when the VM was started, for elapsedTime after recovery. */
  startedAt: number;
}

interface RecordFile {
  version: 1;
  vms: VmRecord[];
}

interface RecordsLog {
  error(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

type Change = { put: VmRecord } | { remove: string };

interface Pending {
  change: Change;
  /** Best effort (recovery): applied in memory even when the write fails; written with the next one. */
  keep: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * A small JSON file rewritten atomically and serialised: writes never overlap, and a burst of changes
 * collapses into one write of the latest state. Memory holds what is on disk (plus best-effort records
 * that failed to be written, which every later write retries).
 */
export class VmRecordStore {
  readonly path: string;
  #records = new Map<string, VmRecord>();
  /** Best-effort records not on disk yet. */
  #unsaved = new Set<string>();
  #queue: Pending[] = [];
  #writing: Promise<void> | undefined;
  #log: RecordsLog | undefined;
  #writes = 0;
  #failures = 0;
  #lastError: string | undefined;

  constructor(stateDir: string, log?: RecordsLog) {
    this.path = join(stateDir, 'vms.json');
    this.#log = log;
  }

  /**
   * Read the file; a missing file means no VMs. A file that cannot be read or parsed is moved aside
   * (vms.json.unreadable-<time>) with an error log line, and recovery goes on from libvirt's truth.
   */
  async load(): Promise<VmRecord[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      await this.#moveAside(`cannot be read: ${errorMessage(err)}`);
      return [];
    }
    let records: VmRecord[];
    try {
      records = parseRecordFile(text);
    } catch (err) {
      await this.#moveAside(errorMessage(err));
      return [];
    }
    this.#records = new Map(records.map((r) => [r.vmId, r]));
    return [...this.#records.values()];
  }

  list(): VmRecord[] {
    return [...this.#records.values()];
  }

  get(vmId: string): VmRecord | undefined {
    return this.#records.get(vmId);
  }

  /** Record a VM; rejects with ERR_STATE_WRITE (memory unchanged) when it cannot be written. */
  put(record: VmRecord): Promise<void> {
    return this.#enqueue({ put: record }, false);
  }

  /**
   * Record a VM found running (recovery): kept in memory even if the write fails (libvirt is the truth
   * for a running VM; the next write retries it). Never rejects; a failure is logged.
   */
  remember(record: VmRecord): Promise<void> {
    return this.#enqueue({ put: record }, true).catch((err: unknown) => {
      this.#log?.error({ vmId: record.vmId, err: errorMessage(err) }, 'could not record a recovered VM; every later write retries it');
    });
  }

  /** Forget a VM; rejects with ERR_STATE_WRITE (memory unchanged) when it cannot be written. */
  remove(vmId: string): Promise<void> {
    if (!this.#records.has(vmId) && !this.#queue.some((p) => 'put' in p.change && p.change.put.vmId === vmId)) {
      return this.#writing?.catch(() => undefined) ?? Promise.resolve();
    }
    return this.#enqueue({ remove: vmId }, false);
  }

  state(): Record<string, unknown> {
    return { path: this.path, records: this.#records.size, unsaved: [...this.#unsaved], writes: this.#writes, failures: this.#failures, lastError: this.#lastError };
  }

  #enqueue(change: Change, keep: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ change, keep, resolve, reject });
      this.#writing ??= this.#drain();
    });
  }

  /** Writes batches of queued changes until the queue is empty. */
  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0);
        const next = new Map(this.#records);
        for (const { change } of batch) {
          if ('put' in change) next.set(change.put.vmId, change.put);
          else next.delete(change.remove);
        }
        try {
          await this.#write([...next.values()]);
          this.#records = next;
          this.#unsaved.clear();
          for (const p of batch) p.resolve();
        } catch (err) {
          this.#failures++;
          this.#lastError = errorMessage(err);
          const failure = vdsmError(Errors.STATE_WRITE, `${Errors.STATE_WRITE.message}: ${this.path}: ${errorMessage(err)}`, { cause: err });
          // Best-effort records stay in memory; everything else is as if it never happened.
          for (const p of batch) {
            if (p.keep && 'put' in p.change) {
              this.#records.set(p.change.put.vmId, p.change.put);
              this.#unsaved.add(p.change.put.vmId);
            }
            p.reject(failure);
          }
        }
      }
    } finally {
      this.#writing = undefined;
    }
  }

  /** Temp file, fsync, rename over the old file, fsync of the directory. */
  async #write(vms: VmRecord[]): Promise<void> {
    const body: RecordFile = { version: 1, vms };
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    const tmp = `${this.path}.tmp-${process.pid}`;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(JSON.stringify(body));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
    this.#writes++;
  }

  async #moveAside(why: string): Promise<void> {
    const aside = `${this.path}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(this.path, aside);
      this.#log?.error({ path: this.path, movedTo: aside, reason: why }, 'VM records file unreadable; moved aside, recovering from what libvirt runs');
    } catch (err) {
      this.#log?.error({ path: this.path, reason: why, err: errorMessage(err) }, 'VM records file unreadable and could not be moved aside; recovering from what libvirt runs');
    }
  }
}

/** The records of a file's text; throws with what is wrong. */
export function parseRecordFile(text: string): VmRecord[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON (${errorMessage(err)})`);
  }
  const f = parsed as Partial<RecordFile> | null;
  if (f === null || typeof f !== 'object' || f.version !== 1 || !Array.isArray(f.vms)) throw new Error('unknown format');
  for (const r of f.vms) {
    const ok = r !== null && typeof r === 'object' && typeof r.vmId === 'string' && typeof r.name === 'string' && typeof r.xml === 'string' && typeof r.startedAt === 'number';
    if (!ok) throw new Error('a record lacks vmId, name, xml or startedAt');
  }
  return f.vms;
}
