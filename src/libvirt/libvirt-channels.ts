// The libvirt connection's diagnostics_channel events: metrics, health reporting and debug logging
// subscribe; the ConnectionManager never imports them.
import diagnostics_channel from 'node:diagnostics_channel';
import type { LibvirtConnectionState, Outage } from './connection-manager.js';

/** The manager changed state. `reason` is set on a loss. */
export interface StateEvent { uri: string; state: LibvirtConnectionState; previous: LibvirtConnectionState; reason?: string }
/** A lost connection is back (published after subscribers were told to resync). */
export interface ReconnectEvent { uri: string; conn: number; outage: Outage }

export const libvirtChannels = {
  state: diagnostics_channel.channel('vdsm:libvirt:state'),
  reconnect: diagnostics_channel.channel('vdsm:libvirt:reconnect'),
} as const;
