// An engine-like JSON-RPC client over the independent npm `stompit` STOMP client: subscribes to the
// responses and events destinations the engine uses, sends one request per SEND with reply-to, and
// matches responses by id.
import { randomUUID } from 'node:crypto';
import { StompitPeer, type PeerOptions } from '../peers/stompit-peer.js';

export const REQUESTS = 'jms.topic.vdsm_requests';
export const RESPONSES = 'jms.topic.vdsm_responses';
export const EVENTS = 'jms.queue.events';

export interface RpcError {
  code: unknown;
  message: unknown;
}

export class EngineClient {
  readonly peer: StompitPeer;
  #seen = 0;

  private constructor(peer: StompitPeer) {
    this.peer = peer;
  }

  static async connect(opts: PeerOptions): Promise<EngineClient> {
    const peer = await StompitPeer.connect({ ...opts, connectHeaders: { 'accept-version': '1.2', ...(opts.connectHeaders ?? {}) } });
    peer.subscribe(RESPONSES);
    peer.subscribe(EVENTS);
    return new EngineClient(peer);
  }

  /** The full JSON-RPC response object for one call. */
  async request(method: string, params: Record<string, unknown> = {}, timeoutMs = 15_000): Promise<{ result?: unknown; error?: RpcError; raw: Record<string, unknown>; contentLength?: string }> {
    const id = randomUUID();
    // The answer can only come after the request: look at later responses only (latency loops send many).
    let from = (this.peer.messages.get(RESPONSES) ?? []).length;
    this.peer.send(REQUESTS, JSON.stringify({ jsonrpc: '2.0', method, params, id }), { 'reply-to': RESPONSES });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = this.peer.messages.get(RESPONSES) ?? [];
      for (const m of all.slice(from)) {
        const body = JSON.parse(m.body) as Record<string, unknown>;
        if (body['id'] === id) {
          return { raw: body, ...(m.headers['content-length'] !== undefined ? { contentLength: m.headers['content-length'] } : {}), ...('result' in body ? { result: body['result'] } : {}), ...('error' in body ? { error: body['error'] as RpcError } : {}) };
        }
      }
      from = all.length;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response to ${method} within ${timeoutMs} ms`);
      await this.peer.waitFor(RESPONSES, all.length + 1, left).catch(() => undefined);
    }
  }

  /** The result, or throws with the JSON-RPC error. */
  async call<T = unknown>(method: string, params: Record<string, unknown> = {}, timeoutMs?: number): Promise<T> {
    const r = await this.request(method, params, timeoutMs);
    if (r.error) throw Object.assign(new Error(`${method}: ${String(r.error.message)} (code ${String(r.error.code)})`), { rpc: r.error });
    return r.result as T;
  }

  /** The JSON-RPC error of a call that must fail; throws when it succeeds. */
  async callError(method: string, params: Record<string, unknown> = {}, timeoutMs?: number): Promise<RpcError> {
    const r = await this.request(method, params, timeoutMs);
    if (!r.error) throw new Error(`${method} succeeded (${JSON.stringify(r.result)}); an error was expected`);
    return r.error;
  }

  /** Every event (notification) received so far. */
  events(): Record<string, unknown>[] {
    return (this.peer.messages.get(EVENTS) ?? []).map((m) => JSON.parse(m.body) as Record<string, unknown>);
  }

  /** Resolve with the first event (received so far or later) matching pred; `from`: skip the first events. */
  async waitForEvent(pred: (e: Record<string, unknown>) => boolean, timeoutMs = 15_000, from = 0): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const list = this.events();
      const hit = list.slice(from).find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`event not received within ${timeoutMs} ms; got: ${JSON.stringify(list.map((e) => e['method']))}`);
      await this.peer.waitFor(EVENTS, list.length + 1, left).catch(() => undefined);
    }
  }

  /** Events not returned by a previous call of newEvents(). */
  newEvents(): Record<string, unknown>[] {
    const all = this.events();
    const fresh = all.slice(this.#seen);
    this.#seen = all.length;
    return fresh;
  }

  close(): void {
    this.peer.close();
  }
}

/** VM_status event for vmId with the given status. */
export function isVmStatus(vmId: string, status: string): (e: Record<string, unknown>) => boolean {
  return (e) => e['method'] === `|virt|VM_status|${vmId}` && ((e['params'] as Record<string, Record<string, unknown>>)[vmId]?.['status'] === status);
}
