// diagnostics_channel events of vdsmd's supervdsm client. Reporters (Prometheus here, statsd and
// others from the observability work) subscribe; the client never imports them.
import diagnostics_channel from 'node:diagnostics_channel';

/** One call ended. `code` is the error code when ok is false (ERR_SVDSM_UNAVAILABLE when it never left). */
export interface SupervdsmCallEvent {
  method: string;
  ok: boolean;
  code?: string;
  durationMs: number;
}

/** The client's connection state changed. */
export interface SupervdsmStateEvent {
  state: 'connecting' | 'connected' | 'disconnected' | 'closed';
  previous: string;
  path: string;
  /** Why it is not connected, when it is not. */
  error?: string;
  /** The helper's pid, once connected. */
  serverPid?: number;
}

export const supervdsmChannels = {
  call: diagnostics_channel.channel('vdsm:supervdsm:call'),
  state: diagnostics_channel.channel('vdsm:supervdsm:state'),
} as const;
