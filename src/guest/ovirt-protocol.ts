// The host side of the ovirt-guest-agent protocol: the commands vdsm sends (same framing as the guest's
// messages: one JSON object per line, the name in `__name__`), the API versions they need, and the
// negotiation of the common API version from the guest's heartbeats.

/** The highest API version vdsm speaks; `refresh` announces it on every connect. */
export const MAX_API_VERSION = 3;
/** A guest that never reports a version speaks version 0. */
export const IMPLICIT_API_VERSION = 0;
/** `completion` replies (and so waiting for a lifecycle event) need this version. */
export const REPLY_MIN_API_VERSION = 3;

/** Channel names in the domain XML: the current one first (preferred when both exist). */
export const OVIRT_CHANNEL_NAMES = ['ovirt-guest-agent.0', 'com.redhat.rhevm.vdsm'] as const;
export const QEMU_GA_CHANNEL_NAME = 'org.qemu.guest_agent.0';

/** Commands that need more than version 0. */
const REQUIRED_VERSION: Readonly<Record<string, number>> = { 'set-number-of-cpus': 1, 'lifecycle-event': 3 };

export type LifecycleEventType = 'before_hibernation' | 'after_hibernation' | 'before_migration' | 'after_migration';

/** Host -> guest commands with their arguments. */
export type OvirtCommand =
  | { name: 'refresh'; args: { apiVersion: number } }
  | { name: 'api-version'; args: { apiVersion: number } }
  | { name: 'lock-screen'; args?: Record<string, never> }
  | { name: 'login'; args: { username: string; password: string } }
  | { name: 'log-off'; args?: Record<string, never> }
  | { name: 'shutdown'; args: { timeout: number; message: string; reboot: 'True' | 'False' } }
  | { name: 'set-number-of-cpus'; args: { count: number } }
  | { name: 'lifecycle-event'; args: { type: LifecycleEventType; failure?: boolean; reply_id?: string } }
  /** desktopSendHcCommand: a bare command name the guest's desktop integration understands. */
  | { name: 'hc'; command: string };

export function requiredApiVersion(name: string): number {
  return REQUIRED_VERSION[name] ?? IMPLICIT_API_VERSION;
}

/** The wire name of a command (`hc` commands go out under their own name). */
export function commandName(cmd: OvirtCommand): string {
  return cmd.name === 'hc' ? cmd.command : cmd.name;
}

/** One newline-terminated UTF-8 line. JSON escaping keeps any newline inside values off the wire. */
export function encodeCommand(cmd: OvirtCommand): Buffer {
  const name = commandName(cmd);
  const args = cmd.name === 'hc' ? {} : (cmd.args ?? {});
  return Buffer.from(`${JSON.stringify({ ...args, __name__: name })}\n`, 'utf8');
}

/** `login`'s user name: user@domain when a domain is given (vdsm's desktopLogin). */
export function loginName(domain: string, user: string): string {
  return domain !== '' ? `${user}@${domain}` : user;
}

/** `shutdown` for the oVirt agent: `delay` is the grace the user gets; reboot travels as a Python bool string. */
export function shutdownCommand(delayS: number, message: string, reboot: boolean): OvirtCommand {
  return { name: 'shutdown', args: { timeout: delayS, message, reboot: reboot ? 'True' : 'False' } };
}

/**
 * The common version after a heartbeat: min(reported, MAX) for a valid number, 0 for anything else or
 * when the heartbeat has no version at all (an agent downgraded to one without versioning).
 */
export function negotiateApiVersion(reported: unknown): number {
  if (reported === undefined) return IMPLICIT_API_VERSION;
  const n = typeof reported === 'number' ? reported : typeof reported === 'string' && /^\s*-?\d+\s*$/.test(reported) ? Number(reported) : Number.NaN;
  if (!Number.isInteger(n)) return IMPLICIT_API_VERSION;
  return Math.min(Math.max(n, IMPLICIT_API_VERSION), MAX_API_VERSION);
}

/** Whether `cmd` may go to an agent speaking `apiVersion`; the error vdsm raises when not. */
export function checkApiVersion(cmd: OvirtCommand, apiVersion: number): string | undefined {
  const name = commandName(cmd);
  const needed = requiredApiVersion(name);
  return needed > apiVersion ? `Guest Agent command '${name}' requires version '${needed}'. Current version is '${apiVersion}'` : undefined;
}
