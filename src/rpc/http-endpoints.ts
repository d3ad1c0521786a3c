// The HTTP side of the management port: /health (JSON, 200 when ready, 503 when not) and /metrics
// (Prometheus text). node:http parses; the acceptor hands detected sockets in with their peeked bytes.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logging.js';

export interface HttpEndpointsOptions {
  isReady: () => boolean;
  /** Extra health facts (executor state, libvirt connection, …), merged into the JSON. */
  healthProvider?: () => Record<string, unknown>;
  /** RPC facts (connections, held events) from the server itself. */
  rpcState?: () => Record<string, unknown>;
  metricsRegistry?: Registry;
  log: Logger;
  /** Idle keep-alive sockets are closed after this. */
  keepAliveTimeoutMs?: number;
  /** PUT requests (vdsm's image upload: OVF_STORE data); without it PUT is 405. */
  upload?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
}

export class HttpEndpoints {
  #o: HttpEndpointsOptions;
  #server: http.Server;
  #requests = 0;

  constructor(opts: HttpEndpointsOptions) {
    this.#o = opts;
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        opts.log.error({ err }, 'HTTP handler failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    this.#server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 5000;
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = 30_000;
    this.#server.on('clientError', (err, socket) => {
      opts.log.debug({ err: err.message }, 'bad HTTP request');
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Adopt a socket the acceptor detected as HTTP; `head` holds the bytes already read. */
  adopt(socket: Socket, head: Buffer): void {
    socket.unshift(head);
    this.#server.emit('connection', socket);
    socket.resume();
  }

  state(): { requests: number } {
    return { requests: this.#requests };
  }

  close(): void {
    this.#server.closeAllConnections();
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.#requests++;
    const url = (req.url ?? '/').split('?')[0];
    if (req.method === 'PUT' && this.#o.upload) {
      await this.#o.upload(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('method not allowed\n');
      return;
    }
    if (url === '/health') {
      const ready = this.#o.isReady();
      const body = JSON.stringify({
        live: true,
        ready,
        ...(this.#o.rpcState ? { rpc: this.#o.rpcState() } : {}),
        ...(this.#o.healthProvider?.() ?? {}),
      });
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (url === '/metrics' && this.#o.metricsRegistry) {
      const text = await this.#o.metricsRegistry.metrics();
      res.writeHead(200, { 'content-type': this.#o.metricsRegistry.contentType });
      res.end(req.method === 'HEAD' ? undefined : text);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
}
