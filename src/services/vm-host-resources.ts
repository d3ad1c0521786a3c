// The host-side preparation of a VM that needs root, done through supervdsm: hugepages its domain XML
// asks for, allocated before it starts when [performance] use_dynamic_hugepages is on (and released
// after VM.destroy), and its guest channel sockets made connectable for vdsm once libvirt created them
// (vdsm's prepareVmChannel in GuestAgent). VmManager calls these hooks; failures to prepare a channel
// are logged, as in vdsm, and never fail the VM.
import type { Logger } from 'pino';
import { attr, child, parseXmlTree } from '../libvirt/xml-tree.js';
import { isUnder } from '../supervdsm/path-rules.js';
import type { Supervdsm } from '../supervdsm/privileged.js';
import type { Vm } from './vm-manager.js';
import { errorMessage } from '../errors.js';

export interface VmHostHooks {
  /** Before libvirt starts the domain; a rejection fails the launch. */
  beforeLaunch(vm: Vm): Promise<void>;
  /** The domain runs (started or recovered). */
  started(vm: Vm): void;
  /** After VM.destroy removed it. */
  destroyed(vm: Vm): Promise<void>;
}

export interface HugepagePolicy {
  /** [performance] use_dynamic_hugepages */
  dynamic: boolean;
  /** [performance] use_preallocated_hugepages */
  usePreallocated: boolean;
  /** [performance] reserved_hugepage_count, of reservedSizeKiB pages (undefined: the default size). */
  reservedCount: number;
  reservedSizeKiB: number | undefined;
}

export interface VmHostResourcesOptions {
  supervdsm: Supervdsm;
  log: Logger;
  /** [supervdsm] channel_dirs: the sockets prepareVmChannel may touch. */
  channelDirs: readonly string[];
  /**
   * There is a helper to hand channel sockets over ([supervdsm] enable). Without one (the dev and
   * embedded profiles) vdsmd reads the sockets with its own rights and nothing is prepared.
   */
  prepareChannels?: boolean;
  hugepages: HugepagePolicy;
}

const UNIT_KIB: Record<string, number> = { b: 1 / 1024, k: 1, kib: 1, m: 1024, mib: 1024, g: 1024 ** 2, gib: 1024 ** 2 };

/** What <memoryBacking><hugepages> asks for: a page size (KiB; undefined = the default size). */
export function hugepagesOf(xml: string): { sizeKiB: number | undefined } | undefined {
  const dom = child(parseXmlTree(xml), 'domain');
  const hp = child(child(dom, 'memoryBacking'), 'hugepages');
  if (hp === undefined) return undefined;
  const page = child(hp, 'page');
  const size = attr(page, 'size');
  if (size === undefined) return { sizeKiB: undefined };
  const factor = UNIT_KIB[(attr(page, 'unit') ?? 'KiB').toLowerCase()] ?? 1;
  return { sizeKiB: Math.round(Number(size) * factor) };
}

export class VmHostResources implements VmHostHooks {
  #o: VmHostResourcesOptions;
  /** Pages this agent allocated per VM, released at VM.destroy. */
  #allocated = new Map<string, { sizeKiB: number; count: number }>();

  constructor(opts: VmHostResourcesOptions) {
    this.#o = opts;
  }

  async beforeLaunch(vm: Vm): Promise<void> {
    const hp = this.#o.hugepages;
    if (!hp.dynamic) return;
    const wanted = hugepagesOf(vm.xml);
    if (wanted === undefined) return;
    const sizeKiB = wanted.sizeKiB;
    const r = await this.#o.supervdsm.call('hugepagesPrepare', {
      memoryKiB: vm.domain.memoryKiB, usePreallocated: hp.usePreallocated, keepFree: hp.reservedCount,
      ...(hp.reservedSizeKiB !== undefined ? { keepFreeSizeKiB: hp.reservedSizeKiB } : {}),
      ...(sizeKiB !== undefined ? { sizeKiB } : {}),
    });
    if (r.allocated > 0) this.#allocated.set(vm.vmId, { sizeKiB: r.sizeKiB, count: r.allocated });
    this.#o.log.info({ vmId: vm.vmId, sizeKiB: r.sizeKiB, needed: r.needed, allocated: r.allocated, total: r.total }, 'hugepages for the VM');
  }

  started(vm: Vm): void {
    if (this.#o.prepareChannels === false) return;
    for (const ch of vm.domain.channels) {
      const path = ch.path;
      if (ch.type !== 'unix' || path === undefined || !this.#o.channelDirs.some((d) => isUnder(path, d) && path !== d)) continue;
      this.#o.supervdsm.call('prepareVmChannel', { socketFile: path }).then(
        (r) => this.#o.log.info({ vmId: vm.vmId, path, after: r.after }, 'guest channel prepared'),
        (err: unknown) => {
          const e = err as Error & { code?: string; context?: Record<string, unknown> };
          // A socket that is not there (a test-driver VM, a QEMU that has not made it) is no failure of ours.
          if (e.code === 'ERR_SVDSM_OS_ERROR' && e.context?.['errno'] === 'ENOENT') this.#o.log.warn({ vmId: vm.vmId, path }, 'guest channel socket is not there; not prepared');
          else this.#o.log.error({ vmId: vm.vmId, path, code: e.code, err: e.message }, 'Failed to prepare vmchannel');
        },
      );
    }
  }

  async destroyed(vm: Vm): Promise<void> {
    const a = this.#allocated.get(vm.vmId);
    if (a === undefined) return;
    this.#allocated.delete(vm.vmId);
    try {
      const r = await this.#o.supervdsm.call('hugepagesAlloc', { count: -a.count, sizeKiB: a.sizeKiB });
      this.#o.log.info({ vmId: vm.vmId, sizeKiB: a.sizeKiB, released: -r.allocated, total: r.total }, 'hugepages of the VM released');
    } catch (err) {
      this.#o.log.error({ vmId: vm.vmId, err: errorMessage(err), pages: a }, 'could not release the hugepages of the VM');
    }
  }

  state(): Record<string, unknown> {
    return { hugepagesHeld: Object.fromEntries(this.#allocated) };
  }
}
