// Storage domain monitoring (vdsm's monitor.py + check.py): every [irs] sd_health_check_delay seconds,
// per domain, a `dd iflag=direct` child reads the first 4 KiB of dom_md/metadata (its elapsed time is
// the read delay, its output gives the domain version) and a `stat -f` child reads the free and total
// space. Both are child processes: a read that hangs (a dead NFS server, a FIFO, a stopped FUSE
// daemon) costs one process, never a thread or the main loop. As in vdsm, a check still running
// when the next is due is a "Read timeout" (2001) and the domain becomes invalid; while the process
// stays blocked no new one is started for that domain. Every other domain keeps its own schedule.
import { spawn } from 'node:child_process';
import diagnostics_channel from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import { Errors, errorMessage } from '../errors.js';
import type { StorageDomainVitals } from '../contracts/api-types.js';
import { realTimers, type Timers } from '../runtime/clock.js';
import { DomainLayout } from '../contracts/storage-layout.js';
import { parseSdMetadata } from '../contracts/sd-metadata.js';
import { metricPath, type Figure } from '../observability/metrics/convention.js';

/** What Host.getStats storageDomains and Host.getStorageRepoStats report per domain (the wire's type). */
export type DomainVitals = StorageDomainVitals;

export interface DomainCheckEvent {
  sdUUID: string;
  valid: boolean;
  code: number;
  /** Seconds, as reported by dd. */
  delay: number;
  error?: string;
}

export const domainMonitorChannels = {
  /** DomainCheckEvent after every completed (or timed out) check. */
  check: diagnostics_channel.channel('vdsm:storage:domain-check'),
  /** {sdUUID, valid} when a domain turns valid or invalid (vdsm's onDomainStateChange). */
  state: diagnostics_channel.channel('vdsm:storage:domain-state'),
};

export interface DomainMonitorOptions {
  intervalMs: number;
  log: Logger;
  /** Whether this host holds its host id on the domain (the `acquired` flag). */
  hasHostId: (sdUUID: string) => boolean;
  timers?: Timers;
  /** Wall clock in ms, for lastCheck (vdsm uses time.time()). */
  now?: () => number;
}

interface Status {
  error: { code: number; message: string } | undefined;
  delay: string;
  version: number;
  checkTime: number;
  actual: boolean;
  disktotal: string | undefined;
  diskfree: string | undefined;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A child process with a deadline; past it the child is killed and the promise rejects at once. */
function runWithDeadline(argv: string[], timeoutMs: number, timers: Timers, onBlocked: (pid: number | undefined) => void): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let settled = false;
    child.stdout.setEncoding('latin1').on('data', (d: string) => (stdout = (stdout + d).slice(0, 8192)));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
    const timer = timers.setTimeout(() => {
      if (settled) return;
      settled = true;
      // A process in uninterruptible sleep ignores even SIGKILL; it is left to exit whenever it can.
      child.kill('SIGKILL');
      onBlocked(child.pid);
      reject(new Error('Read timeout'));
    }, timeoutMs);
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      timers.clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      onBlocked(undefined);
      if (settled) return;
      settled = true;
      timers.clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const DD_DELAY = /, ([\de.-]+) s,[^,]+$/;

class DomainCheck {
  readonly sdUUID: string;
  readonly layout: DomainLayout;
  status: Status;
  #o: DomainMonitorOptions;
  #timers: Timers;
  #timer: unknown;
  #stopped = false;
  #blockedPid: number | undefined;
  #blockedSince = 0;

