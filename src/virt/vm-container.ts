// The VMs this host knows about, keyed by UUID (lower-case), including Down VMs until VM.destroy removes
// them; lists them in the short form Host.getVMList returns.
import { Errors, vdsmError } from '../errors.js';
import { eventTime, type Clock } from '../runtime/clock.js';
import { VmStatus, type VmStateMachine, type VmStatusName } from './vm-state.js';

/** The least a container entry must have; the coordinator's VM object adds what it needs. */
export interface VmRecord {
  readonly vmId: string;
  readonly state: VmStateMachine;
}

/** Host.getVMList / getVMFullList element: statusTime is a numeric string. */
export interface VmShortStatus {
  vmId: string;
  status: VmStatusName;
  statusTime: string;
}

export interface VmCounts {
  vmCount: number;
  vmActive: number;
  vmMigrating: number;
  incomingVmMigrations: number;
  outgoingVmMigrations: number;
}

export function normalizeVmId(vmId: string): string {
  return vmId.trim().toLowerCase();
}

export class VmContainer<T extends VmRecord = VmRecord> {
  readonly #vms = new Map<string, T>();
  readonly #clock: Clock;
  #version = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Throws VM_EXISTS (code 4) when the id is taken: VM.create on a known VM. */
  add(vm: T): T {
    const id = normalizeVmId(vm.vmId);
    if (this.#vms.has(id)) throw vdsmError(Errors.VM_EXISTS);
    this.#vms.set(id, vm);
    this.#version++;
    return vm;
  }

  get(vmId: string): T | undefined {
    return this.#vms.get(normalizeVmId(vmId));
  }

  /** Throws NO_VM (code 1) "Virtual machine does not exist: {'vmId': '<id>'}". */
  require(vmId: string): T {
    const vm = this.get(vmId);
    if (vm === undefined) throw vdsmError(Errors.NO_VM, { vmId });
    return vm;
  }

  has(vmId: string): boolean {
    return this.#vms.has(normalizeVmId(vmId));
  }

  /** Removes the entry and stops its timers; returns it, or undefined when unknown. */
  remove(vmId: string): T | undefined {
    const id = normalizeVmId(vmId);
    const vm = this.#vms.get(id);
    if (vm === undefined) return undefined;
    this.#vms.delete(id);
    this.#version++;
    vm.state.close();
    return vm;
  }

  /** Moves on every add and remove (what a cache of the membership compares). */
  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#vms.size;
  }

  values(): T[] {
    return [...this.#vms.values()];
  }

  /** A consistent listing: optionally filtered by ids (unknown ids skipped), in insertion order. */
  list(vmIds?: readonly string[]): T[] {
    if (vmIds === undefined || vmIds.length === 0) return this.values();
    const out: T[] = [];
    for (const id of vmIds) {
      const vm = this.get(id);
      if (vm !== undefined) out.push(vm);
    }
    return out;
  }

  /** Host.getVMList: `{vmId, status, statusTime}` per VM, statusTime taken now as vdsm does. */
  shortList(vmIds?: readonly string[]): VmShortStatus[] {
    const now = String(eventTime(this.#clock));
    return this.list(vmIds).map((vm) => ({ vmId: vm.vmId, status: vm.state.status, statusTime: now }));
  }

  /** Host.getStats VM counters: migrating = incoming + outgoing. */
  counts(): VmCounts {
    let vmActive = 0;
    let incoming = 0;
    let outgoing = 0;
    for (const vm of this.#vms.values()) {
      const s = vm.state.status;
      if (s === VmStatus.UP) vmActive++;
      else if (s === VmStatus.MIGRATION_DESTINATION) incoming++;
      else if (s === VmStatus.MIGRATION_SOURCE) outgoing++;
    }
    return { vmCount: this.#vms.size, vmActive, vmMigrating: incoming + outgoing, incomingVmMigrations: incoming, outgoingVmMigrations: outgoing };
  }

  /** Stop every VM's timers (shutdown). Idempotent. */
  close(): void {
    for (const vm of this.#vms.values()) vm.state.close();
  }

  describe(): { size: number; byStatus: Record<string, number> } {
    const byStatus: Record<string, number> = {};
    for (const vm of this.#vms.values()) byStatus[vm.state.status] = (byStatus[vm.state.status] ?? 0) + 1;
    return { size: this.#vms.size, byStatus };
  }
}
