// The physical floor of an RPC bench: a STOMP server that answers each SEND with a canned MESSAGE and does
// nothing else (no JSON parsing, no dispatch, no diagnostics), in its own process as vdsmd is. The load
// generator, the kernel's loopback and Node's socket layer cost what they cost here too, so a case's
// req/s over the floor's req/s is the share of the physical limit the real server reaches.
//
// Canned bodies are the real agent's replies captured by the bench (same bytes, same size): the reply
// to a SEND is the body of its method with the request's id put in. Enough STOMP for vdsm-node's own
// client and vdsm's: CONNECT -> CONNECTED, SUBSCRIBE ignored, SEND -> MESSAGE to its reply-to.
//
// With `timeReplies`, the floor times its own side of each reply of at least 16 KiB as the agent's
// vdsm:rpc:reply does: from the chunk holding the request being handled to the socket's write callback
// for the reply (what any server costs for those bytes on this machine), reported per connection.
//
//   startFloorServer({ bodies, tls })       from a bench (a child process of this file)
//   node dist/bench/lib/floor-server.js --spec=FILE   (FILE: {"bodies": {method: body}, "tls"?: {...}})
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { killAndRemove } from './child-case.js';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

/** Where the request id goes in a canned body. */
export const FLOOR_ID_SLOT = '"__floor_id__"';

export interface FloorSpec {
  /** method -> JSON-RPC response body with FLOOR_ID_SLOT where the id goes. */
  bodies: Record<string, string>;
  /** PEM files; absent = plain TCP. */
  tls?: { keyFile: string; certFile: string; caFile: string };
  /** Time replies of at least 16 KiB (FloorServer.replyTimes). */
  timeReplies?: boolean;
}

/** The floor's own side of one big reply: request chunk handled -> the reply's write callback. */
export interface FloorReplyTime {
  /** The floor's connection number (1 = the first accepted). */
  connection: number;
  ms: number;
}

export interface FloorServer {
  port: number;
  /** The floor's process (its main thread's tid is the pid). */
  pid: number;
  /** Big replies timed so far (spec.timeReplies), in the order their write callbacks ran. */
  replyTimes(): FloorReplyTime[];
  stop(): Promise<void>;
}

const SCRIPT = fileURLToPath(import.meta.url);

