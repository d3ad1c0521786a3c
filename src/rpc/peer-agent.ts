// The source agent's client of the destination agent during a migration, as vdsm's (jsonrpcvdscli over
// its own STOMP client): TLS with this host's key, certificate and CA when [vars] ssl, requests to the
// first of [addresses] request_queues, Host.ping, VM.migrationCreate (allowed
// [vars] migration_create_timeout) and VM.destroy (15 s, like every other call).
import type { TlsMaterial } from './acceptor.js';
import { StompRpcClient } from './stomp-client.js';

/** vdsm's jsonrpcvdscli default timeout for agent-to-agent calls other than migrationCreate. */
export const PEER_CALL_TIMEOUT_MS = 15_000;

export interface PeerAgentOptions {
  tls?: TlsMaterial;
  requestQueue: string;
  connectTimeoutMs?: number;
  /** [vars] migration_create_timeout, ms. */
  createTimeoutMs: number;
  callTimeoutMs?: number;
}

export class StompPeerAgent {
  readonly host: string;
  readonly port: number;
  #client: StompRpcClient;
  #callTimeoutMs: number;
  #createTimeoutMs: number;

  private constructor(host: string, port: number, client: StompRpcClient, o: PeerAgentOptions) {
    this.host = host;
    this.port = port;
    this.#client = client;
    this.#callTimeoutMs = o.callTimeoutMs ?? PEER_CALL_TIMEOUT_MS;
    this.#createTimeoutMs = o.createTimeoutMs;
  }

  static async connect(host: string, port: number, o: PeerAgentOptions): Promise<StompPeerAgent> {
    const client = new StompRpcClient({
      host,
      port,
      requestQueue: o.requestQueue,
      connectTimeoutMs: o.connectTimeoutMs ?? PEER_CALL_TIMEOUT_MS,
      ...(o.tls !== undefined ? { tls: { key: o.tls.key, cert: o.tls.cert, ca: o.tls.ca } } : {}),
    });
    // An unanswered connection error must not be an unhandled rejection later.
    client.onClose(() => undefined);
    await client.connect();
    return new StompPeerAgent(host, port, client, o);
  }

  async ping(): Promise<void> {
    await this.#client.call('Host.ping', {}, this.#callTimeoutMs);
  }

  migrationCreate(vmId: string, params: Record<string, unknown>, incomingLimit: number | undefined): Promise<unknown> {
    return this.#client.call('VM.migrationCreate', { vmID: vmId, params, ...(incomingLimit !== undefined ? { incomingLimit } : {}) }, this.#createTimeoutMs);
  }

  async destroy(vmId: string): Promise<void> {
    await this.#client.call('VM.destroy', { vmID: vmId }, this.#callTimeoutMs);
  }

  close(): void {
    this.#client.close();
  }
}
