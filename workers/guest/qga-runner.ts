// One VM's agent queries, run in an Executor worker (workers/ops/guest.ts): the response timeout set
// once, then the capability check, the vCPU count, the PCI devices and one virDomainGetGuestInfo call for
// every due type, translated on the spot so the main thread only merges fields. The first call the agent
// does not answer ends the task: one dead agent costs one command timeout per task, not one per query.
// The calls may be asynchronous (the libvirt ones go through the binding's asynchronous entry, so the
// task parks while the agent is slow); they are made one after another.
import { EMPTY_CAPS, QGA_QUERIES, type QgaCapabilities, type QgaQuery, type QgaTask, type QgaTaskResult } from '../../src/contracts/guest-ops.js';
import { capabilitiesFrom, fakeAppsList, guestCpuCount, pciDevicesFrom, QgaReplyError, translateGuestInfo } from './qga-translate.js';

type MaybeAsync<T> = T | Promise<T>;

/** The libvirt calls the runner needs, for one domain (the op binds the connection and the uuid). */
export interface QgaApi {
  /** virDomainAgentSetResponseTimeout (seconds). */
  setResponseTimeout(seconds: number): MaybeAsync<void>;
  /** virDomainQemuAgentCommand: raw JSON in, raw JSON out. */
  command(json: string, timeoutS: number): MaybeAsync<string>;
  /** virDomainGetGuestInfo as flat typed params. */
  guestInfo(types: number): MaybeAsync<Record<string, unknown>>;
  /** virDomainGetGuestVcpus as flat params ({vcpus, online, offlinable}). */
  vcpus(): MaybeAsync<Record<string, unknown>>;
}

/** libvirt's VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_DEFAULT: restored after the task (other agent users keep libvirt's default). */
export const RESPONSE_TIMEOUT_DEFAULT = -1;

function errorInfo(err: unknown): { message: string; code?: string } {
  const e = err as { message?: unknown; code?: unknown };
  return { message: typeof e?.message === 'string' ? e.message : String(err), ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
}

export async function runQgaTask(task: QgaTask, api: QgaApi, now: () => number = () => performance.now()): Promise<QgaTaskResult> {
  const t0 = now();
  const result: QgaTaskResult = { done: [], fields: {}, replyErrors: [], ms: 0 };
  let caps: QgaCapabilities = task.caps;
  let timeoutSet = false;
  const attempt = async <T>(query: QgaQuery, fn: () => MaybeAsync<T>): Promise<T | undefined> => {
    try {
      if (!timeoutSet) {
        await api.setResponseTimeout(task.commandTimeoutS);
        timeoutSet = true;
      }
      return await fn();
    } catch (err) {
      if (err instanceof QgaReplyError) {
        result.replyErrors.push({ query, message: err.message });
        return undefined;
      }
      result.failure = { query, ...errorInfo(err) };
      return undefined;
    }
  };
  try {
    const queries = new Set(task.queries);
    if (queries.has('info')) {
      const fresh = await attempt('info', async () => capabilitiesFrom(await api.command('{"execute":"guest-info"}', task.commandTimeoutS)));
      caps = fresh ?? EMPTY_CAPS;
      result.caps = caps;
      if (fresh !== undefined && !task.hasApps) result.fields.appsList = fakeAppsList(caps);
      if (result.failure !== undefined || caps.version === null) return result;
    }
    const supported = (q: QgaQuery): boolean => queries.has(q) && caps.commands.includes(QGA_QUERIES[q].command);
    if (supported('vcpus')) {
      const n = await attempt('vcpus', async () => guestCpuCount(await api.vcpus()));
      if (result.failure !== undefined) return result;
      if (n !== undefined) {
        result.fields.guestCPUCount = n;
        result.done.push('vcpus');
      }
    }
    if (supported('devices')) {
      const devices = await attempt('devices', async () => pciDevicesFrom(await api.command('{"execute":"guest-get-devices"}', task.commandTimeoutS)));
      if (result.failure !== undefined) return result;
      if (devices !== undefined) {
        result.fields.pci_devices = devices;
        result.done.push('devices');
      }
    }
    const infoQueries = (Object.keys(QGA_QUERIES) as QgaQuery[]).filter((q) => QGA_QUERIES[q].infoType !== undefined && supported(q));
    if (infoQueries.length > 0) {
      const types = infoQueries.reduce((m, q) => m | QGA_QUERIES[q].infoType!, 0);
      const info = await attempt(infoQueries[0]!, () => api.guestInfo(types));
      if (info !== undefined) {
        const fsMapping = !caps.commands.includes(QGA_QUERIES.disks.command);
        Object.assign(result.fields, translateGuestInfo(info, fsMapping));
        if ('os.id' in info || 'os.kernel-release' in info) {
          result.fields.appsList = fakeAppsList(caps, typeof info['os.id'] === 'string' ? info['os.id'] : '', String(info['os.kernel-release'] ?? ''));
        }
        result.done.push(...infoQueries);
      }
    }
    return result;
  } finally {
    if (timeoutSet) {
      try {
        await api.setResponseTimeout(RESPONSE_TIMEOUT_DEFAULT);
      } catch {
        // The domain went away meanwhile; nothing to restore.
      }
    }
    result.ms = now() - t0;
  }
}