/** Start the floor in its own process; resolves once it listens. */
export async function startFloorServer(spec: FloorSpec): Promise<FloorServer> {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-bench-floor-'));
  const file = join(dir, 'spec.json');
  await writeFile(file, JSON.stringify(spec));
  const child = spawn(process.execPath, [SCRIPT, `--spec=${file}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = killAndRemove(child, dir);
  const times: FloorReplyTime[] = [];
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        // One JSON object per line: the port first, then reply times.
        let nl: number;
        while ((nl = out.indexOf('\n')) >= 0) {
          const line = JSON.parse(out.slice(0, nl)) as { port?: number; c?: number; ms?: number };
          out = out.slice(nl + 1);
          if (line.port !== undefined) resolve(line.port);
          else times.push({ connection: line.c!, ms: line.ms! });
        }
      });
      child.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
    });
    return { port, pid: child.pid!, replyTimes: () => times, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The reply frame's parts around the id and the reply-to destination: built once per method. */
interface Canned {
  bodyHead: Buffer;
  bodyTail: Buffer;
}

function canned(body: string): Canned {
  const at = body.indexOf(FLOOR_ID_SLOT);
  if (at < 0) throw new Error(`canned body without ${FLOOR_ID_SLOT}`);
  return { bodyHead: Buffer.from(body.slice(0, at)), bodyTail: Buffer.from(body.slice(at + FLOOR_ID_SLOT.length)) };
}

const CONNECTED = Buffer.from('CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0');
const METHOD = Buffer.from('"method":"');
const ID = Buffer.from('"id":');
const REPLY_TO = Buffer.from('\nreply-to:');

/** Replies at least this big are timed (as the agent bench's own filter). */
const TIMED_BYTES = 16 * 1024;
let connections = 0;

/** Serve one connection: split frames at NUL, answer SENDs. */
function serve(socket: net.Socket, bodies: Map<string, Canned>, timeReplies: boolean): void {
  socket.setNoDelay(true);
  const connection = ++connections;
  let pending: Buffer | undefined;
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    const t0 = timeReplies ? performance.now() : 0;
    const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    pending = undefined;
    const out: Buffer[] = [];
    let start = 0;
    for (let end = buf.indexOf(0, start); end >= 0; end = buf.indexOf(0, start)) {
      let from = start;
      while (buf[from] === 0x0a || buf[from] === 0x0d) from++; // heart-beat EOLs before a frame
      reply(buf.subarray(from, end));
      start = end + 1;
    }
    if (start < buf.length) pending = buf.subarray(start);
    if (out.length > 0) {
      const data = out.length === 1 ? out[0]! : Buffer.concat(out);
      if (timeReplies && data.length >= TIMED_BYTES) socket.write(data, () => process.stdout.write(`{"c":${connection},"ms":${(performance.now() - t0).toFixed(3)}}\n`));
      else socket.write(data);
    }

    function reply(frame: Buffer): void {
      if (frame.subarray(0, 4).toString('latin1') === 'SEND') {
        const m = frame.indexOf(METHOD);
        const mEnd = m < 0 ? -1 : frame.indexOf(0x22, m + METHOD.length);
        const c = mEnd < 0 ? undefined : bodies.get(frame.toString('latin1', m + METHOD.length, mEnd));
        const i = frame.indexOf(ID);
        let iEnd = i < 0 ? -1 : i + ID.length;
        if (iEnd >= 0 && frame[iEnd] === 0x22) iEnd = frame.indexOf(0x22, iEnd + 1) + 1;
        else if (iEnd >= 0) while (iEnd < frame.length && frame[iEnd] !== 0x2c && frame[iEnd] !== 0x7d) iEnd++;
        const r = frame.indexOf(REPLY_TO);
        const rEnd = r < 0 ? -1 : frame.indexOf(0x0a, r + REPLY_TO.length);
        if (c === undefined || i < 0 || rEnd < 0) return;
        const id = frame.subarray(i + ID.length, iEnd);
        const length = c.bodyHead.length + id.length + c.bodyTail.length;
        out.push(Buffer.from(`MESSAGE\ndestination:${frame.toString('latin1', r + REPLY_TO.length, rEnd)}\ncontent-type:application/json\nsubscription:responses\nmessage-id:0\ncontent-length:${length}\n\n`, 'latin1'),
          c.bodyHead, id, c.bodyTail, Buffer.from([0]));
      } else if (frame.subarray(0, 7).toString('latin1') === 'CONNECT' || frame.subarray(0, 5).toString('latin1') === 'STOMP') {
        out.push(CONNECTED);
      }
    }
  });
}

async function main(): Promise<void> {
  const file = process.argv.find((a) => a.startsWith('--spec='))?.slice('--spec='.length);
  if (file === undefined) throw new Error('usage: floor-server.js --spec=FILE');
  const spec = JSON.parse(await readFile(file, 'utf8')) as FloorSpec;
  const bodies = new Map(Object.entries(spec.bodies).map(([m, b]) => [m, canned(b)]));
  const server = spec.tls
    ? tls.createServer({ key: await readFile(spec.tls.keyFile), cert: await readFile(spec.tls.certFile), ca: await readFile(spec.tls.caFile), requestCert: true, rejectUnauthorized: false }, (s) => serve(s, bodies, spec.timeReplies === true))
    : net.createServer((s) => serve(s, bodies, spec.timeReplies === true));
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address() as net.AddressInfo;
    process.stdout.write(`${JSON.stringify({ port: addr.port })}\n`);
  });
}

if (process.argv[1] === SCRIPT) {
  main().catch((err: unknown) => {
    process.stderr.write(`floor server: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
