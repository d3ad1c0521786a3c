// The long fuzz run of the RPC properties in test/rpc/fuzz.test.ts: hostile byte streams into the parser
// and a session, random JSON-RPC bodies, and hostile connections against a live server while a bystander
// connection must keep being answered. Usage: node dist/bench/rpc-fuzz.js [RUNS] [--seed N]
// (default 20000 runs per in-memory property, RUNS/20 socket runs; --only NAME runs the properties whose
// name contains NAME). One JSON line per property.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import fc from 'fast-check';
import { MethodTable } from '../src/api/method-table.js';
import { apiMethods } from '../src/api/host-basic.js';
import { createRootLogger, LogManager } from '../src/observability/logging.js';
import { JsonRpcServer } from '../src/rpc/jsonrpc-server.js';
import { StompRpcClient } from '../src/rpc/stomp-client.js';
import { StompParser } from '../src/rpc/stomp-parser.js';
import { RawClient } from '../test/peers/raw-socket.js';
import { harness } from '../test/rpc/session-harness.js';
import { startServer } from '../test/rpc/server-fixture.js';
import { chunked, hostileStream, rpcBody } from '../test/rpc/stomp-arbitraries.js';

const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 20_000);
const seedArg = args.indexOf('--seed');
const seed = seedArg !== -1 ? Number(args[seedArg + 1]) : Date.now() % 2 ** 31;

const onlyArg = args.indexOf('--only');
const only = onlyArg !== -1 ? args[onlyArg + 1] ?? '' : '';

async function timed(name: string, numRuns: number, fn: () => Promise<void> | void): Promise<void> {
  if (!name.includes(only)) return;
  const t0 = performance.now();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let failure: string | undefined;
  try {
    await fn();
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    failure = `${cause instanceof Error ? `${cause.stack ?? cause.message}\n` : ''}${(err as Error).message}`.slice(0, 3000);
  }
  loop.disable();
  const maxLoopDelayMs = Math.round(loop.max / 1e6);
  process.stdout.write(JSON.stringify({ suite: 'rpc-fuzz', property: name, runs: numRuns, seed, failed: failure !== undefined, seconds: Math.round((performance.now() - t0) / 10) / 100, max_loop_delay_ms: maxLoopDelayMs, ...(failure ? { failure } : {}) }) + '\n');
  if (failure) process.exitCode = 1;
}

async function main(): Promise<void> {
  const logManager = new LogManager(createRootLogger({ level: 'silent' }));
  await timed('parser-hostile-stream', runs, () =>
    fc.assert(
      fc.property(hostileStream, fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 5 }), (parts, sizes) => {
        let errors = 0;
        const p = new StompParser({ frame: () => {}, error: () => errors++ }, { maxBodyBytes: 4096, maxHeaderBytes: 2048, maxHeaderLineBytes: 1024 });
        for (const c of chunked(Buffer.concat(parts), sizes)) p.push(c);
        if (errors > 1 || p.buffered > 4096 + 2048 + 1024 + 2) throw new Error(`parser invariant broken: errors ${errors}, buffered ${p.buffered}`);
      }),
      { numRuns: runs, seed },
    ),
  );
  await timed('session-hostile-stream', runs, () =>
    fc.assert(
      fc.property(hostileStream, (parts) => {
        const h = harness();
        const { session, transport } = h.open();
        for (const c of parts) session.receive(c);
        for (const r of h.requests) r.reply('{"jsonrpc":"2.0","id":1,"result":true}');
        h.time.advance(60_000);
        for (const w of transport.writes) {
          if (w.length === 1 && w[0] === 0x0a) continue;
          let n = 0;
          new StompParser({ frame: () => n++, error: (e) => { throw e; } }).push(w);
          if (n !== 1) throw new Error('not one frame per write');
        }
      }),
      { numRuns: runs, seed },
    ),
  );
  const srv = new JsonRpcServer({ methods: new MethodTable(apiMethods({ logManager })), log: logManager.root });
  await timed('jsonrpc-random-body', runs, () =>
    fc.assert(
      fc.asyncProperty(rpcBody, async (body) => {
        const out = await srv.handle(body, { clientAddress: 'x', connectionId: 1 });
        if (out === undefined) return;
        const parsed = JSON.parse(out) as unknown;
        for (const r of Array.isArray(parsed) ? parsed : [parsed]) {
          const e = (r as { error?: { code: unknown } }).error;
          if (e && !Number.isInteger(e.code)) throw new Error(`non-integer code in ${out}`);
        }
      }),
      { numRuns: runs, seed },
    ),
  );
  const socketRuns = Math.max(10, Math.round(runs / 20));
  const fx = await startServer({ limits: { maxBodyBytes: 64 * 1024, maxOutgoingBytes: 256 * 1024 } });
  const good = new StompRpcClient({ host: '127.0.0.1', port: fx.port });
  await good.connect();
  try {
    await timed('sockets-hostile-connection-bystander-answered', socketRuns, () =>
      fc.assert(
        fc.asyncProperty(hostileStream, async (parts) => {
          const c = await RawClient.connect(fx.port);
          c.write('SUBSCRIBE\ndestination:jms.topic.vdsm_responses\nid:r\n\n\0');
          for (const p of parts) c.write(p);
          // FIN after the data: once the server closed its side it has consumed every byte.
          c.socket.end();
          await c.waitClosed();
          if ((await good.call('Host.ping2', {}, 5000)) !== true) throw new Error('bystander not answered');
          c.close();
        }),
        { numRuns: socketRuns, seed },
      ),
    );
  } finally {
    good.close();
    await fx.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`rpc-fuzz: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
