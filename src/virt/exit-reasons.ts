// Why a VM went Down: vdsm's VmExitReason codes (sent as JSON integers) with their messages, and the
// exit codes ("0" normal, "1" error) that accompany them.

export const VmExitReason = {
  SUCCESS: 0,
  GENERIC_ERROR: 1,
  LOST_QEMU_CONNECTION: 2,
  LIBVIRT_START_FAILED: 3,
  MIGRATION_SUCCEEDED: 4,
  SAVE_STATE_SUCCEEDED: 5,
  ADMIN_SHUTDOWN: 6,
  USER_SHUTDOWN: 7,
  MIGRATION_FAILED: 8,
  LIBVIRT_DOMAIN_MISSING: 9,
  DESTROYED_ON_STARTUP: 10,
  HOST_SHUTDOWN: 11,
  POSTCOPY_MIGRATION_FAILED: 12,
  DESTROYED_ON_REBOOT: 13,
  DESTROYED_ON_PAUSE_TIMEOUT: 14,
} as const;

export type VmExitReasonCode = (typeof VmExitReason)[keyof typeof VmExitReason];

/** vdsm's messages, including its spelling ("succesfully"), since the engine shows them verbatim. */
const MESSAGES: Readonly<Record<VmExitReasonCode, string>> = Object.freeze({
  0: 'VM terminated succesfully',
  1: 'VM terminated with error',
  2: 'Lost connection with qemu process',
  3: 'failed to start libvirt vm',
  4: 'Migration succeeded',
  5: 'SaveState succeeded',
  6: 'Admin shut down from the engine',
  7: 'User shut down from within the guest',
  8: 'VM failed to migrate',
  9: 'Failed to find the libvirt domain',
  10: 'VM destroyed during the startup',
  11: 'VM has been terminated on the host',
  12: 'Migration failed in post-copy',
  13: 'Down as a part of the reboot process',
  14: 'Down because paused for too long',
});

/** vdsm's define.NORMAL / define.ERROR exit codes. */
export const ExitCode = { NORMAL: 0, ERROR: 1 } as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export function exitReasonMessage(code: number): string {
  return (MESSAGES as Record<number, string>)[code] ?? MESSAGES[VmExitReason.GENERIC_ERROR];
}

/** What a Down VM reports: integer codes, as the engine casts them. */
export interface ExitInfo {
  exitCode: ExitCodeValue;
  exitMessage: string;
  exitReason: VmExitReasonCode;
}

export function exitInfo(exitCode: ExitCodeValue, exitReason: VmExitReasonCode, message?: string): ExitInfo {
  return { exitCode, exitReason, exitMessage: message !== undefined && message !== '' ? message : exitReasonMessage(exitReason) };
}
