#!/usr/bin/env node
// vdsm-client: call one API verb over JSON-RPC/STOMP and print the JSON result, or watch events.
import { access, readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { devPkiPaths, loadTlsFiles } from '../rpc/pki.js';
import { RpcCallError, StompRpcClient, type StompClientOptions } from '../rpc/stomp-client.js';

const USAGE = `usage: vdsm-client [-a HOST] [-p PORT] [--insecure | --cert FILE --key FILE --cacert FILE]
                   [--state-dir DIR] [--timeout SECONDS] [-f FILE]
                   Namespace verb [name=value ...]
       vdsm-client [connection options] --watch-events [--count N]

Call a vdsm API verb on a host over JSON-RPC/STOMP and print the result as JSON.

  -a, --host HOST      host to connect to (default: localhost)
  -p, --port PORT      management port (default: 54321)
      --insecure       plain TCP, no TLS
      --cert FILE      client certificate (PEM)   \\
      --key FILE       client private key (PEM)    > TLS with these files
      --cacert FILE    CA that signed the server   /
      --state-dir DIR  where the daemon keeps its development PKI (default: $VDSM_STATE_DIR
                       or /var/lib/vdsm); when DIR/pki holds a client certificate and no
                       --cert/--insecure is given, TLS is used with it, otherwise plain TCP
      --timeout S      seconds to wait for the reply (default: 60)
  -f, --file FILE      read the parameters as one JSON object from FILE ('-' = stdin)
      --watch-events   print every event (JSON-RPC notification) as one JSON line until
                       interrupted, or until --count events arrived
  -h, --help           show this help

Parameters are name=value pairs; a value that parses as JSON is sent as JSON
(42, true, {"a":1}, [1,2]), anything else as a string.

Examples:
  vdsm-client Host ping2
  vdsm-client -a 127.0.0.1 --insecure Host echo message='"hello"'
  vdsm-client Host setLogLevel level=DEBUG name=rpc
  vdsm-client --watch-events --count 1

Exit status: 0 on success, 1 when the verb failed (the error goes to stderr), 2 on usage errors,
3 on connection problems.`;

class UsageError extends Error {}

function parseParamArgs(args: readonly string[]): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`parameter must be name=value: ${a}`);
    const raw = a.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    params[a.slice(0, eq)] = value;
  }
  return params;
}

async function exists(f: string): Promise<boolean> {
  try {
    await access(f);
    return true;
  } catch {
    return false;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      host: { type: 'string', short: 'a', default: 'localhost' },
      port: { type: 'string', short: 'p', default: '54321' },
      insecure: { type: 'boolean', default: false },
      cert: { type: 'string' },
      key: { type: 'string' },
      cacert: { type: 'string' },
      'state-dir': { type: 'string' },
      timeout: { type: 'string', default: '60' },
      file: { type: 'string', short: 'f' },
      'watch-events': { type: 'boolean', default: false },
      count: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const port = Number(values.port);
  const timeoutS = Number(values.timeout);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new UsageError(`invalid port: ${values.port}`);
  if (!(timeoutS > 0)) throw new UsageError(`invalid timeout: ${values.timeout}`);

  let tls: StompClientOptions['tls'];
  if (values.insecure) tls = undefined;
  else if (values.cert || values.key || values.cacert) {
    if (!values.cert || !values.key || !values.cacert) throw new UsageError('--cert, --key and --cacert go together');
    tls = await loadTlsFiles({ certFile: values.cert, keyFile: values.key, caFile: values.cacert });
  } else {
    const dev = devPkiPaths(values['state-dir'] ?? process.env['VDSM_STATE_DIR'] ?? '/var/lib/vdsm').client;
    if (await exists(dev.certFile)) tls = await loadTlsFiles(dev);
  }

  const watch = values['watch-events'];
  let method = '';
  let params: Record<string, unknown> = {};
  if (!watch) {
    if (positionals.length === 0) throw new UsageError('missing Namespace and verb');
    const [first, ...rest] = positionals as [string, ...string[]];
    let paramArgs = rest;
    if (first.includes('.')) method = first;
    else {
      if (rest.length === 0) throw new UsageError('missing verb');
      method = `${first}.${rest[0]}`;
      paramArgs = rest.slice(1);
    }
    params = parseParamArgs(paramArgs);
    if (values.file !== undefined) {
      const text = values.file === '-' ? await readStdin() : await readFile(values.file, 'utf8');
      const fromFile: unknown = JSON.parse(text);
      if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) throw new UsageError('the parameter file must hold a JSON object');
      params = { ...(fromFile as Record<string, unknown>), ...params };
    }
  }

  const client = new StompRpcClient({ host: values.host, port, connectTimeoutMs: timeoutS * 1000, events: watch, ...(tls ? { tls } : {}) });
  try {
    await client.connect();
  } catch (err) {
    process.stderr.write(`vdsm-client: cannot connect to ${values.host}:${port} (${tls ? 'TLS' : 'plain TCP'}): ${(err as Error).message}\n`);
    return 3;
  }
  if (watch) {
    const limit = values.count !== undefined ? Number(values.count) : Infinity;
    let seen = 0;
    return await new Promise<number>((resolve) => {
      client.onEvent((m, p) => {
        process.stdout.write(JSON.stringify({ method: m, params: p }) + '\n');
        if (++seen >= limit) {
          client.close();
          resolve(0);
        }
      });
      client.onClose((err) => {
        if (seen < limit) {
          process.stderr.write(`vdsm-client: connection lost: ${err?.message ?? 'closed'}\n`);
          resolve(3);
        }
      });
      process.once('SIGINT', () => {
        client.close();
        resolve(0);
      });
    });
  }
  try {
    const result = await client.call(method, params, timeoutS * 1000);
    process.stdout.write(JSON.stringify(result, null, 4) + '\n');
    return 0;
  } catch (err) {
    if (err instanceof RpcCallError) {
      process.stderr.write(`vdsm-client: Command ${method} with args ${JSON.stringify(params)} failed:\n(code=${err.code}, message=${err.message})\n`);
      return 1;
    }
    process.stderr.write(`vdsm-client: ${(err as Error).message}\n`);
    return 3;
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`vdsm-client: ${(err as Error).message}\n${USAGE.split('\n\n')[0]}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`vdsm-client: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 3;
    }
  },
);
