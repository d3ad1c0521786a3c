// The main thread's one way to call libvirt: typed operations (src/contracts/) sent through an
// Executor to the workers, with the current connection id filled in (guest-agent operations get the
// agent connection). Every failure is reported to the ConnectionManager (which pings libvirt when the
// error smells of a broken connection) and mapped onto the error catalogue; and the client carries the
// manager's domain events and reconnect notices to the services, so they need nothing else of libvirt.
import type { DispatchOptions, Dispatcher } from '../contracts/dispatcher.js';
import type { DomainEvent } from '../contracts/libvirt-types.js';
import { AGENT_OPS } from '../contracts/libvirt-ops.js';
import type { OpArgs, OpName, OpResult } from '../contracts/operations.js';
import { mapLibvirtError } from './errors.js';

/** Operations on the guest-agent connection: libvirt's agent calls, the QEMU guest agent poller's batches, the guest time sync. */
const ON_AGENT_CONN: ReadonlySet<OpName> = new Set<OpName>([...AGENT_OPS, 'guest.qgaPoll', 'guest.setTime', 'test.qgaPoll']);

/** What the client needs from the ConnectionManager. */
export interface ConnectionSource {
  conn(): number;
  agentConn(): number;
  reportError(err: unknown): void;
  onEvent?(cb: (e: DomainEvent) => void): () => void;
  onReconnect?(cb: (info: { conn: number }) => void): () => void;
}

/** Operations that run on a libvirt connection (their arguments carry `conn`). */
export type ConnOpName = { [K in OpName]: OpArgs<K> extends { conn: number } ? K : never }[OpName];

/** Arguments of an operation without `conn`, which the client supplies. */
export type CallArgs<K extends ConnOpName> = Omit<OpArgs<K>, 'conn'>;

export interface LibvirtClientOptions {
  dispatcher: Dispatcher;
  connections: ConnectionSource;
  /** Dispatch options of every call (e.g. a verb's 60 s timeout, discard the worker on timeout). */
  defaults?: DispatchOptions;
  /** Per operation, over `defaults`. */
  perOp?: Partial<Record<ConnOpName, DispatchOptions>>;
}

/** What services use of libvirt: calls, domain events, reconnect notices. */
export interface Libvirt {
  call<K extends ConnOpName>(op: K, args: CallArgs<K>, opts?: DispatchOptions): Promise<OpResult<K>>;
  onEvent(cb: (e: DomainEvent) => void): () => void;
  onReconnect(cb: () => void): () => void;
}

export class LibvirtClient implements Libvirt {
  #dispatcher: Dispatcher;
  #connections: ConnectionSource;
  #defaults: DispatchOptions | undefined;
  #perOp: Partial<Record<ConnOpName, DispatchOptions>>;

  constructor(opts: LibvirtClientOptions) {
    this.#dispatcher = opts.dispatcher;
    this.#connections = opts.connections;
    this.#defaults = opts.defaults;
    this.#perOp = opts.perOp ?? {};
  }

  /**
   * Run `op` on the current connection. Throws synchronously what cannot even be queued, as the
   * Executor does (LIBVIRT_CONNECTION while disconnected, RESOURCE_EXHAUSTED, NOT_RUNNING), so periodic
   * operations can tell a full queue from a failed call. Rejects with NO_VM for "domain not found" on a
   * call about a VM (`uuid`), ERR_LIBVIRT_<NAME> for other libvirt failures (isNoDomain and
   * libvirtErrorInfo still see libvirt's numbers through the error's cause).
   */
  call<K extends ConnOpName>(op: K, args: CallArgs<K>, opts?: DispatchOptions): Promise<OpResult<K>> {
    const uuid = (args as { uuid?: unknown }).uuid;
    const fail = (err: unknown): never => {
      this.#connections.reportError(err);
      throw mapLibvirtError(err, typeof uuid === 'string' ? { vmId: uuid } : {});
    };
    let pending: Promise<OpResult<K>>;
    try {
      const conn = ON_AGENT_CONN.has(op) ? this.#connections.agentConn() : this.#connections.conn();
      pending = this.#dispatcher.dispatch(op, { ...args, conn } as OpArgs<K>, opts ?? this.#perOp[op] ?? this.#defaults);
    } catch (err) {
      return fail(err);
    }
    return pending.catch(fail);
  }

  onEvent(cb: (e: DomainEvent) => void): () => void {
    return this.#connections.onEvent?.(cb) ?? (() => undefined);
  }

  /** After every reconnect (events may have been missed meanwhile: resync). */
  onReconnect(cb: () => void): () => void {
    return this.#connections.onReconnect?.(() => cb()) ?? (() => undefined);
  }
}
