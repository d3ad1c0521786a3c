// The hook points of a VM's life, the agent's own and getCapabilities' JSON pair, with vdsm's rule for
// each: whether a failed script fails the operation (vdsm raises HookError, our error 78 hookError) or is
// only logged. The services call these at the moment vdsm does (docs/hooks.md lists where); the scripts
// run through ./hook-runner.ts.
//
// vdsm's rules (lib/vdsm/common/hooks.py): before_vm_migrate_source, before_vm_migrate_destination,
// before_vm_hibernate, before_vm_dehibernate, before_vm_pause, before_vm_cont, before_get_caps and the
// before_nic/disk_hotplug/hotunplug points fail their operation on any failed script (exit 1 too: the remaining scripts still run, then the operation
// fails). before_vm_start hands the edited XML on and then fails the start if any script failed. Every
// after_* point, before_vm_destroy, before_vm_set_ticket and the agent's own before_vdsm_start /
// after_vdsm_stop only log.
import { Errors, vdsmError } from '../errors.js';
import type { Logger } from '../observability/logging.js';
import type { DomainInfo } from '../virt/domain-xml.js';
import type { HookRunner, HookRunResult } from './hook-runner.js';

/** Points whose failure fails the operation. */
const RAISING = new Set([
  'before_vm_start',
  'before_vm_migrate_source',
  'before_vm_migrate_destination',
  'before_vm_hibernate',
  'before_vm_dehibernate',
  'before_vm_pause',
  'before_vm_cont',
  // Device hot-plug (vdsm's hooks.py): a failed script refuses the plug or unplug.
  'before_nic_hotplug',
  'before_nic_hotunplug',
  'before_disk_hotplug',
  'before_disk_hotunplug',
]);

export const VM_HOOK_POINTS = [
  'before_vm_start', 'after_vm_start',
  'before_vm_destroy', 'after_vm_destroy',
  'before_vm_hibernate', 'after_vm_hibernate',
  'before_vm_dehibernate', 'after_vm_dehibernate',
  'before_vm_migrate_source', 'after_vm_migrate_source',
  'before_vm_migrate_destination', 'after_vm_migrate_destination',
  'before_vm_pause', 'after_vm_pause',
  'before_vm_cont', 'after_vm_cont',
  'before_vm_set_ticket', 'after_vm_set_ticket',
  // The device points get the device's XML, not the domain's (vdsm's nicxml / drivexml).
  'before_nic_hotplug', 'after_nic_hotplug', 'after_nic_hotplug_fail',
  'before_nic_hotunplug', 'after_nic_hotunplug', 'after_nic_hotunplug_fail',
  'before_disk_hotplug', 'after_disk_hotplug',
  'before_disk_hotunplug', 'after_disk_hotunplug',
] as const;

export type VmHookPoint = (typeof VM_HOOK_POINTS)[number];

/** What a VM hook is given: the VM's id, its domain XML and (for the custom properties) its parsed domain. */
export interface VmHookSubject {
  vmId: string;
  xml: string;
  domain?: Pick<DomainInfo, 'ovirt'>;
}

/** A name the environment can carry (the engine's custom property names are identifiers). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The VM's custom properties (`<ovirt-vm:custom>` in the domain metadata), as environment strings.
 * A name that is no identifier, or a value with a NUL byte (which no environment can carry), is left
 * out (vdsm leaves out what it cannot encode).
 */
export function customPropertiesEnv(domain: Pick<DomainInfo, 'ovirt'> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(domain?.ovirt?.custom ?? {})) {
    const text = String(v);
    if (ENV_NAME.test(k) && !text.includes('\0')) env[k] = text;
  }
  return env;
}

/** The hook points, for the services. Every method resolves once the point's scripts have run. */
export class VmHooks {
  readonly #runner: HookRunner;
  readonly #log: Logger;

  constructor(runner: HookRunner, log: Logger) {
    this.#runner = runner;
    this.#log = log;
  }

