// Messages between the main thread and the vmchannels thread (channel-worker.ts). Plain data only.
import type { OvirtCommand } from './ovirt-protocol.js';
import type { OvirtInfoKey } from './ovirt-messages.js';
import type { ProblemKind } from './ovirt-session.js';
import type { ChannelDescription, ReadBudget } from './channel-listener.js';

export interface ChannelWorkerConfig {
  /** [vars] guest_agent_timeout, ms. */
  timeoutMs: number;
  /** How often changes are posted to the main thread. */
  flushMs: number;
  /** Bytes of field values per post (soft: one field always goes). */
  flushBudgetBytes: number;
  maxMessageBytes: number;
  readBudget: ReadBudget;
  tickMs: number;
}

export type ToChannelWorker =
  | { type: 'add'; vmId: string; path: string; apiVersion?: number }
  | { type: 'remove'; vmId: string }
  | { type: 'send'; reqId: number; vmId: string; cmd: OvirtCommand }
  | { type: 'reboot'; vmId: string }
  | { type: 'describe'; reqId: number }
  | { type: 'stop' };

export interface ProblemCount {
  count: number;
  /** The first occurrence since the last post. */
  detail: string;
}

/** What changed on one channel since the last post. */
export interface ChannelUpdate {
  vmId: string;
  /** Changed info values, each as JSON text (parsed on the main thread when first read). */
  fields?: Partial<Record<OvirtInfoKey, string>>;
  /** Monotonic ms of the last parsed message. */
  lastMessageAt?: number;
  connected?: boolean;
  /** Why the channel disconnected, or the last connect failure. */
  reason?: string;
  connectFailures?: number;
  guestUp?: boolean;
  apiVersion?: number;
  completions?: string[];
  problems?: Partial<Record<ProblemKind, ProblemCount>>;
  notes?: string[];
  /** Times the read budget paused this channel. */
  throttled?: number;
}

export interface ChannelWorkerState {
  channels: (ChannelDescription & { apiVersion: number; messages: number; bytes: number; buffered: number })[];
  pendingUpdates: number;
  posts: number;
  heapUsed: number;
}

export type SendReply = { ok: true } | { ok: false; reason: 'unsupported' | 'not-connected' | 'no-channel' | 'not-draining'; message: string };

export type FromChannelWorker =
  | { type: 'ready'; tid: number }
  | { type: 'updates'; items: ChannelUpdate[] }
  | { type: 'reply'; reqId: number; value: SendReply | ChannelWorkerState };
