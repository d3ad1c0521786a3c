// The main-thread way to call libvirt: typed operations sent through the Dispatcher to
// workers/ops/libvirt.ts, with the current connection id filled in (guest-agent operations get the
// agent connection), failures reported to the ConnectionManager and mapped onto the error catalogue.
import type { DispatchOptions, Dispatcher } from '../contracts/dispatcher.js';
import type { OpArgs, OpResult } from '../contracts/operations.js';
import { mapLibvirtError } from './errors.js';
import { AGENT_OPS, type LibvirtOpArgs, type LibvirtOpName } from '../contracts/libvirt-ops.js';

/** What the client needs from the ConnectionManager. */
export interface ConnectionSource {
  conn(): number;
  agentConn(): number;
  reportError(err: unknown): void;
}

export interface LibvirtClientOptions {
  dispatcher: Dispatcher;
  connections: ConnectionSource;
  /** Dispatch options per operation (e.g. bulk stats: 7500 ms and discard, like vdsm's sampler). */
  defaults?: Partial<Record<LibvirtOpName, DispatchOptions>>;
}

/** Arguments of an operation without `conn`, which the client supplies. */
export type CallArgs<K extends LibvirtOpName> = LibvirtOpArgs<K> extends infer A ? (A extends { conn: number } ? Omit<A, 'conn'> : A) : never;

export class LibvirtClient {
  #dispatcher: Dispatcher;
  #connections: ConnectionSource;
  #defaults: Partial<Record<LibvirtOpName, DispatchOptions>>;

  constructor(opts: LibvirtClientOptions) {
    this.#dispatcher = opts.dispatcher;
    this.#connections = opts.connections;
    this.#defaults = opts.defaults ?? {};
  }

  /**
   * Run `op` on the current connection. Rejects with LIBVIRT_CONNECTION when disconnected, NO_VM for
   * "domain not found" on a call about a VM, ERR_LIBVIRT_<NAME> for other libvirt failures.
   */
  async call<K extends LibvirtOpName>(op: K, args: CallArgs<K>, opts?: DispatchOptions): Promise<OpResult<K>> {
    const conn = AGENT_OPS.has(op) ? this.#connections.agentConn() : this.#connections.conn();
    const full = { ...(args as object), conn };
    try {
      return await this.#dispatcher.dispatch(op, full as OpArgs<K>, opts ?? this.#defaults[op]);
    } catch (err) {
      this.#connections.reportError(err);
      const uuid = (args as { uuid?: unknown }).uuid;
      throw mapLibvirtError(err, typeof uuid === 'string' ? { vmId: uuid } : {});
    }
  }
}
