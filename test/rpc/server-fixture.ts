// Starts a real RPC server on 127.0.0.1:0 (plain or TLS with a throw-away dev PKI) with the basic Host
// verbs plus test verbs, for tests that drive it over sockets.
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { apiMethods } from '../../src/api/host-basic.js';
import { MethodTable, type MethodSpec } from '../../src/api/method-table.js';
import { s } from '../../src/api/schema.js';
import { ensureDevPki, loadTlsFiles, type DevPki } from '../../src/rpc/pki.js';
import { createRpcServer, type RpcLimits, type RpcServer } from '../../src/rpc/rpc-server.js';
import type { TlsMaterial } from '../../src/rpc/acceptor.js';
import type { Clock, Timers } from '../../src/runtime/clock.js';
import type { ReplyBufferPool } from '../../src/runtime/reply-buffers.js';
import type { LogManager } from '../../src/observability/logging.js';
import { silentLogManager } from './silent-log.js';

export interface Fixture {
  port: number;
  rpc: RpcServer;
  registry: Registry;
  pki?: DevPki;
  clientTls?: TlsMaterial;
  setReady(v: boolean): void;
  close(): Promise<void>;
}

export interface FixtureOptions {
  tls?: boolean;
  limits?: Partial<RpcLimits>;
  timers?: Timers;
  clock?: Clock;
  ready?: boolean;
  /** Reuse a PKI directory across servers in one test file. */
  pkiDir?: string;
  /** Where the server logs (default: nowhere). */
  logManager?: LogManager;
  /** More verbs next to the basic ones (a test's own). */
  methods?: MethodSpec[];
  /** The reply buffer pool the server gives pooled replies back to. */
  replyBuffers?: ReplyBufferPool;
}

export async function startServer(opts: FixtureOptions = {}): Promise<Fixture> {
  let ready = opts.ready ?? true;
  let tmp: string | undefined;
  let pki: DevPki | undefined;
  let tls: TlsMaterial | undefined;
  let clientTls: TlsMaterial | undefined;
  if (opts.tls) {
    const dir = opts.pkiDir ?? (tmp = await mkdtemp(path.join(tmpdir(), 'vdsm-rpc-pki-')));
    pki = await ensureDevPki(dir);
    tls = await loadTlsFiles(pki.server);
    clientTls = await loadTlsFiles(pki.client);
  }
  const logManager = opts.logManager ?? silentLogManager();
  // The test verb publishes through the server it belongs to, which exists only after the table.
  const ref: { rpc?: RpcServer } = {};
  const methods = new MethodTable([
    ...apiMethods({ logManager }),
    {
      name: 'Test.emitEvents',
      description: 'publishes `count` VM_status events, then returns',
      params: [{ name: 'count', type: s.int(), default: 1 }],
      result: s.bool(),
      handler: ({ count }) => {
        for (let i = 0; i < (count as number); i++) ref.rpc!.publish(`|virt|VM_status|vm${i}`, { [`vm${i}`]: { status: 'Up' } });
      },
    },
    ...(opts.methods ?? []),
  ]);
  const registry = new Registry();
  const rpc = (ref.rpc = createRpcServer({
    host: '127.0.0.1',
    port: 0,
    methods,
    logManager,
    isReady: () => ready,
    metricsRegistry: registry,
    executorState: () => ({ queued: 2, running: 1, live: 4, lingering: 1 }),
    healthProvider: () => ({ executor: { queued: 2, live: 4, lingering: 1 } }),
    ...(tls ? { tls } : {}),
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.timers ? { timers: opts.timers } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.replyBuffers ? { replyBuffers: opts.replyBuffers } : {}),
  }));
  const { port } = await rpc.start();
  const server = rpc;
  return {
    port,
    rpc: server,
    registry,
    ...(pki ? { pki } : {}),
    ...(clientTls ? { clientTls } : {}),
    setReady(v) {
      ready = v;
      server.readyChanged();
    },
    async close() {
      await server.close();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    },
  };
}

/** A raw client socket to the fixture (TLS with its client certificate when it serves TLS), connected. */
export function connectRaw(fx: Pick<Fixture, 'port' | 'clientTls'>): Promise<Socket> {
  const t = fx.clientTls;
  return new Promise<Socket>((resolve, reject) => {
    const sock = t
      ? tls.connect({ host: '127.0.0.1', port: fx.port, key: t.key, cert: t.cert, ca: t.ca, checkServerIdentity: () => undefined })
      : net.connect({ host: '127.0.0.1', port: fx.port });
    sock.once(t ? 'secureConnect' : 'connect', () => resolve(sock));
    sock.once('error', reject);
  });
}
