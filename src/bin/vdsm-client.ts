#!/usr/bin/env node
// vdsm-client: call one API verb over JSON-RPC/STOMP and print the JSON result, or watch events.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { errorMessage } from '../errors.js';
import { localMethods, namespaces, renderNamespaces, renderVerbHelp, renderVerbs } from '../ops/api-discovery.js';
import { clientTlsFromArgs, clientTlsOptions, ClientTlsError, describeTransport, explainConnectFailure, resolveClientTransport, type ClientTransport } from '../ops/client-tls.js';
import { versionString } from '../ops/version.js';
import { RpcCallError, StompRpcClient } from '../rpc/stomp-client.js';

const USAGE = `usage: vdsm-client [-a HOST] [-p PORT] [--insecure | --cert FILE --key FILE --cacert FILE]
                   [--trust-store DIR] [--state-dir DIR] [--timeout SECONDS] [-f FILE]
                   Namespace verb [name=value ...]
       vdsm-client Namespace                 list the verbs of a namespace (e.g. vdsm-client Host)
       vdsm-client Namespace verb -h         a verb's parameters and their types
       vdsm-client [connection options] --watch-events [--count N]

Call a vdsm API verb on a host over JSON-RPC/STOMP and print the result as JSON.

Connection (TLS with the host's own certificates unless told otherwise, as vdsm's client does):
  -a, --host HOST        host to connect to (default: localhost)
  -p, --port PORT        management port (default: 54321)
      --insecure         plain TCP, no TLS (an agent with [vars] ssl = false)
      --cert FILE        client certificate (PEM)   \\
      --key FILE         client private key (PEM)    > TLS with these files
      --cacert FILE      CA that signed the server   /
      --trust-store DIR  where the host certificates are: DIR/certs/vdsmcert.pem,
                         DIR/keys/vdsmkey.pem, DIR/certs/cacert.pem
                         (default: $VDSM_TRUST_STORE or /etc/pki/vdsm)
      --state-dir DIR    when the host has no certificates, the development PKI of an agent
                         started with --profile embedded: DIR/pki (default: $VDSM_STATE_DIR
                         or /var/lib/vdsm)
      --timeout S        seconds to wait for the connection and the reply (default: 60)

Call:
  -f, --file FILE        read the parameters as one JSON object from FILE ('-' = stdin)
      --watch-events     print every event (JSON-RPC notification) as one JSON line until
                         interrupted, or until --count events arrived
  -h, --help             this help; after Namespace or Namespace verb, their help
      --version          print the version and exit

Parameters are name=value pairs; a value that parses as JSON is sent as JSON
(42, true, {"a":1}, [1,2]), anything else as a string.

Examples:
  vdsm-client Host ping2
  vdsm-client Host                                  # the Host verbs
  vdsm-client Host getVMList -h                     # its parameters
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
      ...clientTlsOptions,
      timeout: { type: 'string', default: '60' },
      file: { type: 'string', short: 'f' },
      'watch-events': { type: 'boolean', default: false },
      count: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', default: false },
    },
  });
  if (values.version) {
    process.stdout.write(`${versionString()}\n`);
    return 0;
  }
  const discovery = await discover(positionals, values.help, values['watch-events']);
  if (discovery !== undefined) return discovery;
  const port = Number(values.port);
  const timeoutS = Number(values.timeout);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new UsageError(`invalid port: ${values.port}`);
  if (!(timeoutS > 0)) throw new UsageError(`invalid timeout: ${values.timeout}`);

  let transport: ClientTransport;
  try {
    transport = await resolveClientTransport(clientTlsFromArgs(values));
  } catch (err) {
    if (!(err instanceof ClientTlsError)) throw err;
    if (/go together|exclude each other/.test(err.message)) throw new UsageError(err.message);
    process.stderr.write(`vdsm-client: ${err.message}\n`);
    return 3;
  }
  const tls = transport.tls ? transport.material : undefined;

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
    const why = await explainConnectFailure(values.host, port, transport);
    process.stderr.write(`vdsm-client: cannot connect to ${values.host}:${port} (${describeTransport(transport)}): ${errorMessage(err)}\n${why ? `${why}\n` : ''}`);
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
    process.stderr.write(`vdsm-client: ${errorMessage(err)}\n`);
    return 3;
  } finally {
    client.close();
  }
}

/**
 * Online help from this installation's method table: no positionals with -h is the usage; `Namespace`
 * lists its verbs; `Namespace verb -h` shows the verb's parameters. Undefined: go on and call.
 */
async function discover(positionals: readonly string[], help: boolean, watch: boolean): Promise<number | undefined> {
  if (watch) {
    if (help) process.stdout.write(USAGE + '\n');
    return help ? 0 : undefined;
  }
  if (positionals.length === 0) {
    if (!help) throw new UsageError('missing Namespace and verb');
    process.stdout.write(`${USAGE}\n\n${renderNamespaces(await localMethods())}`);
    return 0;
  }
  const [first, second] = positionals as [string, ...string[]];
  const dotted = first.includes('.');
  if (!help && (dotted || second !== undefined)) return undefined;
  const methods = await localMethods();
  const ns = dotted ? first.slice(0, first.indexOf('.')) : first;
  const verb = dotted ? first.slice(first.indexOf('.') + 1) : second;
  if (verb === undefined) {
    const text = renderVerbs(methods, ns);
    if (text === undefined) throw new UsageError(`unknown namespace ${JSON.stringify(ns)}; namespaces: ${namespaces(methods).join(', ')}`);
    process.stdout.write(text);
    return 0;
  }
  const spec = methods.find((m) => m.name === `${ns}.${verb}`);
  if (spec === undefined) {
    const list = renderVerbs(methods, ns);
    process.stderr.write(`vdsm-client: ${ns}.${verb} is not in this installation's method table (${versionString()}); the agent may still know it.\n${list ?? `namespaces: ${namespaces(methods).join(', ')}\n`}`);
    return 2;
  }
  process.stdout.write(renderVerbHelp(spec));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`vdsm-client: ${errorMessage(err)}\n${USAGE.split('\n\n')[0]}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`vdsm-client: ${err instanceof Error && err.stack !== undefined ? err.stack : String(err)}\n`);
      process.exitCode = 3;
    }
  },
);
