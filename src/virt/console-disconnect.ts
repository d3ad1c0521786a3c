// What happens in the guest when its console viewer goes away (vdsm's consoleDisconnectAction): per VM
// the action the engine chose with its last console ticket (LOCK_SCREEN unless it said otherwise) and
// the console client libvirt's graphics events reported. A disconnect of that client starts a short
// grace (vdsm: 2 s, because spice-gtk connects insecurely first and then reconnects); if no client has
// connected again by then and the VM is still there, the action runs: lock the screen or log the user
// off through the oVirt guest agent, or shut down / reboot the guest through VM.shutdown's sequence.
// Clock-free: timers are injected; the actions are the VM manager's.

/** The engine's console disconnect actions (vdsm's ConsoleDisconnectAction). */
export const DISCONNECT_ACTIONS = ['NONE', 'LOCK_SCREEN', 'LOGOUT', 'REBOOT', 'SHUTDOWN'] as const;
export type DisconnectAction = (typeof DISCONNECT_ACTIONS)[number];

/** What a VM does when no ticket named an action (vdsm's default, also after VM.setTicket). */
export const DEFAULT_DISCONNECT_ACTION: DisconnectAction = 'LOCK_SCREEN';

/** libvirt's virDomainEventGraphicsPhase. */
export const GraphicsPhase = { CONNECT: 0, INITIALIZE: 1, DISCONNECT: 2 } as const;

/** The grace after a disconnect before the action runs (vdsm's _DESKTOP_LOCK_TIMEOUT). */
export const DISCONNECT_GRACE_MS = 2_000;

export interface ConsoleTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** How the actions are carried out (the VM manager: guest agents, VM.shutdown). */
export interface ConsoleActions {
  lockScreen(vmId: string): Promise<unknown>;
  logoff(vmId: string): Promise<unknown>;
  /** VM.shutdown (or reboot) with the agent's delays, forced at the end as vdsm does. */
  powerDown(vmId: string, reboot: boolean): Promise<unknown>;
  /** The VM is down, gone or being destroyed: no action. */
  isGone(vmId: string): boolean;
}

export interface ConsoleWatchOptions {
  actions: ConsoleActions;
  timers: ConsoleTimers;
  log: { info(fields: Record<string, unknown>, msg: string): void; warn(fields: Record<string, unknown>, msg: string): void; debug(fields: Record<string, unknown>, msg: string): void };
  graceMs?: number;
  /** The VM's console client changed (VM stats' clientIp). */
  clientChanged?: (vmId: string) => void;
}

interface ConsoleState {
  action: string;
  /** The connected console client ('' when none), as libvirt reported it. */
  clientIp: string;
  clientPort: string;
  timer: unknown;
}

export function isDisconnectAction(v: string): v is DisconnectAction {
  return (DISCONNECT_ACTIONS as readonly string[]).includes(v);
}

export class ConsoleWatch {
  readonly #o: ConsoleWatchOptions;
  readonly #vms = new Map<string, ConsoleState>();

  constructor(opts: ConsoleWatchOptions) {
    this.#o = opts;
  }

  #state(vmId: string): ConsoleState {
    let s = this.#vms.get(vmId);
    if (s === undefined) {
      s = { action: DEFAULT_DISCONNECT_ACTION, clientIp: '', clientPort: '', timer: undefined };
      this.#vms.set(vmId, s);
    }
    return s;
  }

  /** A console ticket was set: its disconnect action (LOCK_SCREEN when it named none) applies from now on. */
  setAction(vmId: string, action: string | undefined): void {
    const a = action === undefined || action === '' ? DEFAULT_DISCONNECT_ACTION : action;
    // vdsm keeps any string and acts on none it does not know; said once here.
    if (!isDisconnectAction(a)) this.#o.log.warn({ vmId, disconnectAction: a }, 'unknown console disconnect action: nothing will be done on disconnect');
    this.#state(vmId).action = a;
  }

  action(vmId: string): string {
    return this.#vms.get(vmId)?.action ?? DEFAULT_DISCONNECT_ACTION;
  }

  /** The console client connected now ('' when none): VM stats' clientIp. */
  clientIp(vmId: string): string {
    return this.#vms.get(vmId)?.clientIp ?? '';
  }

  /** libvirt's graphics event: INITIALIZE (the client is authenticated) records it, DISCONNECT of that client starts the grace. */
  onGraphics(vmId: string, phase: number, remote: { node: string | null; service: string | null } | null): void {
    const ip = remote?.node ?? '';
    const port = remote?.service ?? '';
    if (phase === GraphicsPhase.INITIALIZE) {
      if (ip === '') return;
      const s = this.#state(vmId);
      const changed = s.clientIp !== ip;
      s.clientIp = ip;
      s.clientPort = port;
      if (changed) this.#o.clientChanged?.(vmId);
      return;
    }
    if (phase !== GraphicsPhase.DISCONNECT) return;
    const s = this.#vms.get(vmId);
    // Only the recorded client's disconnect counts (a viewer that never authenticated is not one).
    if (s === undefined || s.clientIp !== ip || (s.clientPort !== '' && s.clientPort !== port)) {
      this.#o.log.debug({ vmId, clientIp: ip, clientPort: port }, 'console disconnect of another client ignored');
      return;
    }
    s.clientIp = '';
    this.#o.clientChanged?.(vmId);
    if (s.timer !== undefined) this.#o.timers.clearTimeout(s.timer);
    s.timer = this.#o.timers.setTimeout(() => {
      s.timer = undefined;
      this.#afterGrace(vmId, s);
    }, this.#o.graceMs ?? DISCONNECT_GRACE_MS);
  }

  #afterGrace(vmId: string, s: ConsoleState): void {
    if (s.clientIp !== '' || this.#o.actions.isGone(vmId)) return;
    const a = this.#o.actions;
    let run: Promise<unknown> | undefined;
    switch (s.action) {
      case 'LOCK_SCREEN': run = a.lockScreen(vmId); break;
      case 'LOGOUT': run = a.logoff(vmId); break;
      case 'REBOOT': run = a.powerDown(vmId, true); break;
      case 'SHUTDOWN': run = a.powerDown(vmId, false); break;
      default: return;
    }
    this.#o.log.info({ vmId, disconnectAction: s.action }, 'console disconnected: acting on it');
    run.catch((err: unknown) => this.#o.log.warn({ vmId, disconnectAction: s.action, err: err instanceof Error ? err.message : String(err) }, 'console disconnect action failed'));
  }

  /** The VM is down or gone: its pending action is dropped. */
  forget(vmId: string): void {
    const s = this.#vms.get(vmId);
    if (s?.timer !== undefined) this.#o.timers.clearTimeout(s.timer);
    this.#vms.delete(vmId);
  }

  /** Every pending action dropped (the VM manager closes). */
  close(): void {
    for (const vmId of [...this.#vms.keys()]) this.forget(vmId);
  }

  describe(): Record<string, unknown> {
    return Object.fromEntries([...this.#vms].map(([id, s]) => [id, { action: s.action, clientIp: s.clientIp, pending: s.timer !== undefined }]));
  }
}
