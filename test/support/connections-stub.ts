// A stand-in for the ConnectionManager behind a LibvirtClient, for tests of the services that need no
// libvirt at all (their dispatcher is a stand-in too): a fixed connection id, errors recorded, and
// events and reconnects the test fires itself.
import type { ConnectionSource } from '../../src/libvirt/client.js';
import type { DomainEvent } from '../../src/contracts/libvirt-types.js';

export class ConnectionsStub implements ConnectionSource {
  id: number;
  readonly reported: unknown[] = [];
  #events = new Set<(e: DomainEvent) => void>();
  #reconnects = new Set<(info: { conn: number }) => void>();

  constructor(id = 0) {
    this.id = id;
  }

  conn(): number {
    return this.id;
  }

  agentConn(): number {
    return this.id;
  }

  reportError(err: unknown): void {
    this.reported.push(err);
  }

  onEvent(cb: (e: DomainEvent) => void): () => void {
    this.#events.add(cb);
    return () => this.#events.delete(cb);
  }

  onReconnect(cb: (info: { conn: number }) => void): () => void {
    this.#reconnects.add(cb);
    return () => this.#reconnects.delete(cb);
  }

  emit(e: DomainEvent): void {
    for (const cb of [...this.#events]) cb(e);
  }

  /** A new connection id, and every reconnect listener told. */
  reconnect(): void {
    this.id++;
    for (const cb of [...this.#reconnects]) cb({ conn: this.id });
  }
}