  /**
   * Run a VM hook point and return the domain XML the scripts left (before_vm_start's is what libvirt
   * starts). For a raising point with a failed script: rejects with error 78 (hookError) carrying the
   * last failure; any other point's failures are logged and the XML is returned.
   * `params` are the call's extra variables (vdsm's FROM_SNAPSHOT for before_vm_dehibernate).
   */
  async run(point: VmHookPoint, vm: VmHookSubject, params: Record<string, string> = {}): Promise<string> {
    // vdsm hands before_vm_destroy no XML (an empty file).
    const xml = point === 'before_vm_destroy' ? undefined : vm.xml;
    let result: HookRunResult;
    try {
      result = await this.#runner.run({ point, vmId: vm.vmId, env: { ...params, ...customPropertiesEnv(vm.domain) }, data: { kind: 'domxml', xml } });
    } catch (err) {
      // The data file could not be written or read (a full /tmp): the scripts' work is unknown.
      this.#log.error({ hook: point, vmId: vm.vmId, err }, 'hook point could not run');
      if (RAISING.has(point)) throw vdsmError(Errors.HOOK, `${Errors.HOOK.message}: ${point}: ${String(err)}`);
      return vm.xml;
    }
    return this.#outcome(point, result, vm.xml, vm.vmId);
  }

  /** /health: the runner's running scripts and totals. */
  health(): Record<string, unknown> {
    return this.#runner.describe();
  }

  /** The agent's own points (before_vdsm_start, after_vdsm_stop): no data, failures logged. */
  async agent(point: 'before_vdsm_start' | 'after_vdsm_stop'): Promise<void> {
    try {
      const result = await this.#runner.run({ point });
      if (result.errors.length > 0) this.#log.warn({ hook: point, errors: result.errors }, 'hook scripts failed (ignored, as vdsm)');
    } catch (err) {
      this.#log.error({ hook: point, err }, 'hook point could not run');
    }
  }

  /**
   * A JSON hook point (`_hook_json`): before_get_caps gets `{}` and a failed script fails the call (78);
   * after_get_caps gets the capabilities and hands on what the scripts left, failures logged (as vdsm,
   * the document is taken even when a script failed after writing it).
   */
  async json<T>(point: 'before_get_caps' | 'after_get_caps', value: T): Promise<T> {
    const raising = point === 'before_get_caps';
    let result: HookRunResult;
    try {
      result = await this.#runner.run({ point, data: { kind: 'json', value } });
    } catch (err) {
      this.#log.error({ hook: point, err }, 'hook point could not run');
      if (raising) throw vdsmError(Errors.HOOK, `${Errors.HOOK.message}: ${point}: ${String(err)}`);
      return value;
    }
    if (result.errors.length > 0) {
      const last = result.errors[result.errors.length - 1]!;
      if (raising) {
        this.#log.error({ hook: point, errors: result.errors }, 'hook scripts failed: the operation fails');
        throw vdsmError(Errors.HOOK, `${Errors.HOOK.message}: ${point}: ${last}`);
      }
      this.#log.warn({ hook: point, errors: result.errors }, 'hook scripts failed (ignored, as vdsm)');
    }
    return (result.json ?? value) as T;
  }

  #outcome(point: VmHookPoint, result: HookRunResult, original: string, vmId: string): string {
    const xml = point === 'before_vm_destroy' ? original : (result.xml ?? original);
    if (result.errors.length === 0) return xml;
    const last = result.errors[result.errors.length - 1]!;
    if (RAISING.has(point)) {
      this.#log.error({ hook: point, vmId, errors: result.errors }, 'hook scripts failed: the operation fails');
      throw vdsmError(Errors.HOOK, `${Errors.HOOK.message}: ${point}: ${last}`);
    }
    this.#log.warn({ hook: point, vmId, errors: result.errors }, 'hook scripts failed (ignored, as vdsm)');
    return xml;
  }
}
