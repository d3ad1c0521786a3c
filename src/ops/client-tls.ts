// How the ops tools (vdsm-client, vdsm-tool threads, vdsm-bench -a) reach an agent: TLS with the host's
// own certificates by default, as vdsm's client does, the development PKI of an embedded agent when the
// host has none, explicit --cert/--key/--cacert, or plain TCP only when asked (--insecure). When a
// connection fails, probe the port to tell "the server speaks TLS and the client did not" (and the
// reverse) apart from a server that is simply not there.
import { access } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import type { TlsMaterial } from '../rpc/acceptor.js';
import { devPkiPaths, loadTlsFiles, type TlsFiles } from '../rpc/pki.js';
import { errorMessage } from '../errors.js';

/** vdsm's trust store: the host key, the host certificate and the engine CA (lib/vdsm/common/pki.py). */
export const DEFAULT_TRUST_STORE = '/etc/pki/vdsm';
export const DEFAULT_STATE_DIR = '/var/lib/vdsm';

/** The host's own certificate files inside a trust store directory. */
export function hostCertFiles(trustStore: string): TlsFiles {
  return {
    keyFile: `${trustStore}/keys/vdsmkey.pem`,
    certFile: `${trustStore}/certs/vdsmcert.pem`,
    caFile: `${trustStore}/certs/cacert.pem`,
  };
}

export interface ClientTlsOptions {
  insecure?: boolean | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  cacert?: string | undefined;
  /** Where the host certificates are (default /etc/pki/vdsm, or $VDSM_TRUST_STORE). */
  trustStore?: string | undefined;
  /** Where an embedded agent keeps its development PKI (default /var/lib/vdsm, or $VDSM_STATE_DIR). */
  stateDir?: string | undefined;
}

export type ClientTransport =
  | { tls: false; source: 'insecure' }
  | { tls: true; source: 'explicit' | 'host' | 'dev-pki'; files: TlsFiles; material: TlsMaterial };

/** Bad or missing options; the message says what was looked for and what to pass instead. */
export class ClientTlsError extends Error {
  readonly code = 'ERR_CLIENT_TLS';
}

async function readable(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

async function allReadable(files: TlsFiles): Promise<boolean> {
  return (await Promise.all([files.certFile, files.keyFile, files.caFile].map(readable))).every(Boolean);
}

/** Pick the transport the options and the files on this host call for. */
export async function resolveClientTransport(opts: ClientTlsOptions, env: NodeJS.ProcessEnv = process.env): Promise<ClientTransport> {
  if (opts.insecure) {
    if (opts.cert || opts.key || opts.cacert) throw new ClientTlsError('--insecure and --cert/--key/--cacert exclude each other');
    return { tls: false, source: 'insecure' };
  }
  if (opts.cert || opts.key || opts.cacert) {
    if (!opts.cert || !opts.key || !opts.cacert) throw new ClientTlsError('--cert, --key and --cacert go together');
    const files = { certFile: opts.cert, keyFile: opts.key, caFile: opts.cacert };
    return { tls: true, source: 'explicit', files, material: await load(files) };
  }
  const trustStore = opts.trustStore ?? env['VDSM_TRUST_STORE'] ?? DEFAULT_TRUST_STORE;
  const host = hostCertFiles(trustStore);
  if (await allReadable(host)) return { tls: true, source: 'host', files: host, material: await load(host) };
  const stateDir = opts.stateDir ?? env['VDSM_STATE_DIR'] ?? DEFAULT_STATE_DIR;
  const dev = devPkiPaths(stateDir).client;
  if (await allReadable(dev)) return { tls: true, source: 'dev-pki', files: dev, material: await load(dev) };
  throw new ClientTlsError(
    `no client certificate: the host certificates (${host.certFile}, ${host.keyFile}, ${host.caFile}) are ` +
    `missing or unreadable, and there is no development PKI under ${devPkiPaths(stateDir).dir}.\n` +
    'Run as root on an enrolled host, pass --cert/--key/--cacert, --trust-store DIR or --state-dir DIR, ' +
    'or --insecure for an agent with [vars] ssl = false.',
  );
}

async function load(files: TlsFiles): Promise<TlsMaterial> {
  try {
    return await loadTlsFiles(files);
  } catch (err) {
    throw new ClientTlsError(`cannot read the client certificate files: ${errorMessage(err)}`);
  }
}

/** One line naming where the client's certificate came from, for error messages. */
export function describeTransport(t: ClientTransport): string {
  if (!t.tls) return 'plain TCP (--insecure)';
  const what = t.source === 'host' ? 'the host certificate' : t.source === 'dev-pki' ? 'the development PKI client certificate' : 'the given certificate';
  return `TLS with ${what} ${t.files.certFile}`;
}

export type PortSpeaks = 'tls' | 'plain' | 'closed' | 'unknown';

/**
 * What the server on host:port speaks, found by offering it a TLS handshake without a client
 * certificate: a finished handshake or a TLS alert means TLS; non-TLS bytes or a reset mean plain TCP;
 * a refused connection means nothing listens.
 */
export function probePort(host: string, port: number, timeoutMs = 3000): Promise<PortSpeaks> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (v: PortSpeaks): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, checkServerIdentity: () => undefined, minVersion: 'TLSv1.2' });
    const timer = setTimeout(() => done('unknown'), timeoutMs);
    socket.once('secureConnect', () => done('tls'));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const msg = `${err.code ?? ''} ${err.message}`;
      if (err.code === 'ECONNREFUSED') done('closed');
      else if (/alert|certificate|handshake failure/i.test(msg) && !/wrong version number|packet length too long|http request/i.test(msg)) done('tls');
      else if (/wrong version number|packet length too long|unknown protocol|http request|ECONNRESET|socket disconnected|socket hang up|EPIPE/i.test(msg)) done('plain');
      else done('unknown');
    });
  });
}

