// The engine's side of the host-networking tests, run inside the engine's network namespace
// (`ip netns exec <ns> node netns-engine.js`): JSON lines on stdin drive EngineClient connections
// (the npm stompit client, as the engine-like peer everywhere else), answers go to stdout.
//   {"id":1,"op":"connect","conn":"a","host":"192.0.2.10","port":54321}
//   {"id":2,"op":"call","conn":"a","method":"Host.ping2","params":{},"timeoutMs":5000}
//   {"id":3,"op":"close","conn":"a"}
// Each answer is {"id":N,"ok":true,"result":...} or {"id":N,"ok":false,"error":{code,message}}.
import { createInterface } from 'node:readline';
import { EngineClient } from '../helpers/engine-client.js';

const conns = new Map<string, EngineClient>();

function reply(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

async function handle(cmd: Record<string, unknown>): Promise<void> {
  const id = cmd['id'];
  const conn = String(cmd['conn'] ?? 'a');
  try {
    if (cmd['op'] === 'connect') {
      conns.get(conn)?.close();
      conns.set(conn, await EngineClient.connect({ host: String(cmd['host']), port: Number(cmd['port']) }));
      reply({ id, ok: true, result: true });
    } else if (cmd['op'] === 'call') {
      const c = conns.get(conn);
      if (c === undefined) throw new Error(`no connection ${conn}`);
      const r = await c.request(String(cmd['method']), (cmd['params'] ?? {}) as Record<string, unknown>, Number(cmd['timeoutMs'] ?? 15_000));
      if (r.error !== undefined) reply({ id, ok: false, error: r.error });
      else reply({ id, ok: true, result: r.result });
    } else if (cmd['op'] === 'close') {
      conns.get(conn)?.close();
      conns.delete(conn);
      reply({ id, ok: true, result: true });
    } else {
      throw new Error(`unknown op ${String(cmd['op'])}`);
    }
  } catch (err) {
    reply({ id, ok: false, error: { code: 'client', message: (err as Error).message } });
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === '') return;
  void handle(JSON.parse(line) as Record<string, unknown>);
}).on('close', () => {
  for (const c of conns.values()) c.close();
  process.exit(0);
});
