// The server side of bench/supervdsm.ts, in its own process: four unix sockets answering the same calls.
//   production  the real SupervdsmServer (msgpackr frames, SO_PEERCRED, deadlines, Executor, logging)
//   msgpack     a bare loop: length-prefixed msgpackr frames -> registry -> answer (no deadlines, no checks)
//   jsonl       the same bare loop over JSON lines (the baseline the msgpackr choice is measured against)
//   echo        length-prefixed frames echoed back undecoded: the socket's floor
// Prints {"sockets": {...}} on stdout once all listen; exits when stdin closes.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { peerCredentials } from '../src/native-sys.js';
import { Executor } from '../src/runtime/executor/executor.js';
import { Scheduler } from '../src/runtime/scheduler.js';
import { CommandRunner, locateCommands } from '../src/supervdsm/command-runner.js';
import { FrameDecoder, encodeFrame } from '../src/supervdsm/frame-decoder.js';
import { getHardwareInfo } from '../src/supervdsm/functions/hwinfo.js';
import { ping } from '../src/supervdsm/functions/ping.js';
import { MessageCodec, parseCall, toWireError, type CallMessage, type ServerMessage } from '../src/supervdsm/protocol.js';
import { defineFunction, FunctionRegistry, type CallContext } from '../src/supervdsm/registry.js';
import { SupervdsmServer } from '../src/supervdsm/server.js';

/** A hardware-info answer of a real server (the Dell sample of test/supervdsm): the size of a real reply. */
export const HWINFO_SAMPLE = Object.freeze({
  systemManufacturer: 'Dell Inc.', systemProductName: 'PowerEdge R640', systemSerialNumber: 'ABC1234',
  systemUUID: '4c4c4544-0042-3510-8052-b7c04f4b3332', systemFamily: 'PowerEdge', systemVersion: 'Not Specified',
});
const hwinfoSample = defineFunction<Record<string, never>, typeof HWINFO_SAMPLE>({
  name: 'hwinfoSample', summary: 'bench: a hardware-info sized answer without running dmidecode', params: {},
  run: () => Promise.resolve(HWINFO_SAMPLE),
});

const registry = new FunctionRegistry([ping, getHardwareInfo, hwinfoSample]);
const bareCtx = {} as CallContext; // the bare loops only serve functions that take no context

async function answer(call: CallMessage): Promise<ServerMessage> {
  const bound = registry.bind(call.method, call.args);
  if (!bound.ok) return { type: 'error', id: call.id, error: toWireError(bound.error, 'ERR_SVDSM_INTERNAL') };
  try {
    return { type: 'result', id: call.id, value: (await bound.fn.run(bound.args, bareCtx)) ?? null };
  } catch (err) {
    return { type: 'error', id: call.id, error: toWireError(err, 'ERR_SVDSM_INTERNAL') };
  }
}

function msgpackLoop(socket: Socket): void {
  const codec = new MessageCodec();
  const decoder = new FrameDecoder({
    frame: (body) => {
      const parsed = parseCall(codec.decode(body));
      if (parsed.ok) void answer(parsed.message).then((m) => socket.write(codec.encode(m)));
    },
    error: () => socket.destroy(),
  });
  socket.on('data', (c: Buffer) => decoder.push(c));
  socket.on('error', () => undefined);
}

function jsonlLoop(socket: Socket): void {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const parsed = parseCall(JSON.parse(line));
      if (parsed.ok) void answer(parsed.message).then((m) => socket.write(`${JSON.stringify(m)}\n`));
    }
  });
  socket.on('error', () => undefined);
}

function echoLoop(socket: Socket): void {
  const decoder = new FrameDecoder({ frame: (body) => socket.write(encodeFrame(body)), error: () => socket.destroy() });
  socket.on('data', (c: Buffer) => decoder.push(c));
  socket.on('error', () => undefined);
}

async function listen(path: string, loop: (s: Socket) => void): Promise<Server> {
  const server = createServer(loop);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-bench-svdsm-'));
  const log = pino({ level: 'warn' });
  const scheduler = new Scheduler({ log });
  scheduler.start();
  const executor = new Executor({ name: 'supervdsm', workersCount: 2, maxWorkers: 8, maxTasks: 512, scheduler, log, opsModules: ['supervdsm'] });
  executor.start();
  const uid = process.getuid!();
  const gid = process.getgid!();
  const production = new SupervdsmServer({
    path: join(dir, 'production.sock'), registry, runner: new CommandRunner(await locateCommands()), executor, log, peerCredentials,
    policy: {
      agent: { name: 'bench', uid, gid }, group: { name: 'bench', gid }, allowedUids: new Set([0, uid]), channelDirs: [], channelGroups: [],
      udevRulesDir: '/nonexistent', diskImageOwner: { user: 'bench', group: 'bench', qemuUser: 'bench' }, devRoots: ['/dev'], mountRoot: '/nonexistent',
      mountTypes: new Set(), systemctlUnits: new Set(), sasl: { libvirtDb: '/nonexistent', libvirtUser: 'x', vncDb: '/nonexistent' },
      accessUsers: new Set(), storageRoots: ['/nonexistent'], accessTimeoutMs: 1000,
    },
  });
  await production.start();
  const others = await Promise.all([
    listen(join(dir, 'msgpack.sock'), msgpackLoop), listen(join(dir, 'jsonl.sock'), jsonlLoop), listen(join(dir, 'echo.sock'), echoLoop),
  ]);
  process.stdout.write(`${JSON.stringify({ sockets: { production: production.path, msgpack: join(dir, 'msgpack.sock'), jsonl: join(dir, 'jsonl.sock'), echo: join(dir, 'echo.sock') } })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    void (async () => {
      for (const s of others) s.close();
      await production.stop(500);
      await executor.stop({ graceMs: 500 });
      scheduler.stop();
      await rm(dir, { recursive: true, force: true });
      process.exit(0);
    })();
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench supervdsm server: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