/**
 * Explain a failed connection: when the port speaks the other transport, say so and what to pass.
 * Returns undefined when the probe finds nothing more specific than the original error.
 */
export async function explainConnectFailure(host: string, port: number, transport: ClientTransport): Promise<string | undefined> {
  const speaks = await probePort(host, port);
  if (speaks === 'closed') return `nothing listens on ${host}:${port}: is vdsmd running, and on that port ([addresses] management_port)?`;
  if (transport.tls && speaks === 'plain') {
    return `the server on ${host}:${port} speaks plain TCP, not TLS (an agent with [vars] ssl = false): add --insecure`;
  }
  if (!transport.tls && speaks === 'tls') {
    return `the server on ${host}:${port} speaks TLS and this client used plain TCP (--insecure): drop --insecure ` +
      '(the host certificates under /etc/pki/vdsm are then used) or pass --cert/--key/--cacert';
  }
  if (transport.tls && speaks === 'tls') {
    return `the server on ${host}:${port} speaks TLS but did not accept ${describeTransport(transport)}: ` +
      'check that the certificate is signed by the CA the agent trusts, and that --cacert names the CA that signed the agent\'s certificate';
  }
  return undefined;
}

/** parseArgs options of every tool that reaches an agent (spread into the tool's own options). */
export const clientTlsOptions = {
  insecure: { type: 'boolean', default: false },
  cert: { type: 'string' },
  key: { type: 'string' },
  cacert: { type: 'string' },
  'trust-store': { type: 'string' },
  'state-dir': { type: 'string' },
} as const;

/** The ClientTlsOptions in what parseArgs returned for clientTlsOptions. */
export function clientTlsFromArgs(values: Record<string, unknown>): ClientTlsOptions {
  const str = (k: string): string | undefined => values[k] as string | undefined;
  return { insecure: values['insecure'] === true, cert: str('cert'), key: str('key'), cacert: str('cacert'), trustStore: str('trust-store'), stateDir: str('state-dir') };
}

export const CLIENT_TLS_HELP = `Connection (TLS with the host's own certificates unless told otherwise, as vdsm-client does):
      --insecure         plain TCP, no TLS (an agent with [vars] ssl = false)
      --cert FILE        client certificate (PEM)   \\
      --key FILE         client private key (PEM)    > TLS with these files
      --cacert FILE      CA that signed the agent   /
      --trust-store DIR  the host certificates: DIR/certs/vdsmcert.pem, DIR/keys/vdsmkey.pem,
                         DIR/certs/cacert.pem (default: $VDSM_TRUST_STORE or /etc/pki/vdsm)
      --state-dir DIR    when the host has none, the development PKI of an agent started with
                         --profile embedded: DIR/pki (default: $VDSM_STATE_DIR or /var/lib/vdsm)
`;
