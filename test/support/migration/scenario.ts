// Steps the live-migration tests and the migration bench share: boot the tiny guest on a host through
// the engine's VM.create, wait for events received after a mark, the engine's VM.migrate parameters,
// latency samples of a verb while something else happens, and what libvirt itself lists (virsh).
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineClient } from '../../helpers/engine-client.js';
import { isVmStatus } from '../../helpers/engine-client.js';
import { tinyGuestXml } from '../realvm/guest-xml.js';
import { Virsh } from '../realvm/virsh.js';
import type { RealVmAssets } from '../realvm/assets.js';
import { DIRTY_CMDLINE } from './dirty-initrd.js';
import type { MigrationHost, Obj, TwoHosts } from './two-hosts.js';

export interface Guest {
  readonly vmId: string;
  readonly name: string;
  readonly xml: string;
}

/** The tiny guest (no disk: vdsm's flags need shared storage or none) on `host`, Up from its guest agent. */
export async function bootGuest(hosts: TwoHosts, host: MigrationHost, assets: RealVmAssets, o: { tag: string; dirtyInitrd?: string; memoryMiB?: number; timeoutMs?: number }): Promise<Guest> {
  const vmId = randomUUID();
  // Short names: channel sockets live under domain-N-<name> inside a 108-byte unix path.
  const name = `mg${o.tag}-${vmId.slice(0, 4)}`;
  const xml = tinyGuestXml({
    uuid: vmId, name, kernel: assets.kernel, initrd: o.dirtyInitrd ?? assets.initrd, consoleLog: join(hosts.shared, `${name}.log`),
    ...(o.memoryMiB !== undefined ? { memoryMiB: o.memoryMiB } : {}),
    ...(o.dirtyInitrd !== undefined ? { extraCmdline: DIRTY_CMDLINE } : {}),
  });
  const mark = host.engine.events().length;
  await host.engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml } }, 60_000);
  try {
    // Up, or Down (the launch failed): no point waiting for the deadline then.
    const e = await eventAfter(host.engine, mark, (ev) => isVmStatus(vmId, 'Up')(ev) || isVmStatus(vmId, 'Down')(ev), o.timeoutMs ?? 120_000);
    if (vmDetails(e, vmId)['status'] === 'Down') throw new Error(`Down: ${JSON.stringify(vmDetails(e, vmId))}`);
  } catch (err) {
    const statuses = eventsAfter(host.engine, mark, (e) => e['method'] === `|virt|VM_status|${vmId}`).map((e) => JSON.stringify(vmDetails(e, vmId)['status']));
    const log = host.agent.lines.filter((l) => l['vmId'] === vmId || (l['level'] as number) >= 40).slice(-15).map((l) => JSON.stringify(l)).join('\n');
    const consoleLog = await readFile(join(hosts.shared, `${name}.log`), 'utf8').catch(() => '(no console log)');
    throw new Error(`${name} not Up on ${host.name}; statuses: ${statuses.join(', ')}\nagent:\n${log}\nconsole:\n${consoleLog.split('\n').slice(-15).join('\n')}`, { cause: err });
  }
  return { vmId, name, xml };
}

/** The first event matching `pred` among those received after `mark` (events().length at the time). */
export function eventAfter(engine: EngineClient, mark: number, pred: (e: Obj) => boolean, timeoutMs: number): Promise<Obj> {
  return engine.waitForEvent(pred, timeoutMs, mark);
}

export function eventsAfter(engine: EngineClient, mark: number, pred: (e: Obj) => boolean): Obj[] {
  return engine.events().slice(mark).filter(pred);
}

export function vmDetails(e: Obj, vmId: string): Obj {
  return (e['params'] as Record<string, Obj>)[vmId]!;
}

export const isMigrationStatus = (vmId: string) => (e: Obj): boolean => e['method'] === `|virt|VM_migration_status|${vmId}`;

/** The engine's "Minimal downtime" policy schedule (its default): setDowntime steps, then abort. */
export const MINIMAL_DOWNTIME_SCHEDULE = {
  init: [{ name: 'setDowntime', params: ['100'] }],
  stalling: [
    { limit: 1, action: { name: 'setDowntime', params: ['150'] } },
    { limit: 2, action: { name: 'setDowntime', params: ['200'] } },
    { limit: 3, action: { name: 'setDowntime', params: ['300'] } },
    { limit: 4, action: { name: 'setDowntime', params: ['400'] } },
    { limit: 6, action: { name: 'setDowntime', params: ['500'] } },
    { limit: -1, action: { name: 'abort', params: [] } },
  ],
};

/** VM.migrate's params as MigrateVDSCommand sends them (several booleans as strings). */
export function engineMigrateParams(vmId: string, from: MigrationHost, to: MigrationHost, extra: Obj = {}): Obj {
  return {
    vmId, src: from.address, dst: `${to.address}:54321`, method: 'online', tunneled: 'false', abortOnError: 'true',
    autoConverge: 'true', compressed: 'false', encrypted: false, consoleAddress: to.address, enableGuestEvents: true,
    incomingLimit: 2, outgoingLimit: 2, convergenceSchedule: MINIMAL_DOWNTIME_SCHEDULE,
    ...extra,
  };
}

export interface LatencySample {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(ms: number[]): LatencySample {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { n: s.length, p50: round(at(0.5)), p99: round(at(0.99)), max: round(s[s.length - 1] ?? NaN) };
}

const round = (v: number): number => Math.round(v * 100) / 100;

/** Call `method` back to back until `until()` says stop (at least `min` calls); the round-trip times. */
export async function latencies(engine: EngineClient, method: string, params: Obj, o: { until: () => boolean; min?: number; max?: number }): Promise<number[]> {
  const out: number[] = [];
  while ((out.length < (o.min ?? 20) || !o.until()) && out.length < (o.max ?? 100_000)) {
    const t0 = performance.now();
    const r = await engine.request(method, params, 30_000);
    out.push(performance.now() - t0);
    if (r.error !== undefined) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
  }
  return out;
}

/** virsh (an independent libvirt client) on a host's daemon. */
export function virshOf(host: MigrationHost, binary?: string): Virsh {
  return new Virsh(host.lv.uri('qemu'), binary !== undefined ? { binary } : {});
}

/** Every domain libvirt has on a host, running or only defined (virsh list --all). */
export function libvirtDomains(host: MigrationHost, binary?: string): Promise<string[]> {
  return virshOf(host, binary).listAll();
}