  constructor(sdUUID: string, dir: string, opts: DomainMonitorOptions) {
    this.sdUUID = sdUUID;
    this.layout = new DomainLayout(dir);
    this.#o = opts;
    this.#timers = opts.timers ?? realTimers;
    // Before the first check: a status that is valid but not actual (vdsm's fake initial status).
    this.status = { error: undefined, delay: '0', version: -1, checkTime: this.#now(), actual: false, disktotal: undefined, diskfree: undefined };
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  start(): void {
    this.#tick();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#timer = this.#timers.setTimeout(() => this.#tick(), this.#o.intervalMs);
    if (this.#blockedPid !== undefined && isAlive(this.#blockedPid)) {
      this.#o.log.warn({ sdUUID: this.sdUUID, pid: this.#blockedPid, blockedS: Math.round((this.#now() - this.#blockedSince) / 100) / 10 }, 'Checker is blocked');
      return;
    }
    this.#blockedPid = undefined;
    void this.#check();
  }

  async #check(): Promise<void> {
    const blocked = (pid: number | undefined): void => {
      if (pid !== undefined) {
        this.#blockedPid = pid;
        this.#blockedSince = this.#now();
      }
    };
    let error: Status['error'];
    let delay = this.status.delay;
    let version = this.status.version;
    let disktotal = this.status.disktotal;
    let diskfree = this.status.diskfree;
    try {
      const dd = await runWithDeadline(['dd', `if=${this.layout.metadata}`, 'bs=4096', 'count=1', 'iflag=direct'], this.#o.intervalMs, this.#timers, blocked);
      const last = dd.stderr.trim().split('\n').pop() ?? '';
      const m = DD_DELAY.exec(last);
      if (dd.code !== 0 || !m) throw new Error(`dd rc=${String(dd.code)}: ${dd.stderr.trim().split('\n').pop() ?? ''}`);
      delay = m[1]!;
      const v = Number(parseSdMetadata(dd.stdout)['VERSION']);
      if (Number.isInteger(v)) version = v;
      const st = await runWithDeadline(['stat', '-f', '-c', '%S %b %a', this.layout.dir], this.#o.intervalMs, this.#timers, blocked);
      const [bsize, blocks, avail] = st.stdout.trim().split(/\s+/).map(Number);
      if (st.code !== 0 || !Number.isFinite(bsize) || !Number.isFinite(blocks) || !Number.isFinite(avail)) throw new Error(`stat -f rc=${String(st.code)}: ${st.stderr.trim()}`);
      disktotal = String(bsize! * blocks!);
      diskfree = String(bsize! * avail!);
    } catch (err) {
      // vdsm reports every path check failure as MiscFileReadException (2001).
      error = { code: Errors.SD_FILE_READ.vdsmCode, message: `${Errors.SD_FILE_READ.message}: ${pyPath(this.layout.metadata)} ${errorMessage(err)}` };
    }
    if (this.#stopped) return;
    const wasValid = this.status.error === undefined;
    this.status = { error, delay, version, checkTime: this.#now(), actual: true, disktotal, diskfree };
    const valid = error === undefined;
    if (valid !== wasValid || (valid && !this.#announced)) {
      this.#announced = true;
      if (!valid) this.#o.log.warn({ sdUUID: this.sdUUID, err: error?.message }, 'storage domain became invalid');
      else if (!wasValid) this.#o.log.info({ sdUUID: this.sdUUID }, 'storage domain is valid again');
      if (domainMonitorChannels.state.hasSubscribers) domainMonitorChannels.state.publish({ sdUUID: this.sdUUID, valid });
    }
    if (domainMonitorChannels.check.hasSubscribers) {
      const ev: DomainCheckEvent = {
        sdUUID: this.sdUUID, valid, code: error?.code ?? 0, delay: Number(delay),
        ...(error ? { error: error.message } : {}),
      };
      domainMonitorChannels.check.publish(ev);
    }
  }

  #announced = false;

  vitals(acquired: boolean): DomainVitals {
    const s = this.status;
    return {
      code: s.error?.code ?? 0,
      lastCheck: ((this.#now() - s.checkTime) / 1000).toFixed(1),
      delay: s.delay,
      valid: s.error === undefined,
      version: s.version,
      acquired,
      // Only a successful first check is "not actual" until it happens; an error is always actual.
      actual: s.error !== undefined || s.actual,
    };
  }
}

function pyPath(p: string): string {
  return `('${p}',)`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class DomainMonitor {
  #o: DomainMonitorOptions;
  #checks = new Map<string, DomainCheck>();
  #poolDomains = new Set<string>();

  constructor(opts: DomainMonitorOptions) {
    this.#o = opts;
  }

  get intervalMs(): number {
    return this.#o.intervalMs;
  }

  isMonitoring(sdUUID: string): boolean {
    return this.#checks.has(sdUUID);
  }

  get domains(): string[] {
    return [...this.#checks.keys()];
  }

  get poolDomains(): string[] {
    return [...this.#poolDomains];
  }

  startMonitoring(sdUUID: string, dir: string, poolDomain = true): void {
    if (poolDomain) this.#poolDomains.add(sdUUID);
    if (this.#checks.has(sdUUID)) return;
    this.#o.log.info({ sdUUID, dir }, 'Start monitoring storage domain');
    const c = new DomainCheck(sdUUID, dir, this.#o);
    this.#checks.set(sdUUID, c);
    c.start();
  }

  stopMonitoring(sdUUIDs: Iterable<string>): void {
    for (const sd of sdUUIDs) {
      const c = this.#checks.get(sd);
      if (!c) continue;
      this.#o.log.info({ sdUUID: sd }, 'Stop monitoring storage domain');
      c.stop();
      this.#checks.delete(sd);
      this.#poolDomains.delete(sd);
    }
  }

  /** Host.getStorageRepoStats / Host.getStats storageDomains: every monitored domain (or the given ones). */
  repoStats(domains: readonly string[] = []): Record<string, DomainVitals> {
    const out: Record<string, DomainVitals> = {};
    for (const [sd, c] of this.#checks) {
      if (domains.length > 0 && !domains.includes(sd)) continue;
      out[sd] = c.vitals(this.#o.hasHostId(sd));
    }
    return out;
  }

  /**
   * The domains' figures under the metrics convention: vdsm's hosts.storage.<sd>.delay and
   * .last_check (seconds; last_check computed now), as `vdsm_storage_domain_*_seconds` with label sd.
   */
  figures(): Figure[] {
    const out: Figure[] = [];
    for (const [sd, v] of Object.entries(this.repoStats())) {
      out.push({ name: 'vdsm_storage_domain_delay_seconds', kind: 'gauge', help: 'Read delay of the last storage domain check', value: Number(v.delay), labels: { sd }, path: metricPath('hosts', 'storage', sd, 'delay') });
      out.push({ name: 'vdsm_storage_domain_last_check_seconds', kind: 'gauge', help: 'Seconds since the last storage domain check', value: Number(v.lastCheck), labels: { sd }, path: metricPath('hosts', 'storage', sd, 'last_check') });
      out.push({ name: 'vdsm_storage_domain_valid', kind: 'gauge', help: 'Whether the last storage domain check succeeded (1) or not (0)', value: v.valid ? 1 : 0, labels: { sd } });
    }
    return out;
  }

  /** disktotal / diskfree from the last check (StoragePool.getInfo dominfo); undefined when unknown. */
  diskUtilization(sdUUID: string): { disktotal: string; diskfree: string } | undefined {
    const s = this.#checks.get(sdUUID)?.status;
    return s?.disktotal !== undefined && s.diskfree !== undefined ? { disktotal: s.disktotal, diskfree: s.diskfree } : undefined;
  }

  close(): void {
    this.stopMonitoring([...this.#checks.keys()]);
  }
}
