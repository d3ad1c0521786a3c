// The VM status strings vdsm reports (and the engine matches, spaces stripped, case-insensitive).

export const VmStatus = {
  DOWN: 'Down',
  UP: 'Up',
  POWERING_UP: 'Powering up',
  POWERING_DOWN: 'Powering down',
  PAUSED: 'Paused',
  WAIT_FOR_LAUNCH: 'WaitForLaunch',
  MIGRATION_SOURCE: 'Migration Source',
  MIGRATION_DESTINATION: 'Migration Destination',
  SAVING_STATE: 'Saving State',
  RESTORING_STATE: 'Restoring state',
  REBOOT_IN_PROGRESS: 'RebootInProgress',
} as const;

export type VmStatusName = (typeof VmStatus)[keyof typeof VmStatus];

export const ALL_VM_STATUSES: readonly VmStatusName[] = Object.freeze(Object.values(VmStatus));

export function isVmStatus(value: unknown): value is VmStatusName {
  return typeof value === 'string' && (ALL_VM_STATUSES as readonly string[]).includes(value);
}

/** Statuses in which a qemu process exists and the domain answers monitor commands. */
export const RUNNING_STATUSES: ReadonlySet<VmStatusName> = new Set<VmStatusName>([
  VmStatus.UP, VmStatus.POWERING_UP, VmStatus.POWERING_DOWN, VmStatus.PAUSED, VmStatus.REBOOT_IN_PROGRESS,
  VmStatus.MIGRATION_SOURCE, VmStatus.SAVING_STATE,
]);
