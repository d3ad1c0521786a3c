// What the agent remembers about the VMs it runs, kept in the state directory so that recovery after
// a restart can tell "still running" (re-adopt) from "stopped while the agent was down" (report Down).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

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

/**
 * A small JSON file rewritten atomically (write temp, rename) and serialised: writes never overlap,
 * and a burst of changes collapses into one write of the latest state.
 */
export class VmRecordStore {
  readonly path: string;
  #records = new Map<string, VmRecord>();
  #writing: Promise<void> | undefined;
  #dirty = false;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'vms.json');
  }

  /** Read the file; a missing file means no VMs. A corrupt file is an error the caller reports. */
  async load(): Promise<VmRecord[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const parsed = JSON.parse(text) as RecordFile;
    if (parsed.version !== 1 || !Array.isArray(parsed.vms)) throw new Error(`${this.path}: unknown format`);
    this.#records = new Map(parsed.vms.map((r) => [r.vmId, r]));
    return [...this.#records.values()];
  }

  list(): VmRecord[] {
    return [...this.#records.values()];
  }

  get(vmId: string): VmRecord | undefined {
    return this.#records.get(vmId);
  }

  put(record: VmRecord): Promise<void> {
    this.#records.set(record.vmId, record);
    return this.#flush();
  }

  remove(vmId: string): Promise<void> {
    if (!this.#records.delete(vmId)) return this.#writing ?? Promise.resolve();
    return this.#flush();
  }

  /** Resolves once everything changed so far is on disk. */
  #flush(): Promise<void> {
    this.#dirty = true;
    if (!this.#writing) {
      this.#writing = (async () => {
        try {
          while (this.#dirty) {
            this.#dirty = false;
            await this.#write();
          }
        } finally {
          this.#writing = undefined;
        }
      })();
    }
    return this.#writing;
  }

  async #write(): Promise<void> {
    const body: RecordFile = { version: 1, vms: [...this.#records.values()] };
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    await writeFile(tmp, JSON.stringify(body), { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
