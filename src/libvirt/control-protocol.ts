// Messages between the ConnectionManager (main thread) and the libvirt control thread
// (control-worker.ts). Types only.
import type { BindingEvent, ConnectionInfo, OpenOptions } from '../contracts/libvirt-types.js';

export type ControlCommand =
  | { cmd: 'open'; uri: string; options: OpenOptions }
  | { cmd: 'close'; conn: number }
  | { cmd: 'subscribe'; conn: number; eventIds: readonly number[] }
  | { cmd: 'unsubscribe'; sub: number }
  | { cmd: 'info'; conn: number }
  | { cmd: 'ping'; conn: number };

/** Result type of each command. */
export interface ControlResults {
  open: number;
  close: boolean;
  subscribe: number;
  unsubscribe: boolean;
  info: ConnectionInfo;
  ping: number;
}

export type ControlRequest = ControlCommand & { id: number };

export interface ControlWireError {
  message: string;
  code?: string;
  context?: Record<string, unknown>;
}

export type ControlMessage =
  | { type: 'ready'; threadId: number; tid: number }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: ControlWireError }
  | { type: 'event'; event: BindingEvent };
