// supervdsmd's socket server: a unix stream socket created owner-only, then handed to the agent's
// user and group with mode 0660; every connection's peer credentials (SO_PEERCRED) checked against
// root and the agent's uid before a byte is read, refusals logged; accepted connections served by
// HelperConnection. Lifecycle: new -> listening -> stopping -> stopped (stop is idempotent and bounded).
import { chmod, chown, lstat, readFile, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { Errors, vdsmError, errorMessage } from '../errors.js';
import type { PeerCredentials } from '../native-sys.js';
import type { Dispatcher } from '../contracts/dispatcher.js';
import type { CommandRunner } from './command-runner.js';
import { MAX_FRAME_BYTES } from './frame-decoder.js';
import { executorFs, type HelperFs } from './helper-fs.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { HelperPolicy } from './policy.js';
import type { NetworkPrivileged } from '../network/network-service.js';
import { MessageCodec, PROTOCOL_VERSION, toWireError } from './protocol.js';
import type { CallContext, FunctionRegistry } from './registry.js';
import { HelperConnection, type ConnectionHost } from './server-connection.js';

export const SOCKET_MODE = 0o660;

export interface SupervdsmServerOptions {
  /** The socket path (<run_dir>/svdsm.sock). */
  path: string;
  registry: FunctionRegistry;
  policy: HelperPolicy;
  runner: CommandRunner;
  /** Executor for filesystem steps (workers/ops/supervdsm.ts). */
  executor: Dispatcher & { state?(): unknown };
  log: Logger;
  /** SO_PEERCRED of an accepted socket (src/native-sys.ts). */
  peerCredentials: (socket: Socket) => PeerCredentials;
  maxFrameBytes?: number;
  /** Calls in flight across all connections ([supervdsm] max_calls). */
  maxCalls?: number;
  maxCallsPerConnection?: number;
  maxConnections?: number;
  /** Queued answer bytes per connection before a non-reading peer is dropped. */
  maxOutgoingBytes?: number;
  /** Host networking's applier (the network functions); none: they fail saying so. */
  network?: NetworkPrivileged;
}

type State = 'new' | 'listening' | 'stopping' | 'stopped';

export class SupervdsmServer {
  #o: SupervdsmServerOptions;
  #server: Server;
  #state: State = 'new';
  #conns = new Map<number, HelperConnection>();
  #nextConn = 1;
  #inFlight = 0;
  #drained = new Set<() => void>();
  #locks = new KeyedMutex();
  #startedAt = Date.now();
  #stats = { accepted: 0, refused: 0, calls: 0, failed: 0, byCode: {} as Record<string, number>, byMethod: {} as Record<string, number> };
  #codec: MessageCodec;

  constructor(opts: SupervdsmServerOptions) {
    this.#o = opts;
    this.#codec = new MessageCodec(opts.maxFrameBytes ?? MAX_FRAME_BYTES);
    // allowHalfOpen: a peer that shuts down its side still gets the answers to what it sent.
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => void this.#accept(socket));
    this.#server.on('error', (err) => opts.log.error({ err }, 'supervdsm socket error'));
  }

  get path(): string {
    return this.#o.path;
  }

  /** Listen on the socket path and give it to the agent's user and group (mode 0660). */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw vdsmError(Errors.ALREADY_STARTED, `supervdsm server already ${this.#state}`);
    const path = this.#o.path;
    await removeStaleSocket(path);
    // The socket is created with the process umask: owner-only until chown/chmod below, so nobody can
    // connect in between as a user that would not be allowed.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(path, () => {
          this.#server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(umask);
    }
    await chown(path, this.#o.policy.agent.uid, this.#o.policy.group.gid);
    await chmod(path, SOCKET_MODE);
    this.#state = 'listening';
    this.#startedAt = Date.now();
  }

  /**
   * Stop: no new connections; calls in flight get `graceMs` to finish, then are aborted; the socket
   * file is removed. Resolves within about graceMs.
   */
  async stop(graceMs = 5000): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    const wasListening = this.#state === 'listening';
    this.#state = 'stopping';
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, graceMs);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#drained.add(done);
      });
    }
    for (const c of this.#conns.values()) c.destroy();
    await closed;
    if (wasListening) await unlink(this.#o.path).catch(() => undefined);
    this.#state = 'stopped';
  }

  state(): Record<string, unknown> {
    return {
      state: this.#state,
      pid: process.pid,
      socket: this.#o.path,
      uptimeS: Math.round((Date.now() - this.#startedAt) / 1000),
      protocol: PROTOCOL_VERSION,
      allowedUids: [...this.#o.policy.allowedUids],
      connections: [...this.#conns.values()].map((c) => c.state()),
      inFlight: this.#inFlight,
      locksHeld: this.#locks.held,
      stats: { ...this.#stats, byCode: { ...this.#stats.byCode }, byMethod: { ...this.#stats.byMethod } },
      processes: this.#o.runner.state(),
      executor: this.#o.executor.state?.(),
      functions: this.#o.registry.names(),
    };
  }

  async #accept(socket: Socket): Promise<void> {
    let peer: PeerCredentials;
    try {
      peer = this.#o.peerCredentials(socket);
    } catch (err) {
      this.#o.log.error({ err: errorMessage(err) }, 'cannot read the peer credentials of a connection; closing it');
      socket.destroy();
      return;
    }
    const log = this.#o.log;
    if (this.#state !== 'listening') {
      socket.destroy();
      return;
    }
    if (!this.#o.policy.allowedUids.has(peer.uid)) {
      this.#stats.refused++;
      const comm = await readFile(`/proc/${peer.pid}/comm`, 'utf8').then((t) => t.trim(), () => '?');
      log.warn({ peerPid: peer.pid, peerUid: peer.uid, peerGid: peer.gid, peerComm: comm, allowedUids: [...this.#o.policy.allowedUids] },
        'refused a connection from a user that may not use supervdsm');
      const err = vdsmError(Errors.SVDSM_PEER_REFUSED, { uid: peer.uid, allowed: [...this.#o.policy.allowedUids] });
      this.#refuse(socket, err);
      return;
    }
    const max = this.#o.maxConnections ?? 64;
    if (this.#conns.size >= max) {
      log.warn({ peerPid: peer.pid, connections: this.#conns.size }, 'too many connections; refusing one');
      const err = vdsmError(Errors.RESOURCE_EXHAUSTED, { reason: 'Too many supervdsm connections', limit: max });
      this.#refuse(socket, err);
      return;
    }
    this.#stats.accepted++;
    const id = this.#nextConn++;
    const conn = new HelperConnection(id, socket, peer, this.#host(), {
      maxFrameBytes: this.#o.maxFrameBytes ?? MAX_FRAME_BYTES,
      maxCalls: this.#o.maxCallsPerConnection ?? 64,
      maxOutgoingBytes: this.#o.maxOutgoingBytes ?? 4 * (this.#o.maxFrameBytes ?? MAX_FRAME_BYTES),
    }, () => {
      this.#conns.delete(id);
      log.debug({ conn: id }, 'connection closed');
    });
    this.#conns.set(id, conn);
    log.debug({ conn: id, peerPid: peer.pid, peerUid: peer.uid }, 'connection accepted');
    conn.hello(PROTOCOL_VERSION, 'supervdsmd');
    socket.resume();
  }

  /** Tell a refused peer why, then close without reading anything it sent. */
  #refuse(socket: Socket, err: Error): void {
    socket.on('error', () => undefined);
    socket.write(this.#codec.encode({ type: 'error', id: 0, error: toWireError(err, Errors.SVDSM_INTERNAL.code) }), () => socket.destroy());
    // A peer that never reads must not hold the socket open either.
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  #host(): ConnectionHost {
    const o = this.#o;
    return {
      registry: o.registry,
      log: o.log,
      admit: () => {
        if (this.#inFlight >= (o.maxCalls ?? 128)) return false;
        this.#inFlight++;
        return true;
      },
      release: () => {
        this.#inFlight--;
        if (this.#inFlight === 0) for (const d of this.#drained) d();
      },
      record: (method, ok, code) => {
        this.#stats.calls++;
        this.#stats.byMethod[method] = (this.#stats.byMethod[method] ?? 0) + 1;
        if (!ok) {
          this.#stats.failed++;
          const c = code ?? 'unknown';
          this.#stats.byCode[c] = (this.#stats.byCode[c] ?? 0) + 1;
        }
      },
      context: (call): CallContext => {
        // The logger child and the fs facade cost microseconds a ping should not pay: made on first use.
        let log: Logger | undefined;
        let fs: HelperFs | undefined;
        return {
          method: call.method, callId: call.callId, peer: call.peer, remainingMs: call.remainingMs,
          get signal(): AbortSignal {
            return call.signal();
          },
          get log(): Logger {
            return (log ??= call.connectionLog.child({ method: call.method, id: call.callId }));
          },
          get fs(): HelperFs {
            return (fs ??= executorFs(o.executor, call.remainingMs));
          },
          policy: o.policy,
          run: (command, args, opts = {}) => o.runner.run(command, args, {
            timeoutMs: Math.min(opts.timeoutMs ?? Infinity, call.remainingMs()),
            signal: call.signal(),
            ...(opts.input !== undefined ? { input: opts.input } : {}),
          }),
          commandPath: (command) => o.runner.pathOf(command),
          exclusive: (key, fn) => this.#locks.run(key, fn),
          serverState: () => this.state(),
          onPeerGone: call.onPeerGone,
          network: () => {
            if (o.network === undefined) throw vdsmError(Errors.SVDSM_UNAVAILABLE, { method: call.method, reason: 'this helper was started without host networking' });
            return o.network;
          },
        };
      },
    };
  }
}

/** Remove a socket left by a helper that died; refuse to remove anything that is not a socket. */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (!st.isSocket()) throw vdsmError(Errors.INVALID_CONFIGURATION, `${path} exists and is not a socket; refusing to replace it`);
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
