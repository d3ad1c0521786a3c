// What libvirt's view of a domain (virDomainState and its reason) means for a VM's status: the status a
// running domain is adopted with at start-up, the exit info of a VM found stopped, and how a VM is
// brought back in line with libvirt after events were missed (a libvirtd restart). Pure functions.
import type { DomainListEntry } from '../contracts/libvirt-types.js';
import { DomainState } from '../libvirt/constants.js';
import { ExitCode, exitInfo, VmExitReason, type ExitInfo } from './exit-reasons.js';
import { LifecycleEvent, VmStatus, type VmStateMachine, type VmStatusName } from './vm-state.js';

/** virDomainShutoffReason */
const ShutoffReason = { UNKNOWN: 0, SHUTDOWN: 1, DESTROYED: 2, CRASHED: 3, MIGRATED: 4, SAVED: 5, FAILED: 6, FROM_SNAPSHOT: 7, DAEMON: 8 } as const;

/** The status a domain in `state` has for the engine; undefined when it does not run. */
export function statusFromDomainState(state: number | undefined): VmStatusName | undefined {
  switch (state) {
    case DomainState.RUNNING:
    case DomainState.BLOCKED:
      return VmStatus.UP;
    case DomainState.PAUSED:
    case DomainState.PMSUSPENDED:
      return VmStatus.PAUSED;
    case DomainState.SHUTDOWN:
      return VmStatus.POWERING_DOWN;
    default:
      return undefined; // shut off, crashed, no state: not running
  }
}

/** Exit info for a VM of ours found shut off (or gone) while we were not watching; `why` says when. */
export function exitInfoForStopped(entry: DomainListEntry | undefined, why = 'stopped while vdsm-node was not running'): ExitInfo {
  if (entry === undefined) return exitInfo(ExitCode.ERROR, VmExitReason.LIBVIRT_DOMAIN_MISSING, `VM ${why}; libvirt no longer knows the domain`);
  if (entry.state === DomainState.CRASHED) return exitInfo(ExitCode.ERROR, VmExitReason.GENERIC_ERROR, `VM crashed (${why})`);
  switch (entry.reason) {
    case ShutoffReason.SHUTDOWN:
      return exitInfo(ExitCode.NORMAL, VmExitReason.USER_SHUTDOWN, `User shut down the VM (${why})`);
    case ShutoffReason.DESTROYED:
      return exitInfo(ExitCode.NORMAL, VmExitReason.ADMIN_SHUTDOWN, `VM destroyed (${why})`);
    case ShutoffReason.CRASHED:
    case ShutoffReason.FAILED:
      return exitInfo(ExitCode.ERROR, VmExitReason.LOST_QEMU_CONNECTION, `VM failed (${why})`);
    case ShutoffReason.MIGRATED:
      return exitInfo(ExitCode.NORMAL, VmExitReason.MIGRATION_SUCCEEDED, `VM migrated away (${why})`);
    case ShutoffReason.SAVED:
      return exitInfo(ExitCode.NORMAL, VmExitReason.SAVE_STATE_SUCCEEDED, `VM saved (${why})`);
    default:
      return exitInfo(ExitCode.ERROR, VmExitReason.GENERIC_ERROR, `VM ${why}`);
  }
}

/** Why a status moved during a resync (the state machine's `cause`, also in logs). */
export const RESYNC_CAUSE = 'libvirt:resync';

/**
 * Bring a VM's status in line with what libvirt reports now, as the events missed while the connection
 * was down would have: paused or resumed, shutting down, or Down with exit info when the domain stopped
 * or vanished. A VM still being launched, or already Down, is left alone. True when the status moved
 * (the state machine then tells its listener, so the engine gets the event).
 */
export function reconcileWithDomain(vm: VmStateMachine, entry: DomainListEntry | undefined): boolean {
  const current = vm.status;
  if (current === VmStatus.DOWN || current === VmStatus.WAIT_FOR_LAUNCH) return false;
  const actual = statusFromDomainState(entry?.state);
  switch (actual) {
    case undefined:
      return vm.markDown(exitInfoForStopped(entry, 'stopped while the libvirt connection was down'), RESYNC_CAUSE);
    case VmStatus.PAUSED:
      return current === VmStatus.PAUSED ? false : vm.paused('NOERR', RESYNC_CAUSE);
    case VmStatus.UP:
      return current === VmStatus.PAUSED ? vm.resumed(RESYNC_CAUSE) : false;
    case VmStatus.POWERING_DOWN:
      return vm.onLifecycleEvent(LifecycleEvent.SHUTDOWN, 0);
    default:
      return false;
  }
}
