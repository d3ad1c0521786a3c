// An in-process supervdsm server for tests: the real server, registry, command runner, Executor (real
// worker threads) and SO_PEERCRED check on a unix socket in a temp dir; a raw peer that speaks the frame
// protocol byte by byte; and waits on messages and log lines (never on time).
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerCredentials } from '../../src/native-sys.js';
import type { NetworkPrivileged } from '../../src/network/network-service.js';
import { Executor } from '../../src/runtime/executor/executor.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { CommandRunner, locateCommands, type CommandName } from '../../src/supervdsm/command-runner.js';
import { FrameDecoder } from '../../src/supervdsm/frame-decoder.js';
import type { HelperPolicy } from '../../src/supervdsm/policy.js';
import { MessageCodec, parseServerMessage, type ServerMessage } from '../../src/supervdsm/protocol.js';
import { FunctionRegistry, type FunctionSpec } from '../../src/supervdsm/registry.js';
import { SupervdsmServer } from '../../src/supervdsm/server.js';
import { captureLog, type LogLine } from '../runtime/capture-log.js';

export interface HelperHarness {
  server: SupervdsmServer;
  executor: Executor;
  runner: CommandRunner;
  path: string;
  dir: string;
  lines: LogLine[];
  /** Resolves with the first log line (past or future) matching `pred`. */
  logged(pred: (l: LogLine) => boolean): Promise<LogLine>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  functions: readonly FunctionSpec[];
  policy?: Partial<HelperPolicy>;
  /** Program table override (a test may point a name at a program that hangs, e.g. sleep). */
  commands?: Partial<Record<CommandName, string>>;
  maxCalls?: number;
  maxCallsPerConnection?: number;
  maxFrameBytes?: number;
  /** Serve in this directory (a restarted helper on the same socket); a new temp dir otherwise. */
  dir?: string;
  /** Host networking's applier for the network functions (none: they answer ERR_SVDSM_UNAVAILABLE). */
  network?: NetworkPrivileged;
}

export function testPolicy(over: Partial<HelperPolicy> = {}): HelperPolicy {
  const uid = process.getuid!();
  const gid = process.getgid!();
  return {
    agent: { name: 'root', uid, gid },
    group: { name: 'root', gid },
    allowedUids: new Set([0, uid]),
    channelDirs: ['/nonexistent/channels'],
    channelGroups: ['root'],
    udevRulesDir: '/nonexistent/rules.d',
    diskImageOwner: { user: 'root', group: 'root', qemuUser: 'root' },
    devRoots: ['/dev'],
    mountRoot: '/nonexistent/repo/mnt',
    mountTypes: new Set(['tmpfs']),
    systemctlUnits: new Set(['vdsm-test-none.service']),
    sasl: { libvirtDb: '/nonexistent/passwd.db', libvirtUser: 'vdsm@ovirt', vncDb: '/nonexistent/vnc.db' },
    accessUsers: new Set(['root']),
    storageRoots: ['/nonexistent/repo'],
    accessTimeoutMs: 10_000,
    ...over,
  };
}

export async function startHelper(opts: HarnessOptions): Promise<HelperHarness> {
  const ownsDir = opts.dir === undefined;
  const dir = opts.dir ?? await mkdtemp(join(tmpdir(), 'vdsm-svdsm-'));
  const path = join(dir, 'svdsm.sock');
  const { log, lines } = captureLog('debug');
  const waiters: (() => void)[] = [];
  const scheduler = new Scheduler({ log });
  scheduler.start();
  const executor = new Executor({
    name: `svdsm-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, workersCount: 2, maxWorkers: 8, maxTasks: 64,
    scheduler, log, opsModules: ['supervdsm', 'test'], workerLogLevel: 'warn',
  });
  executor.start();
  const runner = new CommandRunner({ ...(await locateCommands()), ...opts.commands });
  const server = new SupervdsmServer({
    path, registry: new FunctionRegistry(opts.functions), policy: testPolicy(opts.policy), runner, executor, log, peerCredentials,
    ...(opts.maxCalls !== undefined ? { maxCalls: opts.maxCalls } : {}),
    ...(opts.maxCallsPerConnection !== undefined ? { maxCallsPerConnection: opts.maxCallsPerConnection } : {}),
    ...(opts.maxFrameBytes !== undefined ? { maxFrameBytes: opts.maxFrameBytes } : {}),
    ...(opts.network !== undefined ? { network: opts.network } : {}),
  });
  await server.start();
  const origPush = lines.push.bind(lines);
  lines.push = (...items: LogLine[]): number => {
    const n = origPush(...items);
    for (const w of waiters.splice(0)) w();
    return n;
  };
  return {
    server, executor, runner, path, dir, lines,
    logged: (pred) => new Promise((resolve) => {
      const check = (): void => {
        const hit = lines.find(pred);
        if (hit) resolve(hit);
        else waiters.push(check);
      };
      check();
    }),
    close: async () => {
      await server.stop(1000);
      await executor.stop({ graceMs: 500 });
      scheduler.stop();
      if (ownsDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A peer speaking raw frames: what it receives, decoded; what it sends, bytes as given. */
export class RawPeer {
  readonly messages: ServerMessage[] = [];
  readonly socket: Socket;
  readonly codec: MessageCodec;
  closed: Promise<void>;
  #waiters: (() => void)[] = [];
  #isClosed = false;

  private constructor(socket: Socket, maxFrameBytes?: number) {
    this.socket = socket;
    this.codec = new MessageCodec(maxFrameBytes);
    const decoder = new FrameDecoder({
      frame: (b) => {
        const parsed = parseServerMessage(this.codec.decode(b));
        if (!parsed.ok) throw new Error(`server sent an invalid message: ${parsed.rejection.reason}`);
        this.messages.push(parsed.message);
        this.#wake();
      },
      error: (_k, m) => { throw new Error(`server sent a bad frame: ${m}`); },
    }, maxFrameBytes);
    socket.on('data', (c: Buffer) => decoder.push(c));
    socket.on('error', () => undefined);
    socket.on('end', () => socket.end());
    this.closed = new Promise((resolve) => socket.on('close', () => { this.#isClosed = true; this.#wake(); resolve(); }));
  }

  static async connect(path: string, maxFrameBytes?: number): Promise<RawPeer> {
    const socket = createConnection({ path, allowHalfOpen: true });
    await once(socket, 'connect');
    const peer = new RawPeer(socket, maxFrameBytes);
    await peer.next((m) => m.type === 'hello');
    return peer;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** The first message (past or future) matching `pred`; rejects if the connection closes first. */
  next(pred: (m: ServerMessage) => boolean): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.messages.find(pred);
        if (hit) resolve(hit);
        else if (this.#isClosed) reject(new Error(`connection closed; got ${JSON.stringify(this.messages)}`));
        else this.#waiters.push(check);
      };
      check();
    });
  }

  /** The answer to call `id`. */
  answer(id: number): Promise<ServerMessage> {
    return this.next((m) => m.type !== 'hello' && m.id === id);
  }

  call(id: number, method: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): void {
    this.socket.write(this.codec.encode({ type: 'call', id, method, args, timeoutMs }));
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The error code of an answer (or 'result'). */
export function codeOf(m: ServerMessage): string {
  return m.type === 'error' ? m.error.code : m.type;
}
